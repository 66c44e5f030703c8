//! Spark event logs (README "Spark"): one application → root span; SQL executions, jobs and
//! stage attempts under it; tasks aggregated into their stage attempt, or one span each with
//! `--task-spans`. Read as a stream, line by line, whatever the layout: a single file (plain or
//! compressed, `.inprogress` while the app runs), or a rolling directory
//! `eventlog_v2_<app>/events_<n>_<app>[.codec]` read in numeric order as one stream. Memory is
//! bounded by the open jobs and stages, not by tasks or the size of the log.

mod app;
pub mod attributes;
pub mod codec;
mod events;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::record::Run;
use crate::report::report;
use crate::source::{check_runs, FolderMerge, Source, SourceError, SourceOptions};
use codec::Codec;
use events::Kind;

pub struct Spark;

/// Spark's own options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// One span per task attempt (`--task-spans`), besides the stage's aggregates.
    pub task_spans: bool,
    /// Descriptions that are SQL statements (`--include-sql`) are exported as written.
    pub include_sql: bool,
}

/// The longest line read: Spark's longest events (an environment update with a long class
/// path, a plan) are a few MB; anything longer is a corrupt file, not a reason to allocate.
const MAX_LINE: u64 = 256 << 20;

impl Source for Spark {
    fn name(&self) -> &'static str {
        "spark"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        if rolling_folder(path).is_some() {
            return events_index(path).is_some();
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if Codec::of(path) != Codec::Plain {
            // Spark names single logs after the application id.
            let app = name.starts_with("local-")
                || name.starts_with("app-")
                || name.starts_with("application_")
                || name.starts_with("spark-");
            return app && !name.ends_with(".json");
        }
        head.starts_with(b"{\"Event\":\"SparkListenerLogStart\"")
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        let files = match rolling_folder(path) {
            Some(folder) => rolling_files(&folder).map_err(|e| SourceError::new(&folder, e))?,
            None => vec![path.to_path_buf()],
        };
        parse_app(&files, options)
    }

    fn merges_files(&self) -> bool {
        true
    }

    fn run_folder(&self, path: &Path) -> Option<PathBuf> {
        rolling_folder(path)
    }

    fn parse_each(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
        emit: &mut dyn FnMut(Vec<Run>),
    ) -> Vec<SourceError> {
        let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
        let mut singles = Vec::new();
        for path in paths {
            match rolling_folder(path) {
                Some(folder) => folders.entry(folder).or_default().push(path.clone()),
                None => singles.push(path.clone()),
            }
        }
        let mut merge = Apps {
            singles,
            options: options.clone(),
            errors: Vec::new(),
        };
        for (_, files) in folders {
            merge.folder(files, emit);
        }
        Box::new(merge).finish(emit)
    }

    fn parse_all(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
    ) -> (Vec<Run>, Vec<SourceError>) {
        crate::source::collect_each(self, paths, options)
    }

    fn folder_merge(
        &self,
        shared: &[PathBuf],
        options: &SourceOptions,
    ) -> Option<Box<dyn FolderMerge>> {
        Some(Box::new(Apps {
            singles: shared.to_vec(),
            options: options.clone(),
            errors: Vec::new(),
        }))
    }
}

/// Applications handed over as a walk finds them: a rolling directory when complete, the
/// single-file logs one at a time at the end.
struct Apps {
    singles: Vec<PathBuf>,
    options: SourceOptions,
    errors: Vec<SourceError>,
}

