//! The metrics of runs, from the spans retrace built for them (README "Metrics"): run and
//! task durations, queue times, records and bytes, data-quality failures and source
//! freshness, as OTLP metric data points. Every point is stamped with the time it describes
//! (a run's or step's end; its start time is the run's start), never the clock; counters and
//! histograms are delta (one run's contribution each). Each point carries an exemplar with its
//! span's ids, so a backend can jump from a slow bucket to the trace.
//!
//! Spans may come a whole run at once (conversion: the root first) or in parts (the live
//! runner: the root last); the run's own points are made once its root and steps are all in.

use std::collections::HashMap;

use opentelemetry::trace::Status;
use opentelemetry::Value;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, InstrumentationScope, KeyValue as ProtoKeyValue,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use crate::record::Nanos;
use crate::trace::semconv as sc;

// The metric names (README "Metrics").
pub const RUN_DURATION: &str = "cicd.pipeline.run.duration";
pub const RUN_ERRORS: &str = "cicd.pipeline.run.errors";
pub const TASK_DURATION: &str = "pipeline.task.duration";
pub const TASK_QUEUE_DURATION: &str = "pipeline.task.queue_duration";
pub const RECORDS_WRITTEN: &str = "pipeline.records.written";
pub const BYTES_PROCESSED: &str = "pipeline.bytes.processed";
pub const DQ_FAILED_RECORDS: &str = "pipeline.data_quality.failed_records";
pub const DQ_FRESHNESS: &str = "dq.freshness_seconds";

// Attribute names the metrics read or add.
const RUN_STATE: &str = "cicd.pipeline.run.state";
const DQ_TABLE: &str = "dq.table";
const DBT_RESOURCE_TYPE: &str = "dbt.resource_type";
const DBT_MATERIALIZED: &str = "dbt.materialized";
const DBT_FAILURES: &str = "dbt.failures";
const DBT_PHASE: &str = "dbt.phase";
const DBT_TEST_SEVERITY: &str = "dbt.test.severity";
const DBT_STATUS: &str = "dbt.status";
const DBT_FRESHNESS_STATUS: &str = "dbt.freshness.status";
const DBT_FRESHNESS_AGE: &str = "dbt.freshness.max_loaded_at_time_ago_in_s";
const AIRFLOW_RUN_QUEUED_AT: &str = "airflow.dag_run.queued_at";
const AIRFLOW_TRY_QUEUED_WHEN: &str = "airflow.task_instance.queued_when";
const GITHUB_RUN_CREATED_AT: &str = "github.workflow_run.created_at";
const GITHUB_JOB_STARTED_AT: &str = "github.workflow_job.started_at";
const GITHUB_STEP_NUMBER: &str = "github.step.number";
const GITHUB_QUEUE: &str = "cicd.pipeline.run.queue.duration";
const SPARK_TASK_ID: &str = "spark.task.id";

/// Histogram bucket bounds in seconds: a dbt test (tens of ms) to a day-long backfill.
const SECONDS_BOUNDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 7200.0, 21600.0, 86400.0,
];

/// A run whose root has not come yet (a live run), or is being read.
#[derive(Default)]
struct Pending {
    root: Option<SpanData>,
    /// `error.type` of each failed step (by task name), the last attempt counting.
    failed: HashMap<String, String>,
    /// The steps' points, their start times still to be the run's start.
    points: Points,
}

/// Turns spans into metric points as they come.
#[derive(Default)]
pub struct Metrics {
    /// `--metrics-run-id`: the run id on every point (off: the conventions make it opt-in,
    /// for cardinality).
    pub run_id_attribute: bool,
    /// By the run's root span id (a run nested in another shares its trace).
    pending: HashMap<[u8; 8], Pending>,
}

impl Metrics {
    pub fn new(run_id_attribute: bool) -> Metrics {
        Metrics {
            run_id_attribute,
            pending: HashMap::new(),
        }
    }

