//! Why a run took as long as it did, without a tracing backend. Every input retrace reads (a
//! format's artifacts, the runner's records, OTLP/JSON lines) becomes the same span trees
//! (`RunSpans`, built by `load`), which `figures` analyses (critical path, waits, slack,
//! concurrency, thread lanes) and `compare` sets side by side. `view`, `report` and `compare`
//! only present what is computed here.

pub mod compare;
pub mod figures;
pub mod load;

use std::collections::HashMap;

use opentelemetry::trace::Status;
use opentelemetry::Value;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_sdk::trace::SpanData;

use crate::record::Nanos;
use crate::trace::semconv as sc;

/// One run as a span tree: the root first, then the spans in tree order (a parent before its
/// children, siblings by start).
#[derive(Clone, Debug)]
pub struct RunSpans {
    pub trace_id: [u8; 16],
    /// The resource's `service.name` (the system, unless renamed).
    pub service: String,
    pub spans: Vec<SpanInfo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    Ok,
    Error,
    Unset,
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
            SpanStatus::Unset => "unset",
        }
    }
}

#[derive(Clone, Debug)]
pub struct EventInfo {
    pub time: Nanos,
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

/// What the analysis and the pictures need of a span. Attribute values are kept as the text
/// they are shown as.
#[derive(Clone, Debug)]
pub struct SpanInfo {
    pub span_id: [u8; 8],
    /// None for the run's root (its parent, if any, is outside the run).
    pub parent: Option<[u8; 8]>,
    /// 0 for the root.
    pub depth: usize,
    pub name: String,
    pub start: Nanos,
    pub end: Nanos,
    pub status: SpanStatus,
    pub message: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<EventInfo>,
    /// The spans of the same trace this one links to (a step's dependencies).
    pub links: Vec<[u8; 8]>,
}

impl SpanInfo {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Times placed by retrace because the artifact recorded none.
    pub fn derived(&self) -> bool {
        self.attribute(sc::RETRACE_TIME_SOURCE) == Some("derived")
    }

    /// The step's id in its system (dbt unique_id, Airflow task id…); the span name when the
    /// span does not say.
    pub fn step_id(&self) -> &str {
        self.attribute(sc::CICD_TASK_NAME).unwrap_or(&self.name)
    }

    pub fn duration(&self) -> Nanos {
        self.end - self.start
    }
}

impl RunSpans {
    pub fn root(&self) -> &SpanInfo {
        &self.spans[0]
    }

    pub fn run_id(&self) -> &str {
        self.root()
            .attribute(sc::CICD_PIPELINE_RUN_ID)
            .unwrap_or_default()
    }

    pub fn pipeline(&self) -> &str {
        let root = self.root();
        root.attribute(sc::CICD_PIPELINE_NAME).unwrap_or(&root.name)
    }

    /// The root's direct children: the run's steps (dbt nodes, task tries, runner steps).
    pub fn steps(&self) -> impl Iterator<Item = (usize, &SpanInfo)> {
        let root = self.root().span_id;
        self.spans
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.parent == Some(root))
    }
}

/// Splits spans (of any traces, in any order, possibly repeated) into runs: each span whose
/// parent is not among its trace's spans roots a run of its own, with its descendants.
pub fn into_runs(spans: Vec<(u128, String, SpanInfo)>) -> Vec<RunSpans> {
    let mut by_trace: Vec<(u128, String, Vec<SpanInfo>)> = Vec::new();
    let mut trace_at: HashMap<u128, usize> = HashMap::new();
    for (trace, service, span) in spans {
        let at = *trace_at.entry(trace).or_insert_with(|| {
            by_trace.push((trace, service, Vec::new()));
            by_trace.len() - 1
        });
        by_trace[at].2.push(span);
    }
    let mut runs = Vec::new();
    for (trace, service, mut spans) in by_trace {
        // A span delivered twice (a re-sent spool) counts once.
        let mut seen = std::collections::HashSet::new();
        spans.retain(|s| seen.insert(s.span_id));
        for tree in trees(spans) {
            runs.push(RunSpans {
                trace_id: trace.to_be_bytes(),
                service: service.clone(),
                spans: tree,
            });
        }
    }
    runs.sort_by_key(|r| (r.root().start, r.trace_id));
    runs
}

