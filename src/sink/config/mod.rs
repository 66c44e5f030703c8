//! Flags + OTEL_* environment + files → one resolved sink configuration. The environment is
//! read once, into `EnvSnapshot`, so resolution is a pure function that tests can drive.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::sink::SinkError;

mod env;
mod otel_file;
mod url;
mod values;

pub use env::EnvSnapshot;
pub use url::{host_and_port, path_of, redact_url, without_userinfo};
use url::{is_loopback_host, port_of};
pub use values::parse_duration;
use values::{merge, parse_list, parse_pair, truthy};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CHUNK: usize = 512;
const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            "http/json" => Some(Protocol::HttpJson),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExporterKind {
    Otlp,
    File,
    Console,
    None,
}

/// One exporter name as `--exporter` and `OTEL_TRACES_EXPORTER` write it (case-insensitive):
/// retrace's four, and the Python entry-point names Airflow's configuration uses, which also
/// say the protocol.
fn exporter_name(text: &str) -> Option<(ExporterKind, Option<Protocol>)> {
    match text.trim().to_ascii_lowercase().as_str() {
        "otlp" => Some((ExporterKind::Otlp, None)),
        "otlp_proto_grpc" => Some((ExporterKind::Otlp, Some(Protocol::Grpc))),
        "otlp_proto_http" => Some((ExporterKind::Otlp, Some(Protocol::HttpProtobuf))),
        "file" => Some((ExporterKind::File, None)),
        "console" => Some((ExporterKind::Console, None)),
        "none" => Some((ExporterKind::None, None)),
        _ => None,
    }
}

/// The exporters a comma-separated list names, with the protocol an Airflow name implies.
/// `strict` (a flag) refuses an unknown name; the environment variable warns and ignores it,
/// as the OpenTelemetry specification requires.
fn exporter_list(
    text: &str,
    origin: &str,
    strict: bool,
) -> Result<(Vec<ExporterKind>, Option<Protocol>), SinkError> {
    let mut kinds = Vec::new();
    let mut protocol = None;
    for name in text.split(',').filter(|n| !n.trim().is_empty()) {
        match exporter_name(name) {
            Some((kind, implied)) => {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
                protocol = protocol.or(implied);
            }
            None if strict => {
                return Err(SinkError::Config(format!(
                    "{origin} {name:?}: expected otlp, file, console or none (or a comma-separated list)"
                )))
            }
            None => crate::report::report(format!(
                "{origin}: unknown exporter {:?} ignored (known: otlp, otlp_proto_grpc, otlp_proto_http, console, file, none)",
                name.trim()
            )),
        }
    }
    if kinds.len() > 1 && kinds.contains(&ExporterKind::None) {
        return Err(SinkError::Config(format!(
            "{origin} {text:?}: none cannot be combined with other exporters"
        )));
    }
    Ok((kinds, protocol))
}

/// Command-line values for the sink (all optional; None = not given).
#[derive(Clone, Debug, Default)]
pub struct SinkFlags {
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub headers: Vec<String>,
    pub timeout: Option<Duration>,
    pub insecure: bool,
    pub certificate: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub exporter: Option<String>,
    pub output: Option<PathBuf>,
    pub service_name: Option<String>,
    pub resource: Vec<String>,
    pub chunk_size: Option<usize>,
    /// A workflow file's `otel:` block: below the environment, above the configuration file.
    pub file: Option<FileDefaults>,
    /// `--config FILE`: an OpenTelemetry configuration file (else `OTEL_CONFIG_FILE`).
    pub config_file: Option<PathBuf>,
    /// `--spool DIR`
    pub spool: Option<PathBuf>,
    /// `--no-spool`
    pub no_spool: bool,
    /// `--metrics`: the runs' metrics too (README "Metrics").
    pub metrics: bool,
    /// `--metrics-run-id`: the run id on every metric point.
    pub metrics_run_id: bool,
}

/// Export settings from a file — a workflow's `otel:` block (Dagu's) or an OpenTelemetry
/// configuration file — the layers below flags and OTEL_* variables.
#[derive(Clone, Debug, Default)]
pub struct FileDefaults {
    /// `enabled: false` (a workflow) or `disabled: true` (a configuration file) means
    /// exporter `none` unless chosen otherwise.
    pub enabled: Option<bool>,
    /// The exporters the file names (a configuration file's processors).
    pub exporters: Vec<ExporterKind>,
    pub protocol: Option<Protocol>,
    pub endpoint: Option<String>,
    pub headers: Vec<(String, String)>,
    pub insecure: Option<bool>,
    pub timeout: Option<String>,
    pub compression: Option<String>,
    pub certificate: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub resource: Vec<(String, String)>,
    /// Where the settings are, for messages (`flow.yaml otel`).
    pub origin: String,
}

