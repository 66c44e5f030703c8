//! `retrace send`: delivers OTLP/JSON lines files — the spool, or `--output` files — byte for
//! byte (the requests as written, so ids and times are exactly those first built), reading
//! them line by line.
//!
//! A spool file is taken only when it can be locked (its writer holds it for its whole life;
//! another send holds it while sending), is delivered at most once by this bookkeeping: once
//! the collector fails, the file is rewritten to what was not delivered; it is removed when
//! nothing is left. A line the collector refuses for good, or that is not OTLP/JSON, goes to
//! `<spool>/rejected/`. Files named on the command line are sent and never changed. A line
//! may hold metrics (`--metrics`): it goes to the same collector's metrics endpoint.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::export::{
    sink_config, BehaviourArgs, ConfigFileArgs, OtlpArgs, OutputArgs, ResourceArgs, SpoolArgs,
};
use crate::report::{exit, print_line, report};
use crate::sink::config::{for_metrics_path, EnvSnapshot, ExporterKind, Protocol, Signal, SinkConfig};
use crate::sink::otlp::export_fitting;
use crate::sink::spool::{self, span_count};
use crate::sink::transport::{Transport, Undelivered};

/// Deliver OTLP/JSON lines files: the spool of spans that could not be delivered (then
/// removed once delivered), or --output files.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Deliver OTLP/JSON lines files over OTLP: without FILE (or with --spool), every \
        file in the spool directory, each removed once all its spans were delivered; FILEs \
        named here (e.g. --output files) are sent and kept. The requests are sent as written, \
        so ids, times and resources are those first built: re-sending never duplicates in a \
        backend that dedupes by id, and nothing about the spans can be changed on the way.\n\n\
        A spool file being written, or sent by another retrace, is left to it. A line the \
        collector refuses for good (HTTP 400, gRPC INVALID_ARGUMENT; too large even as one \
        span) is moved to <spool>/rejected/ and named; the others still go.\n\n\
        Exit codes: 0 all delivered; 1 a line or file could not be read; 3 something was not \
        delivered (what is left stays in the spool)."
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
    let config = match sink_config(
        &args.otlp,
        &args.config,
        // Metrics lines go where the metrics settings say (their own variables).
        &OutputArgs {
            metrics: true,
            ..OutputArgs::default()
        },
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
    let destination = config.otlp_destination();
    if args.behaviour.dry_run {
        return dry_run(&inputs, &destination);
    }
    let transport = match Transport::new(&config) {
        Ok(t) => t,
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    // A spool file records where its requests were headed; it goes there unless the flags,
    // the environment or a configuration file name an endpoint.
    let use_recorded = config.endpoint_origin == "default";
    let mut sending = Sending {
        transport,
        config,
        current: None,
        others: HashMap::new(),
        metrics: HashMap::new(),
        points: 0,
        destination,
        spans: 0,
        removed: 0,
        bad_input: false,
        undelivered: false,
        gone: HashSet::new(),
        left: 0,
    };
    for (file, from_spool) in &inputs {
        let recorded = (*from_spool && use_recorded)
            .then(|| spool::Destination::of(file))
            .flatten();
        sending.head_for(recorded);
        if sending.gone.contains(&sending.current) {
            sending.left += 1;
            continue;
        }
        sending.file(file, *from_spool);
    }
    if sending.left > 0 {
        report(format!(
            "{} more file(s) left for the next send",
            sending.left
        ));
    }
    if !args.behaviour.quiet {
        let points = match sending.points {
            0 => String::new(),
            n => format!(" and {n} metric points"),
        };
        report(format!(
            "sent {} spans{points} from {} file(s) to {}; {} spool file(s) removed",
            sending.spans,
            inputs.len(),
            sending.transport.switched_to().unwrap_or(sending.destination.clone()),
            sending.removed
        ));
    }
    if sending.undelivered {
        exit::DELIVERY
    } else if sending.bad_input {
        exit::INPUT
    } else {
        exit::OK
    }
}

/// One `send` at work.
struct Sending {
    /// The transport to `current`.
    transport: Transport,
    /// The configuration resolved from flags, environment and files.
    config: SinkConfig,
    /// Where `transport` goes: None for `config`'s endpoint, else a spool file's recorded one.
    current: Option<spool::Destination>,
    /// Transports to the other destinations seen so far.
    others: HashMap<Option<spool::Destination>, (Transport, String)>,
    /// Transports to each destination's metrics endpoint, made when a metrics line comes.
    metrics: HashMap<Option<spool::Destination>, Transport>,
    points: usize,
    destination: String,
    spans: usize,
    removed: usize,
    bad_input: bool,
    /// Something was not delivered: refused, rejected, or the collector gone.
    undelivered: bool,
    /// Destinations that cannot be reached: nothing more is tried there.
    gone: HashSet<Option<spool::Destination>>,
    /// Files not tried because the collector was gone.
    left: usize,
}

impl Sending {
    /// Makes `wanted` the current destination, setting up its transport the first time.
    fn head_for(&mut self, wanted: Option<spool::Destination>) {
        if wanted == self.current {
            return;
        }
        let next = match self.others.remove(&wanted) {
            Some(found) => Ok(found),
            None => {
                let config = self.config_for(&wanted);
                Transport::new(&config).map(|t| (t, config.otlp_destination()))
            }
        };
        match next {
            Ok((transport, shown)) => {
                let previous = std::mem::replace(&mut self.transport, transport);
                let previous_shown = std::mem::replace(&mut self.destination, shown);
                let previous_key = std::mem::replace(&mut self.current, wanted);
                self.others.insert(previous_key, (previous, previous_shown));
            }
            Err(e) => {
                report(format!("{e}; sending to {} instead", self.destination));
            }
        }
    }

    /// The configuration that sends to `wanted` (None: the flags' own).
    fn config_for(&self, wanted: &Option<spool::Destination>) -> SinkConfig {
        let mut config = self.config.clone();
        if let Some(d) = wanted {
            config.endpoint = d.endpoint.clone();
            config.endpoint_origin = "the spool file".into();
            config.protocol = Protocol::parse(&d.protocol).unwrap_or(config.protocol);
        }
        config
    }

    /// Sends a metrics line to the current destination's metrics endpoint (its traces URL
    /// with `/v1/metrics`; gRPC serves both at one address); returns it as a line to keep
    /// when the collector is gone.
    fn metrics_line(
        &mut self,
        path: &Path,
        number: usize,
        name: &str,
        request: ExportMetricsServiceRequest,
        from_spool: bool,
    ) -> Vec<String> {
        let points = crate::trace::metrics::point_count(&request);
        if !self.metrics.contains_key(&self.current) {
            // The flags' and variables' metrics settings; for a spool file's own recorded
            // destination, that endpoint's metrics twin with the metrics headers.
            let mut config = match (&self.current, &self.config.metrics) {
                (None, Some(m)) => (*m.otlp).clone(),
                (current, metrics) => {
                    let mut config = self.config_for(current);
                    if let Some(m) = metrics {
                        config.headers = m.otlp.headers.clone();
                        config.timeout = m.otlp.timeout;
                        config.compression = m.otlp.compression;
                        config.certificate = m.otlp.certificate.clone();
                    }
                    if config.protocol != Protocol::Grpc {
                        config.endpoint = for_metrics_path(&config.endpoint);
                    }
                    config
                }
            };
            config.signal = Signal::Metrics;
            match Transport::new(&config) {
                Ok(t) => {
                    self.metrics.insert(self.current.clone(), t);
                }
                Err(e) => {
                    report(format!("{}: line {number}: {e}", path.display()));
                    self.undelivered = true;
                    return vec![serde_json::to_string(&request).unwrap_or_default()];
                }
            }
        }
        let Some(transport) = self.metrics.get_mut(&self.current) else {
            return Vec::new();
        };
        let deadline = transport.deadline();
        match transport.export(&request, deadline) {
            Ok(accepted) => {
                self.points += points;
                if accepted.rejected > 0 {
                    self.undelivered = true;
                    report(format!(
                        "{}: line {number}: {} rejected {} metric points: {}",
                        path.display(),
                        self.destination,
                        accepted.rejected,
                        accepted.message
                    ));
                }
                Vec::new()
            }
            Err(e) if e.kind != Undelivered::Unreachable => {
                self.undelivered = true;
                let line = serde_json::to_string(&request).unwrap_or_default();
                let whereto = self.set_aside(from_spool, name, &line);
                report(format!(
                    "{}: line {number}: {} refused {points} metric points for good: {e}{whereto}",
                    path.display(),
                    self.destination
                ));
                Vec::new()
            }
            Err(e) => {
                self.collector_gone(path, number, &e, from_spool);
                vec![serde_json::to_string(&request).unwrap_or_default()]
            }
        }
    }

    /// The current destination cannot be reached: said once, and nothing more is tried there.
    fn collector_gone(
        &mut self,
        path: &Path,
        number: usize,
        e: &crate::sink::transport::ExportError,
        from_spool: bool,
    ) {
        if !self.gone.contains(&self.current) {
            report(format!(
                "{}: line {number}: could not deliver to {}: {e}; {}",
                path.display(),
                self.destination,
                if from_spool {
                    "what is left stays in the spool"
                } else {
                    "the file is kept"
                }
            ));
        }
        self.gone.insert(self.current.clone());
        self.undelivered = true;
    }

    /// Delivers one file, line by line. A spool file is locked first (or left to whoever
    /// holds it), and afterwards removed, or rewritten to what is left when the collector
    /// failed.
    fn file(&mut self, path: &Path, from_spool: bool) {
        let opened = if from_spool {
            File::options().read(true).write(true).open(path)
        } else {
            File::open(path)
        };
        let file = match opened {
            Ok(f) => f,
            Err(e) if from_spool && e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                report(format!("{}: cannot read: {e}", path.display()));
                self.bad_input = true;
                return;
            }
        };
        if from_spool {
            if !spool::try_lock(&file) {
                report(format!(
                    "{}: in use by another retrace (being written, or sent); left to it",
                    path.display()
                ));
                return;
            }
            // Delivered and removed (or rewritten) by another send before we got the lock.
            if !still_there(&file, path) {
                return;
            }
        }
        let name = path
            .file_stem()
            .map_or_else(|| "send".into(), |s| s.to_string_lossy().into_owned());
        let mut reader = BufReader::new(&file);
        let mut line = String::new();
        let (mut offset, mut number) = (0u64, 0usize);
        loop {
            line.clear();
            let read = match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    report(format!("{}: line {}: cannot read: {e}", path.display(), number + 1));
                    self.bad_input = true;
                    return;
                }
            };
            offset += read as u64;
            number += 1;
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            if is_metrics(text) {
                let kept = match serde_json::from_str::<ExportMetricsServiceRequest>(text) {
                    Ok(request) => self.metrics_line(path, number, &name, request, from_spool),
                    Err(e) => {
                        self.bad_input = true;
                        let whereto = self.set_aside(from_spool, &name, text);
                        report(format!(
                            "{}: line {number}: not an OTLP/JSON ExportMetricsServiceRequest: {e}{whereto}",
                            path.display()
                        ));
                        Vec::new()
                    }
                };
                if self.gone.contains(&self.current) {
                    if from_spool {
                        self.keep_rest(path, &file, kept, offset);
                    }
                    return;
                }
                continue;
            }
            let request: ExportTraceServiceRequest = match serde_json::from_str(text) {
                Ok(r) => r,
                // A writer that died mid-line leaves the last line torn: nothing to deliver.
                Err(e) if e.is_eof() && !line.ends_with('\n') => {
                    report(format!(
                        "{}: line {number}: incomplete (the writer stopped mid-line); skipped",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => {
                    self.bad_input = true;
                    let whereto = self.set_aside(from_spool, &name, text);
                    report(format!(
                        "{}: line {number}: not an OTLP/JSON ExportTraceServiceRequest: {e}{whereto}",
                        path.display()
                    ));
                    continue;
                }
            };
            let kept = self.request(path, number, &name, request, from_spool);
            if self.gone.contains(&self.current) {
                if from_spool {
                    self.keep_rest(path, &file, kept, offset);
                }
                return;
            }
        }
        if from_spool {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    self.removed += 1;
                    let _ = std::fs::remove_file(spool::Destination::path_for(path));
                }
                Err(e) => report(format!("{}: delivered, but cannot remove: {e}", path.display())),
            }
        }
    }

    /// Sends one line's request (in parts when too large); returns the parts not delivered
    /// because the collector is gone, as lines to keep.
    fn request(
        &mut self,
        path: &Path,
        number: usize,
        name: &str,
        request: ExportTraceServiceRequest,
        from_spool: bool,
    ) -> Vec<String> {
        let mut kept = Vec::new();
        let deadline = self.transport.deadline();
        for (part, result) in export_fitting(&mut self.transport, request, deadline) {
            let count = span_count(&part);
            match result {
                Ok(accepted) => {
                    self.spans += count;
                    if accepted.rejected > 0 {
                        self.undelivered = true;
                        report(format!(
                            "{}: line {number}: {} rejected {} spans: {}",
                            path.display(),
                            self.destination,
                            accepted.rejected,
                            accepted.message
                        ));
                    }
                }
                Err(e) if e.kind == Undelivered::Refused => {
                    self.undelivered = true;
                    let line = serde_json::to_string(&part).unwrap_or_default();
                    let whereto = self.set_aside(from_spool, name, &line);
                    report(format!(
                        "{}: line {number}: {} refused {count} spans for good: {e}{whereto}",
                        path.display(),
                        self.destination
                    ));
                }
                Err(e) => {
                    self.collector_gone(path, number, &e, from_spool);
                    kept.push(serde_json::to_string(&part).unwrap_or_default());
                }
            }
        }
        kept
    }

    /// `; moved to <file>` after setting a spool line aside, or why it could not be.
    fn set_aside(&self, from_spool: bool, name: &str, line: &str) -> String {
        // Refused lines are set aside in the spool.
        match (&self.config.spool, from_spool) {
            (Some(dir), true) => match spool::set_aside(dir, name, line) {
                Ok(file) => format!("; moved to {}", file.display()),
                Err(e) => format!("; {e}"),
            },
            _ => String::new(),
        }
    }

    /// Rewrites a spool file to `kept` lines and everything after `offset`: what a later
    /// send must still deliver, and nothing it already did. Made under a temporary name,
    /// locked, then renamed over the file.
    fn keep_rest(&self, path: &Path, file: &File, kept: Vec<String>, offset: u64) {
        let result = (|| -> std::io::Result<()> {
            let temporary = path.with_file_name(format!(
                ".{}.rest",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
            let mut out = File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temporary)?;
            for line in &kept {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
            let mut rest = file;
            rest.seek(SeekFrom::Start(offset))?;
            std::io::copy(&mut rest, &mut out)?;
            out.flush()?;
            std::fs::rename(&temporary, path)
        })();
        if let Err(e) = result {
            report(format!(
                "{}: cannot drop what was delivered ({e}); the next send delivers it again",
                path.display()
            ));
        }
    }
}

/// Whether `file` is still what `path` names (not removed or replaced since it was opened).
fn still_there(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// A line of metrics (the Collector's file exporter and `--metrics` write them beside spans).
fn is_metrics(line: &str) -> bool {
    // The first key, looked for in the first bytes (any text: a line is not trusted to be
    // UTF-8 at a fixed offset).
    let key = b"\"resourceMetrics\"";
    let head = &line.as_bytes()[..line.len().min(64)];
    head.windows(key.len()).any(|w| w == key)
}

/// `--dry-run`: what would be sent, from where; nothing is sent, moved or removed.
fn dry_run(inputs: &[(PathBuf, bool)], destination: &str) -> i32 {
    let mut bad_input = false;
    for (file, from_spool) in inputs {
        let reader = match File::open(file) {
            Ok(f) => BufReader::new(f),
            Err(e) => {
                report(format!("{}: cannot read: {e}", file.display()));
                bad_input = true;
                continue;
            }
        };
        let (mut requests, mut spans, mut points) = (0usize, 0usize, 0usize);
        for (i, line) in reader.lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    report(format!("{}: line {}: cannot read: {e}", file.display(), i + 1));
                    bad_input = true;
                    break;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            if is_metrics(&line) {
                match serde_json::from_str::<ExportMetricsServiceRequest>(&line) {
                    Ok(request) => {
                        requests += 1;
                        points += crate::trace::metrics::point_count(&request);
                    }
                    Err(e) => {
                        report(format!("{}: line {}: {e}", file.display(), i + 1));
                        bad_input = true;
                    }
                }
                continue;
            }
            match serde_json::from_str::<ExportTraceServiceRequest>(&line) {
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
        let points = match points {
            0 => String::new(),
            n => format!(" and {n} metric points"),
        };
        print_line(format_args!(
            "would send {spans} spans{points} in {requests} requests from {} to {destination}{}",
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

/// The spool's files, oldest first (their names start with the UTC time they were written);
/// files being created (`.…new`) and the rejected directory are not among them.
fn spool_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("spool {}: cannot read: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "jsonl")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}
