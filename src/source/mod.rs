//! Artifact formats → `Run` records. One file per format; this file holds what they share:
//! the `Source` trait, the registry, input expansion (directories, globs) and the error type.

pub mod dbt;
pub mod time;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::record::Run;

/// What went wrong with one input file; printed as one line naming the file.
#[derive(Debug, thiserror::Error)]
pub struct SourceError {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
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

/// Options every source may use.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// Export compiled SQL (`db.query.text`).
    pub include_sql: bool,
    /// Split nodes into phase child spans (dbt compile/execute).
    pub phase_spans: bool,
    /// An explicit dbt manifest.json instead of the one beside each artifact.
    pub manifest: Option<PathBuf>,
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
}

/// Every format retrace reads. Adding a format = one file + one line here.
pub static REGISTRY: &[&dyn Source] = &[&dbt::Dbt];

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
pub fn expand_inputs(source: &dyn Source, args: &[PathBuf]) -> (Vec<PathBuf>, Vec<SourceError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg.is_file() {
            files.push(arg.clone());
        } else if arg.is_dir() {
            let before = files.len();
            walk_dir(source, arg, &mut files, &mut errors);
            if files.len() == before {
                errors.push(SourceError::new(
                    arg,
                    format!("no {} artifacts found in this directory", source.name()),
                ));
            }
        } else if arg.exists() {
            errors.push(SourceError::new(arg, "neither a file nor a directory"));
        } else {
            expand_glob(source, arg, &mut files, &mut errors);
        }
    }
    (files, errors)
}

fn walk_dir(
    source: &dyn Source,
    dir: &Path,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<SourceError>,
) {
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir()
                && e.depth() > 0
                && SKIP_DIRS.iter().any(|s| e.file_name() == *s))
        });
    for entry in walker {
        match entry {
            Ok(e) if e.file_type().is_file() => {
                if source.detect(e.path(), &read_head(e.path())) {
                    files.push(e.into_path());
                }
            }
            Ok(_) => {}
            Err(err) => {
                let path = err.path().unwrap_or(dir).to_path_buf();
                errors.push(SourceError::new(
                    &path,
                    format!(
                        "cannot walk: {}",
                        err.io_error().map_or(err.to_string(), |e| e.to_string())
                    ),
                ));
            }
        }
    }
}

fn expand_glob(
    source: &dyn Source,
    pattern: &Path,
    files: &mut Vec<PathBuf>,
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
    let before = files.len();
    for m in matches {
        match m {
            Ok(p) if p.is_dir() => walk_dir(source, &p, files, errors),
            Ok(p) => files.push(p),
            Err(e) => errors.push(SourceError::new(
                e.path(),
                format!("cannot read: {}", e.error()),
            )),
        }
    }
    if files.len() == before {
        errors.push(SourceError::new(pattern, "glob matched no files"));
    }
}

/// The first bytes of a file, for format sniffing (empty if unreadable: parsing will say why).
pub fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(512).read_to_end(&mut head);
    }
    head
}

/// Reads a whole file, refusing directories and naming the file in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    if path.is_dir() {
        return Err(SourceError::new(path, "is a directory, expected a file"));
    }
    let bytes =
        std::fs::read(path).map_err(|e| SourceError::new(path, format!("cannot read: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SourceError::new(path, "file is empty"));
    }
    Ok(bytes)
}