impl FileDefaults {
    /// This layer over `lower`: each setting from here when set, else from `lower`; headers
    /// and resource attributes merged key by key.
    fn over(self, lower: FileDefaults) -> FileDefaults {
        let origin_of = |mine: bool, lower_origin: &String| {
            if mine {
                self.origin.clone()
            } else {
                lower_origin.clone()
            }
        };
        let endpoint_origin = origin_of(self.endpoint.is_some(), &lower.origin);
        let mut headers = lower.headers;
        merge(&mut headers, self.headers, true);
        let mut resource = lower.resource;
        merge(&mut resource, self.resource, false);
        FileDefaults {
            enabled: self.enabled.or(lower.enabled),
            exporters: if self.exporters.is_empty() {
                lower.exporters
            } else {
                self.exporters
            },
            protocol: self.protocol.or(lower.protocol),
            endpoint: self.endpoint.or(lower.endpoint),
            headers,
            insecure: self.insecure.or(lower.insecure),
            timeout: self.timeout.or(lower.timeout),
            compression: self.compression.or(lower.compression),
            certificate: self.certificate.or(lower.certificate),
            client_certificate: self.client_certificate.or(lower.client_certificate),
            client_key: self.client_key.or(lower.client_key),
            resource,
            origin: endpoint_origin,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
}

/// Everything a sink needs, resolved. `Debug` never shows header values.
#[derive(Clone)]
pub struct SinkConfig {
    /// Where spans go: one or more of otlp, file, console; `[None]` for nowhere.
    pub exporters: Vec<ExporterKind>,
    pub endpoint: String,
    /// Where the endpoint came from (`--endpoint`, an env var name, or `default`).
    pub endpoint_origin: String,
    pub protocol: Protocol,
    /// Whether the protocol was said (flag, env, file) rather than inferred from the endpoint;
    /// the warning after a switch to the transport the endpoint speaks says which.
    pub protocol_explicit: bool,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub certificate: Option<PathBuf>,
    /// A client certificate and its key (PEM files), for a collector that asks for one.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    pub compression: Option<Compression>,
    pub output: Option<PathBuf>,
    pub service_name: Option<String>,
    pub resource: Vec<(String, String)>,
    pub chunk_size: usize,
    /// Where undelivered spans are kept (None: `--no-spool`, or no home directory).
    pub spool: Option<PathBuf>,
    /// What this configuration's endpoint receives.
    pub signal: Signal,
    /// Metrics are sent too (to the same exporters), with these OTLP settings.
    pub metrics: Option<MetricsSettings>,
}

/// The OTLP signal an endpoint receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signal {
    #[default]
    Traces,
    Metrics,
}

impl Signal {
    /// The HTTP path of the signal (`/v1/traces`).
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }
}

/// Where and how metrics go: the OTLP settings resolved from `OTEL_EXPORTER_OTLP_METRICS_*` >
/// `OTEL_EXPORTER_OTLP_*` > the flags' endpoint with its path for metrics.
#[derive(Clone, Debug)]
pub struct MetricsSettings {
    /// `--metrics-run-id`
    pub run_id: bool,
    /// The metrics endpoint's configuration (its `signal` is `Metrics`).
    pub otlp: Box<SinkConfig>,
}

