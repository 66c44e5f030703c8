//! The conversion verbs: inputs → runs (a source) → spans (`trace/`) → a sink. Every problem
//! is one line on stderr naming the file; a bad input never stops the others. Runs are sent
//! as they are built, through one sink (one connection) for the whole invocation.

use std::path::PathBuf;

use crate::cli::ExportArgs;
use crate::record::Run;
use crate::sink::config::{self, EnvSnapshot, ExporterKind, SinkConfig, SinkFlags};
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

/// Which runs to send (backfill's `--since`/`--until`, on the run's start) and how to salt
/// derived ids (`--namespace`).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub namespace: String,
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
    let selection = Selection {
        namespace: export.id_namespace(),
        ..Default::default()
    };
    execute(
        vec![(source, files)],
        errors,
        options,
        export,
        env,
        &selection,
        false,
    )
}

/// `retrace backfill`: every file goes to the format that detects it.
pub fn backfill(
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
    selection: &Selection,
) -> i32 {
    let (files, errors) = source::expand_any(paths);
    let mut groups: Vec<(&'static dyn Source, Vec<PathBuf>)> = Vec::new();
    for (source, file) in files {
        match groups.iter_mut().find(|(s, _)| s.name() == source.name()) {
            Some((_, list)) => list.push(file),
            None => groups.push((source, vec![file])),
        }
    }
    execute(groups, errors, options, export, env, selection, true)
}

/// The sink configuration and the injected parent context (flag > env) of a verb, or the
/// one line that says what is wrong with them.
pub fn prepare(
    flags: &SinkFlags,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> Result<(SinkConfig, Option<TraceParent>), String> {
    let config = config::resolve(flags, env).map_err(|e| e.to_string())?;
    let injected = InjectedContext::from_env(export.traceparent.clone(), export.tracestate.clone())
        .resolve()
        .map_err(|(origin, e)| format!("invalid trace context in {origin}: {e}"))?;
    Ok((config, injected))
}

/// What happened to the inputs, for the closing summary.
#[derive(Default)]
struct Tally {
    files_converted: usize,
    files_failed: usize,
    runs_filtered: usize,
}

fn execute(
    groups: Vec<(&'static dyn Source, Vec<PathBuf>)>,
    input_errors: Vec<SourceError>,
    options: &SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
    selection: &Selection,
    summarise: bool,
) -> i32 {
    let started = std::time::Instant::now();
    let (config, injected) = match prepare(&export.sink_flags(), export, env) {
        Ok(prepared) => prepared,
        Err(problem) => {
            report(problem);
            return exit::USAGE;
        }
    };
    let total_files: usize = groups.iter().map(|(_, f)| f.len()).sum();
    let progress = progress_bar(total_files as u64, export.quiet);
    let mut ledger = Ledger {
        delivery: Delivery::new(&config, export),
        problems: Vec::new(),
        input_failed: false,
        tally: Tally::default(),
        injected: injected.as_ref(),
        selection,
    };
    for e in &input_errors {
        ledger.file_failed(e);
    }
    for (source, files) in groups {
        if source.merges_files() {
            let (runs, errors) = source.parse_all(&files, options);
            ledger.tally.files_converted += files.len().saturating_sub(errors.len());
            for e in &errors {
                ledger.file_failed(e);
            }
            progress.inc(files.len() as u64);
            ledger.convert(runs);
        } else {
            // One file at a time: memory is bounded by the largest run, not the history.
            for file in &files {
                match source.parse(file, options) {
                    Ok(runs) => {
                        ledger.tally.files_converted += 1;
                        ledger.convert(runs);
                    }
                    Err(e) => ledger.file_failed(&e),
                }
                progress.inc(1);
            }
        }
    }
    progress.finish_and_clear();
    for p in &ledger.problems {
        report(p);
    }
    let delivered = ledger.delivery.finish();
    let tally = &ledger.tally;
    if summarise && !export.quiet {
        report(format!(
            "backfill: {} files converted, {} failed, {} runs outside --since/--until skipped, {:.1}s",
            tally.files_converted,
            tally.files_failed,
            tally.runs_filtered,
            started.elapsed().as_secs_f64()
        ));
    }
    if !delivered {
        exit::DELIVERY
    } else if ledger.input_failed {
        exit::INPUT
    } else {
        exit::OK
    }
}

/// Where the conversion stands: the runs go to the delivery; problems are kept to be
/// reported together at the end, after the progress bar.
struct Ledger<'a> {
    delivery: Delivery<'a>,
    problems: Vec<String>,
    /// Some input could not be converted (exit 1).
    input_failed: bool,
    tally: Tally,
    injected: Option<&'a TraceParent>,
    selection: &'a Selection,
}

impl Ledger<'_> {
    fn file_failed(&mut self, e: &SourceError) {
        self.tally.files_failed += 1;
        self.input_failed = true;
        self.problems.push(e.to_string());
    }

    /// Builds and sends runs (those inside `--since`/`--until`).
    fn convert(&mut self, runs: Vec<Run>) {
        for run in runs {
            match build_run(run, self.injected, &self.selection.namespace) {
                Ok((built, clean)) => {
                    self.input_failed |= !clean;
                    if selected(&built, self.selection) {
                        self.delivery.send(built);
                    } else {
                        self.tally.runs_filtered += 1;
                    }
                }
                Err(problem) => {
                    self.problems.push(problem);
                    self.input_failed = true;
                }
            }
        }
    }
}

/// A progress bar on stderr, drawn only on a terminal.
fn progress_bar(files: u64, quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || files < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(files),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

/// Whether a run's root starts inside `--since`/`--until`.
fn selected(run: &BuiltRun, selection: &Selection) -> bool {
    let start = run.spans.first().map_or(0, |s| {
        s.start_time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64)
    });
    selection.since.is_none_or(|since| start >= since)
        && selection.until.is_none_or(|until| start < until)
}

/// Builds a run's spans. An invalid trace context inside the artifact is reported and the run
/// is sent as its own trace (returned with `clean = false`).
pub fn build_run(
    mut run: Run,
    injected: Option<&TraceParent>,
    namespace: &str,
) -> Result<(BuiltRun, bool), String> {
    let mut clean = true;
    if let Err(e) = build::parent_of(&run, injected) {
        report(format!("{e}; sending the run without that parent"));
        run.parent = None;
        clean = false;
    }
    let name = format!("{} run {}", run.system, run.run_id);
    build::build(run, injected, &build::scope(), namespace)
        .map(|b| (b, clean))
        .map_err(|e| format!("{name}: {e}"))
}

/// Sends runs as they come; the sink is opened on the first run, so nothing is connected
/// when there is nothing to send. The live verbs (runner, exec) send a run in parts.
pub struct Delivery<'a> {
    config: &'a SinkConfig,
    export: &'a ExportArgs,
    sink: Option<Box<dyn Sink>>,
    runs: usize,
    spans: usize,
    sent: usize,
    failed: bool,
}

impl<'a> Delivery<'a> {
    pub fn new(config: &'a SinkConfig, export: &'a ExportArgs) -> Self {
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

    /// Sends a whole run (and prints its traceparent when asked).
    pub fn send(&mut self, run: BuiltRun) {
        if self.export.print_traceparent {
            println!("{}", run.traceparent);
        }
        self.send_part(run, true);
    }

    /// Sends some spans of a run; `last` marks the part that completes it.
    pub fn send_part(&mut self, run: BuiltRun, last: bool) {
        self.runs += usize::from(last);
        self.spans += run.spans.len();
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
        match sink.send(run, &resource) {
            Ok(n) => self.sent += n,
            Err(e) => {
                report(e);
                self.failed = true;
            }
        }
    }

    /// Flushes and reports; false when something was not delivered.
    pub fn finish(mut self) -> bool {
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
