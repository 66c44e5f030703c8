//! A run against a baseline: one run, or the median of several runs of the same pipeline
//! (last month's backfill). Per step: duration before → after, new and missing steps, steps
//! that joined or left the critical path; and the wall-time change explained in one line.

use std::collections::BTreeMap;

use serde::Serialize;

use super::figures::Analysis;
use crate::record::Nanos;
use crate::sink::console::duration;

#[derive(Debug, Serialize)]
pub struct Comparison {
    pub schema: &'static str,
    pub baseline: Side,
    pub candidate: Side,
    pub wall_time: Change,
    /// One line: the change and what explains it.
    pub summary: String,
    /// Largest absolute change first; then new steps, then missing ones.
    pub steps: Vec<StepChange>,
    pub joined_critical_path: Vec<String>,
    pub left_critical_path: Vec<String>,
    /// Steps that waited after they could have started (dependency method only).
    pub waited: Change,
    pub critical_wait: Change,
}

#[derive(Debug, Serialize)]
pub struct Side {
    pub runs: usize,
    pub pipeline: String,
    pub run_ids: Vec<String>,
    pub wall_time_ns: Nanos,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub before: Nanos,
    pub after: Nanos,
    pub change: Nanos,
    /// None when there was nothing before.
    pub change_percent: Option<f64>,
}