impl fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("exporters", &self.exporters)
            .field("endpoint", &redact_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| format!("{k}=<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl SinkConfig {
    /// Sends nowhere: for a wrapper whose export settings were unusable.
    pub fn disabled() -> SinkConfig {
        SinkConfig {
            exporters: vec![ExporterKind::None],
            endpoint: String::new(),
            endpoint_origin: String::new(),
            protocol: Protocol::Grpc,
            protocol_explicit: false,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            certificate: None,
            client_identity: None,
            compression: None,
            output: None,
            service_name: None,
            resource: Vec::new(),
            chunk_size: DEFAULT_CHUNK,
            spool: None,
            signal: Signal::Traces,
            metrics: None,
        }
    }

    pub fn sends_to(&self, kind: ExporterKind) -> bool {
        self.exporters.contains(&kind)
    }

    /// The endpoint as it may be shown to a user: without userinfo.
    pub fn endpoint_display(&self) -> String {
        redact_url(&self.endpoint)
    }

    /// `endpoint (protocol)`, as messages name where OTLP export goes.
    pub fn otlp_destination(&self) -> String {
        format!("{} ({})", self.endpoint_display(), self.protocol.as_str())
    }
}

/// One resolved sink configuration (ARCHITECTURE.md, "Configuration"): each setting from the
/// flag, else `OTEL_EXPORTER_OTLP_TRACES_*`, else `OTEL_EXPORTER_OTLP_*`, else the file layers
/// (a workflow's `otel:` block, then an OpenTelemetry configuration file), else the default.
pub fn resolve(flags: &SinkFlags, env: &EnvSnapshot) -> Result<SinkConfig, SinkError> {
    let mut config = resolve_signal(flags, env)?;
    config.metrics = metrics(flags, env, &config)?;
    Ok(config)
}

/// Metrics, when `--metrics` or `OTEL_METRICS_EXPORTER` (anything but `none`) asks for them:
/// sent where the spans go, the OTLP endpoint resolved for the metrics signal. A signal
/// variable is taken verbatim; otherwise the traces endpoint with `/v1/traces` made
/// `/v1/metrics` (HTTP; gRPC has one endpoint for both).
fn metrics(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    traces: &SinkConfig,
) -> Result<Option<MetricsSettings>, SinkError> {
    let asked = flags.metrics
        || env
            .get("OTEL_METRICS_EXPORTER")
            .is_some_and(|(_, v)| !v.trim().eq_ignore_ascii_case("none"));
    if !asked {
        return Ok(None);
    }
    // The flags are the traces' settings: a metrics variable is above them for metrics.
    let mut flags = flags.clone();
    let own = |suffix: &str| {
        env.get(&format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}"))
            .is_some()
    };
    if own("ENDPOINT") {
        flags.endpoint = None;
    }
    if own("PROTOCOL") {
        flags.protocol = None;
    }
    if own("HEADERS") {
        flags.headers.clear();
    }
    if own("TIMEOUT") {
        flags.timeout = None;
    }
    if own("CERTIFICATE") {
        flags.certificate = None;
    }
    if own("CLIENT_CERTIFICATE") || own("CLIENT_KEY") {
        flags.client_certificate = None;
        flags.client_key = None;
    }
    let mut otlp = resolve_signal(&flags, &env.for_metrics())?;
    otlp.endpoint_origin = otlp
        .endpoint_origin
        .replace("OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_METRICS_");
    let verbatim = otlp.endpoint_origin == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    if otlp.protocol != Protocol::Grpc && !verbatim {
        otlp.endpoint = for_metrics_path(&otlp.endpoint);
    }
    otlp.signal = Signal::Metrics;
    otlp.exporters = traces.exporters.clone();
    Ok(Some(MetricsSettings {
        run_id: flags.metrics_run_id,
        otlp: Box::new(otlp),
    }))
}

/// A traces URL's metrics twin: `…/v1/traces` → `…/v1/metrics` (other paths kept).
pub fn for_metrics_path(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    match trimmed.strip_suffix("/v1/traces") {
        Some(base) => format!("{base}/v1/metrics"),
        None => endpoint.to_owned(),
    }
}

/// One signal's configuration (the traces', or with the metrics variables, the metrics').
fn resolve_signal(flags: &SinkFlags, env: &EnvSnapshot) -> Result<SinkConfig, SinkError> {
    let file = file_layers(flags, env)?;
    let (exporters, implied_protocol, implied_by_flag) = exporters(flags, env, &file)?;
    let implied = Implied {
        protocol: implied_protocol,
        by_flag: implied_by_flag,
    };
    let (endpoint, endpoint_origin, protocol, protocol_explicit) =
        endpoint(flags, env, &file, implied)?;
    let (service_name, resource) = resource(flags, env, &file)?;
    let chunk_size = flags.chunk_size.unwrap_or(DEFAULT_CHUNK);
    if chunk_size == 0 {
        return Err(SinkError::Config("--chunk-size must be at least 1".into()));
    }
    Ok(SinkConfig {
        exporters,
        endpoint,
        endpoint_origin,
        protocol,
        protocol_explicit,
        headers: headers(flags, env, &file)?,
        timeout: timeout(flags, env, &file)?,
        certificate: flags
            .certificate
            .clone()
            .or_else(|| env.exporter_var("CERTIFICATE").map(|(_, v)| v.into()))
            .or_else(|| file.certificate.clone()),
        client_identity: client_identity(flags, env, &file)?,
        compression: compression(env, &file)?,
        output: flags.output.clone(),
        service_name,
        resource,
        chunk_size,
        spool: if flags.no_spool {
            None
        } else {
            flags.spool.clone().or_else(crate::sink::spool::default_dir)
        },
        signal: Signal::Traces,
        metrics: None,
    })
}

/// The client certificate and key, from the first layer that gives either (flags, env, file):
/// one without the other is a configuration error, not a connection that fails later.
fn client_identity(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
) -> Result<Option<(PathBuf, PathBuf)>, SinkError> {
    let env_cert = env.exporter_var("CLIENT_CERTIFICATE");
    let env_key = env.exporter_var("CLIENT_KEY");
    let (cert, key, origin) = if flags.client_certificate.is_some() || flags.client_key.is_some() {
        (
            flags.client_certificate.clone(),
            flags.client_key.clone(),
            "--client-certificate and --client-key".to_owned(),
        )
    } else if env_cert.is_some() || env_key.is_some() {
        (
            env_cert.map(|(_, v)| v.into()),
            env_key.map(|(_, v)| v.into()),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY".to_owned(),
        )
    } else {
        (
            file.client_certificate.clone(),
            file.client_key.clone(),
            format!("{}: tls.cert_file and tls.key_file", file.origin),
        )
    };
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        _ => Err(SinkError::Config(format!(
            "a client certificate needs its key: give both {origin}"
        ))),
    }
}

/// The workflow's block over the configuration file (`--config`, else `OTEL_CONFIG_FILE`).
fn file_layers(flags: &SinkFlags, env: &EnvSnapshot) -> Result<FileDefaults, SinkError> {
    let lookup = |name: &str| env.variable(name);
    let config_file = match (&flags.config_file, env.get("OTEL_CONFIG_FILE")) {
        (Some(path), _) => Some(otel_file::load(path, "--config", &lookup)?),
        (None, Some((name, path))) => {
            Some(otel_file::load(std::path::Path::new(&path), name, &lookup)?)
        }
        (None, None) => None,
    };
    let workflow = flags.file.clone().unwrap_or_default();
    Ok(match config_file {
        Some(lower) => workflow.over(lower),
        None => workflow,
    })
}