    /// The points of `spans` (one run's, whole or a part of it), grouped by metric. A step's
    /// points wait for its run's root (their start time is the run's start).
    pub fn observe(&mut self, spans: &[SpanData], root: [u8; 8]) -> Vec<Metric> {
        // A test's tested table is the step it links to: names by span id.
        let task_names: HashMap<[u8; 8], &str> = spans
            .iter()
            .filter_map(|s| {
                let name = text(s, sc::CICD_TASK_NAME)?;
                Some((s.span_context.span_id().to_bytes(), name))
            })
            .collect();
        // The run's own root (its kind may be any: `exec --kind client`).
        let is_root = |s: &SpanData| s.span_context.span_id().to_bytes() == root;
        let pending = self.pending.entry(root).or_default();
        let mut completed = false;
        for span in spans {
            if is_root(span) {
                pending.root = Some(span.clone());
                completed = true;
                continue;
            }
            if !is_task(span) {
                continue;
            }
            // A step's identity: its run id without the attempt (`task#2`), else its name.
            let task = text(span, sc::CICD_TASK_RUN_ID)
                .map(|id| {
                    id.rsplit_once('#').map_or(id, |(base, n)| {
                        if n.bytes().all(|b| b.is_ascii_digit()) {
                            base
                        } else {
                            id
                        }
                    })
                })
                .or_else(|| text(span, sc::CICD_TASK_NAME))
                .unwrap_or_default();
            if matches!(span.status, Status::Error { .. }) {
                let error_type = text(span, sc::ERROR_TYPE).unwrap_or("_OTHER").to_owned();
                pending.failed.insert(task.to_owned(), error_type);
            } else {
                // A later attempt that did not fail clears the step.
                pending.failed.remove(task);
            }
            step_points(span, &task_names, &mut pending.points);
        }
        let completed: Vec<[u8; 8]> = if completed { vec![root] } else { Vec::new() };
        let mut out = Points::default();
        for trace in completed {
            // A run's own points: series of two runs are never merged (their windows differ).
            let mut run = Points::default();
            // Conversion sends the root first and the steps with it; the live runner sends the
            // root last. Either way the run is complete when the call that brings its root
            // ends.
            let Some(mut pending) = self.pending.remove(&trace) else {
                continue;
            };
            let Some(root) = pending.root.take() else {
                continue;
            };
            let start = unsigned(nanos(root.start_time));
            let pipeline = text(&root, sc::CICD_PIPELINE_NAME).unwrap_or(&root.name);
            let mut names = vec![kv(sc::CICD_PIPELINE_NAME, pipeline)];
            if self.run_id_attribute {
                if let Some(id) = text(&root, sc::CICD_PIPELINE_RUN_ID) {
                    names.push(kv(sc::CICD_PIPELINE_RUN_ID, id));
                }
            }
            run_points(&root, &pending.failed, self.run_id_attribute, &mut run);
            run.append(pending.points, start, &names);
            out.concat(run);
        }
        out.into_metrics()
    }
}

/// Points grouped by metric, in a stable order; one point per series (metric and
/// attributes), found through `series`.
#[derive(Default)]
struct Points {
    metrics: Vec<Metric>,
    /// (metric name, attributes as text) → the point's index in its metric.
    series: HashMap<(String, String), usize>,
}

fn new_histogram() -> metric::Data {
    metric::Data::Histogram(Histogram {
        data_points: Vec::new(),
        aggregation_temporality: AggregationTemporality::Delta as i32,
    })
}

fn new_sum() -> metric::Data {
    metric::Data::Sum(Sum {
        data_points: Vec::new(),
        aggregation_temporality: AggregationTemporality::Delta as i32,
        is_monotonic: true,
    })
}

fn new_gauge() -> metric::Data {
    metric::Data::Gauge(Gauge {
        data_points: Vec::new(),
    })
}

/// A point's attributes as one text, to find its series.
fn series_key(attributes: &[ProtoKeyValue]) -> String {
    let mut key = String::new();
    for kv in attributes {
        key.push_str(&kv.key);
        key.push('\u{1f}');
        if let Some(any_value::Value::StringValue(v)) =
            kv.value.as_ref().and_then(|v| v.value.as_ref())
        {
            key.push_str(v);
        }
        key.push('\u{1e}');
    }
    key
}

impl Points {
    fn metric(&mut self, name: &str, unit: &str, make: fn() -> metric::Data) -> &mut metric::Data {
        let at = match self.metrics.iter().position(|m| m.name == name) {
            Some(at) => at,
            None => {
                self.metrics.push(Metric {
                    name: name.to_owned(),
                    description: String::new(),
                    unit: unit.to_owned(),
                    metadata: Vec::new(),
                    data: Some(make()),
                });
                self.metrics.len() - 1
            }
        };
        self.metrics[at].data.get_or_insert_with(make)
    }

