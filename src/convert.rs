//! The conversion verbs: inputs → runs (a source) → spans (`trace/`) → a sink. Every problem
//! is one line on stderr naming the file; a bad input never stops the others.

use std::path::PathBuf;

use crate::cli::ExportArgs;
use crate::record::Run;
use crate::sink::config::{self, EnvSnapshot, SinkConfig};
use crate::sink::{self, SinkError};
use crate::source::{self, Source, SourceOptions};
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

/// Runs a conversion verb end to end and returns the exit code.
pub fn run(
    source: &dyn Source,
    paths: &[PathBuf],
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

    let mut input_failed = false;
    let (files, errors) = source::expand_inputs(source, paths);
    for e in &errors {
        report(e);
        input_failed = true;
    }
    let (runs, parse_errors) = source.parse_all(&files, options);
    for e in &parse_errors {
        report(e);
        input_failed = true;
    }
    let mut built = Vec::with_capacity(runs.len());
    for run in runs {
        match build_run(run, injected.as_ref()) {
            Ok((b, clean)) => {
                input_failed |= !clean;
                built.push(b);
            }
            Err(()) => input_failed = true,
        }
    }

    let delivered = deliver(&config, built, export);
    match delivered {
        Err(()) => exit::DELIVERY,
        Ok(()) if input_failed => exit::INPUT,
        Ok(()) => exit::OK,
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

fn deliver(config: &SinkConfig, runs: Vec<BuiltRun>, export: &ExportArgs) -> Result<(), ()> {
    let total: usize = runs.iter().map(|r| r.spans.len()).sum();
    if export.print_traceparent {
        for r in &runs {
            println!("{}", r.traceparent);
        }
    }
    if export.dry_run {
        for r in &runs {
            println!(
                "would send {} spans of {} run {} (trace {}) to {}",
                r.spans.len(),
                r.system,
                r.run_id,
                &r.traceparent[3..35],
                destination(config)
            );
        }
        return Ok(());
    }
    if runs.is_empty() {
        return Ok(());
    }
    let mut sink = match sink::open(config) {
        Ok(s) => s,
        Err(e) => {
            report(e);
            return Err(());
        }
    };
    let mut sent = 0;
    let mut failed = false;
    for r in &runs {
        let resource = sink::resource_for(&r.system, config);
        match sink.send(r, &resource) {
            Ok(n) => sent += n,
            Err(e) => {
                report(e);
                failed = true;
            }
        }
    }
    if let Err(e) = sink.finish() {
        report(e);
        failed = true;
    }
    if !export.quiet && config.exporter != config::ExporterKind::Console {
        report(format!(
            "{} {sent} of {total} spans from {} run(s) to {}",
            if failed {
                "delivered only"
            } else {
                "delivered"
            },
            runs.len(),
            destination(config)
        ));
    }
    if failed {
        Err(())
    } else {
        Ok(())
    }
}

fn destination(config: &SinkConfig) -> String {
    match config.exporter {
        config::ExporterKind::Otlp => format!(
            "{} ({})",
            config.endpoint_display(),
            config.protocol.as_str()
        ),
        config::ExporterKind::File => format!(
            "{}",
            config
                .output
                .as_deref()
                .unwrap_or(std::path::Path::new("-"))
                .display()
        ),
        config::ExporterKind::Console => "the console".into(),
        config::ExporterKind::None => "nowhere (exporter none)".into(),
    }
}

impl From<SinkError> for i32 {
    fn from(e: SinkError) -> i32 {
        match e {
            SinkError::Config(_) => exit::USAGE,
            SinkError::Delivery(_) => exit::DELIVERY,
        }
    }
}
