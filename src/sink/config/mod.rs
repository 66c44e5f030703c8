//! Flags + OTEL_* environment → one resolved sink configuration.
//! Precedence (ARCHITECTURE.md, "Configuration"): flag > `OTEL_EXPORTER_OTLP_TRACES_*` > `OTEL_EXPORTER_OTLP_*` >
//! default. The environment is read once, into `EnvSnapshot`, so resolution is a pure
//! function that tests can drive.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::sink::SinkError;

mod env;
mod url;
mod values;

pub use env::EnvSnapshot;
pub use url::{host_and_port, path_of, redact_url};
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

impl ExporterKind {
    pub fn parse(text: &str) -> Option<ExporterKind> {
        match text.trim() {
            "otlp" => Some(ExporterKind::Otlp),
            "file" => Some(ExporterKind::File),
            "console" => Some(ExporterKind::Console),
            "none" => Some(ExporterKind::None),
            _ => None,
        }
    }
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
    pub exporter: Option<String>,
    pub output: Option<PathBuf>,
    pub service_name: Option<String>,
    pub resource: Vec<String>,
    pub chunk_size: Option<usize>,
    /// A workflow file's `otel:` block: below the environment in precedence.
    pub file: Option<FileDefaults>,
    /// `--spool DIR`
    pub spool: Option<PathBuf>,
    /// `--no-spool`
    pub no_spool: bool,
}

/// Export settings from a workflow file (Dagu's `otel:` block), the lowest layer: flags and
/// OTEL_* variables override each of them.
#[derive(Clone, Debug, Default)]
pub struct FileDefaults {
    /// `enabled: false` means exporter `none` unless chosen otherwise.
    pub enabled: Option<bool>,
    pub endpoint: Option<String>,
    pub headers: Vec<(String, String)>,
    pub insecure: Option<bool>,
    pub timeout: Option<String>,
    pub resource: Vec<(String, String)>,
    /// Where the block is, for messages (`flow.yaml otel`).
    pub origin: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
}

/// Everything a sink needs, resolved. `Debug` never shows header values.
#[derive(Clone)]
pub struct SinkConfig {
    pub exporter: ExporterKind,
    pub endpoint: String,
    /// Where the endpoint came from (`--endpoint`, an env var name, or `default`).
    pub endpoint_origin: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub certificate: Option<PathBuf>,
    pub compression: Option<Compression>,
    pub output: Option<PathBuf>,
    pub service_name: Option<String>,
    pub resource: Vec<(String, String)>,
    pub chunk_size: usize,
    /// Where undelivered spans are kept (None: `--no-spool`, or no home directory).
    pub spool: Option<PathBuf>,
}

impl fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkConfig")
            .field("exporter", &self.exporter)
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
    /// The endpoint as it may be shown to a user: without userinfo.
    /// Sends nowhere: for a wrapper whose export settings were unusable.
    pub fn disabled() -> SinkConfig {
        SinkConfig {
            exporter: ExporterKind::None,
            endpoint: String::new(),
            endpoint_origin: String::new(),
            protocol: Protocol::Grpc,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            certificate: None,
            compression: None,
            output: None,
            service_name: None,
            resource: Vec::new(),
            chunk_size: DEFAULT_CHUNK,
            spool: None,
        }
    }

    pub fn endpoint_display(&self) -> String {
        redact_url(&self.endpoint)
    }
}

