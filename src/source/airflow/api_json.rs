//! Reading one Airflow file: REST API JSON (v1/v2 dagRuns, taskInstances, tries,
//! listMapped) and CLI JSON (warning lines before the JSON tolerated) here; task logs and
//! scheduler output are handed to their own modules.

use super::*;

pub(super) fn read_records(
    path: &Path,
    origin: usize,
    out: &mut Records,
) -> Result<(), SourceError> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        SourceError::new(
            path,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if is_attempt_log(name) {
        return task_log(path, &text, origin, out);
    }
    if text.contains("TaskInstance Finished: ") || text.contains("DagRun Finished: ") {
        return scheduler_log(path, &text, origin, out);
    }
    // CLI output may start with warning or log lines (which may themselves open with `[`):
    // the JSON is the first line-start from which the rest parses.
    let mut offset = 0;
    // Of the failed starts, the one that got furthest into the file is the document (a log
    // line before it fails at once).
    let mut best_error: Option<(usize, serde_json::Error)> = None;
    for line in text.split_inclusive('\n') {
        if line.starts_with('[') || line.starts_with('{') {
            let rest = &text[offset..];
            match serde_json::from_str::<Value>(rest) {
                Ok(value) => return json_records(path, &value, origin, out),
                Err(e) => {
                    let reached = offset
                        + rest
                            .split_inclusive('\n')
                            .take(e.line().saturating_sub(1))
                            .map(str::len)
                            .sum::<usize>()
                        + e.column();
                    if best_error.as_ref().is_none_or(|(r, _)| reached > *r) {
                        best_error = Some((reached, e));
                    }
                }
            }
        }
        offset += line.len();
    }
    Err(match best_error {
        Some((_, e)) => SourceError::json(path, &e),
        None => SourceError::new(path, "no Airflow record found (expected API/CLI JSON, a task log attempt=N.log or scheduler output)"),
    })
}

pub(super) fn json_records(
    path: &Path,
    value: &Value,
    origin: usize,
    out: &mut Records,
) -> Result<(), SourceError> {
    let bad = |what: &str| SourceError::new(path, what.to_owned());
    match value {
        Value::Object(o) if o.contains_key("task_instances") => {
            let list = o["task_instances"]
                .as_array()
                .ok_or_else(|| bad("task_instances is not a list"))?;
            for ti in list {
                out.tries.push(ti_record(path, ti, origin, STATE_API)?);
            }
        }
        Value::Object(o) if o.contains_key("dag_runs") => {
            let list = o["dag_runs"]
                .as_array()
                .ok_or_else(|| bad("dag_runs is not a list"))?;
            for r in list {
                out.runs.push(run_record(path, r, STATE_API)?);
            }
        }
        Value::Object(o) if o.contains_key("task_id") => {
            out.tries.push(ti_record(path, value, origin, STATE_API)?)
        }
        Value::Object(o) if o.contains_key("dag_run_id") || o.contains_key("run_id") => {
            out.runs.push(run_record(path, value, STATE_API)?)
        }
        Value::Array(items) => {
            for item in items {
                let o = item
                    .as_object()
                    .ok_or_else(|| bad("CLI output: expected a list of objects"))?;
                if o.contains_key("task_id") {
                    out.tries.push(ti_record(path, item, origin, STATE_CLI)?);
                } else if o.contains_key("run_id") {
                    out.runs.push(run_record(path, item, STATE_CLI)?);
                } else {
                    return Err(bad("CLI output: entries have neither task_id nor run_id"));
                }
            }
        }
        _ => return Err(bad(
            "not an Airflow record (expected a dagRun, taskInstances, dag_runs or CLI JSON output)",
        )),
    }
    Ok(())
}

/// A string field; CLI JSON writes every value as a string and `""` for none.
pub(super) fn text(o: &Map<String, Value>, key: &str) -> Option<String> {
    match o.get(key)? {
        Value::String(s) if s.is_empty() || s == "None" => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn int(o: &Map<String, Value>, key: &str) -> Option<i64> {
    match o.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn date(
    path: &Path,
    o: &Map<String, Value>,
    key: &str,
) -> Result<Option<Time>, SourceError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(_)) => match text(o, key) {
            None => Ok(None),
            Some(s) => timestamp(&s, RANK_TI_DATE)
                .map(Some)
                .map_err(|e| SourceError::new(path, format!("{key}: {e}"))),
        },
        // Not silently "not recorded": a date of another type is a broken record.
        Some(v) => Err(SourceError::new(
            path,
            format!("{key}: expected a date (text), found {}", kind(v)),
        )),
    }
}

