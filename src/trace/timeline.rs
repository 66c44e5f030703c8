//! Times of a run's spans (ARCHITECTURE.md, "Time"): steps without recorded times are placed
//! deterministically — never from the clock — and the invariants are enforced before export:
//! end ≥ start, every parent covers its children, the run covers everything.

use rustc_hash::FxHashMap as HashMap;

use crate::record::{Nanos, Run, TimeSource};
use crate::trace::BuildError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: Nanos,
    pub end: Nanos,
    /// The times were placed by retrace, not read from the artifact.
    pub derived: bool,
    /// The times were moved to satisfy an invariant.
    pub adjusted: bool,
}

#[derive(Debug)]
pub struct Timeline {
    pub run: Span,
    /// Same order as `run.steps`.
    pub steps: Vec<Span>,
    /// Index of each step's parent step (None = the run).
    pub parents: Vec<Option<usize>>,
}

/// Index of every step by id; for a repeated id (several attempts) the latest attempt wins,
/// which is what a link or a parent reference means.
pub fn index_by_id(run: &Run) -> HashMap<&str, usize> {
    let mut index: HashMap<&str, usize> =
        HashMap::with_capacity_and_hasher(run.steps.len(), Default::default());
    for (i, step) in run.steps.iter().enumerate() {
        match index.get(step.id.as_str()) {
            Some(&j) if run.steps[j].attempt > step.attempt => {}
            _ => {
                index.insert(step.id.as_str(), i);
            }
        }
    }
    index
}

pub fn resolve(run: &Run) -> Result<Timeline, BuildError> {
    let index = index_by_id(run);
    let parents = resolve_parents(run, &index)?;
    let n = run.steps.len();

    let mut steps: Vec<Option<Span>> = run
        .steps
        .iter()
        .map(|s| {
            let derived = s.time_source == TimeSource::Derived;
            match (s.start, s.end) {
                (Some(start), Some(end)) => Some(Span {
                    start,
                    end,
                    derived,
                    adjusted: false,
                }),
                // Only one end known: a zero-length span at it.
                (Some(t), None) | (None, Some(t)) => Some(Span {
                    start: t,
                    end: t,
                    derived: true,
                    adjusted: false,
                }),
                (None, None) => None,
            }
        })
        .collect();

    let recorded = steps.iter().flatten();
    let earliest = recorded.clone().map(|s| s.start).min();
    let latest = recorded.map(|s| s.end.max(s.start)).max();
    let run_start = run.start.or(earliest).or(run.end);
    let run_end = run.end.or(latest).or(run.start);
    let (Some(run_start), Some(run_end)) = (run_start, run_end) else {
        return Err(BuildError::NoTimes {
            run_id: run.run_id.clone(),
        });
    };
    let mut run_span = Span {
        start: run_start,
        end: run_end,
        derived: false,
        adjusted: false,
    };
    if run_span.end < run_span.start {
        run_span.end = run_span.start;
        run_span.adjusted = true;
    }

    place_untimed(run, &index, &mut steps, run_span.end);
    let mut steps: Vec<Span> = steps.into_iter().map(|s| s.expect("placed")).collect();

    for s in &mut steps {
        if s.end < s.start {
            s.end = s.start;
            s.adjusted = true;
        }
    }

    // Widen parents bottom-up: deepest steps first so a widened parent widens its own parent.
    let depth: Vec<usize> = (0..n).map(|i| depth_of(i, &parents)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth[i]));
    for i in order {
        let child = steps[i];
        let parent = match parents[i] {
            Some(p) => &mut steps[p],
            None => &mut run_span,
        };
        if child.start < parent.start {
            parent.start = child.start;
            parent.adjusted = true;
        }
        if child.end > parent.end {
            parent.end = child.end;
            parent.adjusted = true;
        }
    }
    Ok(Timeline {
        run: run_span,
        steps,
        parents,
    })
}

fn resolve_parents(
    run: &Run,
    index: &HashMap<&str, usize>,
) -> Result<Vec<Option<usize>>, BuildError> {
    let parents: Vec<Option<usize>> =
        run.steps
            .iter()
            .map(|s| match &s.parent {
                None => Ok(None),
                Some(p) => index.get(p.as_str()).copied().map(Some).ok_or_else(|| {
                    BuildError::UnknownParent {
                        step: s.id.clone(),
                        parent: p.clone(),
                    }
                }),
            })
            .collect::<Result<_, _>>()?;
    // A cycle would make a span its own ancestor.
    for start in 0..parents.len() {
        let mut at = parents[start];
        let mut hops = 0;
        while let Some(p) = at {
            hops += 1;
            if p == start || hops > parents.len() {
                return Err(BuildError::ParentCycle {
                    step: run.steps[start].id.clone(),
                });
            }
            at = parents[p];
        }
    }
    Ok(parents)
}

fn depth_of(mut i: usize, parents: &[Option<usize>]) -> usize {
    let mut d = 0;
    while let Some(p) = parents[i] {
        d += 1;
        i = p;
    }
    d
}

