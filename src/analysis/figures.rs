//! The analysis of one run: which chain of steps explains its wall time (the critical path),
//! how long each step waited and could have slipped, how parallel the run was, and how busy
//! each dbt thread was. The README's "Why was it slow" section defines every figure; this is
//! their one implementation.
//!
//! The steps are the root's children (dbt nodes, task tries, runner steps). Steps whose times
//! retrace derived (they never ran) are listed but take no part in the figures.

use serde::Serialize;

use super::{hex, rfc3339, RunSpans, SpanInfo};
use crate::record::Nanos;
use crate::source::airflow::attributes::AIRFLOW_TI_QUEUED_WHEN;
use crate::source::dbt::attributes::DBT_THREAD_ID;

/// How the critical path was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// From the steps' dependencies (span links): walking back from the step that finished
    /// last, each time to the dependency that finished last.
    Dependencies,
    /// From the span tree alone: walking back from the run's end, each time to the step that
    /// finished last before the point reached (as Jaeger does).
    SpanTree,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub system: String,
    pub pipeline: String,
    pub run_id: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub status: &'static str,
    pub start: String,
    pub end: String,
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub wall_time_ns: Nanos,
    pub method: Method,
    /// Chronological: the first step of the chain first.
    pub critical_path: Vec<PathStep>,
    /// The waits before the critical steps, summed: time the run spent not working on the
    /// chain that decided its length.
    pub critical_wait_ns: Nanos,
    /// From the run's start to its first step's start (dbt: parsing, connecting).
    pub start_up_ns: Nanos,
    pub steps: Vec<StepFigures>,
    pub concurrency: Concurrency,
    /// dbt's threads (`dbt.thread_id`); empty for other systems.
    pub lanes: Vec<Lane>,
    pub bottlenecks: Bottlenecks,
}

