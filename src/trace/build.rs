//! Run → `SpanData`: ids, parents, times, attributes and status, ready for any exporter.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::record::{AttrValue, Attributes, Event, Nanos, Outcome, Run, Step, TimeSource};
use crate::trace::context::{self, ContextOrigin, TraceParent};
use crate::trace::semconv as sc;
use crate::trace::timeline::{self, Timeline};
use crate::trace::{ids, BuildError};

/// The spans of one run and how to continue its trace.
#[derive(Clone, Debug)]
pub struct BuiltRun {
    pub system: String,
    /// The resource attributes the run declared (`Run::resource`).
    pub resource: Vec<(String, String)>,
    pub run_id: String,
    /// Root first, then steps in record order.
    pub spans: Vec<SpanData>,
    /// `traceparent` of the run's root span.
    pub traceparent: String,
    /// The `tracestate` that goes with it ("" for none).
    pub tracestate: String,
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

/// What every span of one run shares: ids, trace state, the parent context and the resolved
/// times.
struct Frame<'a> {
    identity: Identity,
    trace_id: TraceId,
    trace_state: TraceState,
    parent: Option<TraceParent>,
    root: [u8; 8],
    timeline: Timeline,
    scope: &'a InstrumentationScope,
}

/// The root's own fields, moved out of a run (`build`) or copied (`build_part`).
struct RootFields {
    name: String,
    pipeline_name: String,
    outcome: Outcome,
    message: Option<String>,
    attributes: Attributes,
    events: Vec<crate::record::Event>,
}

impl<'a> Frame<'a> {
    fn of(
        run: &Run,
        injected: Option<&TraceParent>,
        scope: &'a InstrumentationScope,
        namespace: &str,
    ) -> Result<Frame<'a>, BuildError> {
        let parent = parent_of(run, injected)?;
        let identity = Identity::of(run, parent.as_ref(), namespace);
        let trace_state = Some(&identity.tracestate)
            .filter(|s| !s.is_empty())
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default();
        Ok(Frame {
            trace_id: TraceId::from_bytes(identity.trace),
            trace_state,
            parent,
            root: run.native_span_id.unwrap_or_else(|| identity.root()),
            timeline: checked_timeline(run)?,
            identity,
            scope,
        })
    }

    fn context(&self, span: [u8; 8]) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            SpanId::from_bytes(span),
            TraceFlags::SAMPLED,
            false,
            self.trace_state.clone(),
        )
    }

    fn root_span(&self, run_id: &str, root: RootFields) -> SpanData {
        SpanData {
            span_context: self.context(self.root),
            parent_span_id: self
                .parent
                .as_ref()
                .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.span_id)),
            parent_span_is_remote: self.parent.is_some(),
            span_kind: SpanKind::Server,
            name: Cow::Owned(root.name),
            start_time: to_system_time(self.timeline.run.start),
            end_time: to_system_time(self.timeline.run.end),
            attributes: root_attributes(
                root.pipeline_name,
                run_id,
                root.outcome,
                root.attributes,
                self.timeline.run,
            ),
            dropped_attributes_count: 0,
            events: {
                let mut events = SpanEvents::default();
                events.events = root.events.into_iter().map(to_event).collect();
                events
            },
            links: SpanLinks::default(),
            status: status(root.outcome, root.message),
            instrumentation_scope: self.scope.clone(),
        }
    }

    /// The span of step `i`, given its id, its parent step's id (None = the root) and the
    /// ids of the steps it links to.
    fn step_span(
        &self,
        i: usize,
        step: Step,
        id: [u8; 8],
        parent: Option<[u8; 8]>,
        links: Vec<[u8; 8]>,
    ) -> SpanData {
        let times = self.timeline.steps[i];
        let mut span_links = SpanLinks::default();
        span_links.links = links
            .into_iter()
            .map(|l| opentelemetry::trace::Link::new(self.context(l), Vec::new(), 0))
            .collect();
        span_links
            .links
            .extend(step.remote_links.iter().filter_map(|text| {
                let remote = context::parse(&text.traceparent, text.tracestate.as_deref()).ok()?;
                let state = TraceState::from_str(&remote.tracestate).unwrap_or_default();
                let flags = if remote.sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                let context = SpanContext::new(
                    TraceId::from_bytes(remote.trace_id),
                    SpanId::from_bytes(remote.span_id),
                    flags,
                    true,
                    state,
                );
                Some(opentelemetry::trace::Link::new(context, Vec::new(), 0))
            }));
        let Step {
            id: step_id,
            name,
            attempt,
            outcome,
            message,
            error_type,
            mut attributes,
            events,
            time_source,
            ..
        } = step;
        if time_source == TimeSource::Inferred && !times.derived {
            attributes.put(sc::RETRACE_TIME_SOURCE, "inferred");
        }
        let mut span_events = SpanEvents::default();
        span_events.events = events.into_iter().map(to_event).collect();
        SpanData {
            span_context: self.context(id),
            parent_span_id: SpanId::from_bytes(parent.unwrap_or(self.root)),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: to_system_time(times.start),
            end_time: to_system_time(times.end),
            attributes: step_attributes(step_id, attempt, outcome, error_type, attributes, times),
            dropped_attributes_count: 0,
            events: span_events,
            links: span_links,
            status: status(outcome, message),
            instrumentation_scope: self.scope.clone(),
        }
    }

    fn built(
        &self,
        system: String,
        resource: Vec<(String, String)>,
        run_id: String,
        spans: Vec<SpanData>,
    ) -> BuiltRun {
        BuiltRun {
            system,
            resource,
            run_id,
            spans,
            traceparent: self.identity.traceparent(self.root),
            tracestate: self.identity.tracestate.clone(),
        }
    }
}