    /// The series' point index, or the index a new point of it will take.
    fn series_at(&mut self, name: &str, attributes: &[ProtoKeyValue], len: usize) -> (usize, bool) {
        let key = (name.to_owned(), series_key(attributes));
        match self.series.get(&key) {
            Some(&at) => (at, true),
            None => {
                self.series.insert(key, len);
                (len, false)
            }
        }
    }

    fn histogram(&mut self, name: &str, seconds: f64, at: At, attributes: Vec<ProtoKeyValue>) {
        let len = match self.metric(name, "s", new_histogram) {
            metric::Data::Histogram(h) => h.data_points.len(),
            _ => return,
        };
        let (index, known) = self.series_at(name, &attributes, len);
        let bucket = SECONDS_BOUNDS.partition_point(|&b| b < seconds);
        let metric::Data::Histogram(h) = self.metric(name, "s", new_histogram) else {
            return;
        };
        // One point per series and run: a run's observations of one series (the tries of a
        // mapped Airflow task) are one delta, as a backend turning deltas into totals needs
        // (a second point of the same window would be dropped).
        if known {
            if let Some(p) = h.data_points.get_mut(index) {
                p.count += 1;
                p.sum = Some(p.sum.unwrap_or(0.0) + seconds);
                p.bucket_counts[bucket] += 1;
                p.min = Some(p.min.map_or(seconds, |m| m.min(seconds)));
                p.max = Some(p.max.map_or(seconds, |m| m.max(seconds)));
                p.time_unix_nano = p.time_unix_nano.max(at.time);
                p.exemplars
                    .push(at.exemplar(number_data_point_double(seconds)));
            }
            return;
        }
        let mut bucket_counts = vec![0; SECONDS_BOUNDS.len() + 1];
        bucket_counts[bucket] = 1;
        h.data_points.push(HistogramDataPoint {
            attributes,
            start_time_unix_nano: at.start,
            time_unix_nano: at.time,
            count: 1,
            sum: Some(seconds),
            bucket_counts,
            explicit_bounds: SECONDS_BOUNDS.to_vec(),
            exemplars: vec![at.exemplar(number_data_point_double(seconds))],
            flags: 0,
            min: Some(seconds),
            max: Some(seconds),
        });
    }

    fn counter(
        &mut self,
        name: &str,
        unit: &str,
        value: i64,
        at: At,
        attributes: Vec<ProtoKeyValue>,
    ) {
        let len = match self.metric(name, unit, new_sum) {
            metric::Data::Sum(s) => s.data_points.len(),
            _ => return,
        };
        let (index, known) = self.series_at(name, &attributes, len);
        let metric::Data::Sum(s) = self.metric(name, unit, new_sum) else {
            return;
        };
        if known {
            if let Some(p) = s.data_points.get_mut(index) {
                if let Some(number_data_point::Value::AsInt(n)) = &mut p.value {
                    *n += value;
                }
                p.time_unix_nano = p.time_unix_nano.max(at.time);
                p.exemplars.push(at.exemplar(exemplar::Value::AsInt(value)));
            }
            return;
        }
        s.data_points.push(NumberDataPoint {
            attributes,
            start_time_unix_nano: at.start,
            time_unix_nano: at.time,
            exemplars: vec![at.exemplar(exemplar::Value::AsInt(value))],
            flags: 0,
            value: Some(number_data_point::Value::AsInt(value)),
        });
    }

    fn gauge(
        &mut self,
        name: &str,
        unit: &str,
        value: f64,
        at: At,
        attributes: Vec<ProtoKeyValue>,
    ) {
        let len = match self.metric(name, unit, new_gauge) {
            metric::Data::Gauge(g) => g.data_points.len(),
            _ => return,
        };
        let (index, known) = self.series_at(name, &attributes, len);
        let metric::Data::Gauge(g) = self.metric(name, unit, new_gauge) else {
            return;
        };
        let point = NumberDataPoint {
            attributes,
            start_time_unix_nano: at.start,
            time_unix_nano: at.time,
            exemplars: vec![at.exemplar(number_data_point_double(value))],
            flags: 0,
            value: Some(number_data_point::Value::AsDouble(value)),
        };
        // A gauge's series holds its latest value.
        match g.data_points.get_mut(index) {
            Some(p) if known => {
                if p.time_unix_nano <= at.time {
                    *p = point;
                }
            }
            _ => g.data_points.push(point),
        }
    }

