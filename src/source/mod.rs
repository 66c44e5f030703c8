//! Artifact formats → `Run` records. One file per format; this file holds what they share:
//! the `Source` trait, the registry, input expansion (directories, globs) and the error type.

pub mod airflow;
pub mod dagu;
pub mod dbt;
pub mod dotflow;
pub mod fresh;
pub mod github;
pub mod junit;
pub mod records;
pub mod spark;
pub mod time;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::record::Run;
use crate::report::report;

/// What went wrong with one input file; printed as one line naming the file.
#[derive(Debug, thiserror::Error)]
pub struct SourceError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), shorten(&self.problem))
    }
}

/// A message cut to a readable line: a problem quotes what it found (a timestamp, a string
/// serde did not expect, a run id), which in a hostile file may be megabytes long.
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 240;
    if text.len() <= 2 * KEEP + 40 {
        return text.into();
    }
    let mut head = KEEP;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - KEEP;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}…[{} bytes]…{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
    .into()
}

impl SourceError {
    pub fn new(path: &Path, problem: impl Into<String>) -> Self {
        SourceError {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    /// A serde_json error in words a user can act on.
    pub fn json(path: &Path, err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let problem = match err.classify() {
            Category::Eof => format!(
                "truncated JSON (input ends at line {} column {})",
                err.line(),
                err.column()
            ),
            Category::Syntax => format!("not valid JSON: {err}"),
            Category::Data => format!("unexpected content: {err}"),
            Category::Io => format!("cannot read: {err}"),
        };
        SourceError::new(path, problem)
    }
}

/// A serde_json error's message without serde's " at line L column C", for errors whose
/// position counts inside a part of the file (one line, one field), not the file.
pub fn json_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&position) {
        Some(bare) => bare.to_owned(),
        None => text,
    }
}

/// Options of a conversion: the zone of zone-less times (`--tz`, shared by the formats that
/// have such times) and the options a format owns (`dbt::Options`, …), by type, so adding a
/// format with options of its own changes nothing here.
#[derive(Clone, Default)]
pub struct SourceOptions {
    /// Zone of zone-less local timestamps (`--tz`).
    pub tz: time::Zone,
    /// Say which files a walk read and which it skipped, and why (`-v`).
    pub verbose: bool,
    owned: Vec<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl SourceOptions {
    pub fn with_tz(mut self, tz: time::Zone) -> Self {
        self.tz = tz;
        self
    }

    /// Adds a format's own options (a later value of the same type wins).
    pub fn with<T: std::any::Any + Send + Sync>(mut self, options: T) -> Self {
        self.owned.push(std::sync::Arc::new(options));
        self
    }

    /// A format's own options, if given.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.owned.iter().rev().find_map(|o| o.downcast_ref())
    }
}

impl fmt::Debug for SourceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceOptions")
            .field("tz", &self.tz)
            .field("owned", &self.owned.len())
            .finish()
    }
}

/// One artifact format.
pub trait Source: Sync {
    /// Name of the format (also the verb).
    fn name(&self) -> &'static str;
    /// Whether a file found while walking a directory belongs to this format, judged from
    /// its name and first bytes.
    fn detect(&self, path: &Path, head: &[u8]) -> bool;
    /// Reads one file into runs.
    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError>;