pub fn resolve(flags: &SinkFlags, env: &EnvSnapshot) -> Result<SinkConfig, SinkError> {
    let no_file = FileDefaults::default();
    let file = flags.file.as_ref().unwrap_or(&no_file);
    let env_lookup = |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| env.0.get(name).cloned())
    };

    let exporter = match (&flags.exporter, env.get("OTEL_TRACES_EXPORTER")) {
        (Some(e), _) => ExporterKind::parse(e).ok_or_else(|| {
            SinkError::Config(format!(
                "--exporter {e:?}: expected otlp, file, console or none"
            ))
        })?,
        (None, _) if flags.output.is_some() => ExporterKind::File,
        (None, Some((_, e))) => ExporterKind::parse(&e)
            .filter(|k| *k != ExporterKind::File)
            .ok_or_else(|| {
                SinkError::Config(format!(
                    "OTEL_TRACES_EXPORTER {e:?}: expected otlp, console or none"
                ))
            })?,
        (None, None) if file.enabled == Some(false) => ExporterKind::None,
        (None, None) => ExporterKind::Otlp,
    };
    if exporter == ExporterKind::File && flags.output.is_none() {
        return Err(SinkError::Config(
            "--exporter file needs --output FILE".into(),
        ));
    }

    let explicit_protocol = match (&flags.protocol, env.exporter_var("PROTOCOL")) {
        (Some(p), _) => Some(Protocol::parse(p).ok_or_else(|| {
            SinkError::Config(format!(
                "--protocol {p:?}: expected grpc, http/protobuf or http/json"
            ))
        })?),
        (None, Some((name, p))) => Some(Protocol::parse(&p).ok_or_else(|| {
            SinkError::Config(format!(
                "{name} {p:?}: expected grpc, http/protobuf or http/json"
            ))
        })?),
        (None, None) => None,
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

    let protocol = explicit_protocol.unwrap_or_else(|| match &raw_endpoint {
        Some(e)
            if path_of(e).trim_end_matches('/').ends_with("/v1/traces")
                || port_of(e) == Some(4318) =>
        {
            Protocol::HttpProtobuf
        }
        Some(_) => Protocol::Grpc,
        None => Protocol::HttpProtobuf,
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
    for (_, v) in &mut headers {
        *v = crate::vars::expand(v, crate::vars::Syntax::Braced, &env_lookup);
    }

    let timeout = match (&flags.timeout, env.exporter_var("TIMEOUT")) {
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
    };

    let compression = match env.exporter_var("COMPRESSION") {
        Some((_, c)) if c.trim() == "gzip" => Some(Compression::Gzip),
        Some((_, c)) if c.trim() == "none" => None,
        Some((name, c)) => {
            return Err(SinkError::Config(format!(
                "{name} {c:?}: expected gzip or none"
            )))
        }
        None => None,
    };
    let certificate = flags.certificate.clone().or_else(|| {
        env.exporter_var("CERTIFICATE")
            .map(|(_, v)| PathBuf::from(v))
    });

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
    merge(&mut resource, flag_resource, false);
    let service_name = flags
        .service_name
        .clone()
        .or_else(|| env.get("OTEL_SERVICE_NAME").map(|(_, v)| v))
        .or_else(|| {
            resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        });
    resource.retain(|(k, _)| k != "service.name");

    let chunk_size = flags.chunk_size.unwrap_or(DEFAULT_CHUNK);
    if chunk_size == 0 {
        return Err(SinkError::Config("--chunk-size must be at least 1".into()));
    }
    Ok(SinkConfig {
        exporter,
        endpoint,
        endpoint_origin: origin,
        protocol,
        headers,
        timeout,
        certificate,
        compression,
        output: flags.output.clone(),
        service_name,
        resource,
        chunk_size,
        spool: if flags.no_spool {
            None
        } else {
            flags.spool.clone().or_else(crate::sink::spool::default_dir)
        },
    })
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
            resolve(&disabled, &env(&[])).unwrap().exporter,
            ExporterKind::None
        );
        let chosen = SinkFlags {
            exporter: Some("otlp".into()),
            ..disabled
        };
        assert_eq!(
            resolve(&chosen, &env(&[])).unwrap().exporter,
            ExporterKind::Otlp
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

    #[test]
    fn exporter_choice() {
        let c = resolve(
            &SinkFlags {
                output: Some("x.jsonl".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.exporter, ExporterKind::File);
        let c = resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "none")]),
        )
        .unwrap();
        assert_eq!(c.exporter, ExporterKind::None);
        assert!(resolve(
            &SinkFlags {
                exporter: Some("file".into()),
                ..Default::default()
            },
            &env(&[])
        )
        .is_err());
        assert!(resolve(
            &SinkFlags::default(),
            &env(&[("OTEL_TRACES_EXPORTER", "zipkin")])
        )
        .is_err());
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
}