    /// A metric's points beside the ones of the same name (or the metric itself, the first
    /// time it is seen).
    fn push(&mut self, metric: Metric) {
        match self.metrics.iter_mut().find(|m| m.name == metric.name) {
            Some(mine) => match (&mut mine.data, metric.data) {
                (Some(metric::Data::Histogram(a)), Some(metric::Data::Histogram(b))) => {
                    a.data_points.extend(b.data_points)
                }
                (Some(metric::Data::Sum(a)), Some(metric::Data::Sum(b))) => {
                    a.data_points.extend(b.data_points)
                }
                (Some(metric::Data::Gauge(a)), Some(metric::Data::Gauge(b))) => {
                    a.data_points.extend(b.data_points)
                }
                _ => {}
            },
            None => self.metrics.push(metric),
        }
    }

    /// Another run's points beside these (never merged into these series).
    fn concat(&mut self, other: Points) {
        for metric in other.metrics {
            self.push(metric);
        }
        self.series.clear();
    }

    /// The metrics, each one's points in time order (a backend turning deltas into totals
    /// drops a point older than the last it saw of its series).
    fn into_metrics(mut self) -> Vec<Metric> {
        for m in &mut self.metrics {
            match &mut m.data {
                Some(metric::Data::Histogram(h)) => h.data_points.sort_by_key(|p| p.time_unix_nano),
                Some(metric::Data::Sum(s)) => s.data_points.sort_by_key(|p| p.time_unix_nano),
                Some(metric::Data::Gauge(g)) => g.data_points.sort_by_key(|p| p.time_unix_nano),
                _ => {}
            }
        }
        self.metrics
    }

    /// Adds a run's step points, each now starting at `start` (the run's start) and named
    /// with the run's pipeline (and run id, when asked: steps do not carry them), except
    /// freshness, which is a table's.
    fn append(&mut self, other: Points, start: u64, names: &[ProtoKeyValue]) {
        for mut metric in other.metrics {
            let named = metric.name != DQ_FRESHNESS;
            let fix = |attributes: &mut Vec<ProtoKeyValue>, at: &mut u64, time: u64| {
                *at = start.min(time);
                if named {
                    for (at, name) in names.iter().enumerate() {
                        if !attributes.iter().any(|a| a.key == name.key) {
                            attributes.insert(at, name.clone());
                        }
                    }
                }
            };
            match &mut metric.data {
                Some(metric::Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| {
                    fix(
                        &mut p.attributes,
                        &mut p.start_time_unix_nano,
                        p.time_unix_nano,
                    )
                }),
                Some(metric::Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| {
                    fix(
                        &mut p.attributes,
                        &mut p.start_time_unix_nano,
                        p.time_unix_nano,
                    )
                }),
                Some(metric::Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| {
                    fix(
                        &mut p.attributes,
                        &mut p.start_time_unix_nano,
                        p.time_unix_nano,
                    )
                }),
                _ => {}
            }
            self.push(metric);
        }
    }
}

fn number_data_point_double(value: f64) -> exemplar::Value {
    exemplar::Value::AsDouble(value)
}

/// When a point is, and the span it came from.
#[derive(Clone, Copy)]
struct At {
    start: u64,
    time: u64,
    trace: [u8; 16],
    span: [u8; 8],
}

impl At {
    fn of(span: &SpanData, start: Nanos, time: Nanos) -> At {
        At {
            start: unsigned(start.min(time)),
            time: unsigned(time),
            trace: span.span_context.trace_id().to_bytes(),
            span: span.span_context.span_id().to_bytes(),
        }
    }

    fn exemplar(&self, value: exemplar::Value) -> Exemplar {
        Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: self.time,
            span_id: self.span.to_vec(),
            trace_id: self.trace.to_vec(),
            value: Some(value),
        }
    }
}

