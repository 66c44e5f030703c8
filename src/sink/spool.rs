//! Spans that could not be delivered are kept, before exit, as OTLP/JSON lines (one
//! `ExportTraceServiceRequest` per line, the `--output` format) in a spool directory;
//! `retrace send` delivers them later. Ids are deterministic, so a re-send never duplicates.
//!
//! A spool file belongs to its writer for the writer's whole life: it is created under a
//! temporary name, locked (`flock`), and only then given its `.jsonl` name, so `retrace send`
//! (which takes only files it can lock, and holds the lock while it sends) never sends a
//! file that is still being written, and two sends never deliver the same file. A request the
//! collector refuses for good is set aside in `<spool>/rejected/`, named in the error line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// `$XDG_STATE_HOME/retrace/spool`, else `~/.local/state/retrace/spool`.
pub fn default_dir() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("retrace").join("spool"))
}

/// Where requests refused for good are set aside.
pub const REJECTED_DIR: &str = "rejected";

/// Where a spool file's requests were headed, kept beside it (`<file>.destination`, JSON) so
/// that `retrace send` delivers them there unless told otherwise. Never headers; the endpoint
/// without userinfo.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    pub endpoint: String,
    pub protocol: String,
}

impl Destination {
    /// Where a configuration sends OTLP.
    pub fn of_config(config: &crate::sink::config::SinkConfig) -> Destination {
        Destination {
            endpoint: crate::sink::config::without_userinfo(&config.endpoint),
            protocol: config.protocol.as_str().to_owned(),
        }
    }

    /// The sidecar of a spool file.
    pub fn path_for(spool_file: &Path) -> PathBuf {
        let mut name = spool_file.file_name().unwrap_or_default().to_os_string();
        name.push(".destination");
        spool_file.with_file_name(name)
    }

    /// The destination recorded beside a spool file, if any (an unreadable one counts as none).
    pub fn of(spool_file: &Path) -> Option<Destination> {
        let text = std::fs::read_to_string(Self::path_for(spool_file)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

pub struct Spool {
    dir: PathBuf,
    destination: Option<Destination>,
    /// `<UTC time>-<pid>`: the spool file's name, and its rejected file's.
    name: String,
    file: Option<(PathBuf, File)>,
    spans: usize,
}

impl Spool {
    pub fn new(dir: PathBuf, destination: Option<Destination>) -> Spool {
        Spool {
            dir,
            destination,
            name: format!(
                "{}-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
                std::process::id()
            ),
            file: None,
            spans: 0,
        }
    }

    /// Appends one request; the file is created (and locked for this process's life) on
    /// first use.
    pub fn keep(&mut self, request: &impl serde::Serialize, spans: usize) -> Result<(), String> {
        if self.file.is_none() {
            let (path, file) = create_locked(&self.dir, &self.name)?;
            if let Some(destination) = &self.destination {
                let text = serde_json::to_string(destination).map_err(|e| e.to_string())?;
                std::fs::write(Destination::path_for(&path), text).map_err(|e| {
                    format!(
                        "spool {}: cannot write: {e}",
                        Destination::path_for(&path).display()
                    )
                })?;
            }
            self.file = Some((path, file));
        }
        let Some((path, file)) = self.file.as_mut() else {
            return Err("spool: no file".into());
        };
        let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|e| format!("spool {}: cannot write: {e}", path.display()))?;
        self.spans += spans;
        Ok(())
    }

    /// Sets a request the collector refused for good aside; returns the file it went to.
    pub fn set_aside(&self, request: &impl serde::Serialize) -> Result<PathBuf, String> {
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        set_aside(&self.dir, &self.name, &line)
    }

    /// The file written and the spans in it, if any were kept.
    pub fn kept(&self) -> Option<(&Path, usize)> {
        self.file.as_ref().map(|(p, _)| (p.as_path(), self.spans))
    }

    /// `N kept in FILE (`retrace send --spool DIR` delivers them)`, if anything was kept.
    pub fn kept_hint(&self) -> Option<String> {
        self.kept().map(|(file, spans)| {
            format!(
                "{spans} kept in {} (`retrace send --spool {}` delivers them)",
                file.display(),
                self.dir.display()
            )
        })
    }
}

/// Creates `<dir>/<name>.jsonl` already locked by this process: made and locked under a
/// temporary name, then renamed, so no other retrace sees it unlocked.
fn create_locked(dir: &Path, name: &str) -> Result<(PathBuf, File), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("spool {}: cannot create: {e}", dir.display()))?;
    let temporary = dir.join(format!(".{name}.jsonl.new"));
    let path = dir.join(format!("{name}.jsonl"));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|e| format!("spool {}: cannot create: {e}", temporary.display()))?;
    if !try_lock(&file) {
        return Err(format!("spool {}: cannot lock", temporary.display()));
    }
    std::fs::rename(&temporary, &path)
        .map_err(|e| format!("spool {}: cannot create: {e}", path.display()))?;
    Ok((path, file))
}

/// Appends `line` to `<spool>/rejected/<name>.jsonl`; returns that file.
pub fn set_aside(spool: &Path, name: &str, line: &str) -> Result<PathBuf, String> {
    let dir = spool.join(REJECTED_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.jsonl"));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{}\n", line.trim_end()).as_bytes()))
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    Ok(path)
}

/// Takes the exclusive lock of an open file without waiting; false when another process
/// holds it. Released when the file is closed (or the process ends, however it ends).
pub fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a file descriptor this File owns; no memory is shared with the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// The two halves of a request (by spans, each half keeping its resources and scopes), or
/// None for a single span: what is sent instead of a request too large for the collector.
pub fn halves(
    request: ExportTraceServiceRequest,
) -> Result<(ExportTraceServiceRequest, ExportTraceServiceRequest), ExportTraceServiceRequest> {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    let total = span_count(&request);
    if total < 2 {
        return Err(request);
    }
    let mut first = total / 2;
    let (mut a, mut b) = (
        ExportTraceServiceRequest::default(),
        ExportTraceServiceRequest::default(),
    );
    for resource in request.resource_spans {
        let empty = |r: &ResourceSpans| ResourceSpans {
            resource: r.resource.clone(),
            scope_spans: Vec::new(),
            schema_url: r.schema_url.clone(),
        };
        let (mut ra, mut rb) = (empty(&resource), empty(&resource));
        for mut scope in resource.scope_spans {
            let take = first.min(scope.spans.len());
            first -= take;
            let rest = scope.spans.split_off(take);
            if !scope.spans.is_empty() {
                ra.scope_spans.push(ScopeSpans {
                    scope: scope.scope.clone(),
                    spans: scope.spans,
                    schema_url: scope.schema_url.clone(),
                });
            }
            if !rest.is_empty() {
                rb.scope_spans.push(ScopeSpans {
                    scope: scope.scope,
                    spans: rest,
                    schema_url: scope.schema_url,
                });
            }
        }
        if !ra.scope_spans.is_empty() {
            a.resource_spans.push(ra);
        }
        if !rb.scope_spans.is_empty() {
            b.resource_spans.push(rb);
        }
    }
    Ok((a, b))
}