/// The protocol an exporter name implies (Airflow's `otlp_proto_grpc`), and whether the name
/// came from `--exporter` (above the protocol variables) or the environment (below them).
struct Implied {
    protocol: Option<Protocol>,
    by_flag: bool,
}

/// The exporters: `--exporter` (and `--output`, which always writes its file), else
/// `OTEL_SDK_DISABLED`, else `OTEL_TRACES_EXPORTER`, else the files, else otlp; with the
/// protocol a name implies and whether a flag said it.
fn exporters(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
) -> Result<(Vec<ExporterKind>, Option<Protocol>, bool), SinkError> {
    let by_flag = flags.exporter.is_some();
    let (mut kinds, protocol) = if let Some(e) = &flags.exporter {
        exporter_list(e, "--exporter", true)?
    } else if flags.output.is_some() {
        (vec![ExporterKind::File], None)
    } else if env
        .get("OTEL_SDK_DISABLED")
        .is_some_and(|(_, v)| v.trim().eq_ignore_ascii_case("true"))
    {
        (vec![ExporterKind::None], None)
    } else {
        let from_env = match env.get("OTEL_TRACES_EXPORTER") {
            Some((name, text)) => exporter_list(&text, name, false)?,
            None => (Vec::new(), None),
        };
        if !from_env.0.is_empty() {
            from_env
        } else if file.enabled == Some(false) {
            (vec![ExporterKind::None], None)
        } else if !file.exporters.is_empty() {
            (file.exporters.clone(), None)
        } else {
            (vec![ExporterKind::Otlp], None)
        }
    };
    if kinds.is_empty() {
        kinds.push(ExporterKind::Otlp);
    }
    match &flags.output {
        Some(_) if kinds.contains(&ExporterKind::None) => {
            return Err(SinkError::Config(
                "--output FILE writes spans, --exporter none sends them nowhere: give one".into(),
            ))
        }
        Some(out) if out.as_os_str() == "-" && kinds.contains(&ExporterKind::Console) => {
            return Err(SinkError::Config(
                "--output - and the console exporter would both write to stdout: give one".into(),
            ))
        }
        Some(_) if !kinds.contains(&ExporterKind::File) => kinds.push(ExporterKind::File),
        None if kinds.contains(&ExporterKind::File) => {
            return Err(SinkError::Config(format!(
                "{} the file exporter: it needs --output FILE",
                if by_flag {
                    "--exporter names"
                } else {
                    "OTEL_TRACES_EXPORTER names"
                }
            )))
        }
        _ => {}
    }
    Ok((kinds, protocol, by_flag))
}

/// The endpoint (with where it came from) and the protocol (and whether it was said).
fn endpoint(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
    implied: Implied,
) -> Result<(String, String, Protocol, bool), SinkError> {
    // --protocol > a flag's exporter name > the variables > the variable's exporter name >
    // the files.
    let explicit_protocol = match (&flags.protocol, env.exporter_var("PROTOCOL")) {
        (Some(p), _) => Some(Protocol::parse(p).ok_or_else(|| {
            SinkError::Config(format!(
                "--protocol {p:?}: expected grpc, http/protobuf or http/json"
            ))
        })?),
        (None, _) if implied.by_flag && implied.protocol.is_some() => implied.protocol,
        (None, Some((name, p))) => Some(Protocol::parse(&p).ok_or_else(|| {
            SinkError::Config(format!(
                "{name} {p:?}: expected grpc, http/protobuf or http/json"
            ))
        })?),
        (None, None) => implied.protocol.or(file.protocol),
    };

    // The generic variable is a base URL (HTTP appends /v1/traces); the signal one is verbatim.
    let (raw_endpoint, origin, is_base) = if let Some(e) = &flags.endpoint {
        (Some(e.clone()), "--endpoint".to_owned(), false)
    } else if let Some((k, v)) = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        (Some(v), k.to_owned(), false)
    } else if let Some((k, v)) = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
        (Some(v), k.to_owned(), true)
    } else if let Some(e) = file.endpoint.as_ref().filter(|e| !e.trim().is_empty()) {
        (Some(e.clone()), format!("{}.endpoint", file.origin), false)
    } else {
        (None, "default".to_owned(), false)
    };
    let insecure = flags.insecure
        || match env.exporter_var("INSECURE") {
            Some((_, v)) => truthy(&v),
            None => file.insecure == Some(true),
        };

    // Nothing said: the SDKs' default (http/protobuf), except where an endpoint says gRPC the
    // way otel-cli and Dagu users write it: port 4317, or a bare host:port.
    let protocol = explicit_protocol.unwrap_or_else(|| match &raw_endpoint {
        Some(e) if path_of(e).trim_end_matches('/').ends_with("/v1/traces") => {
            Protocol::HttpProtobuf
        }
        Some(e) if port_of(e) == Some(4317) => Protocol::Grpc,
        Some(e)
            if !e.contains("://")
                && port_of(e).is_some_and(|p| p != 4318)
                && path_of(e).is_empty() =>
        {
            Protocol::Grpc
        }
        _ => Protocol::HttpProtobuf,
    });
    let endpoint = match raw_endpoint {
        None if protocol == Protocol::Grpc => DEFAULT_GRPC_ENDPOINT.to_owned(),
        None => DEFAULT_HTTP_ENDPOINT.to_owned(),
        Some(e) => {
            let e = e.trim().to_owned();
            let with_scheme = if e.contains("://") {
                e
            } else {
                let authority = &e[..e.find('/').unwrap_or(e.len())];
                let scheme = if insecure || is_loopback_host(authority) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{e}")
            };
            let path = path_of(&with_scheme);
            if protocol != Protocol::Grpc && (is_base || path.is_empty() || path == "/") {
                format!("{}/v1/traces", with_scheme.trim_end_matches('/'))
            } else {
                with_scheme
            }
        }
    };
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(SinkError::Config(format!(
            "endpoint {} (from {origin}) must use http:// or https://",
            redact_url(&endpoint)
        )));
    }
    Ok((endpoint, origin, protocol, explicit_protocol.is_some()))
}