fn run_points(root: &SpanData, failed: &HashMap<String, String>, run_id: bool, out: &mut Points) {
    let (start, end) = (nanos(root.start_time), nanos(root.end_time));
    let pipeline = text(root, sc::CICD_PIPELINE_NAME)
        .unwrap_or(&root.name)
        .to_owned();
    let mut base = vec![kv(sc::CICD_PIPELINE_NAME, &pipeline)];
    if run_id {
        if let Some(id) = text(root, sc::CICD_PIPELINE_RUN_ID) {
            base.push(kv(sc::CICD_PIPELINE_RUN_ID, id));
        }
    }
    let result = text(root, sc::CICD_PIPELINE_RESULT);
    let with_state = |state: &str| {
        let mut a = base.clone();
        a.push(kv(RUN_STATE, state));
        if let Some(r) = result {
            a.push(kv(sc::CICD_PIPELINE_RESULT, r));
        }
        a
    };
    out.histogram(
        RUN_DURATION,
        seconds(end - start),
        At::of(root, start, end),
        with_state("executing"),
    );
    let queued = text(root, AIRFLOW_RUN_QUEUED_AT).or_else(|| text(root, GITHUB_RUN_CREATED_AT));
    if let Some(queued) = queued.and_then(instant) {
        if queued <= start {
            out.histogram(
                RUN_DURATION,
                seconds(start - queued),
                At::of(root, queued, start),
                with_state("pending"),
            );
        }
    }
    let mut by_type: Vec<(&str, i64)> = Vec::new();
    for error_type in failed.values() {
        match by_type.iter_mut().find(|(t, _)| t == error_type) {
            Some((_, n)) => *n += 1,
            None => by_type.push((error_type, 1)),
        }
    }
    by_type.sort_unstable();
    for (error_type, count) in by_type {
        let mut a = base.clone();
        a.push(kv(sc::ERROR_TYPE, error_type));
        out.counter(RUN_ERRORS, "{error}", count, At::of(root, start, end), a);
    }
}

/// Whether a span is a task the metrics count: phases of a step (dbt --phase-spans) are parts
/// of it; a runner step with retries counts through its attempts; a GitHub job is the task,
/// not its queue span or its steps; a Spark stage is the task, not each of its (possibly
/// hundreds of thousands of) task attempts (`--task-spans`), which would each be a series.
fn is_task(span: &SpanData) -> bool {
    ![
        DBT_PHASE,
        sc::RETRACE_STEP_ATTEMPTS,
        GITHUB_STEP_NUMBER,
        GITHUB_QUEUE,
        SPARK_TASK_ID,
    ]
    .iter()
    .any(|key| attribute(span, key).is_some())
}

fn step_points(span: &SpanData, task_names: &HashMap<[u8; 8], &str>, out: &mut Points) {
    let (start, end) = (nanos(span.start_time), nanos(span.end_time));
    // The run's start replaces this once the root is in (`Points::append`).
    let window = start;
    let pipeline = text(span, sc::CICD_PIPELINE_NAME);
    let task = text(span, sc::CICD_TASK_NAME).unwrap_or(&span.name);
    let mut base = Vec::with_capacity(6);
    if let Some(p) = pipeline {
        base.push(kv(sc::CICD_PIPELINE_NAME, p));
    }
    base.push(kv(sc::CICD_TASK_NAME, task));
    let mut attributes = base.clone();
    if let Some(r) = text(span, sc::CICD_TASK_RUN_RESULT) {
        attributes.push(kv(sc::CICD_TASK_RUN_RESULT, r));
    }
    for key in [DBT_RESOURCE_TYPE, DBT_MATERIALIZED] {
        if let Some(v) = text(span, key) {
            attributes.push(kv(key, v));
        }
    }
    let derived = text(span, sc::RETRACE_TIME_SOURCE) == Some("derived");
    if !derived {
        out.histogram(
            TASK_DURATION,
            seconds(end - start),
            At::of(span, window, end),
            attributes.clone(),
        );
    }
    // Airflow: queued → the try's start; GitHub: the job span starts at its creation,
    // queued until it started.
    let queue = match (
        text(span, AIRFLOW_TRY_QUEUED_WHEN).and_then(instant),
        text(span, GITHUB_JOB_STARTED_AT).and_then(instant),
    ) {
        (Some(queued), _) => Some((queued, start)),
        (None, Some(started)) => Some((start, started)),
        _ => None,
    };
    if let Some((queued, started)) = queue {
        if queued <= started && !derived {
            out.histogram(
                TASK_QUEUE_DURATION,
                seconds(started - queued),
                At::of(span, window, started),
                attributes.clone(),
            );
        }
    }
    for (key, metric, unit) in [
        (sc::PIPELINE_RECORDS_WRITTEN, RECORDS_WRITTEN, "{record}"),
        (sc::PIPELINE_BYTES_PROCESSED, BYTES_PROCESSED, "By"),
    ] {
        if let Some(n) = int(span, key).filter(|n| *n >= 0) {
            out.counter(
                metric,
                unit,
                n,
                At::of(span, window, end),
                attributes.clone(),
            );
        }
    }
    if text(span, DBT_RESOURCE_TYPE) == Some("test") {
        if let Some(failures) = int(span, DBT_FAILURES).filter(|n| *n > 0) {
            let mut a = base.clone();
            if let Some(severity) = text(span, DBT_TEST_SEVERITY) {
                a.push(kv(DBT_TEST_SEVERITY, severity));
            }
            // The tested table: the first step the test depends on.
            let tested = span
                .links
                .iter()
                .find_map(|l| task_names.get(&l.span_context.span_id().to_bytes()));
            if let Some(table) = tested {
                a.push(kv(DQ_TABLE, table));
            }
            out.counter(
                DQ_FAILED_RECORDS,
                "{record}",
                failures,
                At::of(span, window, end),
                a,
            );
        }
    }
    if let Some(age) = float(span, DBT_FRESHNESS_AGE) {
        let mut a = vec![kv(DQ_TABLE, task)];
        if let Some(status) = text(span, DBT_STATUS) {
            a.push(kv(DBT_FRESHNESS_STATUS, status));
        }
        out.gauge(DQ_FRESHNESS, "s", age, At::of(span, window, end), a);
    }
}