    /// Why a file this format does not convert on its own is still read (dbt's
    /// manifest.json, beside an artifact), for `-v`.
    fn companion(&self, _path: &Path) -> Option<&'static str> {
        None
    }

    /// Whether runs are spread over several files (so `parse_all` must see them together);
    /// other formats are read and sent one file at a time, which bounds memory by the
    /// largest run rather than by the size of a history.
    fn merges_files(&self) -> bool {
        false
    }

    /// Reads several files. Formats whose runs are spread over many records (Airflow: API,
    /// CLI, logs and scheduler output of the same run) override this to merge them; the
    /// default converts each file on its own. A bad file never hides the others' runs.
    fn parse_all(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
    ) -> (Vec<Run>, Vec<SourceError>) {
        let mut runs = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match self.parse(path, options) {
                Ok(r) => runs.extend(r),
                Err(e) => errors.push(e),
            }
        }
        (runs, errors)
    }

    /// `parse_all`, handing runs to `emit` as soon as they are complete, so a format that
    /// can tell which files make up one run (Airflow's log folders) holds one run at a time,
    /// not a whole history. Returns the problems. The default: `parse_all`, then all at once.
    fn parse_each(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
        emit: &mut dyn FnMut(Vec<Run>),
    ) -> Vec<SourceError> {
        let (runs, errors) = self.parse_all(paths, options);
        emit(runs);
        errors
    }

    /// For a format that merges files: the folder that holds every file of this file's run
    /// (Airflow's `dag_id=…/run_id=…` task-log folders). A walk hands such files over one
    /// folder at a time (`folder_merge`) instead of collecting a history's paths.
    fn run_folder(&self, _path: &Path) -> Option<PathBuf> {
        None
    }

    /// Converts a format's files as a walk finds them: `shared` (its files outside run
    /// folders) now, then each run folder as it is complete; None (the default) for a format
    /// that needs all its files at once (`merge_by_folder` then collects them).
    fn folder_merge(
        &self,
        _shared: &[PathBuf],
        _options: &SourceOptions,
    ) -> Option<Box<dyn FolderMerge>> {
        None
    }
}

/// `source.folder_merge`, or for a format without one, all its files collected for
/// `parse_each`.
pub fn merge_by_folder(
    source: &'static dyn Source,
    shared: Vec<PathBuf>,
    options: &SourceOptions,
) -> Box<dyn FolderMerge> {
    match source.folder_merge(&shared, options) {
        Some(merge) => merge,
        None => Box::new(CollectAll {
            source,
            files: shared,
            options: options.clone(),
        }),
    }
}

/// A format's files fed one run folder at a time (see `Source::folder_merge`).
pub trait FolderMerge {
    /// Every file of one run folder, in walk order.
    fn folder(&mut self, files: Vec<PathBuf>, emit: &mut dyn FnMut(Vec<Run>));
    /// After the last folder: the runs still held, and every problem met.
    fn finish(self: Box<Self>, emit: &mut dyn FnMut(Vec<Run>)) -> Vec<SourceError>;
}

/// `folder_merge` for a format that needs all its files at once.
struct CollectAll {
    source: &'static dyn Source,
    files: Vec<PathBuf>,
    options: SourceOptions,
}

impl FolderMerge for CollectAll {
    fn folder(&mut self, files: Vec<PathBuf>, _: &mut dyn FnMut(Vec<Run>)) {
        self.files.extend(files);
    }

    fn finish(self: Box<Self>, emit: &mut dyn FnMut(Vec<Run>)) -> Vec<SourceError> {
        self.source.parse_each(&self.files, &self.options, emit)
    }
}

/// `parse_all` of a format that reads through `parse_each`: its runs collected.
pub fn collect_each(
    source: &dyn Source,
    paths: &[PathBuf],
    options: &SourceOptions,
) -> (Vec<Run>, Vec<SourceError>) {
    let mut runs = Vec::new();
    let errors = source.parse_each(paths, options, &mut |r| runs.extend(r));
    (runs, errors)
}

/// `Source::parse_each` of a format with run folders: its `folder_merge` gets the files
/// outside run folders, then each run folder's files, in path order.
pub fn parse_by_folder(
    source: &'static dyn Source,
    paths: &[PathBuf],
    options: &SourceOptions,
    emit: &mut dyn FnMut(Vec<Run>),
) -> Vec<SourceError> {
    let mut folders: std::collections::BTreeMap<PathBuf, Vec<PathBuf>> = Default::default();
    let mut others = Vec::new();
    for path in paths {
        match source.run_folder(path) {
            Some(folder) => folders.entry(folder).or_default().push(path.clone()),
            None => others.push(path.clone()),
        }
    }
    let mut merge = merge_by_folder(source, others, options);
    for (_, files) in folders {
        merge.folder(files, emit);
    }
    merge.finish(emit)
}

