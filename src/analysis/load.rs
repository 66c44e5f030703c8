//! Inputs → runs as span trees. Anything retrace reads: every format's artifacts (through
//! the same sources and span builder as the converting verbs, so the ids are the ones they
//! send), and OTLP/JSON lines files (`--output` files, spool files, the Collector's file
//! exporter), whose spans are grouped into runs by trace and root. Each bad file is one line
//! on stderr; the others are still read.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::{into_runs, proto_attributes, EventInfo, RunSpans, SpanInfo, SpanStatus};
use crate::record::Nanos;
use crate::report::report;
use crate::source::{self, Named, Source, SourceError, SourceOptions};
use crate::trace::build;

/// What kind of input a file is.
#[derive(Clone, Copy)]
enum Input {
    /// OTLP/JSON lines: one `ExportTraceServiceRequest` (or a metrics request, skipped) each.
    Otlp,
    Format(&'static dyn Source),
}

impl Named for Input {
    fn format_name(&self) -> &'static str {
        match self {
            Input::Otlp => "OTLP/JSON lines",
            Input::Format(s) => s.name(),
        }
    }
}

/// Which runs to keep: `--run` (a run id, trace id or root span id, or a prefix of the hex
/// ids) and the run's start within `--since`/`--until`.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub run: Option<String>,
    pub since: Option<Nanos>,
    pub until: Option<Nanos>,
}

impl Filter {
    pub fn keeps(&self, run: &RunSpans) -> bool {
        let start = run.root().start;
        self.since.is_none_or(|s| start >= s)
            && self.until.is_none_or(|u| start < u)
            && self.run.as_deref().is_none_or(|wanted| {
                run.run_id() == wanted
                    || super::hex(&run.trace_id).starts_with(&wanted.to_ascii_lowercase())
                    || super::hex(&run.root().span_id) == wanted.to_ascii_lowercase()
            })
    }
}

/// The runs found, and whether some input could not be read.
pub struct Loaded {
    pub runs: Vec<RunSpans>,
    pub failed: bool,
}

pub fn load(paths: &[PathBuf], options: &SourceOptions, filter: &Filter) -> Loaded {
    let classify = |path: &Path, head: &[u8]| {
        if is_otlp_json(head) {
            return Some(Input::Otlp);
        }
        source::REGISTRY
            .iter()
            .copied()
            .find(|s| s.detect(path, head))
            .map(Input::Format)
    };
    let (files, errors) = source::expand(paths, &classify, None, "known", options.verbose);
    let mut failed = !errors.is_empty();
    for e in &errors {
        report(e);
    }
    let mut otlp_spans = Vec::new();
    let mut groups: Vec<(&'static dyn Source, Vec<PathBuf>)> = Vec::new();
    for (input, file) in files {
        match input {
            Input::Otlp => failed |= !read_otlp_lines(&file, &mut otlp_spans),
            Input::Format(source) => {
                match groups.iter_mut().find(|(s, _)| s.name() == source.name()) {
                    Some((_, list)) => list.push(file),
                    None => groups.push((source, vec![file])),
                }
            }
        }
    }
    let mut runs = into_runs(otlp_spans);
    let scope = build::scope();
    for (source, files) in groups {
        let (found, errors) = source.parse_all(&files, options);
        failed |= !errors.is_empty();
        for e in &errors {
            report(e);
        }
        for run in found {
            let what = format!("{} run {}", run.system, run.run_id);
            let service = run.system.clone();
            match build::build(run, None, &scope, "") {
                Ok(built) => {
                    let Some(first) = built.spans.first() else {
                        continue;
                    };
                    let trace = first.span_context.trace_id().to_bytes();
                    runs.extend(super::from_built(trace, service, &built.spans));
                }
                Err(e) => {
                    report(format!("{what}: {e}"));
                    failed = true;
                }
            }
        }
    }
    runs.retain(|r| filter.keeps(r));
    runs.sort_by_key(|r| (r.root().start, r.trace_id));
    Loaded { runs, failed }
}

/// OTLP/JSON as the Collector and retrace write it: an object whose first key names the
/// signal.
fn is_otlp_json(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start();
    text.starts_with('{')
        && [
            "\"resourceSpans\"",
            "\"resourceMetrics\"",
            "\"resourceLogs\"",
        ]
        .iter()
        .any(|k| text[1..].trim_start().starts_with(k))
}

/// Reads every request's spans into `out`: one per line (the Collector's and retrace's files),
/// or, when the first line is not a whole JSON value, a stream of (pretty-printed) documents.
/// Returns false (after saying so once, with the first bad line's number) when something was
/// not an OTLP/JSON trace request; what could be read is kept.
fn read_otlp_lines(path: &Path, out: &mut Vec<(u128, String, SpanInfo)>) -> bool {
    let open = || match std::fs::File::open(path) {
        Ok(f) if source::is_regular(path) => Some(std::io::BufReader::new(f)),
        Ok(_) => {
            report(SourceError::new(path, "not a regular file"));
            None
        }
        Err(e) => {
            report(SourceError::new(path, format!("cannot read: {e}")));
            None
        }
    };
    let Some(reader) = open() else {
        return false;
    };
    let mut bad: Option<(usize, String)> = None;
    let mut bad_lines = 0;
    // What this file added (`out` holds the files before it too).
    let before = out.len();
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                report(SourceError::new(path, format!("cannot read: {e}")));
                return false;
            }
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() || is_other_signal(text) {
            continue;
        }
        match parse_request(text) {
            Ok(request) => spans_of(request, out),
            Err(e) if e.is_eof() && bad_lines == 0 && out.len() == before => {
                return match open() {
                    Some(reader) => read_documents(path, reader, out),
                    None => false,
                };
            }
            Err(e) => {
                bad_lines += 1;
                bad.get_or_insert((n + 1, e.to_string()));
            }
        }
    }
    match bad {
        Some((line, why)) => {
            let more = match bad_lines {
                1 => String::new(),
                n => format!(" ({n} such lines; the others were read)"),
            };
            report(SourceError::new(
                path,
                format!("line {line}: not an OTLP/JSON trace request: {why}{more}"),
            ));
            false
        }
        None => true,
    }
}

