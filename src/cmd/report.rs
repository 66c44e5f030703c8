//! `retrace report PATH... -o report.html`: one self-contained HTML file (no network: script
//! and style inline) with an interactive Gantt of each run, its critical path highlighted,
//! the analysis `view` prints, and for several runs a run list with wall time over time.
//! The page (`report.html`, the template) draws from two embedded JSON documents: the
//! analysis (`retrace-analysis`, exactly `view --json`) and the spans (`retrace-spans`).

use std::path::PathBuf;

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::inputs::{load_runs, Analysed};
use crate::analysis::figures::{analyze, Analysis};
use crate::analysis::{hex, rfc3339, RunSpans};
use crate::report::{exit, report, write_stdout};
use crate::sink::config::EnvSnapshot;

const TEMPLATE: &str = include_str!("report.html");

/// Write a self-contained HTML report: Gantt, critical path, waits, lanes, run history
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Analysed,

    /// The HTML file to write (`-` for stdout)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
}

impl Args {
    pub fn run(self, _env: &EnvSnapshot) -> i32 {
        let Some(loaded) = load_runs(&self.inputs) else {
            return exit::INPUT;
        };
        let analyses: Vec<Analysis> = loaded.runs.iter().map(analyze).collect();
        let page = page(&loaded.runs, &analyses);
        let written = if self.output.as_os_str() == "-" {
            write_stdout(page.as_bytes())
        } else {
            match std::fs::write(&self.output, page) {
                Ok(()) => exit::OK,
                Err(e) => {
                    report(format!("{}: cannot write: {e}", self.output.display()));
                    exit::INPUT
                }
            }
        };
        match (written, loaded.failed) {
            (exit::OK, true) => exit::INPUT,
            (code, _) => code,
        }
    }
}

/// The template filled in.
pub fn page(runs: &[RunSpans], analyses: &[Analysis]) -> String {
    let title = match analyses {
        [one] if one.pipeline == one.name => one.name.clone(),
        [one] => format!("{} · {}", one.pipeline, one.name),
        many => format!(
            "{} · {} runs",
            many.first().map_or("", |a| a.pipeline.as_str()),
            many.len()
        ),
    };
    let analysis: Vec<Value> = analyses.iter().map(page_analysis).collect();
    let analysis = super::view::json(&analysis);
    let spans = json!({ "runs": runs.iter().map(spans).collect::<Vec<_>>() }).to_string();
    fill(
        TEMPLATE,
        &[
            ("__RETRACE_TITLE__", &escape_html(&title)),
            ("__RETRACE_ANALYSIS__", &script_safe(&analysis)),
            ("__RETRACE_SPANS__", &script_safe(&spans)),
        ],
    )
}

/// The template with each placeholder replaced, in one pass over the template only: a value
/// that happens to hold a placeholder's text (a span named `__RETRACE_SPANS__`) stays as it is.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some((at, (name, value))) = values
        .iter()
        .filter_map(|v| rest.find(v.0).map(|at| (at, v)))
        .min_by_key(|(at, _)| *at)
    {
        out.push_str(&rest[..at]);
        out.push_str(value);
        rest = &rest[at + name.len()..];
    }
    out.push_str(rest);
    out
}

/// `view --json`'s analysis of a run, each step cut to its figures: its name, ids and thread
/// are on its span (a 20,000-node run would otherwise carry them twice).
fn page_analysis(analysis: &Analysis) -> Value {
    let steps: Vec<Value> = analysis
        .steps
        .iter()
        .map(|s| {
            let mut step = Map::new();
            step.insert("span_id".into(), s.span_id.clone().into());
            for (key, value) in [
                ("slack_ns", s.slack_ns),
                ("wait_ns", s.wait_ns),
                ("queue_ns", s.queue_ns),
            ] {
                if let Some(v) = value {
                    step.insert(key.into(), v.into());
                }
            }
            Value::Object(step)
        })
        .collect();
    let mut value = serde_json::to_value(analysis).unwrap_or_default();
    value["steps"] = Value::Array(steps);
    value
}

/// A run's spans for drawing, compact: times as nanoseconds from the run's start (absolute
/// epoch nanoseconds are beyond what a JavaScript number holds exactly); attribute keys and
/// values as indexes into one table of strings (`[key, value, key, value…]`), since keys and
/// many values repeat on every span; empty and default fields left out.
fn spans<'a>(run: &'a RunSpans) -> Value {
    let start = run.root().start;
    let mut strings: Vec<&'a str> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    let list: Vec<Value> = run
        .spans
        .iter()
        .map(|s| {
            let mut intern = |text: &'a str| -> usize {
                *index.entry(text).or_insert_with(|| {
                    strings.push(text);
                    strings.len() - 1
                })
            };
            let attributes: Vec<usize> = s
                .attributes
                .iter()
                .flat_map(|(k, v)| [intern(k), intern(v)])
                .collect();
            let mut span = Map::new();
            span.insert("span_id".into(), hex(&s.span_id).into());
            if let Some(parent) = s.parent {
                span.insert("parent".into(), hex(&parent).into());
            }
            span.insert("depth".into(), s.depth.into());
            span.insert("name".into(), s.name.clone().into());
            span.insert("start".into(), (s.start - start).into());
            span.insert("end".into(), (s.end - start).into());
            span.insert("status".into(), s.status.as_str().into());
            if let Some(message) = &s.message {
                span.insert("message".into(), message.clone().into());
            }
            if s.derived() {
                span.insert("derived".into(), true.into());
            }
            span.insert("attributes".into(), attributes.into());
            if !s.events.is_empty() {
                let events: Vec<Value> = s
                    .events
                    .iter()
                    .map(|e| {
                        let attributes: Map<String, Value> = e
                            .attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect();
                        json!({ "time": e.time - start, "name": e.name, "attributes": attributes })
                    })
                    .collect();
                span.insert("events".into(), events.into());
            }
            if !s.links.is_empty() {
                let links: Vec<String> = s.links.iter().map(|l| hex(l)).collect();
                span.insert("links".into(), links.into());
            }
            Value::Object(span)
        })
        .collect();
    json!({ "trace_id": hex(&run.trace_id), "start": rfc3339(start), "strings": strings, "spans": list })
}

/// JSON inside a `<script>` element: no `<` at all, so neither `</script>` nor `<!--` can
/// end or change it (`\u003c` is the same string to JSON.parse).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_in_the_data_can_close_its_script_element() {
        let safe = script_safe(r#"{"name":"</script><script>alert(1)</script>"}"#);
        assert!(!safe.contains('<'));
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
        assert_eq!(escape_html("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
    }

    #[test]
    fn a_value_holding_a_placeholder_is_kept_as_it_is() {
        let page = fill(
            "<t>__A__</t><x>__B__</x>",
            &[("__A__", "title __B__"), ("__B__", "data")],
        );
        assert_eq!(page, "<t>title __B__</t><x>data</x>");
    }

    #[test]
    fn the_template_has_each_placeholder_where_the_page_reads_it() {
        assert!(TEMPLATE.contains(
            r#"<script type="application/json" id="retrace-analysis">__RETRACE_ANALYSIS__</script>"#
        ));
        assert!(TEMPLATE.contains(
            r#"<script type="application/json" id="retrace-spans">__RETRACE_SPANS__</script>"#
        ));
    }
}