/// One OTLP request for the metrics of one resource.
pub fn request(metrics: Vec<Metric>, resource: &Resource) -> ExportMetricsServiceRequest {
    let attributes = resource
        .iter()
        .map(|(k, v)| proto_kv(k.as_str(), v))
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(ProtoResource {
                attributes,
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "retrace".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// A request in two of about half its points each (for a collector that refuses its size);
/// a request of one point comes back as it is.
pub fn halves(
    mut request: ExportMetricsServiceRequest,
) -> Result<(ExportMetricsServiceRequest, ExportMetricsServiceRequest), ExportMetricsServiceRequest>
{
    let total = point_count(&request);
    if total < 2 {
        return Err(request);
    }
    let mut second = request.clone();
    let mut left = total / 2;
    // The first half keeps the first `total / 2` points, the second the others.
    for (rm_first, rm_second) in request
        .resource_metrics
        .iter_mut()
        .zip(second.resource_metrics.iter_mut())
    {
        for (sm_first, sm_second) in rm_first
            .scope_metrics
            .iter_mut()
            .zip(rm_second.scope_metrics.iter_mut())
        {
            for (m_first, m_second) in sm_first
                .metrics
                .iter_mut()
                .zip(sm_second.metrics.iter_mut())
            {
                let keep = |n: usize, left: &mut usize| {
                    let here = n.min(*left);
                    *left -= here;
                    here
                };
                match (&mut m_first.data, &mut m_second.data) {
                    (Some(metric::Data::Histogram(a)), Some(metric::Data::Histogram(b))) => {
                        let here = keep(a.data_points.len(), &mut left);
                        a.data_points.truncate(here);
                        b.data_points.drain(..here);
                    }
                    (Some(metric::Data::Sum(a)), Some(metric::Data::Sum(b))) => {
                        let here = keep(a.data_points.len(), &mut left);
                        a.data_points.truncate(here);
                        b.data_points.drain(..here);
                    }
                    (Some(metric::Data::Gauge(a)), Some(metric::Data::Gauge(b))) => {
                        let here = keep(a.data_points.len(), &mut left);
                        a.data_points.truncate(here);
                        b.data_points.drain(..here);
                    }
                    _ => {}
                }
            }
            sm_first.metrics.retain(|m| data_points(m) > 0);
            sm_second.metrics.retain(|m| data_points(m) > 0);
        }
    }
    Ok((request, second))
}

fn data_points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// How many data points a request holds (what the console and the delivery count).
pub fn point_count(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(data_points)
        .sum()
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text<'a>(span: &'a SpanData, key: &str) -> Option<&'a str> {
    match attribute(span, key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attribute(span, key)? {
        Value::I64(n) => Some(*n),
        Value::F64(f) if f.fract() == 0.0 => Some(*f as i64),
        Value::String(s) => s.as_str().parse().ok(),
        _ => None,
    }
}

fn float(span: &SpanData, key: &str) -> Option<f64> {
    match attribute(span, key)? {
        Value::F64(f) if f.is_finite() => Some(*f),
        Value::I64(n) => Some(*n as f64),
        _ => None,
    }
}

fn instant(text: &str) -> Option<Nanos> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .timestamp_nanos_opt()
}

fn nanos(t: std::time::SystemTime) -> Nanos {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX))
}