/// One OTLP/JSON line. Canonical OTLP/JSON first (fast); then as protobuf's JSON mapping
/// writes it (Python's exporters: enum names such as `SPAN_KIND_INTERNAL`).
fn parse_request(text: &str) -> Result<ExportTraceServiceRequest, serde_json::Error> {
    serde_json::from_str(text).or_else(|e| {
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|_| e)?;
        enum_names_to_numbers(&mut value);
        serde_json::from_value(value)
    })
}

/// `"kind": "SPAN_KIND_SERVER"` → 2, `"code": "STATUS_CODE_ERROR"` → 2, wherever they are.
fn enum_names_to_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    const NAMES: &[&str] = &[
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
    const CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let known = match key.as_str() {
                    "kind" => NAMES,
                    "code" => CODES,
                    _ => &[],
                };
                if let Some(at) = v.as_str().and_then(|t| known.iter().position(|n| *n == t)) {
                    *v = Value::from(at);
                } else {
                    enum_names_to_numbers(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(enum_names_to_numbers),
        _ => {}
    }
}

/// A metrics or logs request in the same file: not spans, not a problem.
fn is_other_signal(text: &str) -> bool {
    !text.contains("\"resourceSpans\"")
        && (text.contains("\"resourceMetrics\"") || text.contains("\"resourceLogs\""))
}

/// JSON documents one after the other, however they are laid out.
fn read_documents(
    path: &Path,
    reader: impl std::io::Read,
    out: &mut Vec<(u128, String, SpanInfo)>,
) -> bool {
    let documents = serde_json::Deserializer::from_reader(reader).into_iter::<serde_json::Value>();
    for document in documents {
        let parsed = document.and_then(|mut value| {
            if value.get("resourceSpans").is_none() {
                return Ok(None);
            }
            enum_names_to_numbers(&mut value);
            serde_json::from_value::<ExportTraceServiceRequest>(value).map(Some)
        });
        match parsed {
            Ok(Some(request)) => spans_of(request, out),
            Ok(None) => {}
            Err(e) => {
                report(SourceError::new(
                    path,
                    format!("not an OTLP/JSON trace request: {e}"),
                ));
                return false;
            }
        }
    }
    true
}

fn spans_of(request: ExportTraceServiceRequest, out: &mut Vec<(u128, String, SpanInfo)>) {
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| super::proto_value_text(kv.value.as_ref()))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let (Ok(trace), Ok(span_id)) = (
                    <[u8; 16]>::try_from(span.trace_id.as_slice()),
                    <[u8; 8]>::try_from(span.span_id.as_slice()),
                ) else {
                    continue;
                };
                let status = span.status.as_ref();
                let code = status.map_or(0, |s| s.code);
                let start = nanos(span.start_time_unix_nano);
                // An end before the start (another tool's clock) is read as no duration.
                let end = nanos(span.end_time_unix_nano).max(start);
                let info = SpanInfo {
                    span_id,
                    parent: <[u8; 8]>::try_from(span.parent_span_id.as_slice()).ok(),
                    depth: 0,
                    name: span.name,
                    start,
                    end,
                    status: if code == StatusCode::Error as i32 {
                        SpanStatus::Error
                    } else if code == StatusCode::Ok as i32 {
                        SpanStatus::Ok
                    } else {
                        SpanStatus::Unset
                    },
                    message: status.map(|s| s.message.clone()).filter(|m| !m.is_empty()),
                    attributes: proto_attributes(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|e| EventInfo {
                            time: nanos(e.time_unix_nano),
                            name: e.name.clone(),
                            attributes: proto_attributes(&e.attributes),
                        })
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .filter(|l| l.trace_id == span.trace_id)
                        .filter_map(|l| <[u8; 8]>::try_from(l.span_id.as_slice()).ok())
                        .collect(),
                };
                out.push((u128::from_be_bytes(trace), service.clone(), info));
            }
        }
    }
}

fn nanos(unix_nano: u64) -> Nanos {
    Nanos::try_from(unix_nano).unwrap_or(Nanos::MAX)
}
