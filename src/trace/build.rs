//! Run → `SpanData`: ids, parents, times, attributes and status, ready for any exporter.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::record::{AttrValue, Attributes, Event, Nanos, Outcome, Run, Step};
use crate::trace::context::{self, ContextOrigin, TraceParent};
use crate::trace::semconv as sc;
use crate::trace::timeline::{self, Timeline};
use crate::trace::{ids, BuildError};

/// The spans of one run and how to continue its trace.
#[derive(Debug)]
pub struct BuiltRun {
    pub system: String,
    pub run_id: String,
    /// Root first, then steps in record order.
    pub spans: Vec<SpanData>,
    /// `traceparent` of the run's root span.
    pub traceparent: String,
}

pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("retrace")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// The parent of a run: the injected context (flag/env) if any, else the one the artifact
/// carries, validated here so a bad value is reported with where it came from.
pub fn parent_of(
    run: &Run,
    injected: Option<&TraceParent>,
) -> Result<Option<TraceParent>, BuildError> {
    if let Some(p) = injected {
        return Ok(Some(p.clone()));
    }
    let Some(text) = &run.parent else {
        return Ok(None);
    };
    context::parse(&text.traceparent, text.tracestate.as_deref())
        .map(Some)
        .map_err(|e| BuildError::Context(ContextOrigin::Artifact(text.origin.clone()), e))
}

/// The ids of one run's spans: trace id and the derivation of every span id. `build` and the
/// live runner (which must hand each process its span's `TRACEPARENT` before the span exists)
/// both go through this, so they cannot disagree.
#[derive(Clone, Debug)]
pub struct Identity {
    pub trace: [u8; 16],
    system: String,
    run_id: String,
    namespace: String,
    pub tracestate: String,
}

impl Identity {
    /// `namespace` salts the derived ids (see `ids`); "" for none.
    pub fn of(run: &Run, parent: Option<&TraceParent>, namespace: &str) -> Identity {
        let trace = match (parent, run.native_trace_id) {
            (Some(p), _) => p.trace_id,
            (None, Some(native)) => native,
            (None, None) => ids::trace_id(&run.system, &run.run_id, namespace),
        };
        Identity {
            trace,
            system: run.system.clone(),
            run_id: run.run_id.clone(),
            namespace: namespace.to_owned(),
            tracestate: parent.map(|p| p.tracestate.clone()).unwrap_or_default(),
        }
    }

    pub fn root(&self) -> [u8; 8] {
        self.span("", 0)
    }

    pub fn span(&self, step_id: &str, attempt: u32) -> [u8; 8] {
        ids::span_id(
            &self.trace,
            &self.system,
            &self.run_id,
            step_id,
            attempt,
            &self.namespace,
        )
    }

    /// The context of one span, as the parent a child process should continue. Always
    /// sampled: retrace exports every span it builds.
    pub fn context(&self, span: [u8; 8]) -> TraceParent {
        TraceParent {
            trace_id: self.trace,
            span_id: span,
            sampled: true,
            tracestate: self.tracestate.clone(),
        }
    }

    pub fn traceparent(&self, span: [u8; 8]) -> String {
        context::format_traceparent(&self.trace, &span, true)
    }
}

