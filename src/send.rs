//! `retrace send`: delivers OTLP/JSON lines files — the spool, or `--output` files — byte for
//! byte (the requests as written, so ids and times are exactly those first built). A spool
//! file is removed once every span in it was delivered; files named on the command line are
//! never removed.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::cli::ExportArgs;
use crate::convert::{exit, report};
use crate::sink::config::{self, EnvSnapshot, ExporterKind};
use crate::sink::spool::span_count;
use crate::sink::transport::Transport;

pub fn send(files: &[PathBuf], export: &ExportArgs, env: &EnvSnapshot) -> i32 {
    let config = match config::resolve(&export.sink_flags(), env) {
        Ok(c) if c.exporter == ExporterKind::Otlp => c,
        Ok(_) => {
            report("send delivers over OTLP only (--exporter otlp)");
            return exit::USAGE;
        }
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    let mut inputs: Vec<(PathBuf, bool)> = files.iter().map(|f| (f.clone(), false)).collect();
    if files.is_empty() || export.spool.is_some() {
        let Some(dir) = &config.spool else {
            report("nothing to send: no FILE given and no spool (--no-spool)");
            return exit::USAGE;
        };
        match spool_files(dir) {
            Ok(found) => inputs.extend(found.into_iter().map(|f| (f, true))),
            Err(e) => {
                report(e);
                return exit::INPUT;
            }
        }
    }
    let transport = match Transport::new(&config) {
        Ok(t) => t,
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    let destination = format!(
        "{} ({})",
        config.endpoint_display(),
        config.protocol.as_str()
    );
    let (mut spans, mut removed, mut bad_input, mut rejected) = (0usize, 0usize, false, 0i64);
    for (file, from_spool) in &inputs {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                report(format!("{}: cannot read: {e}", file.display()));
                bad_input = true;
                continue;
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut complete = true;
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let request: ExportTraceServiceRequest = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(e) => {
                    // A spool written by a process that died mid-line ends torn.
                    let torn = i + 1 == lines.len() && e.is_eof();
                    report(format!(
                        "{}: line {}: {}",
                        file.display(),
                        i + 1,
                        if torn {
                            "incomplete (the writer stopped mid-line); skipped".to_owned()
                        } else {
                            format!("not an OTLP/JSON ExportTraceServiceRequest: {e}")
                        }
                    ));
                    bad_input |= !torn;
                    complete &= torn;
                    continue;
                }
            };
            match transport.export(&request, transport.deadline()) {
                Ok(accepted) => {
                    spans += span_count(&request);
                    if accepted.rejected > 0 {
                        report(format!(
                            "{}: line {}: {destination} rejected {} spans: {}",
                            file.display(),
                            i + 1,
                            accepted.rejected,
                            accepted.message
                        ));
                        rejected += accepted.rejected;
                    }
                }
                Err(e) => {
                    report(format!(
                        "{}: line {}: could not deliver to {destination}: {e}; the file is kept",
                        file.display(),
                        i + 1
                    ));
                    report(format!("sent {spans} spans before the collector failed"));
                    return exit::DELIVERY;
                }
            }
        }
        if *from_spool && complete {
            match std::fs::remove_file(file) {
                Ok(()) => removed += 1,
                Err(e) => report(format!(
                    "{}: delivered, but cannot remove: {e}",
                    file.display()
                )),
            }
        }
    }
    if !export.quiet {
        report(format!(
            "sent {spans} spans from {} file(s) to {destination}; {removed} spool file(s) removed",
            inputs.len()
        ));
    }
    if rejected > 0 {
        exit::DELIVERY
    } else if bad_input {
        exit::INPUT
    } else {
        exit::OK
    }
}

/// The spool's files, oldest first (their names start with the UTC time they were written).
fn spool_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("spool {}: cannot read: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}
