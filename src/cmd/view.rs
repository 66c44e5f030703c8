//! `retrace view PATH...`: why each run took as long as it did, in the terminal — a
//! waterfall of its spans, the critical path with the waits on it, slack and wait per step,
//! concurrency, dbt's thread lanes, Airflow's queue times and the top bottlenecks. `--json`
//! prints the same analysis for machines (README "Why was it slow").

use std::fmt::Write as _;
use std::io::IsTerminal;

use super::inputs::{load_runs, Analysed};
use crate::analysis::figures::{analyze, Analysis, Method};
use crate::analysis::{hex, RunSpans, SpanInfo, SpanStatus};
use crate::record::Nanos;
use crate::report::{exit, write_stdout};
use crate::sink::config::EnvSnapshot;
use crate::sink::console::duration;

/// Show each run's waterfall, critical path, waits, slack and concurrency
#[derive(clap::Args, Debug)]
#[command(after_help = "Marks: * on the critical path; ~ times derived by retrace (not recorded). \
    wait = from the moment a step could start (its dependencies done) to its start; slack = how \
    much longer it could have run without delaying the run.")]
pub struct Args {
    #[command(flatten)]
    pub inputs: Analysed,

    /// Print the analysis as JSON (schema retrace.view/v1, README "Why was it slow")
    #[arg(long)]
    pub json: bool,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,

    /// Width of the picture in columns [default: the terminal's, else $COLUMNS, else 120]
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

impl Args {
    pub fn run(self, _env: &EnvSnapshot) -> i32 {
        let Some(loaded) = load_runs(&self.inputs) else {
            return exit::INPUT;
        };
        let code = if loaded.failed { exit::INPUT } else { exit::OK };
        let analyses: Vec<Analysis> = loaded.runs.iter().map(analyze).collect();
        let out = if self.json {
            let mut text = json(&analyses);
            text.push('\n');
            text
        } else {
            let style = Style {
                colour: match self.color.as_str() {
                    "always" => true,
                    "never" => false,
                    _ => {
                        std::io::stdout().is_terminal()
                            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    }
                },
                width: usize::from(self.width.unwrap_or_else(terminal_width)),
            };
            let mut text = String::new();
            for (run, analysis) in loaded.runs.iter().zip(&analyses) {
                picture(&mut text, run, analysis, &style);
            }
            text
        };
        match write_stdout(out.as_bytes()) {
            exit::OK => code,
            failed => failed,
        }
    }
}

/// `{"schema":"retrace.view/v1","runs":[…]}`.
pub fn json<T: serde::Serialize>(runs: &[T]) -> String {
    #[derive(serde::Serialize)]
    struct View<'a, T> {
        schema: &'static str,
        runs: &'a [T],
    }
    let view = View {
        schema: "retrace.view/v1",
        runs,
    };
    serde_json::to_string(&view).unwrap_or_default()
}

struct Style {
    colour: bool,
    width: usize,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn terminal_width() -> u16 {
    // SAFETY: TIOCGWINSZ fills the winsize struct given; a failure leaves it zeroed.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col >= 40 {
        return size.ws_col;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c| c >= 40)
        .unwrap_or(120)
}

fn readable(nanos: Nanos) -> String {
    duration(std::time::Duration::from_nanos(nanos.max(0).unsigned_abs()))
}

/// Cuts `text` to `width` characters, marking the cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn picture(out: &mut String, run: &RunSpans, a: &Analysis, style: &Style) {
    let root = run.root();
    let status = match root.status {
        SpanStatus::Error => style.paint("31;1", "failed"),
        SpanStatus::Ok => style.paint("32", "ok"),
        SpanStatus::Unset => "unset".to_owned(),
    };
    let pipeline = if a.pipeline == a.name {
        String::new()
    } else {
        format!(" · {}", a.pipeline)
    };
    let _ = writeln!(
        out,
        "{}{pipeline} · run {} · {status}",
        style.paint("1", &a.name),
        if a.run_id.is_empty() { &a.trace_id } else { &a.run_id },
    );
    let _ = writeln!(
        out,
        "started {} · wall {} · trace {}",
        a.start,
        readable(a.wall_time_ns),
        a.trace_id
    );
    out.push('\n');
    waterfall(out, run, a, style);
    out.push('\n');
    critical_path(out, a, style);
    concurrency(out, a);
    lanes(out, a);
    queues(out, a);
    bottlenecks(out, a);
    out.push('\n');
}

const DURATION: usize = 8;

fn waterfall(out: &mut String, run: &RunSpans, a: &Analysis, style: &Style) {
    let figures: std::collections::HashMap<&str, &crate::analysis::figures::StepFigures> =
        a.steps.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let label = |s: &SpanInfo| format!("{}{}", "  ".repeat(s.depth), s.name);
    let longest = run
        .spans
        .iter()
        .map(|s| label(s).chars().count())
        .max()
        .unwrap_or(0);
    // marks(2) name duration wait slack bar
    let fixed = 2 + 3 * (DURATION + 1) + 3;
    let name_width = longest.clamp(12, 48).min(style.width.saturating_sub(fixed + 10));
    let bar_width = style.width.saturating_sub(fixed + name_width).max(10);
    let _ = writeln!(
        out,
        "  {:<name_width$} {:>DURATION$} {:>DURATION$} {:>DURATION$} {}",
        "span",
        "duration",
        "wait",
        "slack",
        axis(a.wall_time_ns, bar_width),
    );
    for span in &run.spans {
        let step = figures.get(hex(&span.span_id).as_str());
        let critical = step.is_some_and(|s| s.critical);
        let derived = span.derived();
        let marks = format!(
            "{}{}",
            if critical { '*' } else { ' ' },
            if derived { '~' } else { ' ' }
        );
        let wait = step
            .and_then(|s| s.wait_ns)
            .map(readable)
            .unwrap_or_default();
        let slack = step
            .and_then(|s| s.slack_ns)
            .map(readable)
            .unwrap_or_default();
        let bar = bar(span, a, bar_width, derived);
        let colour = match (span.status, critical) {
            (SpanStatus::Error, _) => "31",
            (SpanStatus::Ok, true) => "33",
            (SpanStatus::Ok, false) => "32",
            (SpanStatus::Unset, _) => "90",
        };
        let _ = writeln!(
            out,
            "{marks}{:<name_width$} {:>DURATION$} {:>DURATION$} {:>DURATION$} {}",
            fit(&label(span), name_width),
            readable(span.duration()),
            wait,
            slack,
            style.paint(colour, &bar),
        );
    }
}