/// `namespace` salts the derived ids (see `ids`); "" for none. The run is consumed: its
/// strings move into the spans and each step is freed once its span exists, so a large run
/// is not held twice.
pub fn build(
    run: Run,
    injected: Option<&TraceParent>,
    scope: &InstrumentationScope,
    namespace: &str,
) -> Result<BuiltRun, BuildError> {
    let parent = parent_of(&run, injected)?;
    let identity = Identity::of(&run, parent.as_ref(), namespace);
    let trace_bytes = identity.trace;
    let trace_id = TraceId::from_bytes(trace_bytes);
    let trace_state = Some(&identity.tracestate)
        .filter(|s| !s.is_empty())
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let timeline = checked_timeline(&run)?;

    let root_bytes = identity.root();
    let step_ids: Vec<[u8; 8]> = run
        .steps
        .iter()
        .map(|s| identity.span(&s.id, s.attempt))
        .collect();
    // Resolved while every step is still there to be found; empty when no step has links
    // (a dbt run without its manifest), which spares indexing every step id once more.
    let mut link_targets: Vec<Vec<usize>> = Vec::new();
    if run.steps.iter().any(|s| !s.links.is_empty()) {
        let index = timeline::index_by_id(&run);
        link_targets = run
            .steps
            .iter()
            .map(|s| {
                s.links
                    .iter()
                    .filter_map(|l| index.get(l.as_str()).copied())
                    .collect()
            })
            .collect();
    }
    let context_of = |span: [u8; 8]| {
        SpanContext::new(
            trace_id,
            SpanId::from_bytes(span),
            TraceFlags::SAMPLED,
            false,
            trace_state.clone(),
        )
    };

    let Run {
        system,
        run_id,
        name,
        pipeline_name,
        outcome,
        message,
        attributes,
        steps,
        ..
    } = run;
    let mut spans = Vec::with_capacity(steps.len() + 1);
    spans.push(SpanData {
        span_context: context_of(root_bytes),
        parent_span_id: parent
            .as_ref()
            .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.span_id)),
        parent_span_is_remote: parent.is_some(),
        span_kind: SpanKind::Server,
        name: Cow::Owned(name),
        start_time: to_system_time(timeline.run.start),
        end_time: to_system_time(timeline.run.end),
        attributes: root_attributes(pipeline_name, &run_id, outcome, attributes, timeline.run),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: status(outcome, message),
        instrumentation_scope: scope.clone(),
    });

    for (i, step) in steps.into_iter().enumerate() {
        let times = timeline.steps[i];
        let parent_span = timeline.parents[i].map_or(root_bytes, |p| step_ids[p]);
        let mut links = SpanLinks::default();
        links.links = link_targets
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default()
            .into_iter()
            .map(|j| opentelemetry::trace::Link::new(context_of(step_ids[j]), Vec::new(), 0))
            .collect();
        let Step {
            id,
            name,
            attempt,
            outcome,
            message,
            error_type,
            attributes,
            events,
            ..
        } = step;
        let mut span_events = SpanEvents::default();
        span_events.events = events.into_iter().map(to_event).collect();
        spans.push(SpanData {
            span_context: context_of(step_ids[i]),
            parent_span_id: SpanId::from_bytes(parent_span),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: to_system_time(times.start),
            end_time: to_system_time(times.end),
            attributes: step_attributes(id, attempt, outcome, error_type, attributes, times),
            dropped_attributes_count: 0,
            events: span_events,
            links,
            status: status(outcome, message),
            instrumentation_scope: scope.clone(),
        });
    }
    Ok(BuiltRun {
        system,
        run_id,
        spans,
        traceparent: identity.traceparent(root_bytes),
    })
}

/// Whether `build` accepts the run itself (its times, step ids and parents; a parent context
/// is checked by `parent_of`). Sources call it so that such a problem is reported with the
/// file it came from, which the builder does not know.
pub fn check(run: &Run) -> Result<(), BuildError> {
    checked_timeline(run).map(drop)
}

fn checked_timeline(run: &Run) -> Result<Timeline, BuildError> {
    let timeline = timeline::resolve(run)?;
    check_unique_steps(run)?;
    check_representable(run, &timeline)?;
    Ok(timeline)
}

fn check_unique_steps(run: &Run) -> Result<(), BuildError> {
    let mut seen =
        rustc_hash::FxHashSet::with_capacity_and_hasher(run.steps.len(), Default::default());
    for s in &run.steps {
        if !seen.insert((s.id.as_str(), s.attempt)) {
            return Err(BuildError::DuplicateStep {
                step: s.id.clone(),
                attempt: s.attempt,
            });
        }
    }
    Ok(())
}

/// OTLP carries times as unsigned nanoseconds since 1970 (events too: a negative time would
/// silently become 1970).
fn check_representable(run: &Run, t: &Timeline) -> Result<(), BuildError> {
    let events = run
        .steps
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.time));
    let earliest = t
        .steps
        .iter()
        .map(|s| s.start)
        .chain([t.run.start])
        .chain(events)
        .min()
        .unwrap_or(0);
    if earliest < 0 {
        return Err(BuildError::BeforeEpoch {
            run_id: run.run_id.clone(),
        });
    }
    Ok(())
}