#[derive(Clone, Debug, Serialize)]
pub struct PathStep {
    pub step_id: String,
    pub span_id: String,
    pub name: String,
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub duration_ns: Nanos,
    /// Dependencies: from the blocking dependency's end (or the run's start) to this step's
    /// start. Span tree: from the previous critical step's end (or the run's start).
    pub wait_before_ns: Nanos,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepFigures {
    pub step_id: String,
    pub span_id: String,
    pub name: String,
    pub status: &'static str,
    pub start_ns: Nanos,
    pub end_ns: Nanos,
    pub duration_ns: Nanos,
    /// How much later it could have ended without delaying the run (None: derived times).
    pub slack_ns: Option<Nanos>,
    /// From the moment its last dependency ended (or the run started) to its start; None
    /// without dependencies or for derived times.
    pub wait_ns: Option<Nanos>,
    pub critical: bool,
    pub time_source: &'static str,
    pub thread: Option<String>,
    /// Airflow: from the try's `queued_when` to its start.
    pub queue_ns: Option<Nanos>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Concurrency {
    /// The most steps running at one instant.
    pub peak: usize,
    /// The steps' durations summed over the wall time.
    pub average: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Lane {
    pub thread: String,
    pub nodes: usize,
    pub busy_ns: Nanos,
    pub busy_percent: f64,
    pub idle_ns: Nanos,
    /// Idle time of this thread while some node was ready (its dependencies done) but had not
    /// started; None without dependencies.
    pub idle_while_waiting_ns: Option<Nanos>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bottlenecks {
    /// The longest steps on the critical path, longest first (at most 5).
    pub critical_steps: Vec<Named>,
    /// The longest waits, longest first (at most 5).
    pub waits: Vec<Named>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Named {
    pub step_id: String,
    pub span_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<Nanos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ns: Option<Nanos>,
}

/// Bottleneck lists are this long.
const TOP: usize = 5;

/// A step as the figures see it.
struct Step<'a> {
    span: &'a SpanInfo,
    recorded: bool,
    /// Indexes of the recorded steps it depends on.
    deps: Vec<usize>,
}

pub fn analyze(run: &RunSpans) -> Analysis {
    let root = run.root();
    let (run_start, run_end) = (root.start, root.end.max(root.start));
    let steps = steps_of(run);
    let recorded: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].recorded).collect();
    let method = if recorded.iter().any(|&i| !steps[i].deps.is_empty()) {
        Method::Dependencies
    } else {
        Method::SpanTree
    };
    let (path, waits, slacks) = match method {
        Method::Dependencies => {
            // Steps without dependencies could start once the run's work began.
            let work_start = recorded.iter().map(|&i| steps[i].span.start).min();
            let work_start = work_start.unwrap_or(run_start);
            let waits = steps
                .iter()
                .map(|s| s.recorded.then(|| wait(s, &steps, work_start)))
                .collect();
            let path = dependency_path(&steps, &recorded);
            (path, waits, dependency_slack(&steps, run_end))
        }
        Method::SpanTree => {
            let path = tree_path(&steps, &recorded, run_end);
            let slacks = tree_slack(&steps, &path, run_end);
            (path, vec![None; steps.len()], slacks)
        }
    };
    // Before each critical step: from the previous one's end (the first: the run's start).
    let mut previous_end = run_start;
    let path_waits: Vec<Nanos> = path
        .iter()
        .map(|&i| {
            let wait = steps[i].span.start.saturating_sub(previous_end).max(0);
            previous_end = steps[i].span.end;
            wait
        })
        .collect();
    let mut on_path = vec![false; steps.len()];
    for &i in &path {
        on_path[i] = true;
    }
    let critical_path: Vec<PathStep> = path
        .iter()
        .zip(&path_waits)
        .map(|(&i, &wait)| {
            let s = steps[i].span;
            PathStep {
                step_id: s.step_id().to_owned(),
                span_id: hex(&s.span_id),
                name: s.name.clone(),
                start_ns: s.start,
                end_ns: s.end,
                duration_ns: s.duration(),
                wait_before_ns: wait,
            }
        })
        .collect();
    let figures: Vec<StepFigures> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let s = step.span;
            StepFigures {
                step_id: s.step_id().to_owned(),
                span_id: hex(&s.span_id),
                name: s.name.clone(),
                status: s.status.as_str(),
                start_ns: s.start,
                end_ns: s.end,
                duration_ns: s.duration(),
                slack_ns: slacks[i],
                wait_ns: waits[i],
                critical: on_path[i],
                time_source: if step.recorded { "recorded" } else { "derived" },
                thread: s.attribute(DBT_THREAD_ID).map(str::to_owned),
                queue_ns: queue(s),
            }
        })
        .collect();
    let lanes = lanes(&steps, &recorded, &waits, run_start, run_end);
    let bottlenecks = bottlenecks(&critical_path, &figures);
    Analysis {
        system: run.service.clone(),
        pipeline: run.pipeline().to_owned(),
        run_id: run.run_id().to_owned(),
        name: root.name.clone(),
        trace_id: hex(&run.trace_id),
        span_id: hex(&root.span_id),
        status: root.status.as_str(),
        start: rfc3339(run_start),
        end: rfc3339(run_end),
        start_ns: run_start,
        end_ns: run_end,
        wall_time_ns: run_end - run_start,
        method,
        critical_wait_ns: path_waits
            .iter()
            .fold(0, |a: Nanos, &w| a.saturating_add(w)),
        start_up_ns: recorded
            .iter()
            .map(|&i| steps[i].span.start)
            .min()
            .map_or(0, |first| (first - run_start).max(0)),
        critical_path,
        steps: figures,
        concurrency: concurrency(&steps, &recorded, run_end - run_start),
        lanes,
        bottlenecks,
    }
}

