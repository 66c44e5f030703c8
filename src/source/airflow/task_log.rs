//! Airflow task-log files: 2.x text and 3.x JSON lines, in `dag_id=…/run_id=…/task_id=…/
//! attempt=N.log` folders.

use super::*;

/// `key=value` folder names on the way to the file (`dag_id=…/run_id=…/task_id=…/
/// [map_index=N/]attempt=N.log` by default). The template is configurable, so the folders
/// only fill in what the log's own lines do not say.
pub(super) fn path_fields(path: &Path) -> HashMap<String, String> {
    path.components()
        .filter_map(|c| {
            let part = c.as_os_str().to_string_lossy();
            let part = part.strip_suffix(".log").unwrap_or(&part);
            part.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

pub(super) fn task_log(
    path: &Path,
    text: &str,
    origin: usize,
    out: &mut Records,
) -> Result<(), SourceError> {
    let fields = path_fields(path);
    let mut t = TryRec {
        origin,
        map_index: -1,
        ..Default::default()
    };
    let first_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    if first_line.trim_start().starts_with('{') {
        json_task_log(path, text, &mut t)?;
    } else {
        text_task_log(path, text, &mut t)?;
    }
    let from_path = |key: &str| fields.get(key).cloned();
    if t.dag_id.is_empty() {
        t.dag_id = from_path("dag_id").unwrap_or_default();
    }
    if t.task_id.is_empty() {
        t.task_id = from_path("task_id").unwrap_or_default();
    }
    t.run_id = t.run_id.or_else(|| from_path("run_id"));
    if t.map_index < 0 {
        t.map_index = from_path("map_index")
            .and_then(|m| m.parse().ok())
            .unwrap_or(-1);
    }
    t.try_number = t
        .try_number
        .or_else(|| from_path("attempt").and_then(|a| a.parse().ok()));
    if t.dag_id.is_empty() || t.task_id.is_empty() || t.run_id.is_none() || t.try_number.is_none() {
        return Err(SourceError::new(path, "cannot tell which task try this log belongs to (no dag_id/run_id/task_id/try in its lines or folders)"));
    }
    out.tries.push(t);
    Ok(())
}

/// Airflow 3.x task log: one JSON object per line; where the log started and stopped, the
/// context keys, and `error_detail` as exception events.
pub(super) fn json_task_log(path: &Path, log: &str, t: &mut TryRec) -> Result<(), SourceError> {
    let mut parsed_any = false;
    for (n, line) in log.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(line) else {
            // A torn last line (the worker was killed) is expected; anything else is not.
            if n + 1 == log.lines().count() {
                continue;
            }
            return Err(SourceError::new(
                path,
                format!("line {}: not a JSON log record", n + 1),
            ));
        };
        parsed_any = true;
        let Some(ts) = text(&o, "timestamp") else {
            continue;
        };
        let time = timestamp(&ts, RANK_LOG_LINE)
            .map_err(|e| SourceError::new(path, format!("line {}: timestamp: {e}", n + 1)))?;
        let time = Time {
            rank: RANK_LOG_LINE,
            ..time
        };
        if t.start.is_none() {
            t.start = Some(time);
        }
        t.end = Some(time);
        if t.dag_id.is_empty() {
            t.dag_id = text(&o, "dag_id").unwrap_or_default();
        }
        if t.task_id.is_empty() {
            t.task_id = text(&o, "task_id").unwrap_or_default();
        }
        if t.run_id.is_none() {
            t.run_id = text(&o, "run_id");
        }
        if t.map_index < 0 {
            t.map_index = int(&o, "map_index").unwrap_or(-1);
        }
        if t.try_number.is_none() {
            t.try_number = int(&o, "try_number").and_then(|n| u32::try_from(n).ok());
        }
        if t.ti_id.is_none() {
            t.ti_id = text(&o, "ti_id");
        }
        if let Some(Value::Array(details)) = o.get("error_detail") {
            // The last entry is the exception that was raised (earlier ones are its causes).
            if let Some(Value::Object(d)) = details.last() {
                let kind = text(d, "exc_type").unwrap_or_else(|| "Exception".into());
                let message = text(d, "exc_value").unwrap_or_default();
                t.exceptions.push((time.nanos, kind, message));
            }
        }
    }
    if !parsed_any {
        return Err(SourceError::new(path, "no JSON log records in this file"));
    }
    Ok(())
}

/// Airflow 2.x task log: `[<ISO ms+0000>] {file.py:N} LEVEL - message` lines.
pub(super) fn text_task_log(path: &Path, text: &str, t: &mut TryRec) -> Result<(), SourceError> {
    let mut saw_line = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((ts, message)) = split_log_line(line) else {
            continue;
        };
        let time = match timestamp(ts, RANK_LOG_LINE) {
            Ok(time) => Time {
                rank: RANK_LOG_LINE,
                ..time
            },
            Err(e) => return Err(SourceError::new(path, format!("log line timestamp: {e}"))),
        };
        saw_line = true;
        if t.start.is_none() {
            t.start = Some(time);
        }
        t.end = better(t.end.filter(|e| e.rank > RANK_LOG_LINE), Some(time));
        if let Some(rest) = message.split_once("Marking task as ").map(|(_, r)| r) {
            marking_line(path, rest, t)?;
        } else if let Some(rest) = message.strip_prefix("Starting attempt ") {
            t.try_number = rest.split_whitespace().next().and_then(|n| n.parse().ok());
        } else if let Some(code) = message.strip_prefix("Task exited with return code ") {
            t.exit_code = code.split_whitespace().next().and_then(|c| c.parse().ok());
        } else if message.contains("Task failed with exception") {
            // The traceback follows without a prefix; its last line is `Type: message`.
            let mut last = None;
            while let Some(next) = lines.peek() {
                if split_log_line(next).is_some() {
                    break;
                }
                if !next.starts_with(' ') && next.contains(": ") {
                    last = Some(next.to_owned());
                }
                lines.next();
            }
            if let Some((kind, msg)) = last.and_then(|l| l.split_once(": ")) {
                t.exceptions
                    .push((time.nanos, kind.trim().to_owned(), msg.trim().to_owned()));
            }
        }
    }
    if !saw_line {
        return Err(SourceError::new(path, "no Airflow log lines in this file"));
    }
    Ok(())
}

/// `[2026-11-21T05:28:47.185+0000] {taskinstance.py:2867} INFO - message` → (time, message).
pub(super) fn split_log_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    let (ts, rest) = rest.split_once("] ")?;
    let (_, message) = rest.split_once(" - ")?;
    Some((ts, message))
}

