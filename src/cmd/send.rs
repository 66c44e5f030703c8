//! `retrace send`: delivers OTLP/JSON lines files — the spool, or `--output` files — byte for
//! byte (the requests as written, so ids and times are exactly those first built). A spool
//! file is removed once every span in it was delivered; files named on the command line are
//! never removed.

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::export::{
    sink_config, BehaviourArgs, ConfigFileArgs, OtlpArgs, OutputArgs, ResourceArgs, SpoolArgs,
};
use crate::report::{exit, print_line, report};
use crate::sink::config::{EnvSnapshot, ExporterKind};
use crate::sink::spool::span_count;
use crate::sink::transport::Transport;

/// Deliver OTLP/JSON lines files: the spool of spans that could not be delivered (then
/// removed once delivered), or --output files.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Deliver OTLP/JSON lines files over OTLP: without FILE (or with --spool), every \
        file in the spool directory, each removed once all its spans were delivered; FILEs \
        named here (e.g. --output files) are sent and kept. The requests are sent as written, \
        so ids, times and resources are those first built: re-sending never duplicates in a \
        backend that dedupes by id, and nothing about the spans can be changed on the way.\n\n\
        Exit codes: 0 all delivered; 1 a line or file could not be read; 3 delivery failed \
        (files kept)."
)]
pub struct Args {
    /// OTLP/JSON lines files [default: the spool directory's files]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub otlp: OtlpArgs,

    #[command(flatten)]
    pub config: ConfigFileArgs,

    #[command(flatten)]
    pub spool: SpoolArgs,

    #[command(flatten)]
    pub behaviour: BehaviourArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        send(&self, env)
    }
}

fn send(args: &Args, env: &EnvSnapshot) -> i32 {
    let files = &args.files;
    let quiet = args.behaviour.quiet;
    let config = match sink_config(
        &args.otlp,
        &args.config,
        &OutputArgs::default(),
        &args.spool,
        &ResourceArgs::default(),
        env,
        None,
    ) {
        Ok(c) if c.sends_to(ExporterKind::Otlp) => c,
        Ok(_) => {
            report("send delivers over OTLP only, and the exporters configured do not include otlp");
            return exit::USAGE;
        }
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    let mut inputs: Vec<(PathBuf, bool)> = files.iter().map(|f| (f.clone(), false)).collect();
    if files.is_empty() || args.spool.spool.is_some() {
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
    let mut transport = match Transport::new(&config) {
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
    if args.behaviour.dry_run {
        return dry_run(&inputs, &destination);
    }
    let (mut spans, mut removed, mut bad_input, mut rejected) = (0usize, 0usize, false, 0i64);
    for (file, from_spool) in &inputs {
        let Some(text) = read(file) else {
            bad_input = true;
            continue;
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
    if !quiet {
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

/// `--dry-run`: what would be sent, from where; nothing is sent or removed.
fn dry_run(inputs: &[(PathBuf, bool)], destination: &str) -> i32 {
    let mut bad_input = false;
    for (file, from_spool) in inputs {
        let Some(text) = read(file) else {
            bad_input = true;
            continue;
        };
        let (mut requests, mut spans) = (0usize, 0usize);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ExportTraceServiceRequest>(line) {
                Ok(request) => {
                    requests += 1;
                    spans += span_count(&request);
                }
                Err(e) => {
                    report(format!("{}: line {}: {e}", file.display(), i + 1));
                    bad_input = true;
                }
            }
        }
        print_line(format_args!(
            "would send {spans} spans in {requests} requests from {} to {destination}{}",
            file.display(),
            if *from_spool {
                ", then remove it"
            } else {
                ""
            }
        ));
    }
    if bad_input {
        exit::INPUT
    } else {
        exit::OK
    }
}

/// A file's text, or None after saying why it cannot be read.
fn read(file: &Path) -> Option<String> {
    std::fs::read_to_string(file)
        .map_err(|e| report(format!("{}: cannot read: {e}", file.display())))
        .ok()
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