fn unsigned(n: Nanos) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn seconds(nanos: Nanos) -> f64 {
    nanos.max(0) as f64 / 1e9
}

fn kv(key: &str, value: &str) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn proto_kv(key: &str, value: &Value) -> ProtoKeyValue {
    let value = match value {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::I64(n) => any_value::Value::IntValue(*n),
        Value::F64(f) => any_value::Value::DoubleValue(*f),
        other => any_value::Value::StringValue(other.as_str().into_owned()),
    };
    ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Run, Step};

    fn run(run_id: &str, tries: &[(i64, i64)]) -> Vec<SpanData> {
        let mut steps = Vec::new();
        for (n, &(start, end)) in tries.iter().enumerate() {
            // Tries of one mapped task: the same task name, each its own step.
            let mut s = Step::new(format!("transform[{n}]"), "task_run.transform");
            s.attributes.put(sc::CICD_TASK_NAME, "transform");
            s.start = Some(start);
            s.end = Some(end);
            s.outcome = Outcome::Success;
            steps.push(s);
        }
        let run = Run {
            system: "airflow".into(),
            run_id: run_id.into(),
            name: "dag".into(),
            pipeline_name: "dag".into(),
            start: Some(0),
            end: Some(10_000_000_000),
            outcome: Outcome::Success,
            message: None,
            parent: None,
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            events: Vec::new(),
            attributes: Default::default(),
            steps,
        };
        crate::trace::build::build(run, None, &crate::trace::build::scope(), "")
            .unwrap()
            .spans
    }

    fn histogram<'a>(metrics: &'a [Metric], name: &str) -> &'a Histogram {
        match metrics.iter().find(|m| m.name == name).map(|m| &m.data) {
            Some(Some(metric::Data::Histogram(h))) => h,
            _ => panic!("no {name}"),
        }
    }

    #[test]
    fn one_point_per_series_and_run() {
        let mut metrics = Metrics::new(false);
        let second = 1_000_000_000;
        let spans = run("r1", &[(0, 2 * second), (second, 4 * second)]);
        let got = metrics.observe(&spans, spans[0].span_context.span_id().to_bytes());
        let h = histogram(&got, TASK_DURATION);
        assert_eq!(h.data_points.len(), 1, "two tries of one task: one point");
        let p = &h.data_points[0];
        assert_eq!(p.count, 2);
        assert_eq!(p.sum, Some(5.0));
        assert_eq!((p.min, p.max), (Some(2.0), Some(3.0)));
        assert_eq!(
            (p.start_time_unix_nano, p.time_unix_nano),
            (0, 4 * second as u64)
        );
        assert_eq!(p.exemplars.len(), 2);
        // Another run of the same task is a point of its own.
        let spans = run("r2", &[(0, second)]);
        let again = metrics.observe(&spans, spans[0].span_context.span_id().to_bytes());
        assert_eq!(histogram(&again, TASK_DURATION).data_points[0].count, 1);
    }

    #[test]
    fn a_request_splits_into_halves_down_to_single_points() {
        let mut metrics = Metrics::new(false);
        let spans = run("r1", &[(0, 1), (2, 3)]);
        let all = metrics.observe(&spans, spans[0].span_context.span_id().to_bytes());
        let request = super::request(all, &Resource::builder_empty().build());
        let total = point_count(&request);
        assert!(total >= 2);
        let (a, b) = halves(request.clone()).unwrap();
        assert_eq!(point_count(&a), total / 2);
        assert_eq!(point_count(&a) + point_count(&b), total);
        let mut single = a;
        while let Ok((x, _)) = halves(single.clone()) {
            single = x;
        }
        assert_eq!(point_count(&single), 1);
    }
}
