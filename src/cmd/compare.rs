//! `retrace compare BASELINE CANDIDATE`: what changed between a run and its baseline (one
//! run, or the median of several runs of the same pipeline), step by step, and why the wall
//! time moved. `--fail-over PCT` makes it a CI gate.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::inputs::{load_runs, Analysed, RunSelection, TimeZone};
use crate::analysis::compare::{compare, signed, Comparison};
use crate::analysis::figures::{analyze, Analysis};
use crate::report::{exit, report, write_stdout};
use crate::sink::config::EnvSnapshot;
use crate::sink::console::duration;

/// Compare a run with a baseline run or set of runs: per-step change, critical-path moves
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit codes: 0 compared; 1 the run regressed beyond --fail-over, or an \
    input could not be read; 2 usage.")]
pub struct Args {
    /// The baseline: a run's artifacts, or a folder or glob of runs of the same pipeline (their
    /// median is the baseline); also OTLP/JSON lines
    pub baseline: PathBuf,

    /// The run to judge: its artifacts or OTLP/JSON lines (the latest run found there)
    pub candidate: PathBuf,

    /// Print the comparison as JSON (schema retrace.compare/v1)
    #[arg(long)]
    pub json: bool,

    /// Exit 1 when the candidate's wall time is more than PCT percent over the baseline's
    #[arg(long, value_name = "PCT")]
    pub fail_over: Option<f64>,

    /// List every step, not only the 20 that changed most
    #[arg(long)]
    pub all: bool,

    /// List every file a directory walk read (and as which format) or skipped, and why
    #[arg(long, short = 'v')]
    pub verbose: bool,

    #[command(flatten)]
    pub zone: TimeZone,
}

impl Args {
    pub fn run(self, _env: &EnvSnapshot) -> i32 {
        let side = |path: &PathBuf| Analysed {
            paths: vec![path.clone()],
            verbose: self.verbose,
            zone: TimeZone { tz: self.zone.tz },
            selection: RunSelection {
                run: None,
                since: None,
                until: None,
            },
        };
        let (Some(baseline), Some(candidate)) =
            (load_runs(&side(&self.baseline)), load_runs(&side(&self.candidate)))
        else {
            return exit::INPUT;
        };
        let failed = baseline.failed || candidate.failed;
        let Some(latest) = candidate.runs.last() else {
            return exit::INPUT;
        };
        if candidate.runs.len() > 1 {
            report(format!(
                "{}: {} runs; comparing the latest, {}",
                self.candidate.display(),
                candidate.runs.len(),
                latest.run_id()
            ));
        }
        let judged = analyze(latest);
        // The baseline: the runs of the candidate's pipeline, the candidate itself left out.
        let mut runs: Vec<Analysis> = baseline
            .runs
            .iter()
            .filter(|r| r.trace_id != latest.trace_id || r.root().span_id != latest.root().span_id)
            .map(analyze)
            .collect();
        if runs.iter().any(|r| r.pipeline == judged.pipeline) {
            runs.retain(|r| r.pipeline == judged.pipeline);
        } else if !runs.is_empty() {
            report(format!(
                "{}: no run of pipeline {}; comparing with what is there",
                self.baseline.display(),
                judged.pipeline
            ));
        }
        if runs.is_empty() {
            report(format!("{}: no baseline run", self.baseline.display()));
            return exit::INPUT;
        }
        let comparison = compare(&runs, &judged);
        let text = if self.json {
            let mut text = serde_json::to_string(&comparison).unwrap_or_default();
            text.push('\n');
            text
        } else {
            render(&comparison, self.all)
        };
        let written = write_stdout(text.as_bytes());
        let regressed = self.fail_over.is_some_and(|limit| {
            comparison
                .wall_time
                .change_percent
                .is_some_and(|p| p > limit)
        });
        if regressed {
            report(format!(
                "the run regressed beyond --fail-over {}%: {}",
                self.fail_over.unwrap_or_default(),
                comparison.summary
            ));
        }
        if written != exit::OK {
            written
        } else if regressed || failed {
            exit::INPUT
        } else {
            exit::OK
        }
    }
}

fn readable(nanos: i64) -> String {
    duration(std::time::Duration::from_nanos(nanos.unsigned_abs()))
}

fn render(c: &Comparison, all: bool) -> String {
    let mut out = String::new();
    let baseline = match c.baseline.runs {
        1 => format!("run {}", c.baseline.run_ids[0]),
        n => format!("median of {n} runs"),
    };
    let _ = writeln!(
        out,
        "{}: {baseline} {} → run {} {}",
        c.candidate.pipeline,
        readable(c.wall_time.before),
        c.candidate.run_ids[0],
        readable(c.wall_time.after)
    );
    let _ = writeln!(out, "{}\n", c.summary);
    let changed: Vec<_> = c.steps.iter().filter(|s| s.status == "changed").collect();
    let width = changed
        .iter()
        .map(|s| s.step_id.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    let _ = writeln!(
        out,
        "  {:<width$} {:>9} {:>9} {:>10} {:>9}  critical",
        "step", "before", "after", "change", "%"
    );
    let shown = if all { changed.len() } else { 20 };
    for s in changed.iter().take(shown) {
        let mark = |on: bool| if on { "●" } else { "·" };
        let _ = writeln!(
            out,
            "  {:<width$} {:>9} {:>9} {:>10} {:>9}  {} → {}",
            s.step_id,
            readable(s.before_ns.unwrap_or(0)),
            readable(s.after_ns.unwrap_or(0)),
            signed(s.change_ns.unwrap_or(0)),
            s.change_percent
                .map(|p| format!("{p:+.1}%"))
                .unwrap_or_default(),
            mark(s.critical_before),
            mark(s.critical_after),
        );
    }
    if changed.len() > shown {
        let _ = writeln!(
            out,
            "  … {} more steps changed less (--all lists them)",
            changed.len() - shown
        );
    }
    for (status, what) in [("new", "New"), ("missing", "Missing")] {
        let list: Vec<String> = c
            .steps
            .iter()
            .filter(|s| s.status == status)
            .map(|s| {
                let d = s.after_ns.or(s.before_ns).unwrap_or(0);
                format!("{} ({})", s.step_id, readable(d))
            })
            .collect();
        if !list.is_empty() {
            let _ = writeln!(out, "{what}: {}", list.join(", "));
        }
    }
    if !c.joined_critical_path.is_empty() {
        let _ = writeln!(
            out,
            "Joined the critical path: {}",
            c.joined_critical_path.join(", ")
        );
    }
    if !c.left_critical_path.is_empty() {
        let _ = writeln!(
            out,
            "Left the critical path: {}",
            c.left_critical_path.join(", ")
        );
    }
    out
}
