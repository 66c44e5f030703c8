//! Converting artifacts: inputs → runs (a source) → spans (`trace/`) → a delivery. Every
//! problem is one line on stderr naming the file; a bad input never stops the others. Runs
//! are sent as they are built, through one sink (one connection) for the whole invocation.

use std::path::PathBuf;

use crate::record::{Nanos, Run};
use crate::report::{exit, report};
use crate::sink::delivery::{Delivery, Export};
use crate::source::{self, Source, SourceError, SourceOptions};
use crate::trace::build::{self, BuiltRun};
use crate::trace::context::TraceParent;

/// Which runs to send: backfill's `--since`/`--until`, on the run's start.
#[derive(Clone, Copy, Debug, Default)]
pub struct Selection {
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
}

/// One format's files (`retrace dbt …`, `retrace airflow …`); returns the exit code.
pub fn run(
    source: &'static dyn Source,
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &Export,
) -> i32 {
    let (files, errors) = source::expand_inputs(source, paths, options.verbose);
    execute(
        by_namespace(vec![(source, files)], paths, export),
        errors,
        options,
        export,
        Selection::default(),
        false,
    )
}

/// `retrace backfill`: every file goes to the format that detects it.
pub fn backfill(
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &Export,
    selection: Selection,
) -> i32 {
    let (files, errors) = source::expand_any(paths, options.verbose);
    let mut groups: Vec<(&'static dyn Source, Vec<PathBuf>)> = Vec::new();
    for (source, file) in files {
        match groups.iter_mut().find(|(s, _)| s.name() == source.name()) {
            Some((_, list)) => list.push(file),
            None => groups.push((source, vec![file])),
        }
    }
    execute(
        by_namespace(groups, paths, export),
        errors,
        options,
        export,
        selection,
        true,
    )
}

/// A format's files and the id namespace they are converted under.
type Group = (&'static dyn Source, Vec<PathBuf>, String);

/// Splits each format's files by namespace: `--namespace`, and with `--namespace-from-path`
/// the first path component under the argument the file was found under (`archive/prod/…`
/// given `archive` → `prod`), so two installations' records never merge nor share ids.
fn by_namespace(
    groups: Vec<(&'static dyn Source, Vec<PathBuf>)>,
    roots: &[PathBuf],
    export: &Export,
) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (source, files) in groups {
        for file in files {
            let namespace = if export.namespace_from_path {
                let part = path_namespace(&file, roots);
                match (export.namespace.as_str(), part) {
                    (base, Some(part)) if !base.is_empty() => format!("{base}/{part}"),
                    (_, Some(part)) => part,
                    (base, None) => base.to_owned(),
                }
            } else {
                export.namespace.clone()
            };
            match out
                .iter_mut()
                .find(|(s, _, n)| s.name() == source.name() && *n == namespace)
            {
                Some((_, list, _)) => list.push(file),
                None => out.push((source, vec![file], namespace)),
            }
        }
    }
    out
}

/// The first component of `file` under the root it was found under (a directory argument, or
/// the directory part of a glob before its first wildcard); None for a file named itself.
fn path_namespace(file: &std::path::Path, roots: &[PathBuf]) -> Option<String> {
    roots.iter().find_map(|root| {
        let text = root.to_string_lossy();
        let base = match text.find(['*', '?', '[']) {
            Some(at) => PathBuf::from(&text[..text[..at].rfind('/').map_or(0, |i| i + 1)]),
            None => root.clone(),
        };
        let rest = file.strip_prefix(&base).ok()?;
        let mut parts = rest.components();
        let first = parts.next()?;
        // A file directly under the root has no folder to name it.
        parts.next()?;
        Some(first.as_os_str().to_string_lossy().into_owned())
    })
}

/// What happened to the inputs, for the closing summary.
#[derive(Default)]
struct Tally {
    files_converted: usize,
    files_failed: usize,
    runs_filtered: usize,
}

fn execute(
    groups: Vec<Group>,
    input_errors: Vec<SourceError>,
    options: &SourceOptions,
    export: &Export,
    selection: Selection,
    summarise: bool,
) -> i32 {
    let started = std::time::Instant::now();
    let total_files: usize = groups.iter().map(|(_, f, _)| f.len()).sum();
    let progress = progress_bar(total_files as u64, export.options.quiet);
    let mut ledger = Ledger {
        delivery: Delivery::new(export),
        problems: Vec::new(),
        input_failed: false,
        tally: Tally::default(),
        injected: export.parent.as_ref(),
        namespace: export.namespace.clone(),
        selection,
    };
    for e in &input_errors {
        ledger.file_failed(e);
    }
    for (source, files, namespace) in groups {
        ledger.namespace = namespace;
        if source.merges_files() {
            let errors = source.parse_each(&files, options, &mut |runs| ledger.convert(runs));
            ledger.tally.files_converted += files.len().saturating_sub(errors.len());
            for e in &errors {
                ledger.file_failed(e);
            }
            progress.inc(files.len() as u64);
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
    if summarise && !export.options.quiet {
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
    /// The id namespace of the files being converted.
    namespace: String,
    selection: Selection,
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
            match build::build_under(run, self.injected, &self.namespace) {
                Ok((built, clean)) => {
                    self.input_failed |= !clean;
                    if selected(&built, &self.selection) {
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