fn steps_of(run: &RunSpans) -> Vec<Step<'_>> {
    let spans: Vec<&SpanInfo> = run.steps().map(|(_, s)| s).collect();
    let index: std::collections::HashMap<[u8; 8], usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let recorded = !s.derived();
            let mut deps: Vec<usize> = if recorded {
                s.links
                    .iter()
                    .filter_map(|l| index.get(l).copied())
                    .filter(|&d| d != i && !spans[d].derived())
                    .collect()
            } else {
                Vec::new()
            };
            deps.sort_unstable();
            deps.dedup();
            Step {
                span: s,
                recorded,
                deps,
            }
        })
        .collect()
}

/// From the moment the step could start (its last dependency's end; without dependencies,
/// the start of the run's first step) to its start.
fn wait(step: &Step, steps: &[Step], work_start: Nanos) -> Nanos {
    let ready = step.deps.iter().map(|&d| steps[d].span.end).max();
    (step.span.start - ready.unwrap_or(work_start)).max(0)
}

/// The first of `candidates` that ended last (a tie: the one that started last).
fn last_finished(steps: &[Step], candidates: impl Iterator<Item = usize>) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in candidates {
        let key = |j: usize| (steps[j].span.end, steps[j].span.start);
        if best.is_none_or(|b| key(i) > key(b)) {
            best = Some(i);
        }
    }
    best
}

/// From the recorded step that finished last, back through the dependency that finished
/// last each time. A step without dependencies (a dbt hook, a first node) goes on through
/// the step that finished last at or before it started: what held the thread or slot it
/// waited for, as in the span-tree method. Chronological.
fn dependency_path(steps: &[Step], recorded: &[usize]) -> Vec<usize> {
    let mut path = Vec::new();
    let mut taken = vec![false; steps.len()];
    let mut at = last_finished(steps, recorded.iter().copied());
    while let Some(i) = at {
        if std::mem::replace(&mut taken[i], true) {
            break; // a cycle of dependencies (bad input)
        }
        path.push(i);
        let start = steps[i].span.start;
        at = if steps[i].deps.is_empty() {
            let before = recorded
                .iter()
                .copied()
                .filter(|&j| !taken[j] && steps[j].span.end <= start);
            last_finished(steps, before)
        } else {
            last_finished(steps, steps[i].deps.iter().copied())
        };
    }
    path.reverse();
    path
}

/// Slack with the recorded schedule kept: a step may end as late as every step depending on
/// it could start late (its start plus its own slack); a step nothing depends on, as late as
/// the run's end.
fn dependency_slack(steps: &[Step], run_end: Nanos) -> Vec<Option<Nanos>> {
    let n = steps.len();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in steps.iter().enumerate() {
        for &d in &s.deps {
            dependants[d].push(i);
        }
    }
    // Reverse topological order: a step once all its dependants are done.
    let mut pending: Vec<usize> = dependants.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut slack: Vec<Option<Nanos>> = vec![None; n];
    let mut latest_end: Vec<Nanos> = vec![run_end; n];
    while let Some(i) = ready.pop() {
        let s = &steps[i];
        if s.recorded {
            let own = (latest_end[i] - s.span.end).max(0);
            slack[i] = Some(own);
            for &d in &s.deps {
                latest_end[d] = latest_end[d].min(s.span.start + own);
            }
        }
        for &d in &s.deps {
            pending[d] -= 1;
            if pending[d] == 0 {
                ready.push(d);
            }
        }
    }
    // Steps on a cycle (bad input) are bounded by what is known.
    for (i, s) in steps.iter().enumerate() {
        if s.recorded && slack[i].is_none() {
            slack[i] = Some((latest_end[i] - s.span.end).max(0));
        }
    }
    slack
}