/// The span trees among `spans` (one trace), each in tree order.
fn trees(spans: Vec<SpanInfo>) -> Vec<Vec<SpanInfo>> {
    let index: HashMap<[u8; 8], usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    for list in &mut children {
        list.sort_by_key(|&i| (spans[i].start, i));
    }
    roots.sort_by_key(|&i| (spans[i].start, i));
    let mut slots: Vec<Option<SpanInfo>> = spans.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for root in roots {
        let mut tree = Vec::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            // A cycle of parents (bad input) cannot loop: a span is taken once.
            let Some(mut span) = slots[i].take() else {
                continue;
            };
            span.depth = depth;
            if depth == 0 {
                span.parent = None;
            }
            tree.push(span);
            stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
        }
        out.push(tree);
    }
    out
}

/// The spans retrace built for a run, as the analysis sees them.
pub fn from_built(trace_id: [u8; 16], service: String, spans: &[SpanData]) -> Vec<RunSpans> {
    let trace = u128::from_be_bytes(trace_id);
    let infos = spans
        .iter()
        .map(|s| {
            let links = s
                .links
                .iter()
                .filter(|l| l.span_context.trace_id().to_bytes() == trace_id)
                .map(|l| l.span_context.span_id().to_bytes())
                .collect();
            let (status, message) = match &s.status {
                Status::Ok => (SpanStatus::Ok, None),
                Status::Error { description } => (SpanStatus::Error, Some(description.to_string())),
                Status::Unset => (SpanStatus::Unset, None),
            };
            let info = SpanInfo {
                span_id: s.span_context.span_id().to_bytes(),
                parent: Some(s.parent_span_id.to_bytes()),
                depth: 0,
                name: s.name.to_string(),
                start: system_nanos(s.start_time),
                end: system_nanos(s.end_time),
                status,
                message: message.filter(|m| !m.is_empty()),
                attributes: s
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.to_string(), value_text(&kv.value)))
                    .collect(),
                events: s
                    .events
                    .iter()
                    .map(|e| EventInfo {
                        time: system_nanos(e.timestamp),
                        name: e.name.to_string(),
                        attributes: e
                            .attributes
                            .iter()
                            .map(|kv| (kv.key.to_string(), value_text(&kv.value)))
                            .collect(),
                    })
                    .collect(),
                links,
            };
            (trace, service.clone(), info)
        })
        .collect();
    into_runs(infos)
}

fn system_nanos(t: std::time::SystemTime) -> Nanos {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX),
        Err(e) => -Nanos::try_from(e.duration().as_nanos()).unwrap_or(Nanos::MAX),
    }
}

fn value_text(value: &Value) -> String {
    value.as_str().into_owned()
}

/// An OTLP attribute value as text (arrays as `[a, b]`).
pub fn proto_value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(|v| proto_value_text(Some(v))).collect();
            format!("[{}]", items.join(", "))
        }
        Some(any_value::Value::KvlistValue(l)) => {
            let items: Vec<String> = l
                .values
                .iter()
                .map(|kv| format!("{}={}", kv.key, proto_value_text(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Some(any_value::Value::BytesValue(b)) => format!("{} bytes", b.len()),
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

pub fn proto_attributes(list: &[ProtoKeyValue]) -> Vec<(String, String)> {
    list.iter()
        .map(|kv| (kv.key.clone(), proto_value_text(kv.value.as_ref())))
        .collect()
}

/// Lower-case hex, as OTLP/JSON and W3C write ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An instant as RFC 3339 UTC with as many fractional digits as it has.
pub fn rfc3339(nanos: Nanos) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