/// Headers merged key by key (case-insensitive), flags last; `${VAR}` expanded.
fn headers(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
) -> Result<Vec<(String, String)>, SinkError> {
    let mut headers = Vec::new();
    merge(&mut headers, file.headers.clone(), true);
    if let Some((name, text)) = env.exporter_var("HEADERS") {
        merge(&mut headers, parse_list(&text, &name)?, true);
    }
    let flag_headers = flags
        .headers
        .iter()
        .map(|h| parse_pair(h, "--header"))
        .collect::<Result<Vec<_>, _>>()?;
    merge(&mut headers, flag_headers, true);
    let lookup = |name: &str| env.variable(name);
    for (_, v) in &mut headers {
        *v = crate::vars::expand(v, crate::vars::Syntax::Header, &lookup);
    }
    Ok(headers)
}

fn timeout(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
) -> Result<Duration, SinkError> {
    Ok(match (&flags.timeout, env.exporter_var("TIMEOUT")) {
        (Some(t), _) => *t,
        // The spec says milliseconds (otel-cli reads seconds; we follow the spec).
        (None, Some((name, ms))) => ms
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .ok_or_else(|| SinkError::Config(format!("{name} {ms:?}: expected milliseconds")))?,
        (None, None) => match &file.timeout {
            Some(t) => parse_duration(t).ok_or_else(|| {
                SinkError::Config(format!(
                    "{}.timeout {t:?}: expected e.g. 500ms, 10s, 2m",
                    file.origin
                ))
            })?,
            None => DEFAULT_TIMEOUT,
        },
    })
}

fn compression(env: &EnvSnapshot, file: &FileDefaults) -> Result<Option<Compression>, SinkError> {
    let said = env.exporter_var("COMPRESSION").or_else(|| {
        file.compression
            .clone()
            .map(|c| (format!("{}.compression", file.origin), c))
    });
    match said {
        Some((_, c)) if c.trim() == "gzip" => Ok(Some(Compression::Gzip)),
        Some((_, c)) if c.trim() == "none" => Ok(None),
        Some((name, c)) => Err(SinkError::Config(format!(
            "{name} {c:?}: expected gzip or none"
        ))),
        None => Ok(None),
    }
}

type ServiceAndResource = (Option<String>, Vec<(String, String)>);