/// Without dependencies: from the run's end, the recorded step that finished last at or
/// before the point reached, then from its start the same again. Chronological.
fn tree_path(steps: &[Step], recorded: &[usize], run_end: Nanos) -> Vec<usize> {
    let mut by_end: Vec<usize> = recorded.to_vec();
    // Latest end first; a tie: latest start, then the earlier step.
    by_end.sort_by_key(|&i| {
        (
            std::cmp::Reverse(steps[i].span.end),
            std::cmp::Reverse(steps[i].span.start),
            i,
        )
    });
    let mut path = Vec::new();
    let mut cursor = run_end;
    for i in by_end {
        let s = steps[i].span;
        // Sorted by end, so once one fits every later one ends no later: one pass.
        if s.end <= cursor {
            path.push(i);
            cursor = s.start;
        }
    }
    path.reverse();
    path
}

/// Without dependencies each critical step may be what the next one waited for, so a step
/// may slip until the next critical step after it starts (or the run ends).
fn tree_slack(steps: &[Step], path: &[usize], run_end: Nanos) -> Vec<Option<Nanos>> {
    let starts: Vec<Nanos> = path.iter().map(|&i| steps[i].span.start).collect();
    let mut on_path = vec![false; steps.len()];
    for &i in path {
        on_path[i] = true;
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if !s.recorded {
                return None;
            }
            if on_path[i] {
                return Some(0);
            }
            let next = starts.partition_point(|&t| t < s.span.end);
            let limit = starts.get(next).copied().unwrap_or(run_end);
            Some((limit - s.span.end).max(0))
        })
        .collect()
}

fn concurrency(steps: &[Step], recorded: &[usize], wall: Nanos) -> Concurrency {
    let mut edges: Vec<(Nanos, i32)> = Vec::with_capacity(recorded.len() * 2);
    let mut busy: i128 = 0;
    for &i in recorded {
        let s = steps[i].span;
        if s.end > s.start {
            edges.push((s.start, 1));
            edges.push((s.end, -1));
            busy += i128::from(s.duration());
        }
    }
    // An end and a start at the same instant do not overlap: ends first.
    edges.sort_unstable();
    let (mut running, mut peak) = (0i32, 0i32);
    for (_, delta) in edges {
        running += delta;
        peak = peak.max(running);
    }
    Concurrency {
        peak: peak as usize,
        average: if wall > 0 {
            round(busy as f64 / wall as f64, 2)
        } else {
            0.0
        },
    }
}

fn lanes(
    steps: &[Step],
    recorded: &[usize],
    waits: &[Option<Nanos>],
    run_start: Nanos,
    run_end: Nanos,
) -> Vec<Lane> {
    let mut threads: Vec<(String, Vec<(Nanos, Nanos)>)> = Vec::new();
    for &i in recorded {
        let s = steps[i].span;
        let Some(thread) = s.attribute(DBT_THREAD_ID) else {
            continue;
        };
        match threads.iter_mut().find(|(t, _)| t == thread) {
            Some((_, list)) => list.push((s.start, s.end)),
            None => threads.push((thread.to_owned(), vec![(s.start, s.end)])),
        }
    }
    if threads.is_empty() {
        return Vec::new();
    }
    threads.sort_by_key(|t| natural_key(&t.0));
    let with_deps = waits.iter().any(Option::is_some);
    // When some recorded step was ready but not started.
    let waiting = union(
        recorded
            .iter()
            .filter(|&&i| waits[i].unwrap_or(0) > 0)
            .map(|&i| {
                let s = steps[i].span;
                (s.start - waits[i].unwrap_or(0), s.start)
            })
            .collect(),
    );
    let wall = run_end - run_start;
    threads
        .into_iter()
        .map(|(thread, intervals)| {
            let nodes = intervals.len();
            let busy_spans = union(intervals);
            let busy: Nanos = busy_spans.iter().map(|(a, b)| b - a).sum();
            let gaps = gaps(&busy_spans, run_start, run_end);
            Lane {
                thread,
                nodes,
                busy_ns: busy,
                busy_percent: if wall > 0 {
                    round(busy as f64 * 100.0 / wall as f64, 1)
                } else {
                    0.0
                },
                idle_ns: (wall - busy).max(0),
                idle_while_waiting_ns: with_deps.then(|| overlap(&gaps, &waiting)),
            }
        })
        .collect()
}