/// `|0s ……… 12.3s|` as wide as the bars.
fn axis(wall: Nanos, width: usize) -> String {
    let end = readable(wall);
    let inner = width.saturating_sub(2 + 2 + end.len());
    format!("|0s{}{end}|", " ".repeat(inner))
}

/// The span's place on the run's time axis, in whole cells (at least one).
fn bar(span: &SpanInfo, a: &Analysis, width: usize, derived: bool) -> String {
    let wall = a.wall_time_ns.max(1) as f64;
    let cells = width as f64;
    let from = (((span.start - a.start_ns) as f64 / wall) * cells).floor() as usize;
    let to = (((span.end - a.start_ns) as f64 / wall) * cells).ceil() as usize;
    let from = from.min(width.saturating_sub(1));
    let to = to.clamp(from + 1, width);
    let fill = if derived { '░' } else { '█' };
    let mut text = " ".repeat(from);
    text.extend(std::iter::repeat_n(fill, to - from));
    text
}

fn critical_path(out: &mut String, a: &Analysis, style: &Style) {
    let how = match a.method {
        Method::Dependencies => {
            "by dependencies: from the step that finished last, back through the dependency that finished last"
        }
        Method::SpanTree => {
            "by the span tree (no dependencies recorded): from the run's end, back through the step that finished last"
        }
    };
    let _ = writeln!(out, "{} ({how})", style.paint("1", "Critical path"));
    if a.critical_path.is_empty() {
        let _ = writeln!(out, "  no step with recorded times");
        return;
    }
    let _ = writeln!(
        out,
        "  {:>DURATION$} {:>DURATION$} {:>DURATION$}  step",
        "wait", "at", "duration"
    );
    for p in &a.critical_path {
        let _ = writeln!(
            out,
            "  {:>DURATION$} {:>DURATION$} {:>DURATION$}  {}",
            readable(p.wait_before_ns),
            readable(p.start_ns - a.start_ns),
            readable(p.duration_ns),
            p.name
        );
    }
    let working: Nanos = a.critical_path.iter().map(|p| p.duration_ns).sum();
    let _ = writeln!(
        out,
        "  {} steps: {} working, {} waiting (of it {} start-up before the first step), of {} wall",
        a.critical_path.len(),
        readable(working),
        readable(a.critical_wait_ns),
        readable(a.start_up_ns),
        readable(a.wall_time_ns)
    );
}

fn concurrency(out: &mut String, a: &Analysis) {
    let _ = writeln!(
        out,
        "Concurrency: peak {} steps at once, {:.2} on average",
        a.concurrency.peak, a.concurrency.average
    );
}

fn lanes(out: &mut String, a: &Analysis) {
    if a.lanes.is_empty() {
        return;
    }
    let _ = writeln!(out, "Threads:");
    let width = a.lanes.iter().map(|l| l.thread.len()).max().unwrap_or(0);
    for l in &a.lanes {
        let waiting = l
            .idle_while_waiting_ns
            .map(|w| format!(", {} of it while nodes waited", readable(w)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<width$}  busy {:>5.1}%  {:>4} nodes  idle {}{waiting}",
            l.thread,
            l.busy_percent,
            l.nodes,
            readable(l.idle_ns)
        );
    }
}

fn queues(out: &mut String, a: &Analysis) {
    let mut queued: Vec<_> = a.steps.iter().filter(|s| s.queue_ns.is_some()).collect();
    if queued.is_empty() {
        return;
    }
    queued.sort_by_key(|s| std::cmp::Reverse(s.queue_ns));
    let total: Nanos = queued.iter().filter_map(|s| s.queue_ns).sum();
    let _ = writeln!(
        out,
        "Queued (queued → started): {} tries, {} in all, the longest:",
        queued.len(),
        readable(total)
    );
    for s in queued.iter().take(QUEUED_SHOWN) {
        let _ = writeln!(
            out,
            "  {:>DURATION$}  {}",
            readable(s.queue_ns.unwrap_or(0)),
            s.name
        );
    }
}

/// How many of the longest queue times `view` lists.
const QUEUED_SHOWN: usize = 10;

fn bottlenecks(out: &mut String, a: &Analysis) {
    let b = &a.bottlenecks;
    if !b.critical_steps.is_empty() {
        let list: Vec<String> = b
            .critical_steps
            .iter()
            .map(|n| format!("{} {}", n.name, readable(n.duration_ns.unwrap_or(0))))
            .collect();
        let _ = writeln!(out, "Longest on the critical path: {}", list.join(", "));
    }
    if !b.waits.is_empty() {
        let list: Vec<String> = b
            .waits
            .iter()
            .map(|n| format!("{} waited {}", n.name, readable(n.wait_ns.unwrap_or(0))))
            .collect();
        let _ = writeln!(out, "Longest waits: {}", list.join(", "));
    }
}