/// `Source::parse` of a format that merges files: one file through its `parse_all`.
pub fn parse_alone(
    source: &dyn Source,
    path: &Path,
    options: &SourceOptions,
) -> Result<Vec<Run>, SourceError> {
    let (runs, mut errors) = source.parse_all(&[path.to_path_buf()], options);
    match errors.pop() {
        Some(e) => Err(e),
        None => Ok(runs),
    }
}

/// Every format retrace reads. Adding a format = one file + one line here.
pub static REGISTRY: &[&dyn Source] = &[
    &dbt::Dbt,
    &records::Records,
    &dotflow::Dotflow,
    &dagu::Dagu,
    &airflow::Airflow,
    &junit::Junit,
    &github::Github,
    &spark::Spark,
    // One line per format.
];

pub fn by_name(name: &str) -> Option<&'static dyn Source> {
    REGISTRY.iter().copied().find(|s| s.name() == name)
}

/// Directories that never hold artifacts but may hold thousands of files.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "compiled",
    "run",
    "__pycache__",
    ".venv",
];

/// Expands arguments into files: a file is taken as given (even if `detect` would not pick
/// it), a directory is walked for files the source detects, anything else is tried as a glob.
/// Problems (a missing path, a glob matching nothing) are returned as errors beside the
/// files that were found.
pub fn expand_inputs(
    source: &dyn Source,
    args: &[PathBuf],
    verbose: bool,
) -> (Vec<PathBuf>, Vec<SourceError>) {
    let classify = |path: &Path, head: &[u8]| source.detect(path, head).then(|| source.name());
    let (files, errors) = expand(args, &classify, Some(source.name()), source.name(), verbose);
    (files.into_iter().map(|(_, p)| p).collect(), errors)
}

/// Like `expand_inputs`, for every format at once (`backfill`): each file goes to the first
/// source in the registry that detects it; a named file no source claims is an error.
pub fn expand_any(
    args: &[PathBuf],
    verbose: bool,
) -> (Vec<(&'static dyn Source, PathBuf)>, Vec<SourceError>) {
    let classify =
        |path: &Path, head: &[u8]| REGISTRY.iter().copied().find(|s| s.detect(path, head));
    expand(args, &classify, None, "known", verbose)
}

/// What a walk says about each file under `-v`.
pub trait Named {
    fn format_name(&self) -> &'static str;
}

impl Named for &'static str {
    fn format_name(&self) -> &'static str {
        self
    }
}

impl Named for &'static dyn Source {
    fn format_name(&self) -> &'static str {
        self.name()
    }
}

pub type Classify<'a, T> = dyn Fn(&Path, &[u8]) -> Option<T> + 'a;

/// The walk behind `expand_inputs` and `expand_any`, for a caller with its own idea of what a
/// file is (`view` also reads OTLP/JSON lines): `classify` names a file's kind from its path
/// and first bytes; a file named itself that nothing claims gets `named_file_default`.
pub fn expand<T: Copy + Named>(
    args: &[PathBuf],
    classify: &Classify<T>,
    named_file_default: Option<T>,
    what: &str,
    verbose: bool,
) -> (Vec<(T, PathBuf)>, Vec<SourceError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let how = Walk {
        classify,
        named_file_default,
        what,
        verbose,
        wanted: None,
        read_heads: true,
    };
    walk(
        args,
        &how,
        &mut |t, path| files.push((t, path)),
        &mut errors,
    );
    (files, errors)
}

/// How `walk` goes.
pub struct Walk<'a, T> {
    pub classify: &'a Classify<'a, T>,
    pub named_file_default: Option<T>,
    /// What the walk looks for, for "no … artifacts found".
    pub what: &'a str,
    pub verbose: bool,
    /// Asked before a file found in a directory or glob is opened: false passes it over
    /// without a word (a second walk over the same tree, for some of its files).
    pub wanted: Option<&'a dyn Fn(&Path) -> bool>,
    /// Whether `classify` looks at the first bytes (a second walk that knows its files by
    /// their paths spares opening each one).
    pub read_heads: bool,
}

