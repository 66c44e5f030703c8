//! A readable tree of each trace's spans on stdout (`--exporter console`): names, statuses,
//! offsets from the run's start and durations. For people, not machines.
//!
//! A converted run is printed as it arrives. A live run (the runner, `exec`, `dbt --run`)
//! arrives in parts — each step as it ends, the root last, a wrapped dbt run in between — so
//! it is held and printed as one tree when the delivery finishes.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::sink::{Sink, SinkError};
use crate::trace::build::BuiltRun;
use crate::trace::semconv as sc;

pub struct ConsoleSink {
    out: Box<dyn Write>,
    /// Live runs: parts kept until `finish`, in arrival order.
    held: Option<Vec<(BuiltRun, Resource)>>,
    /// Live runs: their metrics, printed after their trees.
    held_metrics: String,
}

impl ConsoleSink {
    pub fn stdout() -> ConsoleSink {
        ConsoleSink {
            out: Box::new(std::io::stdout()),
            held: None,
            held_metrics: String::new(),
        }
    }

    fn write(&mut self, text: &str) -> Result<(), SinkError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| SinkError::Delivery(format!("cannot write to stdout: {e}")))
    }
}

impl Sink for ConsoleSink {
    fn send(&mut self, run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let count = run.spans.len();
        match &mut self.held {
            Some(held) => held.push((run, resource.clone())),
            None => {
                let text = render(&run.spans, &run.traceparent, resource);
                self.write(&text)?;
            }
        }
        Ok(count)
    }

    fn send_metrics(
        &mut self,
        request: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
    ) -> Result<usize, SinkError> {
        let text = render_metrics(&request);
        if self.held.is_some() {
            self.held_metrics.push_str(&text);
        } else {
            self.write(&text)?;
        }
        Ok(crate::trace::metrics::point_count(&request))
    }

    fn hold_until_finish(&mut self) {
        self.held.get_or_insert_with(Vec::new);
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let metrics = std::mem::take(&mut self.held_metrics);
        // One tree per trace. The header names the outermost run: a live run's root is sent
        // last, after its steps and any run nested under it (the dbt run of `dbt --run`), so
        // it is the last part that holds its own root span.
        let mut traces: Vec<(TraceId, Vec<SpanData>, String, Resource)> = Vec::new();
        for (run, resource) in held {
            let trace = run
                .spans
                .first()
                .map_or(TraceId::INVALID, |s| s.span_context.trace_id());
            let at = match traces.iter().position(|(t, ..)| *t == trace) {
                Some(at) => at,
                None => {
                    traces.push((trace, Vec::new(), String::new(), resource.clone()));
                    traces.len() - 1
                }
            };
            let entry = &mut traces[at];
            let root = run.traceparent.split('-').nth(2).unwrap_or_default();
            let holds_its_root = run
                .spans
                .iter()
                .any(|s| s.span_context.span_id().to_string() == root);
            if entry.2.is_empty() || holds_its_root {
                entry.2 = run.traceparent.clone();
                entry.3 = resource;
            }
            entry.1.extend(run.spans);
        }
        let mut text: String = traces
            .iter()
            .map(|(_, spans, traceparent, resource)| render(spans, traceparent, resource))
            .collect();
        text.push_str(&metrics);
        self.write(&text)
    }
}

/// Metric points, one per line: `name{attributes} = value unit  at time`.
fn render_metrics(
    request: &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
) -> String {
    use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
    let text_of = |attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        attributes
            .iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                format!("{}={value}", kv.key)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    for metric in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let unit = &metric.unit;
        let mut line = |attributes: &[_], value: String, time: u64| {
            out.push_str(&format!(
                "metric {}{{{}}} = {value} {unit}  at {}\n",
                metric.name,
                text_of(attributes),
                timestamp(UNIX_EPOCH + Duration::from_nanos(time))
            ));
        };
        match &metric.data {
            Some(metric::Data::Histogram(h)) => {
                for p in &h.data_points {
                    let value = p.sum.map_or_else(String::new, |s| format!("{s}"));
                    line(&p.attributes, value, p.time_unix_nano);
                }
            }
            Some(metric::Data::Sum(s)) => {
                for p in &s.data_points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(n)) => n.to_string(),
                        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
                        None => String::new(),
                    };
                    line(&p.attributes, value, p.time_unix_nano);
                }
            }
            Some(metric::Data::Gauge(g)) => {
                for p in &g.data_points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(n)) => n.to_string(),
                        Some(number_data_point::Value::AsDouble(d)) => d.to_string(),
                        None => String::new(),
                    };
                    line(&p.attributes, value, p.time_unix_nano);
                }
            }
            _ => {}
        }
    }
    out
}

