//! retrace's own step records, `retrace.records/v1`: the neutral model (`record.rs`) as JSON
//! Lines, written by the built-in runner as things happen and read back by
//! `retrace records`. One `run` line, one `step` line per finished step (attempt), one
//! `run_end` line; every line carries `"schema":"retrace.records/v1"`. Times are Unix
//! nanoseconds (integers). A file may hold several runs one after another.
//!
//! A crash can leave the last line torn and no `run_end`: what is on disk still converts (the
//! torn line is reported and skipped; the run ends with its last step).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::record::{Attributes, Nanos, Outcome, ParentText, Run, Step};
use crate::source::{check_runs, contains, read_file, Source, SourceError, SourceOptions};

pub const SCHEMA: &str = "retrace.records/v1";
const SCHEMA_PREFIX: &str = "retrace.records/";

pub struct Records;

/// One line of a records file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Run(RunHeader),
    Step(StepLine),
    RunEnd(RunEnd),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RunHeader {
    pub schema: String,
    pub system: String,
    pub run_id: String,
    pub name: String,
    pub pipeline_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Nanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// The resource attributes the run declared (a workflow's `otel.resource`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource: BTreeMap<String, String>,
    #[serde(default)]
    pub attributes: Attributes,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StepLine {
    pub schema: String,
    pub run_id: String,
    #[serde(flatten)]
    pub step: Step,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RunEnd {
    pub schema: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Nanos>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Attributes known only at the end (e.g. the final status); appended to the header's.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub attributes: Attributes,
    /// Events of the run's own span (`exec`'s command's `$RETRACE_SPAN` report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<crate::record::Event>,
}

fn is_empty(a: &Attributes) -> bool {
    a.0.is_empty()
}

/// The `run` line of a run (its steps and end are written separately).
pub fn header_line(run: &Run) -> String {
    let line = Line::Run(RunHeader {
        schema: SCHEMA.into(),
        system: run.system.clone(),
        run_id: run.run_id.clone(),
        name: run.name.clone(),
        pipeline_name: run.pipeline_name.clone(),
        start: run.start,
        traceparent: run.parent.as_ref().map(|p| p.traceparent.clone()),
        tracestate: run.parent.as_ref().and_then(|p| p.tracestate.clone()),
        resource: run.resource.iter().cloned().collect(),
        attributes: run.attributes.clone(),
    });
    serde_json::to_string(&line).expect("records serialise")
}

pub fn step_line(run_id: &str, step: &Step) -> String {
    let line = Line::Step(StepLine {
        schema: SCHEMA.into(),
        run_id: run_id.to_owned(),
        step: step.clone(),
    });
    serde_json::to_string(&line).expect("records serialise")
}

/// The `run_end` line; `end_attributes` are the run's attributes added after its header.
pub fn end_line(run: &Run, end_attributes: &Attributes) -> String {
    let line = Line::RunEnd(RunEnd {
        schema: SCHEMA.into(),
        run_id: run.run_id.clone(),
        end: run.end,
        outcome: run.outcome,
        message: run.message.clone(),
        attributes: end_attributes.clone(),
        events: run.events.clone(),
    });
    serde_json::to_string(&line).expect("records serialise")
}

impl Source for Records {
    fn name(&self) -> &'static str {
        "records"
    }

    fn detect(&self, _: &Path, head: &[u8]) -> bool {
        // A JSON line naming our schema (a README mentioning it is not a records file).
        head.trim_ascii_start().starts_with(b"{") && contains(head, SCHEMA_PREFIX.as_bytes())
    }

    fn parse(&self, path: &Path, _: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        let bytes = read_file(path)?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            // A write torn inside a multi-byte character: the torn line is handled below.
            Err(e) if e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to here")
            }
            Err(e) => {
                return Err(SourceError::new(
                    path,
                    format!("not UTF-8 text (byte {})", e.valid_up_to()),
                ))
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut runs: Vec<Run> = Vec::new();
        let mut torn = None;
        for (i, raw) in lines.iter().enumerate() {
            let n = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let at = |problem: String| SourceError::new(path, format!("line {n}: {problem}"));
            // Key order matters (attributes keep theirs), so no detour through `Value`,
            // whose map is sorted: read the schema first, then the line itself.
            #[derive(Deserialize)]
            struct SchemaOnly {
                #[serde(default)]
                schema: String,
            }
            if !raw.trim_start().starts_with('{') {
                return Err(at("not a JSON object".into()));
            }
            let schema = match serde_json::from_str::<SchemaOnly>(raw) {
                Ok(s) => s.schema,
                // Only the last line may be torn: the writer flushes whole lines.
                Err(e) if n == lines.len() && e.is_eof() => {
                    torn = Some(n);
                    continue;
                }
                Err(e) if e.is_data() => return Err(at(format!("unexpected content: {e}"))),
                Err(e) => return Err(at(format!("not valid JSON: {e}"))),
            };
            if schema != SCHEMA {
                return Err(at(if schema.starts_with(SCHEMA_PREFIX) {
                    format!(
                        "unsupported schema {schema:?} (retrace reads {SCHEMA}); upgrade retrace"
                    )
                } else {
                    format!("not a retrace record (schema {schema:?}, expected {SCHEMA})")
                }));
            }
            let line: Line =
                serde_json::from_str(raw).map_err(|e| at(format!("unexpected content: {e}")))?;
            match line {
                Line::Run(h) => runs.push(Run {
                    system: h.system,
                    parent: h.traceparent.map(|traceparent| ParentText {
                        traceparent,
                        tracestate: h.tracestate,
                        origin: format!("{}: line {n} traceparent", path.display()),
                    }),
                    run_id: h.run_id,
                    name: h.name,
                    pipeline_name: h.pipeline_name,
                    start: h.start,
                    end: None,
                    outcome: Outcome::Unknown,
                    message: None,
                    native_trace_id: None,
                    native_span_id: None,
                    resource: h.resource.into_iter().collect(),
                    events: Vec::new(),
                    attributes: h.attributes,
                    steps: Vec::new(),
                }),
                Line::Step(s) => current(&mut runs, &s.run_id)
                    .map_err(at)?
                    .steps
                    .push(s.step),
                Line::RunEnd(e) => {
                    let run = current(&mut runs, &e.run_id).map_err(at)?;
                    run.end = e.end;
                    run.outcome = e.outcome;
                    run.message = e.message;
                    run.attributes.merge(e.attributes.0);
                    run.events.extend(e.events);
                }
            }
        }
        if runs.is_empty() {
            return Err(SourceError::new(
                path,
                match torn {
                    Some(n) => {
                        format!("no complete run line in this file (line {n} is incomplete)")
                    }
                    None => "no run line in this file".into(),
                },
            ));
        }
        let runs = check_runs(path, runs)?;
        if let Some(n) = torn {
            eprintln!(
                "retrace: {}: line {n} is incomplete (the writer stopped mid-line); ignored",
                path.display()
            );
        }
        Ok(runs)
    }
}

/// The run a step or end line belongs to: the latest `run` line, which must have its id.
fn current<'a>(runs: &'a mut [Run], run_id: &str) -> Result<&'a mut Run, String> {
    match runs.last_mut() {
        Some(run) if run.run_id == run_id => Ok(run),
        Some(run) => Err(format!(
            "belongs to run {run_id:?}, but the open run is {:?}",
            run.run_id
        )),
        None => Err("comes before any run line".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AttrValue, Event, TimeSource};

    fn sample() -> Run {
        let mut step = Step::new("extract", "Step: extract");
        step.start = Some(1_795_239_106_167_076_000);
        step.end = Some(1_795_239_106_263_928_123);
        step.outcome = Outcome::Failure;
        step.exit_code = Some(2);
        step.message = Some("exit status 2".into());
        step.attributes.put("step.name", "extract");
        step.attributes.put("pipeline.records.written", 12i64);
        step.attributes.put("x.ratio", 0.5);
        step.events.push(Event {
            time: 1_795_239_106_200_000_000,
            name: "retry".into(),
            attributes: Attributes::default(),
        });
        step.time_source = TimeSource::Recorded;
        Run {
            system: "retrace".into(),
            run_id: "r-1".into(),
            name: "DAG: etl".into(),
            pipeline_name: "etl".into(),
            start: Some(1_795_239_106_000_000_000),
            end: Some(1_795_239_107_000_000_000),
            outcome: Outcome::Failure,
            message: Some("1 step failed".into()),
            parent: Some(ParentText {
                traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                tracestate: None,
                origin: String::new(),
            }),
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            events: Vec::new(),
            attributes: {
                let mut a = Attributes::default();
                a.put("dag.name", "etl");
                a
            },
            steps: vec![step],
        }
    }

    #[test]
    fn written_records_read_back_to_the_same_run() {
        let mut run = sample();
        let header = header_line(&run);
        let mut at_end = Attributes::default();
        at_end.put("dag.status", "failed");
        run.attributes.0.extend(at_end.0.clone());
        let text = [
            header,
            step_line(&run.run_id, &run.steps[0]),
            end_line(&run, &at_end),
        ]
        .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, &text).unwrap();
        let mut back = Records.parse(&path, &SourceOptions::default()).unwrap();
        assert_eq!(back.len(), 1);
        let back = back.remove(0);
        assert_eq!(
            back.parent.as_ref().unwrap().traceparent,
            run.parent.as_ref().unwrap().traceparent
        );
        let strip = |mut r: Run| {
            r.parent = None;
            r
        };
        assert_eq!(strip(back), strip(run));
        assert!(text
            .lines()
            .all(|l| l.contains("\"schema\":\"retrace.records/v1\"")));
    }

    #[test]
    fn a_crash_leaves_a_convertible_file() {
        let run = sample();
        let text = format!(
            "{}\n{}\n{{\"schema\":\"retrace.rec",
            header_line(&run),
            step_line(&run.run_id, &run.steps[0])
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, &text).unwrap();
        let back = Records.parse(&path, &SourceOptions::default()).unwrap();
        assert_eq!(back[0].steps.len(), 1);
        assert_eq!(back[0].end, None);
        assert_eq!(back[0].outcome, Outcome::Unknown);
    }

    #[test]
    fn a_line_torn_inside_a_character_is_a_torn_line() {
        let run = sample();
        let mut bytes = format!(
            "{}\n{}\n",
            header_line(&run),
            step_line(&run.run_id, &run.steps[0])
        )
        .into_bytes();
        bytes.extend_from_slice("{\"schema\":\"retrace.records/v1\",\"message\":\"é".as_bytes());
        bytes.pop(); // half of the é
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        let back = Records.parse(&path, &SourceOptions::default()).unwrap();
        assert_eq!(back[0].steps.len(), 1);
        // Elsewhere an invalid byte is an error.
        bytes.push(b'\n');
        std::fs::write(&path, &bytes).unwrap();
        let err = Records.parse(&path, &SourceOptions::default()).unwrap_err();
        assert!(err.problem.starts_with("not UTF-8 text"), "{err}");
    }

    #[test]
    fn a_torn_run_line_is_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, &header_line(&sample())[..30]).unwrap();
        let err = Records.parse(&path, &SourceOptions::default()).unwrap_err();
        assert_eq!(
            err.problem,
            "no complete run line in this file (line 1 is incomplete)"
        );
    }

    #[test]
    fn a_repeated_attribute_key_is_sent_once_with_the_last_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let text = concat!(
            r#"{"type":"run","schema":"retrace.records/v1","run_id":"r","system":"sh","name":"n","pipeline_name":"n","#,
            r#""start":1000,"attributes":{"a":1,"b":"x","a":2,"gone":null}}"#,
            "\n",
            r#"{"type":"run_end","schema":"retrace.records/v1","run_id":"r","end":2000,"outcome":"success","attributes":{"b":"y"}}"#,
            "\n"
        );
        std::fs::write(&path, text).unwrap();
        let runs = Records.parse(&path, &SourceOptions::default()).unwrap();
        assert_eq!(
            runs[0].attributes.0,
            vec![("a".into(), AttrValue::Int(2)), ("b".into(), "y".into())]
        );
    }

    #[test]
    fn a_wrong_attribute_value_names_the_key_and_what_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        for (value, expected) in [
            (
                r#"{"k":1}"#,
                r#"attribute "x": invalid type: map, expected a string, number, boolean or list of strings"#,
            ),
            (
                "[1]",
                r#"attribute "x": invalid type: integer `1`, expected a string"#,
            ),
            (
                "18446744073709551615",
                r#"attribute "x": integer 18446744073709551615 is beyond the 64-bit signed range"#,
            ),
        ] {
            let line = format!(
                r#"{{"type":"run","schema":"retrace.records/v1","run_id":"r","system":"sh","name":"n","pipeline_name":"n","start":1,"attributes":{{"x":{value}}}}}"#
            );
            std::fs::write(&path, line + "\n").unwrap();
            let err = Records.parse(&path, &SourceOptions::default()).unwrap_err();
            assert!(err.problem.contains(expected), "{value}: {}", err.problem);
        }
    }

    #[test]
    fn other_versions_and_orphans_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        let run = sample();
        std::fs::write(&path, header_line(&run).replace("records/v1", "records/v2")).unwrap();
        let err = Records.parse(&path, &SourceOptions::default()).unwrap_err();
        assert!(err.problem.contains("unsupported schema"), "{err}");
        std::fs::write(&path, step_line("r-1", &run.steps[0])).unwrap();
        let err = Records.parse(&path, &SourceOptions::default()).unwrap_err();
        assert!(err.problem.contains("before any run line"), "{err}");
    }
}