impl<T> Walk<'_, T> {
    fn head(&self, path: &Path) -> Vec<u8> {
        if self.read_heads {
            read_head(path)
        } else {
            Vec::new()
        }
    }
}

/// Expands arguments into files as `expand` does, handing each to `found` as it is found, so
/// a caller can convert a history while walking it instead of collecting its paths.
pub fn walk<T: Copy + Named>(
    args: &[PathBuf],
    how: &Walk<T>,
    found: &mut dyn FnMut(T, PathBuf),
    errors: &mut Vec<SourceError>,
) {
    for arg in args {
        if arg.is_file() {
            if how.wanted.is_some_and(|wanted| !wanted(arg)) {
                continue;
            }
            match (how.classify)(arg, &how.head(arg)).or(how.named_file_default) {
                Some(t) => found(t, arg.clone()),
                None => errors.push(SourceError::new(
                    arg,
                    "not an artifact of a format retrace reads",
                )),
            }
        } else if arg.is_dir() {
            if walk_dir(how, arg, found, errors) == 0 {
                errors.push(SourceError::new(
                    arg,
                    format!("no {} artifacts found in this directory", how.what),
                ));
            }
        } else if arg.exists() {
            errors.push(SourceError::new(arg, not_regular(arg)));
        } else {
            walk_glob(how, arg, found, errors);
        }
    }
}

/// Walks a directory; returns how many files were found.
fn walk_dir<T: Copy + Named>(
    how: &Walk<T>,
    dir: &Path,
    found: &mut dyn FnMut(T, PathBuf),
    errors: &mut Vec<SourceError>,
) -> usize {
    let verbose = how.verbose;
    let mut count = 0;
    // Symlinked run directories and files are followed (archives are often trees of links);
    // walkdir detects a link that loops back and reports it, named, as an error.
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let skipped = e.file_type().is_dir()
                && e.depth() > 0
                && SKIP_DIRS.iter().any(|s| e.file_name() == *s);
            if skipped && verbose {
                report(format!(
                    "{}: skipped: a {} directory never holds artifacts",
                    e.path().display(),
                    e.file_name().to_string_lossy()
                ));
            }
            !skipped
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() && how.wanted.is_some_and(|w| !w(e.path())) => {}
            Ok(e) if e.file_type().is_file() => {
                match (how.classify)(e.path(), &how.head(e.path())) {
                    Some(t) => {
                        if verbose {
                            report(format!(
                                "{}: read as {}",
                                e.path().display(),
                                t.format_name()
                            ));
                        }
                        count += 1;
                        found(t, e.into_path());
                    }
                    None if verbose => match REGISTRY.iter().find_map(|s| s.companion(e.path())) {
                        Some(why) => report(format!(
                            "{}: not converted itself: {why}",
                            e.path().display()
                        )),
                        None => report(format!(
                            "{}: skipped: not a {} artifact (by its name and first bytes)",
                            e.path().display(),
                            how.what
                        )),
                    },
                    None => {}
                }
            }
            // A FIFO or device is never opened; named like an artifact, it is one error line
            // (a FIFO called run_results.json is somebody's mistake worth saying).
            Ok(e) if !e.file_type().is_dir() && (how.classify)(e.path(), &[]).is_some() => {
                errors.push(SourceError::new(e.path(), not_regular(e.path())));
            }
            Ok(e) if verbose && !e.file_type().is_dir() => report(format!(
                "{}: skipped: not a regular file",
                e.path().display()
            )),
            Ok(_) => {}
            Err(err) => {
                let path = err.path().unwrap_or(dir).to_path_buf();
                let why = err.io_error().map_or(err.to_string(), |e| e.to_string());
                errors.push(SourceError::new(&path, format!("cannot walk: {why}")));
            }
        }
    }
    count
}

