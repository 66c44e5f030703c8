//! The exporter part of an OpenTelemetry declarative configuration file (`OTEL_CONFIG_FILE`,
//! `--config`), so one file configures retrace and the team's SDKs alike:
//! `tracer_provider.processors[].{batch,simple}.exporter.{otlp_http,otlp_grpc,console}` and
//! `resource.attributes`/`attributes_list`, `disabled`.
//!
//! Schema versions: `file_format` 1.x (and 1.0-rc.N, 0.4): `otlp_http`/`otlp_grpc` with `tls`
//! (`ca_file`, `cert_file` + `key_file` for mTLS; 0.4 wrote `certificate_file`, and
//! `insecure` beside the endpoint); 0.1–0.3's
//! `otlp` with its `protocol` and `certificate` are read too. `${VAR}`, `${env:VAR}` and
//! `${VAR:-default}` are substituted in scalar values (`$$` is a `$`); a value that is empty
//! after substitution counts as absent, as the specification's null.
//!
//! What the file's model has and retrace has not: one OTLP destination per run (the first
//! OTLP exporter is used, others are named on stderr), typed resource values (sent as strings), batch tuning (retrace sends in `--chunk-size` chunks).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use yaml_serde::Value;

use super::values::{merge, parse_list};
use super::{ExporterKind, FileDefaults, Protocol};
use crate::report::report;
use crate::sink::SinkError;
use crate::vars::{self, Syntax};

