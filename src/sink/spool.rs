//! Spans that could not be delivered are kept, before exit, as OTLP/JSON lines (one
//! `ExportTraceServiceRequest` per line, the `--output` format) in a spool directory;
//! `retrace send` delivers them later. Ids are deterministic, so a re-send never duplicates.

use std::fs::File;
use std::io::Write;
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

pub struct Spool {
    dir: PathBuf,
    file: Option<(PathBuf, File)>,
    spans: usize,
}

impl Spool {
    pub fn new(dir: PathBuf) -> Spool {
        Spool {
            dir,
            file: None,
            spans: 0,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one request; the file (named by time and process id, nothing else) is created
    /// on first use.
    pub fn keep(
        &mut self,
        request: &ExportTraceServiceRequest,
        spans: usize,
    ) -> Result<(), String> {
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("spool {}: cannot create: {e}", self.dir.display()))?;
            let name = format!(
                "{}-{}.jsonl",
                chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
                std::process::id()
            );
            let path = self.dir.join(name);
            let file = File::create(&path)
                .map_err(|e| format!("spool {}: cannot create: {e}", path.display()))?;
            self.file = Some((path, file));
        }
        let (path, file) = self.file.as_mut().expect("created above");
        let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|e| format!("spool {}: cannot write: {e}", path.display()))?;
        self.spans += spans;
        Ok(())
    }

    /// The file written and the spans in it, if any were kept.
    pub fn kept(&self) -> Option<(&Path, usize)> {
        self.file.as_ref().map(|(p, _)| (p.as_path(), self.spans))
    }
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