/// `service.name` (flag > OTEL_SERVICE_NAME > a `service.name` resource attribute) and the
/// other resource attributes, merged key by key, flags last.
fn resource(
    flags: &SinkFlags,
    env: &EnvSnapshot,
    file: &FileDefaults,
) -> Result<ServiceAndResource, SinkError> {
    let mut resource = Vec::new();
    merge(&mut resource, file.resource.clone(), false);
    if let Some((name, text)) = env.get("OTEL_RESOURCE_ATTRIBUTES") {
        merge(&mut resource, parse_list(&text, name)?, false);
    }
    let flag_resource = flags
        .resource
        .iter()
        .map(|r| parse_pair(r, "--resource"))
        .collect::<Result<Vec<_>, _>>()?;
    let flag_service = flag_resource
        .iter()
        .rev()
        .find(|(k, _)| k == "service.name")
        .map(|(_, v)| v.clone());
    merge(&mut resource, flag_resource, false);
    // --service-name > --resource service.name > OTEL_SERVICE_NAME > the variables' and
    // files' service.name.
    let service_name = flags
        .service_name
        .clone()
        .or(flag_service)
        .or_else(|| env.get("OTEL_SERVICE_NAME").map(|(_, v)| v))
        .or_else(|| {
            resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        });
    resource.retain(|(k, _)| k != "service.name");
    Ok((service_name, resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_workflow_otel_block_is_below_env_and_flags() {
        let file = FileDefaults {
            enabled: Some(true),
            endpoint: Some("http://wf:4317".into()),
            headers: vec![("x-team".into(), "wf".into())],
            insecure: None,
            timeout: Some("3s".into()),
            resource: vec![("service.name".into(), "from-wf".into())],
            origin: "flow.yaml otel".into(),
            ..Default::default()
        };
        let flags = SinkFlags {
            file: Some(file.clone()),
            ..Default::default()
        };
        let c = resolve(&flags, &env(&[])).unwrap();
        assert_eq!(c.endpoint, "http://wf:4317");
        assert_eq!(c.endpoint_origin, "flow.yaml otel.endpoint");
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.headers, vec![("x-team".to_owned(), "wf".to_owned())]);
        assert_eq!(c.service_name.as_deref(), Some("from-wf"));

        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=env"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ]);
        let c = resolve(&flags, &e).unwrap();
        assert_eq!(c.endpoint, "http://env:4317");
        assert_eq!(c.headers, vec![("x-team".to_owned(), "env".to_owned())]);
        assert_eq!(c.service_name.as_deref(), Some("from-env"));

        let disabled = SinkFlags {
            file: Some(FileDefaults {
                enabled: Some(false),
                ..file
            }),
            ..Default::default()
        };
        assert_eq!(
            resolve(&disabled, &env(&[])).unwrap().exporters,
            [ExporterKind::None]
        );
        let chosen = SinkFlags {
            exporter: Some("otlp".into()),
            ..disabled
        };
        assert_eq!(
            resolve(&chosen, &env(&[])).unwrap().exporters,
            [ExporterKind::Otlp]
        );
    }

    #[test]
    fn protocol_is_inferred_from_the_endpoint() {
        let r = |e: &str| {
            resolve(
                &SinkFlags {
                    endpoint: Some(e.into()),
                    ..Default::default()
                },
                &env(&[]),
            )
            .unwrap()
        };
        assert_eq!(r("http://c:4318").protocol, Protocol::HttpProtobuf);
        assert_eq!(r("http://c:4318").endpoint, "http://c:4318/v1/traces");
        assert_eq!(
            r("https://c/otlp/v1/traces").protocol,
            Protocol::HttpProtobuf
        );
        assert_eq!(r("http://c:4317").protocol, Protocol::Grpc);
        assert_eq!(r("localhost:4317").endpoint, "http://localhost:4317");
        assert_eq!(
            r("collector.example:4317").endpoint,
            "https://collector.example:4317"
        );
    }

    #[test]
    fn flag_beats_signal_env_beats_generic_env() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        let c = resolve(&SinkFlags::default(), &e).unwrap();
        assert_eq!(c.endpoint, "http://generic:4318/v1/traces");
        assert_eq!(c.endpoint_origin, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.timeout, Duration::from_millis(2500));
        let c = resolve(
            &SinkFlags {
                protocol: Some("grpc".into()),
                endpoint: Some("http://x:4317".into()),
                timeout: Some(Duration::from_millis(500)),
                ..Default::default()
            },
            &e,
        )
        .unwrap();
        assert_eq!(
            (c.protocol, c.endpoint.as_str(), c.timeout),
            (Protocol::Grpc, "http://x:4317", Duration::from_millis(500))
        );
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://signal:9999/custom",
        )]);
        let c = resolve(
            &SinkFlags {
                protocol: Some("http/json".into()),
                ..Default::default()
            },
            &e,
        )
        .unwrap();
        assert_eq!(c.endpoint, "http://signal:9999/custom");
    }

    #[test]
    fn headers_merge_expand_and_never_show() {
        std::env::set_var("RETRACE_TEST_CANARY_TOKEN", "s3cr3t-canary");
        let e = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-team=data%20eng,authorization=Basic env",
        )]);
        let flags = SinkFlags {
            headers: vec!["Authorization=Bearer ${RETRACE_TEST_CANARY_TOKEN}".into()],
            ..Default::default()
        };
        let c = resolve(&flags, &e).unwrap();
        assert_eq!(
            c.headers,
            vec![
                ("x-team".into(), "data eng".into()),
                ("authorization".into(), "Bearer s3cr3t-canary".into())
            ]
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let err = resolve(
            &SinkFlags {
                headers: vec!["s3cr3t-canary".into()],
                ..Default::default()
            },
            &env(&[]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn resource_and_service_name() {
        let e = env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-res,deployment.environment=prod",
        )]);
        let c = resolve(
            &SinkFlags {
                resource: vec!["team=data".into()],
                ..Default::default()
            },
            &e,
        )
        .unwrap();
        assert_eq!(c.service_name.as_deref(), Some("from-res"));
        assert_eq!(
            c.resource,
            vec![
                ("deployment.environment".into(), "prod".into()),
                ("team".into(), "data".into())
            ]
        );
        let e = env(&[
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-res"),
        ]);
        assert_eq!(
            resolve(&SinkFlags::default(), &e)
                .unwrap()
                .service_name
                .as_deref(),
            Some("svc")
        );
    }

    fn flags_exporter(exporter: Option<&str>, output: Option<&str>) -> SinkFlags {
        SinkFlags {
            exporter: exporter.map(Into::into),
            output: output.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn exporter_choice() {
        let kinds =
            |flags: SinkFlags, e: &[(&str, &str)]| resolve(&flags, &env(e)).map(|c| c.exporters);
        use ExporterKind::*;
        assert_eq!(
            kinds(flags_exporter(Option::None, Some("x.jsonl")), &[]).unwrap(),
            [File]
        );
        assert_eq!(
            kinds(SinkFlags::default(), &[("OTEL_TRACES_EXPORTER", "none")]).unwrap(),
            [None]
        );
        assert!(kinds(flags_exporter(Some("file"), Option::None), &[]).is_err());
        // The specification: an unknown value is warned about and ignored.
        assert_eq!(
            kinds(SinkFlags::default(), &[("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap(),
            [Otlp]
        );
        assert!(kinds(flags_exporter(Some("zipkin"), Option::None), &[]).is_err());
    }

    #[test]
    fn the_exporter_variable_is_a_list_and_takes_airflows_names() {
        let c = resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "otlp, Console")]),
        )
        .unwrap();
        assert_eq!(c.exporters, [ExporterKind::Otlp, ExporterKind::Console]);
        let c = resolve(
            &SinkFlags::default(),
            &env(&[
                ("OTEL_TRACES_EXPORTER", "otlp_proto_grpc"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:9000"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.exporters.as_slice(), c.protocol, c.protocol_explicit),
            (&[ExporterKind::Otlp][..], Protocol::Grpc, true)
        );
        let c = resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "otlp_proto_http")]),
        )
        .unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://localhost:4318/v1/traces");
        assert!(resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "otlp,none")])
        )
        .is_err());
    }

    #[test]
    fn a_protocol_named_by_a_flag_beats_the_variables_and_they_beat_the_variables_name() {
        let protocol =
            |flags: SinkFlags, e: &[(&str, &str)]| resolve(&flags, &env(e)).unwrap().protocol;
        let json = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
        assert_eq!(
            protocol(flags_exporter(Some("otlp_proto_grpc"), None), &[json]),
            Protocol::Grpc
        );
        assert_eq!(
            protocol(
                SinkFlags::default(),
                &[json, ("OTEL_TRACES_EXPORTER", "otlp_proto_grpc")]
            ),
            Protocol::HttpJson
        );
        let err = resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "file")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_TRACES_EXPORTER names the file exporter: it needs --output FILE"
        );
    }

    #[test]
    fn a_service_name_given_as_a_resource_flag_beats_the_variable() {
        let c = resolve(
            &SinkFlags {
                resource: vec!["service.name=from-flag".into()],
                ..Default::default()
            },
            &env(&[("OTEL_SERVICE_NAME", "from-env")]),
        )
        .unwrap();
        assert_eq!(c.service_name.as_deref(), Some("from-flag"));
    }

    #[test]
    fn sdk_disabled_disables_export_unless_a_flag_says_otherwise() {
        for (value, expected) in [
            ("true", ExporterKind::None),
            ("TRUE", ExporterKind::None),
            ("false", ExporterKind::Otlp),
            ("1", ExporterKind::Otlp),
        ] {
            let c = resolve(&SinkFlags::default(), &env(&[("OTEL_SDK_DISABLED", value)])).unwrap();
            assert_eq!(c.exporters, [expected], "OTEL_SDK_DISABLED={value}");
        }
        let c = resolve(
            &flags_exporter(Some("console"), None),
            &env(&[("OTEL_SDK_DISABLED", "true")]),
        )
        .unwrap();
        assert_eq!(c.exporters, [ExporterKind::Console]);
    }

    #[test]
    fn output_with_another_exporter_does_both_or_refuses() {
        let c = resolve(
            &flags_exporter(Some("console"), Some("spans.jsonl")),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.exporters, [ExporterKind::Console, ExporterKind::File]);
        let c = resolve(
            &flags_exporter(Some("otlp"), Some("spans.jsonl")),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.exporters, [ExporterKind::Otlp, ExporterKind::File]);
        let refused = |e: &str, o: &str| {
            resolve(&flags_exporter(Some(e), Some(o)), &env(&[]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("console", "-"),
            "--output - and the console exporter would both write to stdout: give one"
        );
        assert_eq!(
            refused("none", "x.jsonl"),
            "--output FILE writes spans, --exporter none sends them nowhere: give one"
        );
    }

    #[test]
    fn the_protocol_defaults_to_http_protobuf_unless_the_endpoint_says_grpc() {
        let p = |e: &str| {
            let c = resolve(
                &SinkFlags {
                    endpoint: Some(e.into()),
                    ..Default::default()
                },
                &env(&[]),
            )
            .unwrap();
            (c.protocol, c.protocol_explicit)
        };
        assert_eq!(p("http://collector:9999"), (Protocol::HttpProtobuf, false));
        assert_eq!(p("https://collector"), (Protocol::HttpProtobuf, false));
        assert_eq!(p("http://collector:4317"), (Protocol::Grpc, false));
        assert_eq!(p("collector:9999"), (Protocol::Grpc, false));
        assert_eq!(p("collector:4318"), (Protocol::HttpProtobuf, false));
        assert_eq!(p("collector"), (Protocol::HttpProtobuf, false));
        let c = resolve(&SinkFlags::default(), &env(&[])).unwrap();
        assert_eq!(
            (c.protocol, c.endpoint.as_str()),
            (Protocol::HttpProtobuf, "http://localhost:4318/v1/traces")
        );
    }

    #[test]
    fn a_configuration_file_is_below_flags_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otel.yaml");
        std::fs::write(
            &path,
            "file_format: \"1.0\"\nresource:\n  attributes:\n    - name: service.name\n      value: from-file\n    - name: team\n      value: data\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_grpc:\n            endpoint: http://file:4317\n            timeout: 1500\n            headers:\n              - name: x-team\n                value: file\n",
        )
        .unwrap();
        let from_file = SinkFlags {
            config_file: Some(path.clone()),
            ..Default::default()
        };
        let c = resolve(&from_file, &env(&[])).unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.protocol, c.timeout),
            (
                "http://file:4317",
                Protocol::Grpc,
                Duration::from_millis(1500)
            )
        );
        assert_eq!(c.endpoint_origin, format!("{}.endpoint", path.display()));
        assert_eq!(c.service_name.as_deref(), Some("from-file"));
        assert_eq!(c.headers, vec![("x-team".to_owned(), "file".to_owned())]);
        // The variable names the file when no flag does; env settings beat it, flags beat both.
        let e = env(&[
            ("OTEL_CONFIG_FILE", path.to_str().unwrap()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ]);
        let c = resolve(&SinkFlags::default(), &e).unwrap();
        assert_eq!(c.endpoint, "http://file:4317");
        assert_eq!(c.timeout, Duration::from_millis(700));
        assert_eq!(c.service_name.as_deref(), Some("from-env"));
        let c = resolve(
            &SinkFlags {
                endpoint: Some("http://flag:4318".into()),
                timeout: Some(Duration::from_secs(2)),
                ..Default::default()
            },
            &e,
        )
        .unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.protocol, c.timeout),
            // Per setting: the endpoint from the flag, the protocol still from the file.
            ("http://flag:4318", Protocol::Grpc, Duration::from_secs(2))
        );
        // A workflow's otel: block sits above the file.
        let wf = SinkFlags {
            config_file: Some(path.clone()),
            file: Some(FileDefaults {
                endpoint: Some("http://wf:4317".into()),
                origin: "flow.yaml otel".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = resolve(&wf, &env(&[])).unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.endpoint_origin.as_str(), c.timeout),
            (
                "http://wf:4317",
                "flow.yaml otel.endpoint",
                Duration::from_millis(1500)
            )
        );
        let missing = SinkFlags {
            config_file: Some(dir.path().join("nope.yaml")),
            ..Default::default()
        };
        assert!(resolve(&missing, &env(&[]))
            .unwrap_err()
            .to_string()
            .ends_with("nope.yaml (from --config): not a readable file"));
    }

    #[test]
    fn durations_and_urls() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(
            redact_url("https://user:pw@host:4318/v1/traces"),
            "https://<redacted>@host:4318/v1/traces"
        );
        assert_eq!(redact_url("http://host:4317"), "http://host:4317");
        assert_eq!(port_of("http://[::1]:4318/v1/traces"), Some(4318));
        assert_eq!(port_of("http://[::1]/v1/traces"), None);
        assert_eq!(
            host_and_port("http://u:p@c:4318/v1/traces"),
            ("c", Some(4318))
        );
        assert_eq!(host_and_port("c"), ("c", None));
        assert!(is_loopback_host("u:p@[::1]:4317"));
        assert!(is_loopback_host("127.0.0.2"));
    }

    #[test]
    fn metrics_are_asked_for_and_find_their_endpoint() {
        let metrics = |flags: SinkFlags, vars: &[(&str, &str)]| {
            resolve(&flags, &env(vars)).unwrap().metrics.map(|m| {
                (
                    m.otlp.endpoint.clone(),
                    m.otlp.endpoint_origin.clone(),
                    m.otlp.signal,
                    m.otlp.headers.clone(),
                )
            })
        };
        let on = || SinkFlags {
            metrics: true,
            ..Default::default()
        };
        assert_eq!(metrics(SinkFlags::default(), &[]), None, "off unless asked");
        assert_eq!(
            metrics(SinkFlags::default(), &[("OTEL_METRICS_EXPORTER", "none")]),
            None
        );
        let (endpoint, origin, signal, _) =
            metrics(SinkFlags::default(), &[("OTEL_METRICS_EXPORTER", "otlp")]).unwrap();
        assert_eq!(endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!((origin.as_str(), signal), ("default", Signal::Metrics));
        // The generic base gets the metrics path; a traces URL its twin; gRPC one address.
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
        assert_eq!(metrics(on(), &base).unwrap().0, "http://c:4318/v1/metrics");
        let flag = SinkFlags {
            endpoint: Some("https://c/otlp/v1/traces".into()),
            ..on()
        };
        assert_eq!(metrics(flag, &[]).unwrap().0, "https://c/otlp/v1/metrics");
        let grpc = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")];
        assert_eq!(metrics(on(), &grpc).unwrap().0, "http://c:4317");
        // The signal's own variables, verbatim; the traces' do not apply to metrics.
        let own = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://t:4318/v1/traces",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:4318/custom",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-key=m"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-key=t"),
        ];
        let (endpoint, origin, _, headers) = metrics(on(), &own).unwrap();
        assert_eq!(endpoint, "http://m:4318/custom");
        assert_eq!(origin, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        assert_eq!(headers, vec![("x-key".to_owned(), "m".to_owned())]);
    }
}