pub fn to_system_time(nanos: Nanos) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64)
}

fn status(outcome: Outcome, message: Option<String>) -> Status {
    match outcome {
        o if o.is_error() => Status::error(message.unwrap_or_default()),
        Outcome::Success => Status::Ok,
        _ => Status::Unset,
    }
}

fn root_attributes(
    pipeline_name: String,
    run_id: &str,
    outcome: Outcome,
    attributes: Attributes,
    times: timeline::Span,
) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(attributes.0.len() + 6);
    if attributes.get(sc::CICD_PIPELINE_NAME).is_none() {
        out.push(KeyValue::new(sc::CICD_PIPELINE_NAME, pipeline_name));
    }
    if attributes.get(sc::CICD_PIPELINE_RUN_ID).is_none() {
        out.push(KeyValue::new(sc::CICD_PIPELINE_RUN_ID, run_id.to_owned()));
    }
    if let Some(result) = outcome.as_str() {
        out.push(KeyValue::new(sc::CICD_PIPELINE_RESULT, result));
    }
    if outcome.is_error() {
        out.push(KeyValue::new(
            sc::ERROR_TYPE,
            outcome.as_str().unwrap_or("_OTHER"),
        ));
    }
    push_attributes(&mut out, attributes);
    push_time_marks(&mut out, times);
    out
}

fn step_attributes(
    id: String,
    attempt: u32,
    outcome: Outcome,
    error_type: Option<String>,
    attributes: Attributes,
    times: timeline::Span,
) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(attributes.0.len() + 8);
    // The run id is made first: the name takes the step id itself.
    let task_run_id = attributes.get(sc::CICD_TASK_RUN_ID).is_none().then(|| {
        if attempt > 1 {
            format!("{id}#{attempt}")
        } else {
            id.clone()
        }
    });
    if attributes.get(sc::CICD_TASK_NAME).is_none() {
        out.push(KeyValue::new(sc::CICD_TASK_NAME, id));
    }
    if let Some(run_id) = task_run_id {
        out.push(KeyValue::new(sc::CICD_TASK_RUN_ID, run_id));
    }
    if let Some(result) = outcome.as_str() {
        out.push(KeyValue::new(sc::CICD_TASK_RUN_RESULT, result));
    }
    if outcome.is_error() {
        let error_type = error_type
            .or_else(|| outcome.as_str().map(str::to_owned))
            .unwrap_or_else(|| "_OTHER".to_owned());
        out.push(KeyValue::new(sc::ERROR_TYPE, error_type));
    }
    push_attributes(&mut out, attributes);
    push_time_marks(&mut out, times);
    out
}

fn push_time_marks(out: &mut Vec<KeyValue>, times: timeline::Span) {
    if times.derived {
        out.push(KeyValue::new(sc::RETRACE_TIME_SOURCE, "derived"));
    }
    if times.adjusted {
        out.push(KeyValue::new(sc::RETRACE_TIME_ADJUSTED, true));
    }
}

fn push_attributes(out: &mut Vec<KeyValue>, attrs: Attributes) {
    out.extend(
        attrs
            .0
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, to_value(v))),
    );
}

fn to_value(v: AttrValue) -> Value {
    match v {
        AttrValue::Bool(b) => Value::Bool(b),
        AttrValue::Int(i) => Value::I64(i),
        // Non-finite doubles are not valid OTLP/JSON: send them as text.
        AttrValue::Float(f) if !f.is_finite() => Value::String(f.to_string().into()),
        AttrValue::Float(f) => Value::F64(f),
        AttrValue::Str(s) => Value::String(s.into()),
        AttrValue::StrList(l) => Value::Array(Array::String(
            l.into_iter().map(StringValue::from).collect(),
        )),
    }
}

fn to_event(e: Event) -> opentelemetry::trace::Event {
    let attrs = e
        .attributes
        .0
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, to_value(v)))
        .collect();
    opentelemetry::trace::Event::new(e.name, to_system_time(e.time), attrs, 0)
}
