//! Converting artifacts: inputs → runs (a source) → spans (`trace/`) → a delivery. Every
//! problem is one line on stderr naming the file; a bad input never stops the others. Runs
//! are sent as they are built, through one sink (one connection) for the whole invocation.

use std::path::{Path, PathBuf};

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
    let classify = |path: &Path, head: &[u8]| source.detect(path, head).then_some(source);
    let inputs = Inputs {
        paths,
        classify: &classify,
        named_file_default: Some(source),
        what: source.name(),
    };
    execute(&inputs, options, export, Selection::default(), false)
}

/// `retrace backfill`: every file goes to the format that detects it.
pub fn backfill(
    paths: &[PathBuf],
    options: &SourceOptions,
    export: &Export,
    selection: Selection,
) -> i32 {
    let classify = |path: &Path, head: &[u8]| {
        source::REGISTRY
            .iter()
            .copied()
            .find(|s| s.detect(path, head))
    };
    let inputs = Inputs {
        paths,
        classify: &classify,
        named_file_default: None,
        what: "known",
    };
    execute(&inputs, options, export, selection, true)
}

/// What to walk, and how to tell each file's format.
struct Inputs<'a> {
    paths: &'a [PathBuf],
    classify: &'a source::Classify<'a, &'static dyn Source>,
    named_file_default: Option<&'static dyn Source>,
    what: &'a str,
}

impl Inputs<'_> {
    /// The id namespace of a file: `--namespace`, and with `--namespace-from-path` the first
    /// path component under the argument the file was found under (`archive/prod/…` given
    /// `archive` → `prod`), so two installations' records never merge nor share ids.
    fn namespace(&self, file: &Path, export: &Export) -> String {
        if !export.namespace_from_path {
            return export.namespace.clone();
        }
        match (export.namespace.as_str(), path_namespace(file, self.paths)) {
            (base, Some(part)) if !base.is_empty() => format!("{base}/{part}"),
            (_, Some(part)) => part,
            (base, None) => base.to_owned(),
        }
    }
}