/// A step without recorded time gets a zero-length span at the end of its latest placed
/// upstream (links), else at its parent step's end, else at the run's end. Upstreams may be
/// untimed too (a chain of skipped nodes), so placement repeats until nothing changes.
fn place_untimed(
    run: &Run,
    index: &HashMap<&str, usize>,
    steps: &mut [Option<Span>],
    run_end: Nanos,
) {
    let mut pending: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].is_none()).collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|&i| {
            let step = &run.steps[i];
            let upstream: Vec<usize> = step
                .links
                .iter()
                .filter_map(|l| index.get(l.as_str()).copied())
                .collect();
            if upstream.iter().any(|&u| steps[u].is_none()) {
                return true;
            }
            let anchor = upstream
                .iter()
                .filter_map(|&u| steps[u].map(|s| s.end))
                .max()
                .or_else(|| {
                    let p = step.parent.as_deref().and_then(|p| index.get(p)).copied()?;
                    steps[p].map(|s| s.end)
                })
                .unwrap_or(run_end);
            steps[i] = Some(Span {
                start: anchor,
                end: anchor,
                derived: true,
                adjusted: false,
            });
            false
        });
        if pending.len() == before {
            // Upstream cycle among untimed steps: fall back to the run's end.
            for &i in &pending {
                steps[i] = Some(Span {
                    start: run_end,
                    end: run_end,
                    derived: true,
                    adjusted: false,
                });
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Outcome, Step};

    fn run(steps: Vec<Step>) -> Run {
        Run {
            system: "t".into(),
            run_id: "r".into(),
            name: "t".into(),
            pipeline_name: "t".into(),
            start: Some(100),
            end: Some(1000),
            outcome: Outcome::Success,
            message: None,
            parent: None,
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            events: Vec::new(),
            attributes: Default::default(),
            steps,
        }
    }
    fn step(id: &str, start: Option<i64>, end: Option<i64>) -> Step {
        let mut s = Step::new(id, id);
        s.start = start;
        s.end = end;
        s
    }

    #[test]
    fn untimed_steps_sit_at_the_end_of_their_latest_upstream_or_the_run() {
        let mut skipped = step("c", None, None);
        skipped.links = vec!["a".into(), "b".into()];
        let mut skipped_child = step("d", None, None);
        skipped_child.links = vec!["c".into()];
        let lonely = step("e", None, None);
        let t = resolve(&run(vec![
            skipped_child,
            step("a", Some(200), Some(300)),
            skipped,
            step("b", Some(250), Some(400)),
            lonely,
        ]))
        .unwrap();
        assert_eq!(
            (t.steps[0].start, t.steps[0].end, t.steps[0].derived),
            (400, 400, true)
        );
        assert_eq!(
            (t.steps[2].start, t.steps[2].end, t.steps[2].derived),
            (400, 400, true)
        );
        assert_eq!((t.steps[4].start, t.steps[4].end), (1000, 1000));
        assert!(!t.steps[1].derived);
    }

    #[test]
    fn end_before_start_is_clamped_and_marked() {
        let t = resolve(&run(vec![step("a", Some(500), Some(400))])).unwrap();
        assert_eq!(
            (t.steps[0].start, t.steps[0].end, t.steps[0].adjusted),
            (500, 500, true)
        );
    }

    #[test]
    fn parents_and_run_are_widened_to_cover_children() {
        let mut child = step("a#x", Some(50), Some(1200));
        child.parent = Some("a".into());
        let t = resolve(&run(vec![step("a", Some(200), Some(300)), child])).unwrap();
        assert_eq!(
            (t.steps[0].start, t.steps[0].end, t.steps[0].adjusted),
            (50, 1200, true)
        );
        assert_eq!((t.run.start, t.run.end, t.run.adjusted), (50, 1200, true));
        assert_eq!(t.parents, vec![None, Some(0)]);
    }

    #[test]
    fn run_times_fall_back_to_the_steps() {
        let mut r = run(vec![step("a", Some(200), Some(300))]);
        r.start = None;
        r.end = None;
        let t = resolve(&r).unwrap();
        assert_eq!((t.run.start, t.run.end), (200, 300));
        r.steps[0].start = None;
        r.steps[0].end = None;
        assert!(matches!(resolve(&r), Err(BuildError::NoTimes { .. })));
    }

    #[test]
    fn unknown_parents_and_cycles_are_errors() {
        let mut a = step("a", Some(1), Some(2));
        a.parent = Some("zz".into());
        assert!(matches!(
            resolve(&run(vec![a.clone()])),
            Err(BuildError::UnknownParent { .. })
        ));
        a.parent = Some("b".into());
        let mut b = step("b", Some(1), Some(2));
        b.parent = Some("a".into());
        assert!(matches!(
            resolve(&run(vec![a, b])),
            Err(BuildError::ParentCycle { .. })
        ));
    }
}
