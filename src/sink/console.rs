//! A readable tree of each run's spans on stdout (`--exporter console`): names, statuses,
//! offsets from the run's start and durations. For people, not machines.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::sink::{Sink, SinkError};
use crate::trace::build::BuiltRun;
use crate::trace::semconv as sc;

pub struct ConsoleSink {
    out: Box<dyn Write>,
}

impl ConsoleSink {
    pub fn stdout() -> ConsoleSink {
        ConsoleSink {
            out: Box::new(std::io::stdout()),
        }
    }
}

impl Sink for ConsoleSink {
    fn send(&mut self, run: BuiltRun, resource: &Resource) -> Result<usize, SinkError> {
        let text = render(&run, resource);
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| SinkError::Delivery(format!("cannot write to stdout: {e}")))?;
        Ok(run.spans.len())
    }
}

pub fn render(run: &BuiltRun, resource: &Resource) -> String {
    let Some(root) = run.spans.first() else {
        return String::new();
    };
    let service = resource
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    for span in &run.spans[1..] {
        children.entry(span.parent_span_id).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| (s.start_time, s.end_time));
    }
    let mut out = format!(
        "trace {}  service {}  {} spans  traceparent {}\n",
        root.span_context.trace_id(),
        service,
        run.spans.len(),
        run.traceparent
    );
    let origin = root.start_time;
    line(&mut out, root, origin, "", "", true);
    walk(&mut out, root, &children, origin, "");
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
    is_root: bool,
) {
    let status = match &span.status {
        Status::Ok => "ok".to_owned(),
        Status::Error { description } if description.is_empty() => "ERROR".to_owned(),
        Status::Error { description } => {
            format!("ERROR: {}", description.lines().next().unwrap_or_default())
        }
        Status::Unset => "-".to_owned(),
    };
    let when = if is_root {
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
    let derived = span
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == sc::RETRACE_TIME_SOURCE);
    out.push_str(&format!(
        "{prefix}{branch}{}  [{status}]  {when}  {took}{}\n",
        span.name,
        if derived { "  (time derived)" } else { "" }
    ));
}

fn timestamp(t: SystemTime) -> String {
    let nanos = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64;
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", micros as f64 / 1_000.0)
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}