/// "Thread-2" before "Thread-10".
fn natural_key(text: &str) -> (String, u64) {
    let digits = text.len() - text.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (head, tail) = text.split_at(text.len() - digits);
    // dbt writes "Thread-1 (worker)": the number is inside.
    let number = tail
        .parse()
        .ok()
        .or_else(|| {
            let inner: String = text
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            inner.parse().ok()
        })
        .unwrap_or(0);
    (
        head.chars().take_while(|c| !c.is_ascii_digit()).collect(),
        number,
    )
}

/// Sorted, disjoint intervals covering the same instants.
fn union(mut intervals: Vec<(Nanos, Nanos)>) -> Vec<(Nanos, Nanos)> {
    intervals.retain(|(a, b)| b > a);
    intervals.sort_unstable();
    let mut out: Vec<(Nanos, Nanos)> = Vec::with_capacity(intervals.len());
    for (a, b) in intervals {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The parts of [start, end) that `busy` (sorted, disjoint) leaves free.
fn gaps(busy: &[(Nanos, Nanos)], start: Nanos, end: Nanos) -> Vec<(Nanos, Nanos)> {
    let mut out = Vec::new();
    let mut at = start;
    for &(a, b) in busy {
        if a > at {
            out.push((at, a.min(end)));
        }
        at = at.max(b);
    }
    if end > at {
        out.push((at, end));
    }
    out.retain(|(a, b)| b > a);
    out
}

/// The length two sorted, disjoint interval lists have in common.
fn overlap(a: &[(Nanos, Nanos)], b: &[(Nanos, Nanos)]) -> Nanos {
    let (mut i, mut j, mut total) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        total += (hi - lo).max(0);
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

fn queue(span: &SpanInfo) -> Option<Nanos> {
    let queued = span.attribute(AIRFLOW_TI_QUEUED_WHEN)?;
    let queued = chrono::DateTime::parse_from_rfc3339(queued.trim()).ok()?;
    let queued = queued.timestamp_nanos_opt()?;
    Some(span.start.saturating_sub(queued).max(0))
}

fn bottlenecks(path: &[PathStep], steps: &[StepFigures]) -> Bottlenecks {
    let mut critical: Vec<&PathStep> = path.iter().collect();
    critical.sort_by_key(|p| std::cmp::Reverse(p.duration_ns));
    // The steps' own waits; without dependencies, the gaps on the critical path after the
    // first step (before it is the start-up).
    let mut waits: Vec<(&str, &str, &str, Nanos)> = steps
        .iter()
        .filter_map(|s| Some((&*s.step_id, &*s.span_id, &*s.name, s.wait_ns?)))
        .collect();
    if steps.iter().all(|s| s.wait_ns.is_none()) {
        waits = path
            .iter()
            .skip(1)
            .map(|p| (&*p.step_id, &*p.span_id, &*p.name, p.wait_before_ns))
            .collect();
    }
    waits.retain(|w| w.3 > 0);
    waits.sort_by_key(|w| (std::cmp::Reverse(w.3), w.1));
    Bottlenecks {
        critical_steps: critical
            .into_iter()
            .take(TOP)
            .map(|p| Named {
                step_id: p.step_id.clone(),
                span_id: p.span_id.clone(),
                name: p.name.clone(),
                duration_ns: Some(p.duration_ns),
                wait_ns: None,
            })
            .collect(),
        waits: waits
            .into_iter()
            .take(TOP)
            .map(|(step_id, span_id, name, wait)| Named {
                step_id: step_id.to_owned(),
                span_id: span_id.to_owned(),
                name: name.to_owned(),
                duration_ns: None,
                wait_ns: Some(wait),
            })
            .collect(),
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