/// The steps each step links to, as step indexes (unknown ids dropped); empty when no step
/// has links (a dbt run without its manifest), which spares indexing every step id.
fn link_targets(run: &Run) -> Vec<Vec<usize>> {
    if run.steps.iter().all(|s| s.links.is_empty()) {
        return Vec::new();
    }
    let index = timeline::index_by_id(run);
    run.steps
        .iter()
        .map(|s| {
            s.links
                .iter()
                .filter_map(|l| index.get(l.as_str()).copied())
                .collect()
        })
        .collect()
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
    let frame = Frame::of(&run, injected, scope, namespace)?;
    let step_ids: Vec<[u8; 8]> = run
        .steps
        .iter()
        .map(|s| {
            s.native_span_id
                .unwrap_or_else(|| frame.identity.span(&s.id, s.attempt))
        })
        .collect();
    // Resolved while every step is still there to be found.
    let mut links = link_targets(&run);

    let Run {
        system,
        resource,
        run_id,
        name,
        pipeline_name,
        outcome,
        message,
        attributes,
        events,
        steps,
        ..
    } = run;
    let mut spans = Vec::with_capacity(steps.len() + 1);
    let root = RootFields {
        name,
        pipeline_name,
        outcome,
        message,
        attributes,
        events,
    };
    spans.push(frame.root_span(&run_id, root));
    for (i, step) in steps.into_iter().enumerate() {
        let parent = frame.timeline.parents[i].map(|p| step_ids[p]);
        let linked = links.get_mut(i).map(std::mem::take).unwrap_or_default();
        let linked = linked.into_iter().map(|j| step_ids[j]).collect();
        spans.push(frame.step_span(i, step, step_ids[i], parent, linked));
    }
    Ok(frame.built(system, resource, run_id, spans))
}

/// Builds a run's spans. An invalid trace context inside the artifact is reported and the run
/// is sent as its own trace (returned with `clean = false`).
pub fn build_under(
    mut run: Run,
    injected: Option<&TraceParent>,
    namespace: &str,
) -> Result<(BuiltRun, bool), String> {
    let mut clean = true;
    if let Err(e) = parent_of(&run, injected) {
        crate::report::report(format!("{e}; sending the run without that parent"));
        run.parent = None;
        clean = false;
    }
    let name = format!("{} run {}", run.system, run.run_id);
    build(run, injected, &scope(), namespace)
        .map(|b| (b, clean))
        .map_err(|e| format!("{name}: {e}"))
}