/// `SUCCESS. dag_id=…, task_id=…, run_id=…, [map_index=N, ]execution_date=…, start_date=…,
/// end_date=…` — the dates are `strftime("%Y%m%dT%H%M%S")` of UTC datetimes, or empty.
/// A `Marking task as` date is a second, truncated; the log's own line times (ms) inside that
/// same second say when more precisely, so they are taken at the Marking rank (an API, CLI or
/// scheduler date, µs, still ranks above both).
fn within_second(marking: Time, line: Option<Time>) -> Time {
    const SECOND: Nanos = 1_000_000_000;
    match line {
        Some(l) if l.nanos >= marking.nanos && l.nanos < marking.nanos + SECOND => Time {
            nanos: l.nanos,
            rank: RANK_MARKING,
        },
        _ => marking,
    }
}

pub(super) fn marking_line(path: &Path, rest: &str, t: &mut TryRec) -> Result<(), SourceError> {
    let (state, fields) = rest.split_once(". ").unwrap_or((rest, ""));
    t.state = Some((state.trim().to_ascii_lowercase(), STATE_LOG));
    let kv = key_values(fields);
    let compact = |key: &str| -> Result<Option<Time>, SourceError> {
        match kv.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S")
                .ok()
                .and_then(|n| n.and_utc().timestamp_nanos_opt())
                .filter(|n| *n >= 0)
                .map(|nanos| {
                    Some(Time {
                        nanos,
                        rank: RANK_MARKING,
                    })
                })
                .ok_or_else(|| {
                    SourceError::new(
                        path,
                        format!(
                            "Marking task line: {key} {v:?} is not a YYYYMMDDTHHMMSS date in 1970–2262"
                        ),
                    )
                }),
        }
    };
    let line_start = t.start.filter(|s| s.rank == RANK_LOG_LINE);
    let line_end = t.end.filter(|e| e.rank == RANK_LOG_LINE);
    t.start = better(
        t.start.filter(|s| s.rank > RANK_LOG_LINE),
        compact("start_date")?.map(|m| within_second(m, line_start)),
    )
    .or(t.start);
    if let Some(end) = compact("end_date")? {
        t.end = better(
            t.end.filter(|e| e.rank > RANK_LOG_LINE),
            Some(within_second(end, line_end)),
        );
    }
    let put = |slot: &mut String, key: &str| {
        if slot.is_empty() {
            *slot = kv.get(key).cloned().unwrap_or_default();
        }
    };
    put(&mut t.dag_id, "dag_id");
    put(&mut t.task_id, "task_id");
    if t.run_id.is_none() {
        t.run_id = kv.get("run_id").cloned();
    }
    if let Some(m) = kv.get("map_index").and_then(|m| m.parse().ok()) {
        t.map_index = m;
    }
    Ok(())
}

/// `a=1, b=x (y=z), c=` → {a: 1, b: "x (y=z)", c: ""}. A comma only separates fields when a
/// `key=` follows it; a trailing structlog ` [logger] loc=…` is dropped.
pub(super) fn key_values(text: &str) -> HashMap<String, String> {
    let text = match text.rfind(" [") {
        Some(i) if text[i..].contains("loc=") || text[i..].ends_with(']') => &text[..i],
        _ => text,
    };
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let mut end = after.len();
        let mut search = 0;
        while let Some(i) = after[search..].find(',') {
            let at = search + i;
            let next = after[at + 1..].trim_start();
            let next_key: String = next
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !next_key.is_empty() && next[next_key.len()..].starts_with('=') {
                end = at;
                break;
            }
            search = at + 1;
        }
        if !key.is_empty() {
            out.entry(key.to_owned())
                .or_insert_with(|| after[..end].trim().to_owned());
        }
        rest = if end < after.len() {
            &after[end + 1..]
        } else {
            ""
        };
    }
    out
}