/// The tree of `spans`: every span whose parent is not among them is a top span, drawn with
/// its descendants.
pub fn render(spans: &[SpanData], traceparent: &str, resource: &Resource) -> String {
    let service = resource
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let mut tops: Vec<&SpanData> = Vec::new();
    for span in spans {
        if ids.contains(&span.parent_span_id) {
            children.entry(span.parent_span_id).or_default().push(span);
        } else {
            tops.push(span);
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| (s.start_time, s.end_time));
    }
    tops.sort_by_key(|s| (s.start_time, s.end_time));
    let Some(first) = tops.first() else {
        return String::new();
    };
    let mut out = format!(
        "trace {}  service {}  {} spans  traceparent {}\n",
        first.span_context.trace_id(),
        service,
        spans.len(),
        traceparent
    );
    for top in &tops {
        line(&mut out, top, top.start_time, "", "", true);
        walk(&mut out, top, &children, top.start_time, "");
    }
    out
}

fn walk(
    out: &mut String,
    span: &SpanData,
    children: &HashMap<SpanId, Vec<&SpanData>>,
    origin: SystemTime,
    prefix: &str,
) {
    let Some(kids) = children.get(&span.span_context.span_id()) else {
        return;
    };
    for (i, kid) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        line(
            out,
            kid,
            origin,
            prefix,
            if last { "└─ " } else { "├─ " },
            false,
        );
        let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
        walk(out, kid, children, origin, &deeper);
    }
}

fn line(
    out: &mut String,
    span: &SpanData,
    origin: SystemTime,
    prefix: &str,
    branch: &str,
    is_top: bool,
) {
    let when = if is_top {
        timestamp(span.start_time)
    } else {
        format!(
            "+{}",
            duration(span.start_time.duration_since(origin).unwrap_or_default())
        )
    };
    let took = duration(
        span.end_time
            .duration_since(span.start_time)
            .unwrap_or_default(),
    );
    let attr = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let mut notes = Vec::new();
    if is_top {
        if let Some(run_id) = attr(sc::CICD_PIPELINE_RUN_ID) {
            notes.push(format!("run {run_id}"));
        }
    } else if let Some(attempt) = attr(sc::CICD_TASK_RUN_ID)
        .and_then(|id| id.rsplit_once('#').map(|(_, n)| n.to_owned()))
        .filter(|n| n.parse::<u32>().is_ok_and(|n| n > 1))
    {
        // The builder writes `<step>#<attempt>` for every attempt after the first.
        notes.push(format!("try {attempt}"));
    }
    if let Some(source) = attr(sc::RETRACE_TIME_SOURCE) {
        notes.push(format!("time {source}"));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("  ({})", notes.join(", "))
    };
    out.push_str(&format!(
        "{prefix}{branch}{}  [{}]  {when}  {took}{notes}\n",
        span.name,
        status(span)
    ));
}

/// ok, warn (an Ok span that carries a warning event, e.g. a dbt test at warn severity),
/// ERROR with the first line of its message, or - (unset).
fn status(span: &SpanData) -> String {
    let first_line = |text: &str| text.lines().next().unwrap_or_default().to_owned();
    match &span.status {
        Status::Ok => {
            let warning = span
                .events
                .iter()
                .find(|e| e.name == "warning" || e.name.ends_with(".warning"));
            match warning {
                None => "ok".to_owned(),
                Some(event) => match event
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == "message")
                {
                    Some(message) => format!("warn: {}", first_line(&message.value.to_string())),
                    None => "warn".to_owned(),
                },
            }
        }
        Status::Error { description } if description.is_empty() => "ERROR".to_owned(),
        Status::Error { description } => format!("ERROR: {}", first_line(description)),
        Status::Unset => "-".to_owned(),
    }
}

fn timestamp(t: SystemTime) -> String {
    let nanos = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64;
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `850µs`, `307ms`, `1.26s`, `18m23s`, `2h05m`: as precise as a reader needs at that scale,
/// rounded (never `60.00s` or `1000ms`: a value that rounds up moves to the next unit).
pub fn duration(d: Duration) -> String {
    let micros = d.as_micros();
    let millis = (micros + 500) / 1_000;
    let centis = (micros + 5_000) / 10_000;
    let seconds = (micros + 500_000) / 1_000_000;
    if micros < 1_000 {
        format!("{micros}µs")
    } else if millis < 1_000 {
        format!("{millis}ms")
    } else if centis < 6_000 {
        format!("{}.{:02}s", centis / 100, centis % 100)
    } else if seconds < 3_600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        let minutes = (micros + 30_000_000) / 60_000_000;
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        let d = |nanos: u64| duration(Duration::from_nanos(nanos));
        assert_eq!(d(0), "0µs");
        assert_eq!(d(850_400), "850µs");
        assert_eq!(d(307_400_000), "307ms");
        assert_eq!(d(999_600_000), "1.00s");
        assert_eq!(d(1_264_000_000), "1.26s");
        assert_eq!(d(59_994_000_000), "59.99s");
        assert_eq!(d(59_995_000_000), "1m00s");
        assert_eq!(d(3_599_600_000_000), "1h00m");
        assert_eq!(d(1_103_000_000_000), "18m23s");
        assert_eq!(d(7_520_000_000_000), "2h05m");
        assert_eq!(d(7_530_000_000_000), "2h06m");
    }
}