/// Some spans of a run, built exactly as `build` builds them from the whole run: `which`
/// holds span positions (0 = the root, i + 1 = step i). The live runner sends each step's
/// span as the step finishes; only those spans are made (and their steps copied), the
/// times and parents are still resolved over the whole run.
pub fn build_part(
    run: &Run,
    which: &[usize],
    scope: &InstrumentationScope,
    namespace: &str,
) -> Result<BuiltRun, BuildError> {
    let frame = Frame::of(run, None, scope, namespace)?;
    let id_of = |j: usize| {
        let s = &run.steps[j];
        s.native_span_id
            .unwrap_or_else(|| frame.identity.span(&s.id, s.attempt))
    };
    let any_links = which.iter().any(|&w| {
        w.checked_sub(1)
            .and_then(|i| run.steps.get(i))
            .is_some_and(|s| !s.links.is_empty())
    });
    let links = if any_links {
        link_targets(run)
    } else {
        Vec::new()
    };
    let mut spans = Vec::with_capacity(which.len());
    for &position in which {
        let Some(i) = position.checked_sub(1) else {
            let root = RootFields {
                name: run.name.clone(),
                pipeline_name: run.pipeline_name.clone(),
                outcome: run.outcome,
                message: run.message.clone(),
                attributes: run.attributes.clone(),
                events: run.events.clone(),
            };
            spans.push(frame.root_span(&run.run_id, root));
            continue;
        };
        let Some(step) = run.steps.get(i) else {
            continue;
        };
        let parent = frame.timeline.parents[i].map(id_of);
        let linked = links
            .get(i)
            .map_or_else(Vec::new, |l| l.iter().map(|&j| id_of(j)).collect());
        spans.push(frame.step_span(i, step.clone(), id_of(i), parent, linked));
    }
    Ok(frame.built(
        run.system.clone(),
        run.resource.clone(),
        run.run_id.clone(),
        spans,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Outcome, Step};

    fn step(id: &str, start: Option<i64>, end: Option<i64>) -> Step {
        let mut s = Step::new(id, format!("step {id}"));
        s.start = start;
        s.end = end;
        s.outcome = Outcome::Success;
        s
    }

    /// Parents (attempts under a task, widened by them), links, an untimed step placed after
    /// its upstream, a second attempt, a failure, events and attributes.
    fn run() -> Run {
        let mut task = step("task", Some(200), Some(250));
        task.attributes.put("k", "v");
        let mut attempt1 = step("task#1", Some(190), Some(220));
        attempt1.parent = Some("task".into());
        attempt1.outcome = Outcome::Failure;
        attempt1.message = Some("exit 1".into());
        let mut attempt2 = step("task#2", Some(230), Some(300));
        attempt2.parent = Some("task".into());
        attempt2.attempt = 2;
        attempt2.events = vec![Event {
            time: 240,
            name: "retry".into(),
            attributes: Default::default(),
        }];
        let mut after = step("after", Some(310), Some(400));
        after.links = vec!["task".into(), "missing".into()];
        let mut skipped = step("skipped", None, None);
        skipped.links = vec!["after".into()];
        skipped.outcome = Outcome::Skip;
        Run {
            system: "retrace".into(),
            run_id: "r1".into(),
            name: "flow".into(),
            pipeline_name: "flow".into(),
            start: Some(100),
            end: None,
            outcome: Outcome::Failure,
            message: Some("1 failed".into()),
            parent: None,
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            events: Vec::new(),
            attributes: Default::default(),
            steps: vec![task, attempt1, attempt2, after, skipped],
        }
    }

    #[test]
    fn a_part_is_exactly_those_spans_of_the_whole_build() {
        let scope = scope();
        let whole = build(run(), None, &scope, "ns").unwrap();
        assert_eq!(whole.spans.len(), 6);
        for which in [
            vec![0],
            vec![1],
            vec![2, 3],
            vec![4],
            vec![5],
            vec![3, 1, 0],
        ] {
            let part = build_part(&run(), &which, &scope, "ns").unwrap();
            let expected: Vec<String> = which
                .iter()
                .map(|&w| format!("{:?}", whole.spans[w]))
                .collect();
            let got: Vec<String> = part.spans.iter().map(|s| format!("{s:?}")).collect();
            assert_eq!(got, expected, "spans {which:?}");
            assert_eq!(part.traceparent, whole.traceparent);
            assert_eq!(
                (part.system.as_str(), part.run_id.as_str()),
                ("retrace", "r1")
            );
        }
        // The untimed step sits at the end of its upstream; the task is widened by its
        // attempts; links to an unknown step are dropped.
        let skipped = &whole.spans[5];
        assert_eq!(skipped.start_time, to_system_time(400));
        assert_eq!(whole.spans[1].start_time, to_system_time(190));
        assert_eq!(whole.spans[1].end_time, to_system_time(300));
        assert_eq!(whole.spans[4].links.links.len(), 1);
        assert_eq!(
            whole.spans[2].parent_span_id,
            whole.spans[1].span_context.span_id()
        );
        // A position past the last step is no span, not a panic.
        let part = build_part(&run(), &[9], &scope, "ns").unwrap();
        assert!(part.spans.is_empty());
    }
}