/// The settings of the configuration file at `path` (named by `origin`: `--config` or the
/// variable), its `${VAR}`s from `lookup`, or one line saying what is wrong with it.
pub(super) fn load(
    path: &Path,
    origin: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<FileDefaults, SinkError> {
    let fail =
        |what: String| SinkError::Config(format!("{} (from {origin}): {what}", path.display()));
    if !path.is_file() {
        return Err(fail("not a readable file".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    parse(&text, &path.display().to_string(), lookup).map_err(fail)
}

/// `load` on text, with `lookup` for substitution; `name` labels the settings in messages.
fn parse(
    text: &str,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<FileDefaults, String> {
    let mut document: Value =
        yaml_serde::from_str(text).map_err(|e| format!("not a YAML document: {e}"))?;
    substitute(&mut document, lookup);
    let file: File = yaml_serde::from_value(document).map_err(|e| e.to_string())?;
    check_version(file.file_format.and_then(scalar_text).as_deref())?;

    let mut out = FileDefaults {
        origin: name.to_owned(),
        enabled: file.disabled.map(|d| !d),
        ..Default::default()
    };
    if let Some(resource) = file.resource {
        let pairs = pairs(
            resource.attributes_list,
            resource.attributes,
            "resource.attributes_list",
        )?;
        merge(&mut out.resource, pairs, false);
    }
    let Some(tracer) = file.tracer_provider else {
        // The specification: no tracer_provider, no traces.
        out.enabled = Some(false);
        return Ok(out);
    };
    let mut otlp_seen = false;
    for (i, processor) in tracer.processors.into_iter().enumerate() {
        let Some(exporter) = processor.batch.or(processor.simple).map(|p| p.exporter) else {
            return Err(format!(
                "tracer_provider.processors[{i}]: expected batch or simple"
            ));
        };
        let at = format!("tracer_provider.processors[{i}].exporter");
        if exporter.console {
            push(&mut out.exporters, ExporterKind::Console);
        }
        for name in exporter.other.keys() {
            report(format!(
                "{name}: {at}.{name}: an exporter retrace does not have; ignored"
            ));
        }
        let otlp = [
            (exporter.otlp_http, Some(Protocol::HttpProtobuf)),
            (exporter.otlp_grpc, Some(Protocol::Grpc)),
            (exporter.otlp, None),
        ];
        for (settings, protocol) in otlp {
            let Some(settings) = settings else { continue };
            if otlp_seen {
                report(format!(
                    "{name}: {at}: retrace sends to one OTLP endpoint; this one is ignored"
                ));
                continue;
            }
            otlp_seen = true;
            push(&mut out.exporters, ExporterKind::Otlp);
            apply(&mut out, settings, protocol, &at)?;
        }
    }
    if out.exporters.is_empty() {
        out.enabled = Some(false);
    }
    Ok(out)
}

/// A `*_list` string (`k=v,…`) and then the named entries, which take priority; an entry
/// whose value is null is ignored, as the specification says.
fn pairs(
    list: Option<String>,
    named: Vec<NameValue>,
    list_origin: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = match list {
        Some(list) => parse_list(&list, list_origin).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    out.extend(
        named
            .into_iter()
            .filter_map(|n| Some((n.name, scalar_text(n.value?)?))),
    );
    Ok(out)
}

fn push(kinds: &mut Vec<ExporterKind>, kind: ExporterKind) {
    if !kinds.contains(&kind) {
        kinds.push(kind);
    }
}

/// One OTLP exporter's settings into the layer.
fn apply(
    out: &mut FileDefaults,
    otlp: Otlp,
    protocol: Option<Protocol>,
    at: &str,
) -> Result<(), String> {
    out.protocol = match (protocol, otlp.protocol.as_deref(), otlp.encoding.as_deref()) {
        (Some(Protocol::HttpProtobuf), _, Some("json")) => Some(Protocol::HttpJson),
        (Some(p), _, _) => Some(p),
        (None, Some(p), _) => Some(Protocol::parse(p).ok_or_else(|| {
            format!("{at}.otlp.protocol {p:?}: expected grpc, http/protobuf or http/json")
        })?),
        (None, None, _) => None,
    };
    out.endpoint = otlp.endpoint;
    let headers = pairs(
        otlp.headers_list,
        otlp.headers,
        &format!("{at}.headers_list"),
    )?;
    merge(&mut out.headers, headers, true);
    out.compression = otlp.compression;
    out.timeout = match otlp.timeout {
        None => None,
        // 0 is "no limit" in the file; retrace keeps a deadline, so it uses its default.
        Some(Value::Number(n)) if n.as_u64() == Some(0) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => Some(format!("{n}ms")),
        Some(Value::String(ms)) if ms.trim().parse::<u64>().is_ok_and(|n| n > 0) => {
            Some(format!("{}ms", ms.trim()))
        }
        Some(other) => {
            return Err(format!(
                "{at}.timeout: expected milliseconds, found {}",
                scalar_text(other).unwrap_or_else(|| "a list or map".into())
            ))
        }
    };
    let tls = otlp.tls.unwrap_or_default();
    out.certificate = tls.ca_file.or(otlp.certificate_file).or(otlp.certificate);
    out.insecure = tls.insecure.or(otlp.insecure);
    out.client_certificate = tls.cert_file;
    out.client_key = tls.key_file;
    Ok(())
}

/// 0.4 and 1.x are this shape; 0.1–0.3 the older `otlp` one, also read. Another major is
/// refused, as the specification asks.
fn check_version(format: Option<&str>) -> Result<(), String> {
    let Some(format) = format else {
        return Err("file_format is missing (e.g. file_format: \"1.0\")".into());
    };
    let major = format.split('.').next().unwrap_or_default();
    match major {
        "0" | "1" => Ok(()),
        _ => Err(format!(
            "file_format {format:?}: retrace reads 0.x and 1.x configuration files"
        )),
    }
}

/// Substitutes variables in every string scalar (never in keys); a value left empty becomes
/// null, and one that reads as a boolean or a number takes that type (the specification
/// types values after substitution: `disabled: ${SDK_OFF:-false}`).
fn substitute(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(text) if text.contains('$') => {
            let expanded = vars::expand(text, Syntax::ConfigFile, lookup);
            *value = match yaml_serde::from_str::<Value>(&expanded) {
                _ if expanded.trim().is_empty() => Value::Null,
                Ok(typed @ (Value::Bool(_) | Value::Number(_))) => typed,
                _ => Value::String(expanded),
            };
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| substitute(v, lookup)),
        Value::Mapping(map) => map.values_mut().for_each(|v| substitute(v, lookup)),
        Value::Tagged(tagged) => substitute(&mut tagged.value, lookup),
        _ => {}
    }
}

/// A scalar as text (a resource value or header written as a number or boolean); None for
/// null, lists and maps.
fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct File {
    file_format: Option<Value>,
    disabled: Option<bool>,
    resource: Option<Resource>,
    tracer_provider: Option<TracerProvider>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<NameValue>,
    attributes_list: Option<String>,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    value: Option<Value>,
}

#[derive(Deserialize)]
struct TracerProvider {
    #[serde(default)]
    processors: Vec<Processor>,
}

#[derive(Deserialize)]
struct Processor {
    batch: Option<ProcessorBody>,
    simple: Option<ProcessorBody>,
}

#[derive(Deserialize)]
struct ProcessorBody {
    exporter: Exporter,
}

#[derive(Deserialize)]
struct Exporter {
    #[serde(default, deserialize_with = "settings")]
    otlp_http: Option<Otlp>,
    #[serde(default, deserialize_with = "settings")]
    otlp_grpc: Option<Otlp>,
    /// file_format ≤ 0.3.
    #[serde(default, deserialize_with = "settings")]
    otlp: Option<Otlp>,
    /// `console:` is written without a value.
    #[serde(default, deserialize_with = "present")]
    console: bool,
    /// Exporters retrace does not have (zipkin, otlp_file/development, …), named on stderr.
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, Value>,
}

/// An exporter written without settings (`otlp_http:`) has the defaults.
fn settings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Otlp>, D::Error> {
    Option::<Otlp>::deserialize(d).map(|o| Some(o.unwrap_or_default()))
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize, Default)]
struct Otlp {
    endpoint: Option<String>,
    /// file_format ≤ 0.3 (`otlp`).
    protocol: Option<String>,
    /// `otlp_http`: protobuf or json.
    encoding: Option<String>,
    #[serde(default)]
    headers: Vec<NameValue>,
    headers_list: Option<String>,
    compression: Option<String>,
    timeout: Option<Value>,
    tls: Option<Tls>,
    /// file_format 0.4.
    certificate_file: Option<PathBuf>,
    /// file_format ≤ 0.3.
    certificate: Option<PathBuf>,
    /// file_format ≤ 0.4 (1.x: `tls.insecure`).
    insecure: Option<bool>,
}

#[derive(Deserialize, Default)]
struct Tls {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    insecure: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "COLLECTOR" => Some("http://collector:4318".into()),
            "API_KEY" => Some("s3cr3t".into()),
            _ => None,
        }
    }

    #[test]
    fn the_specifications_example_reads_as_one_layer() {
        let text = r#"
file_format: "1.0"
resource:
  attributes:
    - name: service.name
      value: nightly
    - name: pipeline.attempt
      value: 3
      type: int
  attributes_list: team=data,tier=${TIER:-gold}
tracer_provider:
  processors:
    - batch:
        exporter:
          otlp_http:
            endpoint: ${COLLECTOR}/v1/traces
            headers:
              - name: api-key
                value: ${API_KEY}
              - name: unset
                value: ${NOT_SET}
            headers_list: x-team=data
            compression: gzip
            timeout: 2500
            encoding: json
            tls:
              ca_file: /etc/ssl/ca.pem
    - simple:
        exporter:
          console:
"#;
        let f = parse(text, "otel.yaml", &env).unwrap();
        assert_eq!(f.exporters, vec![ExporterKind::Otlp, ExporterKind::Console]);
        assert_eq!(f.protocol, Some(Protocol::HttpJson));
        assert_eq!(
            f.endpoint.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            f.headers,
            vec![
                ("x-team".to_owned(), "data".to_owned()),
                ("api-key".to_owned(), "s3cr3t".to_owned())
            ]
        );
        assert_eq!(f.compression.as_deref(), Some("gzip"));
        assert_eq!(f.timeout.as_deref(), Some("2500ms"));
        assert_eq!(f.certificate, Some(PathBuf::from("/etc/ssl/ca.pem")));
        assert_eq!(
            f.resource,
            vec![
                ("team".to_owned(), "data".to_owned()),
                ("tier".to_owned(), "gold".to_owned()),
                ("service.name".to_owned(), "nightly".to_owned()),
                ("pipeline.attempt".to_owned(), "3".to_owned()),
            ]
        );
        assert_eq!(f.enabled, None);
    }

    #[test]
    fn substituted_values_are_typed_and_bare_exporters_have_defaults() {
        let lookup = |name: &str| match name {
            "OFF" => Some("true".to_owned()),
            "MS" => Some("1500".to_owned()),
            _ => None,
        };
        let text = "file_format: \"1.0\"\ndisabled: ${OFF}\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_grpc:\n            timeout: ${MS}\n            tls:\n              insecure: ${INSECURE:-true}\n";
        let f = parse(text, "f", &lookup).unwrap();
        assert_eq!(f.enabled, Some(false));
        assert_eq!(f.timeout.as_deref(), Some("1500ms"));
        assert_eq!(f.insecure, Some(true));
        let bare = "file_format: 1.0\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_http:\n    - simple:\n        exporter:\n          zipkin:\n            endpoint: http://z:9411\n";
        let f = parse(bare, "f", &lookup).unwrap();
        assert_eq!(f.exporters, vec![ExporterKind::Otlp]);
        assert_eq!(f.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(f.enabled, None);
    }

    #[test]
    fn grpc_older_schemas_and_disabling() {
        let grpc = "file_format: \"0.4\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_grpc:\n            endpoint: collector:4317\n            insecure: true\n";
        let f = parse(grpc, "f", &env).unwrap();
        assert_eq!(
            (f.protocol, f.insecure, f.endpoint.as_deref()),
            (Some(Protocol::Grpc), Some(true), Some("collector:4317"))
        );
        let old = "file_format: \"0.3\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp:\n            protocol: http/json\n            endpoint: http://c:4318/v1/traces\n";
        assert_eq!(
            parse(old, "f", &env).unwrap().protocol,
            Some(Protocol::HttpJson)
        );
        let off = "file_format: \"1.0\"\ndisabled: true\n";
        assert_eq!(parse(off, "f", &env).unwrap().enabled, Some(false));
        let no_tracing = "file_format: \"1.0\"\nresource:\n  attributes_list: a=b\n";
        assert_eq!(parse(no_tracing, "f", &env).unwrap().enabled, Some(false));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert_eq!(
            parse("tracer_provider: {}", "f", &env).unwrap_err(),
            "file_format is missing (e.g. file_format: \"1.0\")"
        );
        assert!(parse("file_format: \"2.0\"", "f", &env)
            .unwrap_err()
            .contains("retrace reads 0.x and 1.x"));
        assert!(parse("file_format: [", "f", &env)
            .unwrap_err()
            .starts_with("not a YAML document"));
        let bad_timeout = "file_format: \"1.0\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_http:\n            timeout: soon\n";
        assert_eq!(
            parse(bad_timeout, "f", &env).unwrap_err(),
            "tracer_provider.processors[0].exporter.timeout: expected milliseconds, found soon"
        );
    }
}