fn walk_glob<T: Copy + Named>(
    how: &Walk<T>,
    pattern: &Path,
    found: &mut dyn FnMut(T, PathBuf),
    errors: &mut Vec<SourceError>,
) {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        errors.push(SourceError::new(pattern, "no such file or directory"));
        return;
    }
    let matches = match glob::glob(&text) {
        Ok(m) => m,
        Err(e) => {
            errors.push(SourceError::new(pattern, format!("bad glob pattern: {e}")));
            return;
        }
    };
    let mut count = 0;
    for m in matches {
        match m {
            Ok(p) if p.is_dir() => count += walk_dir(how, &p, found, errors),
            Ok(p) if !is_regular(&p) => errors.push(SourceError::new(&p, not_regular(&p))),
            Ok(p) if how.wanted.is_some_and(|w| !w(&p)) => count += 1,
            Ok(p) => match (how.classify)(&p, &how.head(&p)).or(how.named_file_default) {
                Some(t) => {
                    count += 1;
                    found(t, p);
                }
                None => errors.push(SourceError::new(
                    &p,
                    "not an artifact of a format retrace reads",
                )),
            },
            Err(e) => errors.push(SourceError::new(
                e.path(),
                format!("cannot read: {}", e.error()),
            )),
        }
    }
    errors.extend(unmatchable_names(&text));
    if count == 0 {
        errors.push(SourceError::new(pattern, "glob matched no files"));
    }
}

/// Files a glob would match but cannot see: the glob crate matches names as text and skips
/// names that are not UTF-8 without a word. Each is named here (matched on its name with the
/// invalid bytes replaced), so no file is dropped silently.
fn unmatchable_names(pattern: &str) -> Vec<SourceError> {
    let Ok(compiled) = glob::Pattern::new(pattern) else {
        return Vec::new();
    };
    let wild = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let base = match pattern[..wild].rfind('/') {
        Some(i) => &pattern[..=i],
        None => ".",
    };
    let depth = if pattern.contains("**") {
        usize::MAX
    } else {
        pattern[base.len().min(pattern.len())..]
            .matches('/')
            .count()
            + 1
    };
    walkdir::WalkDir::new(base)
        .max_depth(depth)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().to_str().is_none())
        .filter(|e| {
            let shown = e.path().to_string_lossy();
            let shown = shown.strip_prefix("./").unwrap_or(&shown);
            compiled.matches(shown)
        })
        .map(|e| {
            SourceError::new(
                e.path(),
                "its name is not UTF-8, which a glob cannot match: name the file or its directory",
            )
        })
        .collect()
}

/// Whether `needle` occurs in `haystack` (format sniffing on a file's first bytes).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first bytes of a file, for format sniffing (empty if unreadable or not a regular file:
/// parsing will say why).
pub fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    if !is_regular(path) {
        return head;
    }
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(512).read_to_end(&mut head);
    }
    head
}

/// Whether `path` is a regular file (following links). A FIFO would block the read forever
/// and a device (`/dev/zero`) would never end: they are refused before anything opens them.
pub fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// What a path that is not a regular file is, for the line that refuses it.
pub fn not_regular(path: &Path) -> String {
    use std::os::unix::fs::FileTypeExt;
    let kind = match std::fs::metadata(path).map(|m| m.file_type()) {
        Ok(t) if t.is_dir() => "a directory",
        Ok(t) if t.is_fifo() => "a FIFO (named pipe)",
        Ok(t) if t.is_char_device() || t.is_block_device() => "a device",
        Ok(t) if t.is_socket() => "a socket",
        Ok(_) => "not a regular file",
        Err(_) => return "cannot read it".into(),
    };
    format!("{kind}, expected a regular file")
}

/// Reads a whole file, refusing anything but a regular file and naming the file in the error.
/// Opens a file to read, after one look: a directory, FIFO or device is refused by name and
/// never opened; a path that cannot be looked at is opened, and says why.
pub fn open_file(path: &Path) -> Result<std::fs::File, SourceError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(SourceError::new(path, "is a directory, expected a file"))
        }
        Ok(m) if !m.is_file() => return Err(SourceError::new(path, not_regular(path))),
        _ => {}
    }
    std::fs::File::open(path).map_err(|e| SourceError::new(path, format!("cannot read: {e}")))
}