impl FolderMerge for Apps {
    fn folder(&mut self, files: Vec<PathBuf>, emit: &mut dyn FnMut(Vec<Run>)) {
        // The folder's other files (`appstatus_*`, Hadoop's `.crc`) only mark its state.
        let mut events: Vec<(u64, PathBuf)> = files
            .into_iter()
            .filter_map(|f| events_index(&f).map(|n| (n, f)))
            .collect();
        events.sort();
        events.dedup();
        // Spark numbers a rolling log's files without gaps (compaction only removes the
        // first ones): a gap is a file missing from the copy, or not named.
        if let Some(w) = events.windows(2).find(|w| w[1].0 > w[0].0 + 1) {
            let folder = w[0].1.parent().unwrap_or(Path::new(""));
            let (first, last) = (w[0].0 + 1, w[1].0 - 1);
            let missing = if first == last {
                format!("events_{first}_… is missing")
            } else {
                format!("events_{first}_… to events_{last}_… are missing")
            };
            report(format!(
                "{}: {missing} (not there, or not named): the application is converted from \
                 the other files, without what the missing ones held",
                folder.display(),
            ));
        }
        let files: Vec<PathBuf> = events.into_iter().map(|(_, f)| f).collect();
        if files.is_empty() {
            return;
        }
        match parse_app(&files, &self.options) {
            Ok(runs) => emit(runs),
            Err(e) => self.errors.push(e),
        }
    }

    fn finish(mut self: Box<Self>, emit: &mut dyn FnMut(Vec<Run>)) -> Vec<SourceError> {
        // Spark renames `<app>.inprogress` when the application ends, so a log still named in
        // progress beside its finished log is an earlier copy of the same application, with
        // the same ids: converting it too would send a partial version of every span.
        let finished: std::collections::HashSet<String> = self
            .singles
            .iter()
            .filter(|p| !is_in_progress(p))
            .filter_map(|p| app_key(p))
            .collect();
        for path in std::mem::take(&mut self.singles) {
            if is_in_progress(&path) && app_key(&path).is_some_and(|k| finished.contains(&k)) {
                report(format!(
                    "{}: left out: the same application's finished log is converted",
                    path.display()
                ));
                continue;
            }
            match parse_app(std::slice::from_ref(&path), &self.options) {
                Ok(runs) => emit(runs),
                Err(e) => self.errors.push(e),
            }
        }
        self.errors
    }
}

fn is_in_progress(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "inprogress")
}

/// A single log's application (and attempt), as Spark names the file: `app-1_1.zstd.inprogress`
/// → `app-1_1`.
fn app_key(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".inprogress").unwrap_or(name);
    let stem = match Codec::of(Path::new(name)) {
        Codec::Plain => name,
        _ => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
    };
    Some(stem.to_owned())
}

/// The rolling directory a file belongs to (`eventlog_v2_<app>/`), if any.
fn rolling_folder(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    let name = parent.file_name()?.to_str()?;
    name.starts_with("eventlog_v2_")
        .then(|| parent.to_path_buf())
}

/// `n` of `events_<n>_<app>[.codec]`.
fn events_index(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("events_")?;
    let (n, _) = rest.split_once('_')?;
    n.parse().ok()
}

/// A rolling directory's event files, in numeric order.
fn rolling_files(folder: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("cannot read: {e}"))?;
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| events_index(&p).map(|n| (n, p)))
        .collect();
    if files.is_empty() {
        return Err("a rolling event-log directory without events_<n>_… files".into());
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Whether a rolling application is still running (its `appstatus_<app>.inprogress`).
fn rolling_in_progress(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("appstatus_") && name.ends_with(".inprogress")
        })
    })
}

/// One application from its files (one, or a rolling directory's in order), as one stream.
fn parse_app(files: &[PathBuf], options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
    let own = options.get::<Options>().cloned().unwrap_or_default();
    let first = files.first().expect("an application has a file");
    let mut app = app::App::new(own.task_spans, own.include_sql);
    let mut skipped = Skipped::default();
    let last = files.len() - 1;
    for (i, path) in files.iter().enumerate() {
        read_log(path, i == last, &mut app, &mut skipped)?;
    }
    if !app.started() {
        return Err(SourceError::new(
            first,
            "no SparkListenerApplicationStart: not a complete Spark event log (its start is missing)",
        ));
    }
    if let Some(note) = skipped.note() {
        report(format!("{}: {note}", first.display()));
    }
    // Spark renames a log (or a rolling folder's appstatus file) when the application ends.
    let running = match rolling_folder(first) {
        Some(folder) => rolling_in_progress(&folder),
        None => is_in_progress(first),
    };
    let runs: Vec<Run> = app.finish(running).into_iter().collect();
    check_runs(first, runs)
}