/// A format whose runs span files, in one namespace.
type MergeKey = (&'static dyn Source, String);

fn same(a: &MergeKey, source: &'static dyn Source, namespace: &str) -> bool {
    a.0.name() == source.name() && a.1 == namespace
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

/// Converts as the walk goes: a file of a format that reads each file alone is converted as
/// soon as it is found; a format whose runs span files (Airflow, dotflow) gets its files
/// outside run folders first, then — from a second walk over the same paths, so that no list
/// of a history's files is ever held — its run folders one at a time. Memory is bounded by
/// the largest run, not by the history.
fn execute(
    inputs: &Inputs,
    options: &SourceOptions,
    export: &Export,
    selection: Selection,
    summarise: bool,
) -> i32 {
    let started = std::time::Instant::now();
    let progress = progress_spinner(export.options.quiet);
    let mut ledger = Ledger {
        delivery: Delivery::new(export),
        problems: Vec::new(),
        input_failed: false,
        tally: Tally::default(),
        injected: export.parent.as_ref(),
        namespace: export.namespace.clone(),
        selection,
    };
    let mut shared: Vec<(MergeKey, Vec<PathBuf>)> = Vec::new();
    let mut with_folders: Vec<MergeKey> = Vec::new();
    // A run-folder file another format claimed by its content (its first bytes): the second
    // walk must look at first bytes too, to leave it to that format.
    let mut claimed_elsewhere = false;
    let mut walk_errors = Vec::new();
    let how = source::Walk {
        classify: inputs.classify,
        named_file_default: inputs.named_file_default,
        what: inputs.what,
        verbose: options.verbose,
        wanted: None,
        read_heads: true,
    };
    source::walk(
        inputs.paths,
        &how,
        &mut |source, file| {
            let namespace = inputs.namespace(&file, export);
            claimed_elsewhere |= source::REGISTRY.iter().any(|other| {
                other.name() != source.name()
                    && other.merges_files()
                    && other.run_folder(&file).is_some()
            });
            if !source.merges_files() {
                // One file at a time: memory is bounded by the largest run, not the history.
                ledger.namespace = namespace;
                match source.parse(&file, options) {
                    Ok(runs) => {
                        ledger.tally.files_converted += 1;
                        ledger.convert(runs);
                    }
                    Err(e) => ledger.file_failed(&e),
                }
                progress.inc(1);
            } else if source.run_folder(&file).is_some() {
                if !with_folders.iter().any(|k| same(k, source, &namespace)) {
                    with_folders.push((source, namespace));
                }
            } else {
                match shared.iter_mut().find(|(k, _)| same(k, source, &namespace)) {
                    Some((_, list)) => list.push(file),
                    None => shared.push(((source, namespace), vec![file])),
                }
            }
        },
        &mut walk_errors,
    );
    for e in &walk_errors {
        ledger.file_failed(e);
    }
    for key in &with_folders {
        if !shared.iter().any(|(k, _)| same(k, key.0, &key.1)) {
            shared.push((key.clone(), Vec::new()));
        }
    }
    for ((source, namespace), files) in shared {
        ledger.namespace = namespace.clone();
        let mut count = files.len();
        let mut merge = source::merge_by_folder(source, files, options);
        if with_folders.iter().any(|k| same(k, source, &namespace)) {
            count += feed_folders(
                inputs,
                source,
                &namespace,
                export,
                claimed_elsewhere,
                &mut *merge,
                &mut |runs| ledger.convert(runs),
            );
        }
        let errors = merge.finish(&mut |runs| ledger.convert(runs));
        ledger.tally.files_converted += count.saturating_sub(errors.len());
        for e in &errors {
            ledger.file_failed(e);
        }
        progress.inc(count as u64);
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

/// Walks the inputs again for `source`'s run-folder files in `namespace`, handing `merge` one
/// complete folder at a time (a folder's files are consecutive in a sorted walk). The walk's
/// problems were said by the first walk. Returns how many files were handed over.
/// `read_heads`: the first walk gave some run-folder file to another format by its content,
/// so files are told apart by their first bytes again (else by their names alone).
fn feed_folders(
    inputs: &Inputs,
    source: &'static dyn Source,
    namespace: &str,
    export: &Export,
    read_heads: bool,
    merge: &mut dyn source::FolderMerge,
    emit: &mut dyn FnMut(Vec<Run>),
) -> usize {
    let wanted = |path: &Path| {
        source.run_folder(path).is_some() && inputs.namespace(path, export) == namespace
    };
    // The first walk told these files by their names (a run folder's task logs); no need to
    // open them again, unless a format claimed one by its content. A file another format
    // claims stays that format's.
    let classify = |path: &Path, head: &[u8]| {
        (inputs.classify)(path, head)
            .is_none_or(|s| s.name() == source.name())
            .then_some(source)
    };
    let how = source::Walk {
        classify: &classify,
        named_file_default: inputs.named_file_default,
        what: inputs.what,
        verbose: false,
        wanted: Some(&wanted),
        read_heads,
    };
    let mut count = 0;
    let mut folder: Option<PathBuf> = None;
    let mut files: Vec<PathBuf> = Vec::new();
    // Folders already handed over (arguments that overlap reach one twice), by a fingerprint:
    // 8 bytes a run, not its path.
    let mut fed: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let fingerprint = |folder: &Option<PathBuf>| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        folder
            .as_ref()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
            .hash(&mut hasher);
        hasher.finish()
    };
    source::walk(
        inputs.paths,
        &how,
        &mut |_, file| {
            let this = source.run_folder(&file);
            if this != folder {
                if !files.is_empty() {
                    merge.folder(std::mem::take(&mut files), emit);
                }
                folder = this;
                if !fed.insert(fingerprint(&folder)) {
                    // Seen through another argument: skipped, as are its files.
                    folder = None;
                    return;
                }
            } else if folder.is_none() {
                return;
            }
            count += 1;
            files.push(file);
        },
        &mut Vec::new(),
    );
    if !files.is_empty() {
        merge.folder(files, emit);
    }
    count
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

/// A count of the files converted on stderr, drawn only on a terminal (a walk does not know
/// how many there will be).
fn progress_spinner(quiet: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {pos} files {elapsed}") {
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