/// An Airflow date with an offset; the rank grows with its fractional digits.
pub(super) fn timestamp(s: &str, base_rank: u8) -> Result<Time, String> {
    let nanos = parse_utc(s, false)?;
    let digits =
        s.split_once('.')
            .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count()) as u8;
    Ok(Time {
        nanos,
        rank: base_rank + digits.min(9),
    })
}

pub(super) fn required(
    path: &Path,
    o: &Map<String, Value>,
    key: &str,
) -> Result<String, SourceError> {
    let problem = match o.get(key) {
        Some(v @ (Value::Array(_) | Value::Object(_))) => {
            format!("a record's {key} is {}, expected text", kind(v))
        }
        _ => format!("a record has no {key}"),
    };
    text(o, key).ok_or_else(|| SourceError::new(path, problem))
}

/// The JSON type of a value, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(super) fn ti_record(
    path: &Path,
    ti: &Value,
    origin: usize,
    state_rank: u8,
) -> Result<TryRec, SourceError> {
    let o = ti
        .as_object()
        .ok_or_else(|| SourceError::new(path, "a task instance is not an object"))?;
    Ok(TryRec {
        dag_id: required(path, o, "dag_id")?,
        run_id: text(o, "dag_run_id").or_else(|| text(o, "run_id")),
        task_id: required(path, o, "task_id")?,
        map_index: int(o, "map_index").unwrap_or(-1),
        try_number: int(o, "try_number").and_then(|n| u32::try_from(n).ok()),
        state: text(o, "state").map(|s| (s, state_rank)),
        start: date(path, o, "start_date")?,
        end: date(path, o, "end_date")?,
        queued_when: text(o, "queued_when"),
        duration: o.get("duration").and_then(Value::as_f64),
        operator: text(o, "operator"),
        hostname: text(o, "hostname"),
        pool: text(o, "pool"),
        queue: text(o, "queue"),
        executor: text(o, "executor"),
        ti_id: text(o, "id"),
        pid: int(o, "pid"),
        priority_weight: int(o, "priority_weight"),
        max_tries: int(o, "max_tries"),
        exit_code: None,
        logical_date: text(o, "logical_date").or_else(|| text(o, "execution_date")),
        exceptions: Vec::new(),
        origin,
    })
}

pub(super) fn run_record(path: &Path, run: &Value, state_rank: u8) -> Result<RunRec, SourceError> {
    let o = run
        .as_object()
        .ok_or_else(|| SourceError::new(path, "a dag run is not an object"))?;
    let run_id = text(o, "dag_run_id")
        .or_else(|| text(o, "run_id"))
        .ok_or_else(|| SourceError::new(path, "a dag run has no dag_run_id"))?;
    Ok(RunRec {
        dag_id: required(path, o, "dag_id")?,
        parent: o
            .get("conf")
            .and_then(|c| parent_from_conf(path, &run_id, c)),
        airflow_run_id: run_id.clone(),
        run_id,
        state: text(o, "state").map(|s| (s, state_rank)),
        start: date(path, o, "start_date")?,
        end: date(path, o, "end_date")?,
        queued_at: text(o, "queued_at"),
        run_type: text(o, "run_type"),
        logical_date: text(o, "logical_date").or_else(|| text(o, "execution_date")),
        data_interval_start: text(o, "data_interval_start"),
        data_interval_end: text(o, "data_interval_end"),
        triggered_by: text(o, "triggered_by"),
        origins: Vec::new(),
    })
}

/// The caller's trace context in the run's conf: Airflow 3.3's reserved
/// `airflow/dagrun_parent_trace_context` (a traceparent string or {traceparent, tracestate}),
/// else the common `traceparent` (+ `tracestate`) keys.
pub(super) fn parent_from_conf(path: &Path, run_id: &str, conf: &Value) -> Option<ParentText> {
    const RESERVED: &str = "airflow/dagrun_parent_trace_context";
    let origin = |key: &str| format!("{}: conf[{key:?}] of run {run_id}", path.display());
    let conf = conf.as_object()?;
    match conf.get(RESERVED) {
        Some(Value::String(tp)) => Some(ParentText {
            traceparent: tp.clone(),
            tracestate: None,
            origin: origin(RESERVED),
        }),
        Some(Value::Object(o)) => Some(ParentText {
            traceparent: o.get("traceparent")?.as_str()?.to_owned(),
            tracestate: o
                .get("tracestate")
                .and_then(Value::as_str)
                .map(str::to_owned),
            origin: origin(RESERVED),
        }),
        _ => Some(ParentText {
            traceparent: conf.get("traceparent")?.as_str()?.to_owned(),
            tracestate: conf
                .get("tracestate")
                .and_then(Value::as_str)
                .map(str::to_owned),
            origin: origin("traceparent"),
        }),
    }
}