impl Change {
    fn of(before: Nanos, after: Nanos) -> Change {
        Change {
            before,
            after,
            change: after.saturating_sub(before),
            change_percent: (before != 0)
                .then(|| ((after as f64 - before as f64) * 1000.0 / before as f64).round() / 10.0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StepChange {
    pub step_id: String,
    pub name: String,
    /// changed | new | missing
    pub status: &'static str,
    pub before_ns: Option<Nanos>,
    pub after_ns: Option<Nanos>,
    pub change_ns: Option<Nanos>,
    pub change_percent: Option<f64>,
    pub critical_before: bool,
    pub critical_after: bool,
    pub wait_before_ns: Option<Nanos>,
    pub wait_after_ns: Option<Nanos>,
}

/// A step's figures in one run: the last attempt of a step id counts.
struct Seen {
    name: String,
    duration: Nanos,
    wait: Option<Nanos>,
    critical: bool,
}

fn seen(run: &Analysis) -> BTreeMap<&str, Seen> {
    let mut out: BTreeMap<&str, (Nanos, Seen)> = BTreeMap::new();
    for s in run.steps.iter().filter(|s| s.time_source == "recorded") {
        let entry = (
            s.start_ns,
            Seen {
                name: s.name.clone(),
                duration: s.duration_ns,
                wait: s.wait_ns,
                critical: s.critical,
            },
        );
        match out.get(s.step_id.as_str()) {
            Some((start, _)) if *start > s.start_ns => {}
            _ => {
                out.insert(&s.step_id, entry);
            }
        }
    }
    out.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

/// The middle value (of an even count, the mean of the two middle ones, rounded down).
pub fn median(mut values: Vec<Nanos>) -> Option<Nanos> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => {
            let sum = i128::from(values[n / 2 - 1]) + i128::from(values[n / 2]);
            Nanos::try_from(sum.div_euclid(2)).ok()
        }
    }
}

pub fn compare(baseline: &[Analysis], candidate: &Analysis) -> Comparison {
    let before: Vec<BTreeMap<&str, Seen>> = baseline.iter().map(seen).collect();
    let after = seen(candidate);
    let wall_before = median(baseline.iter().map(|r| r.wall_time_ns).collect()).unwrap_or(0);
    let mut ids: Vec<&str> = after.keys().copied().collect();
    for run in &before {
        ids.extend(run.keys().copied());
    }
    ids.sort_unstable();
    ids.dedup();
    let mut steps = Vec::with_capacity(ids.len());
    for id in ids {
        let in_before: Vec<&Seen> = before.iter().filter_map(|r| r.get(id)).collect();
        let now = after.get(id);
        let before_ns = median(in_before.iter().map(|s| s.duration).collect());
        let wait_before = median(in_before.iter().filter_map(|s| s.wait).collect());
        // Critical in a baseline of several runs: on the path in at least half of them.
        let critical_before = !in_before.is_empty()
            && in_before.iter().filter(|s| s.critical).count() * 2 >= before.len();
        let name = now
            .map(|s| s.name.clone())
            .or_else(|| in_before.first().map(|s| s.name.clone()))
            .unwrap_or_default();
        let after_ns = now.map(|s| s.duration);
        let (status, change) = match (before_ns, after_ns) {
            (Some(b), Some(a)) => ("changed", Some(Change::of(b, a))),
            (None, Some(_)) => ("new", None),
            _ => ("missing", None),
        };
        steps.push(StepChange {
            step_id: id.to_owned(),
            name,
            status,
            before_ns,
            after_ns,
            change_ns: change.as_ref().map(|c| c.change),
            change_percent: change.and_then(|c| c.change_percent),
            critical_before,
            critical_after: now.is_some_and(|s| s.critical),
            wait_before_ns: wait_before,
            wait_after_ns: now.and_then(|s| s.wait),
        });
    }
    steps.sort_by_key(|s| {
        let order = match s.status {
            "changed" => 0,
            "new" => 1,
            _ => 2,
        };
        (
            order,
            std::cmp::Reverse(s.change_ns.unwrap_or(0).abs()),
            s.step_id.clone(),
        )
    });
    let joined = steps
        .iter()
        .filter(|s| s.critical_after && !s.critical_before)
        .map(|s| s.step_id.clone())
        .collect();
    let left = steps
        .iter()
        .filter(|s| s.critical_before && !s.critical_after)
        .map(|s| s.step_id.clone())
        .collect();
    let waited = |r: &Analysis| {
        r.steps
            .iter()
            .filter(|s| s.wait_ns.unwrap_or(0) > 0)
            .count() as Nanos
    };
    let waited = Change::of(
        median(baseline.iter().map(waited).collect()).unwrap_or(0),
        waited(candidate),
    );
    let critical_wait = Change::of(
        median(baseline.iter().map(|r| r.critical_wait_ns).collect()).unwrap_or(0),
        candidate.critical_wait_ns,
    );
    let wall_time = Change::of(wall_before, candidate.wall_time_ns);
    let summary = summary(&wall_time, &steps, &waited, &critical_wait);
    Comparison {
        schema: "retrace.compare/v1",
        baseline: Side {
            runs: baseline.len(),
            pipeline: baseline
                .first()
                .map(|r| r.pipeline.clone())
                .unwrap_or_default(),
            run_ids: baseline.iter().map(|r| r.run_id.clone()).collect(),
            wall_time_ns: wall_before,
        },
        candidate: Side {
            runs: 1,
            pipeline: candidate.pipeline.clone(),
            run_ids: vec![candidate.run_id.clone()],
            wall_time_ns: candidate.wall_time_ns,
        },
        wall_time,
        summary,
        steps,
        joined_critical_path: joined,
        left_critical_path: left,
        waited,
        critical_wait,
    }
}

/// "+3m08s (+24.1%): fct_rides +3m05s (on the critical path), 2 more steps waited".
fn summary(wall: &Change, steps: &[StepChange], waited: &Change, critical_wait: &Change) -> String {
    let mut line = format!("{} ({})", signed(wall.change), percent(wall.change_percent));
    let mut reasons: Vec<String> = Vec::new();
    // What moved the run: the critical steps (now or before) that changed most, in the
    // direction the run moved.
    let mut movers: Vec<&StepChange> = steps
        .iter()
        .filter(|s| s.critical_after || s.critical_before)
        .filter(|s| {
            s.change_ns
                .is_some_and(|c| c != 0 && (c > 0) == (wall.change >= 0))
        })
        .collect();
    movers.sort_by_key(|s| std::cmp::Reverse(s.change_ns.unwrap_or(0).abs()));
    for s in movers.into_iter().take(3) {
        let place = match (s.critical_before, s.critical_after) {
            (true, true) => "on the critical path",
            (false, true) => "joined the critical path",
            _ => "left the critical path",
        };
        reasons.push(format!(
            "{} {} ({place})",
            s.step_id,
            signed(s.change_ns.unwrap_or(0))
        ));
    }
    let new_critical = steps
        .iter()
        .filter(|s| s.status == "new" && s.critical_after)
        .count();
    if new_critical > 0 {
        reasons.push(format!("{new_critical} new step(s) on the critical path"));
    }
    if critical_wait.change.abs() >= 1_000_000 {
        reasons.push(format!(
            "{} scheduling wait on the critical path",
            signed(critical_wait.change)
        ));
    }
    match waited.change {
        0 => {}
        n if n > 0 => reasons.push(format!("{n} more step(s) waited for a thread or slot")),
        n => reasons.push(format!("{} fewer step(s) waited for a thread or slot", -n)),
    }
    if !reasons.is_empty() {
        line.push_str(": ");
        line.push_str(&reasons.join(", "));
    }
    line
}

pub fn signed(nanos: Nanos) -> String {
    let sign = if nanos < 0 { "-" } else { "+" };
    format!(
        "{sign}{}",
        duration(std::time::Duration::from_nanos(nanos.unsigned_abs()))
    )
}

fn percent(value: Option<f64>) -> String {
    match value {
        Some(p) if p >= 0.0 => format!("+{p:.1}%"),
        Some(p) => format!("{p:.1}%"),
        None => "new".to_owned(),
    }
}