/// Lines set aside, said once per application.
#[derive(Default)]
struct Skipped {
    not_json: u64,
    first_bad: Option<(PathBuf, u64)>,
    torn_end: Option<PathBuf>,
}

impl Skipped {
    fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.not_json > 0 {
            let (path, line) = self.first_bad.clone().expect("set with the count");
            parts.push(format!(
                "{} line(s) that are not Spark events skipped (the first: {} line {line})",
                self.not_json,
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        if let Some(path) = &self.torn_end {
            parts.push(format!(
                "{} ends inside an event (the log was cut while written): that event is left out",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Feeds one file's events to `app`. `last`: the stream's last file, whose end may be cut
/// mid-event (a log still written, a killed driver); anywhere else that is an error.
fn read_log(
    path: &Path,
    last: bool,
    app: &mut app::App,
    skipped: &mut Skipped,
) -> Result<(), SourceError> {
    let codec = Codec::of(path);
    let file = crate::source::open_file(path)?;
    // Said before a codec reports an empty input as a cut frame.
    if file.metadata().is_ok_and(|m| m.len() == 0) {
        return Err(SourceError::new(path, "file is empty (no Spark events)"));
    }
    let decoded = codec
        .reader(file)
        .map_err(|e| SourceError::new(path, format!("cannot read as {codec}: {e}")))?;
    let mut reader = BufReader::with_capacity(1 << 18, decoded);
    let mut line = Vec::with_capacity(1 << 16);
    let mut number = 0u64;
    let mut events = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line);
        let n = match read {
            Ok(n) => n,
            // A compressed log cut while written ends inside a block: what came before stands.
            Err(e) if last && events > 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                skipped.torn_end = Some(path.to_path_buf());
                break;
            }
            Err(e) => {
                return Err(SourceError::new(
                    path,
                    match codec {
                        Codec::Plain => format!("cannot read after line {number}: {e}"),
                        _ => format!("cannot read {codec} data after line {number}: {e}"),
                    },
                ))
            }
        };
        if n == 0 {
            break;
        }
        number += 1;
        if line.len() as u64 > MAX_LINE {
            return Err(SourceError::new(
                path,
                format!(
                    "line {number} is longer than {} MiB: not a Spark event log",
                    MAX_LINE >> 20
                ),
            ));
        }
        let complete = line.last() == Some(&b'\n');
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let Some(event) = events::event_name(text) else {
            if !complete && last && events > 0 {
                skipped.torn_end = Some(path.to_path_buf());
                break;
            }
            if events == 0 && number == 1 && !app.started() {
                return Err(SourceError::new(
                    path,
                    "not a Spark event log (its first line is not a JSON event)",
                ));
            }
            skipped.not_json += 1;
            skipped
                .first_bad
                .get_or_insert((path.to_path_buf(), number));
            continue;
        };
        events += 1;
        let Some(kind) = Kind::of(&event) else {
            continue; // an event type retrace does not read (Spark has many; apps post their own)
        };
        if let Err(e) = app.event(kind, text) {
            if !complete && last {
                skipped.torn_end = Some(path.to_path_buf());
                break;
            }
            return Err(SourceError::new(
                path,
                format!(
                    "line {number}: {event}: {}",
                    crate::source::json_message(&e)
                ),
            ));
        }
    }
    if events == 0 {
        return Err(SourceError::new(path, "file is empty (no Spark events)"));
    }
    Ok(())
}