pub fn read_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_file(path)?
        .read_to_end(&mut bytes)
        .map_err(|e| SourceError::new(path, format!("cannot read: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::new(path, "file is empty"));
    }
    Ok(bytes)
}

/// A file's bytes as UTF-8 text, or the line that says where they are not.
pub fn utf8<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str, SourceError> {
    std::str::from_utf8(bytes)
        .map_err(|e| SourceError::new(path, format!("not UTF-8 text (byte {})", e.valid_up_to())))
}

/// A JSON document that must be an object. Checked first: UTF-8 (serde_json does not look at
/// the text of values it skips, so a corrupt file could pass) and that the document is an
/// object (serde would read an array into a struct field by field, with a message about
/// some field).
pub fn json_object<'a, T: serde::Deserialize<'a>>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<T, SourceError> {
    let text = utf8(path, bytes)?;
    let found = match text.trim_start().chars().next() {
        Some('{') => return serde_json::from_str(text).map_err(|e| SourceError::json(path, &e)),
        None => return Err(SourceError::new(path, "file is empty")),
        Some('[') => "a list",
        Some('"') => "a string",
        Some('t' | 'f') => "a boolean",
        Some('n') => "null",
        Some(_) => "a number",
    };
    // Whether it is JSON at all (skipped without building anything, at any depth).
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) => Err(SourceError::json(path, &e)),
        Ok(_) => Err(SourceError::new(
            path,
            format!("not a JSON object (the document is {found})"),
        )),
    }
}

/// The runs of one file as `trace::build` will accept them: a run it would refuse (no time
/// at all, a time before 1970, a step twice, a missing parent, a cycle) is reported as a
/// problem of the file, which the builder cannot name.
pub fn check_runs(path: &Path, runs: Vec<Run>) -> Result<Vec<Run>, SourceError> {
    for run in &runs {
        check_run(run).map_err(|problem| SourceError::new(path, problem))?;
    }
    Ok(runs)
}

/// `run <id>: <what build would refuse>`.
pub fn check_run(run: &Run) -> Result<(), String> {
    crate::trace::build::check(run).map_err(|e| format!("run {}: {e}", run.run_id))
}

/// Problems of runs the builder would refuse, one per file (a file may hold several runs):
/// each named after the first file its records came from, the others listed.
pub fn run_problems<P: AsRef<Path>>(refused: Vec<(Vec<P>, String)>) -> Vec<SourceError> {
    let mut by_file: Vec<(&Path, Vec<String>)> = Vec::new();
    for (files, problem) in &refused {
        let Some((first, rest)) = files.split_first() else {
            continue;
        };
        let problem = if rest.is_empty() {
            problem.clone()
        } else {
            let rest: Vec<String> = rest
                .iter()
                .map(|p| p.as_ref().display().to_string())
                .collect();
            format!("{problem} (read with {})", rest.join(", "))
        };
        match by_file.iter_mut().find(|(f, _)| *f == first.as_ref()) {
            Some((_, problems)) => problems.push(problem),
            None => by_file.push((first.as_ref(), vec![problem])),
        }
    }
    by_file
        .into_iter()
        .map(|(file, problems)| SourceError::new(file, problems.join("; ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_problems_are_cut_in_the_middle() {
        assert_eq!(shorten("short"), "short");
        let long = format!("{}{}{}", "a".repeat(300), "é".repeat(1000), "z".repeat(300));
        let cut = shorten(&long);
        assert!(cut.len() < 600, "{}", cut.len());
        assert!(cut.starts_with("aaa") && cut.ends_with("zzz"), "{cut}");
        assert!(cut.contains("bytes]"), "{cut}");
    }

    #[test]
    fn json_message_drops_only_serdes_position() {
        let e = serde_json::from_str::<bool>("\n  42").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: integer `42`, expected a boolean at line 2 column 4"
        );
        assert_eq!(
            json_message(&e),
            "invalid type: integer `42`, expected a boolean"
        );
        let e = serde_json::Error::io(std::io::Error::other("disk"));
        assert_eq!(json_message(&e), "disk");
    }

    #[test]
    fn json_objects_only() {
        let p = Path::new("x.json");
        let ok: Result<serde_json::Value, _> = json_object(p, b" {\"a\": 1}");
        assert!(ok.is_ok());
        let problem = |bytes: &[u8]| {
            json_object::<serde_json::Value>(p, bytes)
                .unwrap_err()
                .problem
        };
        assert_eq!(
            problem(b"[1, 2]"),
            "not a JSON object (the document is a list)"
        );
        assert_eq!(
            problem(b"\"x\""),
            "not a JSON object (the document is a string)"
        );
        assert!(problem(b"<html>").starts_with("not valid JSON"));
        assert_eq!(problem(b"{\"a\": \"\xff\"}"), "not UTF-8 text (byte 7)");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            problem(deep.as_bytes()),
            "not a JSON object (the document is a list)"
        );
    }
}

