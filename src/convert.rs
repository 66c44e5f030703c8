//! The conversion verbs: inputs → runs (a source) → spans (`trace/`) → a sink. Every problem
//! is one line on stderr naming the file; a bad input never stops the others. Runs are sent
//! as they are built, through one sink (one connection) for the whole invocation.

use std::path::PathBuf;

use crate::cli::ExportArgs;
use crate::record::Run;
use crate::sink::config::{self, EnvSnapshot, ExporterKind, SinkConfig};
use crate::sink::{self, Sink};
use crate::source::{self, Source, SourceError, SourceOptions};
use crate::trace::build::{self, BuiltRun};
use crate::trace::context::{InjectedContext, TraceParent};

/// Process exit codes (README "Exit codes").
pub mod exit {
    pub const OK: i32 = 0;
    pub const INPUT: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const DELIVERY: i32 = 3;
}

pub fn report(message: impl std::fmt::Display) {
    eprintln!("retrace: {message}");
}

/// One format's verb (`retrace dbt …`, `retrace airflow …`).
pub fn run(
    source: &'static dyn Source,
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    let (files, errors) = source::expand_inputs(source, paths);
    execute(vec![(source, files)], errors, options, export, env)
}

/// `retrace backfill`: every file goes to the format that detects it.
pub fn backfill(
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    let (files, errors) = source::expand_any(paths);
    let mut groups: Vec<(&'static dyn Source, Vec<PathBuf>)> = Vec::new();
    for (source, file) in files {
        match groups.iter_mut().find(|(s, _)| s.name() == source.name()) {
            Some((_, list)) => list.push(file),
            None => groups.push((source, vec![file])),
        }
    }
    execute(groups, errors, options, export, env)
}

fn execute(
    groups: Vec<(&'static dyn Source, Vec<PathBuf>)>,
    input_errors: Vec<SourceError>,
    options: &SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    let config = match config::resolve(&export.sink_flags(), env) {
        Ok(c) => c,
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    let injected =
        match InjectedContext::from_env(export.traceparent.clone(), export.tracestate.clone())
            .resolve()
        {
            Ok(p) => p,
            Err((origin, e)) => {
                report(format!("invalid trace context in {origin}: {e}"));
                return exit::USAGE;
            }
        };
    let mut input_failed = !input_errors.is_empty();
    for e in &input_errors {
        report(e);
    }
    let mut delivery = Delivery::new(&config, export);
    for (source, files) in groups {
        let (runs, errors) = source.parse_all(&files, options);
        for e in &errors {
            report(e);
            input_failed = true;
        }
        for run in runs {
            match build_run(run, injected.as_ref()) {
                Ok((built, clean)) => {
                    input_failed |= !clean;
                    delivery.send(built);
                }
                Err(()) => input_failed = true,
            }
        }
    }
    if !delivery.finish() {
        exit::DELIVERY
    } else if input_failed {
        exit::INPUT
    } else {
        exit::OK
    }
}

/// Builds a run's spans. An invalid trace context inside the artifact is reported and the run
/// is sent as its own trace (returned with `clean = false`).
fn build_run(mut run: Run, injected: Option<&TraceParent>) -> Result<(BuiltRun, bool), ()> {
    let mut clean = true;
    if let Err(e) = build::parent_of(&run, injected) {
        report(format!("{e}; sending the run without that parent"));
        run.parent = None;
        clean = false;
    }
    match build::build(&run, injected, &build::scope()) {
        Ok(b) => Ok((b, clean)),
        Err(e) => {
            report(format!("{} run {}: {e}", run.system, run.run_id));
            Err(())
        }
    }
}

/// Sends runs as they come; the sink is opened on the first run, so nothing is connected
/// when there is nothing to send.
struct Delivery<'a> {
    config: &'a SinkConfig,
    export: &'a ExportArgs,
    sink: Option<Box<dyn Sink>>,
    runs: usize,
    spans: usize,
    sent: usize,
    failed: bool,
}

impl<'a> Delivery<'a> {
    fn new(config: &'a SinkConfig, export: &'a ExportArgs) -> Self {
        Delivery {
            config,
            export,
            sink: None,
            runs: 0,
            spans: 0,
            sent: 0,
            failed: false,
        }
    }

    fn send(&mut self, run: BuiltRun) {
        self.runs += 1;
        self.spans += run.spans.len();
        if self.export.print_traceparent {
            println!("{}", run.traceparent);
        }
        if self.export.dry_run {
            println!(
                "would send {} spans of {} run {} (trace {}) to {}",
                run.spans.len(),
                run.system,
                run.run_id,
                &run.traceparent[3..35],
                destination(self.config)
            );
            return;
        }
        if self.sink.is_none() {
            match sink::open(self.config) {
                Ok(s) => self.sink = Some(s),
                Err(e) => {
                    // Reported once; later runs count as undelivered.
                    if !self.failed {
                        report(e);
                    }
                    self.failed = true;
                    return;
                }
            }
        }
        let sink = self.sink.as_mut().expect("opened above");
        let resource = sink::resource_for(&run.system, self.config);
        match sink.send(&run, &resource) {
            Ok(n) => self.sent += n,
            Err(e) => {
                report(e);
                self.failed = true;
            }
        }
    }

    /// Flushes and reports; false when something was not delivered.
    fn finish(mut self) -> bool {
        if self.export.dry_run {
            return true;
        }
        if let Some(sink) = self.sink.as_mut() {
            if let Err(e) = sink.finish() {
                report(e);
                self.failed = true;
            }
        }
        if !self.export.quiet && self.runs > 0 && self.config.exporter != ExporterKind::Console {
            report(format!(
                "{} {} of {} spans from {} run(s) to {}",
                if self.failed {
                    "delivered only"
                } else {
                    "delivered"
                },
                self.sent,
                self.spans,
                self.runs,
                destination(self.config)
            ));
        }
        !self.failed
    }
}

fn destination(config: &SinkConfig) -> String {
    match config.exporter {
        ExporterKind::Otlp => format!(
            "{} ({})",
            config.endpoint_display(),
            config.protocol.as_str()
        ),
        ExporterKind::File => config
            .output
            .as_deref()
            .unwrap_or(std::path::Path::new("-"))
            .display()
            .to_string(),
        ExporterKind::Console => "the console".into(),
        ExporterKind::None => "nowhere (exporter none)".into(),
    }
}