/// The compliance check every source's output must pass, on every fixture of its format
/// (`fixtures/<name>/`): span ids unique and never zero, every parent present and covering
/// its children, the root covering everything, and determinism — two conversions a moment
/// apart give identical spans, so no time or id can come from the clock.
#[cfg(test)]
mod compliance {
    use std::collections::HashMap;
    use std::path::Path;

    use opentelemetry::trace::SpanId;

    use super::*;
    use crate::trace::build::{build, scope};

    fn check(path: &Path, source: &dyn Source, options: &SourceOptions) {
        let convert = || {
            let runs = source
                .parse(path, options)
                .unwrap_or_else(|e| panic!("{e}"));
            runs.into_iter()
                .map(|r| {
                    build(r, None, &scope(), "")
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                })
                .collect::<Vec<_>>()
        };
        let first = convert();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = convert();
        assert_eq!(
            format!("{first:?}"),
            format!("{second:?}"),
            "{}: not deterministic",
            path.display()
        );
        for run in &first {
            let spans: HashMap<SpanId, _> = run
                .spans
                .iter()
                .map(|s| (s.span_context.span_id(), s))
                .collect();
            assert_eq!(
                spans.len(),
                run.spans.len(),
                "{}: duplicate span ids",
                path.display()
            );
            let root = &run.spans[0];
            for s in &run.spans {
                assert!(s.span_context.is_valid(), "{}: zero id", path.display());
                assert!(
                    s.start_time <= s.end_time,
                    "{}: {} ends before it starts",
                    path.display(),
                    s.name
                );
                assert!(
                    root.start_time <= s.start_time && s.end_time <= root.end_time,
                    "{}: {} outside the run",
                    path.display(),
                    s.name
                );
                if s.span_context.span_id() != root.span_context.span_id() {
                    let parent = spans
                        .get(&s.parent_span_id)
                        .unwrap_or_else(|| panic!("{}: {} has no parent", path.display(), s.name));
                    assert!(
                        parent.start_time <= s.start_time && s.end_time <= parent.end_time,
                        "{}: {} outside its parent",
                        path.display(),
                        s.name
                    );
                }
            }
        }
    }

    #[test]
    fn every_source_passes_on_every_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        for source in REGISTRY {
            let (files, errors) = expand_inputs(*source, &[root.join(source.name())], false);
            assert!(errors.is_empty(), "{errors:?}");
            assert!(!files.is_empty(), "no fixtures for {}", source.name());
            for options in [
                SourceOptions::default(),
                SourceOptions::default()
                    .with(dbt::Options {
                        phase_spans: true,
                        include_sql: true,
                        ..Default::default()
                    })
                    .with(spark::Options {
                        task_spans: true,
                        include_sql: false,
                    }),
            ] {
                for f in &files {
                    check(f, *source, &options);
                }
            }
        }
    }
}
