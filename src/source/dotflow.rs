//! dotflow records (PyPI `dotflow` 1.0.x): the JSON of `DotFlow.result()` (which users save
//! themselves: dotflow writes no record with times to disk) and the log file of `LogDefault`
//! (`.output/flow.log`), in its `json` or its `simple` format. Spans are shaped like dotflow's
//! own `TracerOpenTelemetry`: root `workflow:<workflow_id>`, one `task:<task_id>` per task.
//!
//! Time:
//! - result JSON: `started_at` / `finished_at` are naive local `datetime.now()` values
//!   (`2026-11-21T05:33:40.539763`, µs) → read in `--tz`. They bracket exactly what dotflow
//!   measured as the task's `duration`, so they are the task span.
//! - json flow.log: every record's `timestamp` has an offset (dotflow writes UTC, µs) → exact.
//! - simple flow.log: only Python logging's `%(asctime)s` (`2026-11-21 05:33:40,539`: local
//!   wall-clock, milliseconds after a comma) → read in `--tz`.
//!
//! Without a result, a task span runs from its `In progress` line to its first `Completed` /
//! `Failed` line. Nothing records the workflow's own start or end (dotflow's
//! `dotflow.duration` and `dotflow.mode` live only in its live spans), so the workflow span
//! covers its tasks.
//!
//! Merge: the records of one workflow given together (its result JSON and the flow.log lines
//! with its `workflow_id`, from any of the inputs) become one run. The result wins for times,
//! status, duration, retry count and errors; the log adds what only it has — the time of each
//! `Retry` (an event on the task span) and times the result lacks (in `parallel` and
//! `sequential_group` modes tasks run in worker processes and the result has no times).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::record::{Attributes, Event, Nanos, Outcome, Run, Step, TimeSource};
use crate::source::time::{parse_in_zone, Zone};
use crate::source::{
    check_run, json_object, parse_alone, read_file, run_problems, Source, SourceError,
    SourceOptions,
};
use crate::trace::semconv as sc;

/// The attribute names of dotflow's own TracerOpenTelemetry spans, and retrace's retry event.
mod attr {
    pub const DOTFLOW_WORKFLOW_ID: &str = "dotflow.workflow_id";
    pub const DOTFLOW_TASKS_COUNT: &str = "dotflow.tasks_count";
    pub const DOTFLOW_TASK_ID: &str = "dotflow.task_id";
    pub const DOTFLOW_TASK_STATUS: &str = "dotflow.task.status";
    pub const DOTFLOW_TASK_DURATION: &str = "dotflow.task.duration";
    pub const DOTFLOW_TASK_RETRY_COUNT: &str = "dotflow.task.retry_count";
    /// retrace's own: one event per retried attempt, at the time of its `Retry` log line.
    pub const DOTFLOW_RETRY_EVENT: &str = "dotflow.task.retry";
}

pub struct Dotflow;

const SYSTEM: &str = "dotflow";

// dotflow's task statuses (`dotflow/core/types/status.py`), verbatim.
const NOT_STARTED: &str = "Not started";
const IN_PROGRESS: &str = "In progress";
const COMPLETED: &str = "Completed";
const RETRY: &str = "Retry";
const FAILED: &str = "Failed";

impl Source for Dotflow {
    fn name(&self) -> &'static str {
        SYSTEM
    }

    /// A `.json` whose head is an object with `"workflow_id"` and `"tasks"` keys (dotflow's
    /// own OTLP spans and its `tasks/*.json` storage files are not), or a `.log` whose first
    /// line is a dotflow log line.
    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".json") {
            return first_byte(head) == Some(b'{')
                && has_key(head, b"workflow_id")
                && has_key(head, b"tasks");
        }
        name.ends_with(".log")
            && String::from_utf8_lossy(head)
                .lines()
                .next()
                .is_some_and(|l| header(l).is_some())
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        parse_alone(self, path, options)
    }

    /// Reads every file first, then builds one run per workflow from all of its records.
    fn merges_files(&self) -> bool {
        true
    }

    fn parse_all(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
    ) -> (Vec<Run>, Vec<SourceError>) {
        let mut book = Book::default();
        let mut errors = Vec::new();
        // A file named twice (`retrace dotflow flow.log .`) would double its status lines.
        let mut seen = HashSet::new();
        for path in paths {
            if !seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
                continue;
            }
            if let Err(e) = book.read(path, options.tz) {
                errors.push(e);
            }
        }
        let (runs, refused) = book.into_runs();
        errors.extend(refused);
        (runs, errors)
    }
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// `"key"` followed by a colon: a key, not a value or part of a longer name.
fn has_key(head: &[u8], key: &[u8]) -> bool {
    let quoted = [b"\"", key, b"\""].concat();
    head.windows(quoted.len())
        .enumerate()
        .filter(|(_, w)| *w == quoted.as_slice())
        .any(|(i, _)| first_byte(&head[i + quoted.len()..]) == Some(b':'))
}

// ---- what one task execution looked like, whichever record told us ----

#[derive(Clone, Debug, Default, PartialEq)]
struct TaskError {
    exception: String,
    message: String,
}

#[derive(Clone, Debug, PartialEq)]
struct Retry {
    time: Nanos,
    /// The task's retry_count after this retry (1 for the first).
    count: i64,
    error: Option<TaskError>,
}

/// One execution of one task. A task runs once per workflow execution; its retries happen
/// inside that one execution.
#[derive(Clone, Debug, Default, PartialEq)]
struct Execution {
    /// The last status, verbatim; None when a result left it null.
    status: Option<String>,
    /// When the task was built (`created_at`, or its `Not started` line).
    created: Option<Nanos>,
    start: Option<Nanos>,
    end: Option<Nanos>,
    /// dotflow's own measurement, seconds.
    duration: Option<f64>,
    retry_count: i64,
    retries: Vec<Retry>,
    /// The last error (what dotflow's tracer puts in its `exception` event).
    error: Option<TaskError>,
    /// Errors of retried attempts by attempt number (result JSON only), to annotate the log's
    /// `Retry` lines.
    attempt_errors: Vec<(i64, TaskError)>,
}

impl Execution {
    fn status_is(&self, status: &str) -> bool {
        self.status.as_deref() == Some(status)
    }

    fn touched(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }
}

/// Every record read, grouped by workflow; runs are built once all inputs are read.
#[derive(Default)]
struct Book {
    /// Workflow ids in the order they were first seen.
    order: Vec<String>,
    workflows: HashMap<String, Gathered>,
}

#[derive(Default)]
struct Gathered {
    name: Option<String>,
    /// From the result JSON: its path and tasks in their order.
    result: Option<(PathBuf, Vec<(String, Execution)>)>,
    /// flow.log status lines per task, tasks in first-seen order.
    log: Vec<(String, Vec<LogEntry>)>,
    /// Every file a record came from, for messages.
    files: Vec<PathBuf>,
}

impl Book {
    fn workflow(&mut self, id: &str) -> &mut Gathered {
        if !self.workflows.contains_key(id) {
            self.order.push(id.to_owned());
        }
        self.workflows.entry(id.to_owned()).or_default()
    }

    /// Adds one file's records; a file with any problem adds nothing.
    fn read(&mut self, path: &Path, tz: Zone) -> Result<(), SourceError> {
        let bytes = read_file(path)?;
        let is_json = path.extension().is_some_and(|e| e == "json");
        if is_json || first_byte(&bytes) == Some(b'{') {
            let result = read_result(path, &bytes, tz)?;
            let w = self.workflow(&result.workflow_id);
            if let Some((first, _)) = &w.result {
                return Err(SourceError::new(
                    path,
                    format!(
                        "workflow {} is already read from {}; a workflow is converted from one result file",
                        result.workflow_id,
                        first.display()
                    ),
                ));
            }
            w.name = result.name;
            w.result = Some((path.to_path_buf(), result.tasks));
            w.files.push(path.to_path_buf());
        } else {
            for entry in read_log(path, &bytes, tz)? {
                let w = self.workflow(&entry.workflow_id);
                if w.files.last().is_none_or(|f| f != path) {
                    w.files.push(path.to_path_buf());
                }
                match w.log.iter_mut().find(|(t, _)| *t == entry.task_id) {
                    Some((_, lines)) => lines.push(entry),
                    None => w.log.push((entry.task_id.clone(), vec![entry])),
                }
            }
        }
        Ok(())
    }

    /// The runs, and a problem (naming the run's files) for each run the builder would refuse.
    fn into_runs(mut self) -> (Vec<Run>, Vec<SourceError>) {
        let mut runs = Vec::with_capacity(self.order.len());
        let mut refused = Vec::new();
        for id in &self.order {
            let Some(mut w) = self.workflows.remove(id) else {
                continue;
            };
            let files = std::mem::take(&mut w.files);
            let run = workflow_run(id, w);
            match check_run(&run) {
                Ok(()) => runs.push(run),
                Err(problem) => refused.push((files, problem)),
            }
        }
        (runs, run_problems(refused))
    }
}

// ---- result JSON (`DotFlow.result()`, pydantic `SerializerWorkflow`) ----

#[derive(Deserialize)]
struct ResultDoc {
    #[serde(default)]
    workflow_id: Option<String>,
    /// Same as workflow_id (a computed field).
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    workflow_name: Option<String>,
    tasks: Vec<ResultTask>,
}

#[derive(Deserialize)]
struct ResultTask {
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    retry_count: Option<i64>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    errors: Option<Vec<ResultError>>,
    /// The last of `errors` (a computed field).
    #[serde(default)]
    error: Option<ResultError>,
}

#[derive(Deserialize)]
struct ResultError {
    /// The attempt that failed and was retried; null for the error that ended the task.
    #[serde(default)]
    attempt: Option<i64>,
    #[serde(default)]
    exception: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl ResultError {
    fn to_error(&self) -> TaskError {
        TaskError {
            exception: self.exception.clone().unwrap_or_default(),
            message: self.message.clone().unwrap_or_default(),
        }
    }
}

struct ResultRecord {
    workflow_id: String,
    name: Option<String>,
    tasks: Vec<(String, Execution)>,
}

fn read_result(path: &Path, bytes: &[u8], tz: Zone) -> Result<ResultRecord, SourceError> {
    let doc: ResultDoc = json_object(path, bytes)?;
    let workflow_id = doc
        .workflow_id
        .or(doc.id)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SourceError::new(path, "workflow_id is missing"))?;
    if doc.tasks.is_empty() {
        return Err(SourceError::new(path, "tasks is empty: nothing to trace"));
    }
    let mut tasks: Vec<(String, Execution)> = Vec::with_capacity(doc.tasks.len());
    for (i, t) in doc.tasks.iter().enumerate() {
        let task_id = t
            .task_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SourceError::new(path, format!("tasks[{i}].task_id is missing")))?;
        if tasks.iter().any(|(id, _)| *id == task_id) {
            return Err(SourceError::new(
                path,
                format!("tasks[{i}].task_id {task_id} appears twice"),
            ));
        }
        let time = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| parse_in_zone(v, tz))
                .transpose()
                .map_err(|e| SourceError::new(path, format!("tasks[{i}].{field}: {e}")))
        };
        let errors = t.errors.as_deref().unwrap_or_default();
        let exec = Execution {
            status: t.status.clone(),
            created: time("created_at", &t.created_at)?,
            start: time("started_at", &t.started_at)?,
            end: time("finished_at", &t.finished_at)?,
            duration: t.duration.filter(|d| d.is_finite()),
            retry_count: t.retry_count.unwrap_or(0),
            retries: Vec::new(),
            error: errors
                .last()
                .or(t.error.as_ref())
                .map(ResultError::to_error),
            attempt_errors: errors
                .iter()
                .filter_map(|e| Some((e.attempt?, e.to_error())))
                .collect(),
        };
        tasks.push((task_id, exec));
    }
    Ok(ResultRecord {
        workflow_id,
        name: doc.workflow_name.filter(|n| !n.is_empty()),
        tasks,
    })
}

// ---- flow.log (`LogDefault`, format `%(asctime)s - %(levelname)s [%(name)s]: %(message)s`) ----

/// One task status line.
#[derive(Debug)]
struct LogEntry {
    workflow_id: String,
    task_id: String,
    status: String,
    time: Nanos,
    duration: Option<f64>,
    retry_count: Option<i64>,
    error: Option<TaskError>,
}

struct Header<'a> {
    asctime: &'a str,
    message: &'a str,
}

/// `2026-11-21 05:33:40,539 - INFO [dotflow.140720111874896]: <message>`; None for any other
/// line (the traceback lines the simple format appends after a `Failed` line).
fn header(line: &str) -> Option<Header<'_>> {
    let (asctime, rest) = line.split_once(" - ")?;
    let (level, rest) = rest.split_once(' ')?;
    if !matches!(level, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL") {
        return None;
    }
    let (_logger, message) = rest.strip_prefix("[dotflow")?.split_once("]: ")?;
    // The time is checked by the caller: a garbled one is an error, not a traceback line.
    Some(Header { asctime, message })
}

/// Python logging's default `%(asctime)s`: `2026-11-21 05:33:40,539`, local wall-clock time.
fn asctime(text: &str, tz: Zone) -> Result<Nanos, String> {
    let invalid = || format!("{text:?} is not a Python logging time (YYYY-MM-DD HH:MM:SS,mmm)");
    let (seconds, millis) = text.rsplit_once(',').ok_or_else(invalid)?;
    if millis.len() != 3 || !millis.bytes().all(|b| b.is_ascii_digit()) || seconds.contains('.') {
        return Err(invalid());
    }
    parse_in_zone(&format!("{seconds}.{millis}"), tz).map_err(|_| invalid())
}

/// The `json` format's message: dotflow's `LogRecord`.
#[derive(Deserialize)]
struct JsonRecord {
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    workflow_id: String,
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    retry_count: Option<i64>,
    #[serde(default)]
    error: Option<JsonError>,
}

#[derive(Deserialize)]
struct JsonError {
    #[serde(default)]
    exception: String,
    #[serde(default)]
    message: String,
}

fn read_log(path: &Path, bytes: &[u8], tz: Zone) -> Result<Vec<LogEntry>, SourceError> {
    // Tracebacks may hold any bytes; a replaced character there costs nothing.
    let text = String::from_utf8_lossy(bytes);
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut lines_seen = 0usize;
    // The simple format has no error fields: a Failed line is followed by the traceback, whose
    // last line names the exception. (entry index, last non-empty traceback line)
    let mut traceback: Option<(usize, Option<&str>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let Some(h) = header(line) else {
            if let Some((_, last)) = &mut traceback {
                if !line.trim().is_empty() {
                    *last = Some(line);
                }
            }
            continue;
        };
        close_traceback(&mut entries, traceback.take());
        lines_seen += 1;
        let at = |problem: String| SourceError::new(path, format!("line {}: {problem}", i + 1));
        let logged = asctime(h.asctime, tz).map_err(at)?;
        let message = h.message.trim_end();
        let entry = if message.starts_with('{') {
            let r: JsonRecord = serde_json::from_str(message).map_err(|e| at(json_problem(&e)))?;
            // Only a record with a timestamp has it from dotflow; asctime is the fallback.
            let time = if r.timestamp.is_empty() {
                logged
            } else {
                parse_in_zone(&r.timestamp, tz).map_err(|e| at(format!("timestamp: {e}")))?
            };
            LogEntry {
                workflow_id: r.workflow_id,
                task_id: r.task_id,
                status: r.status,
                time,
                duration: r.duration.filter(|d| d.is_finite()),
                retry_count: r.retry_count,
                error: r.error.map(|e| TaskError {
                    exception: e.exception,
                    message: e.message,
                }),
            }
        } else if let Some(rest) = message.strip_prefix("ID ") {
            let mut parts = rest.splitn(3, " - ");
            let (Some(workflow_id), Some(task_id), Some(status)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(at(format!(
                    "expected `ID <workflow_id> - <task_id> - <status>`, found {message:?}"
                )));
            };
            if status.trim() == FAILED {
                traceback = Some((entries.len(), None));
            }
            LogEntry {
                workflow_id: workflow_id.to_owned(),
                task_id: task_id.to_owned(),
                status: status.trim().to_owned(),
                time: logged,
                duration: None,
                retry_count: None,
                error: None,
            }
        } else {
            // Not a task status line (dotflow 1.0 writes none, but the logger is shared).
            continue;
        };
        // Records without a task (`LogRecord` of other callers) carry no status change.
        if !entry.workflow_id.is_empty() && !entry.task_id.is_empty() && !entry.status.is_empty() {
            entries.push(entry);
        }
    }
    close_traceback(&mut entries, traceback);
    if lines_seen == 0 {
        return Err(SourceError::new(
            path,
            "no dotflow log lines (`<asctime> - <LEVEL> [dotflow.<id>]: <message>`)",
        ));
    }
    if entries.is_empty() {
        return Err(SourceError::new(
            path,
            "no task status in its dotflow lines (`ID <workflow_id> - <task_id> - <status>` or a JSON record)",
        ));
    }
    Ok(entries)
}

fn close_traceback(entries: &mut [LogEntry], traceback: Option<(usize, Option<&str>)>) {
    if let Some((i, Some(last))) = traceback {
        if let Some(e) = entries.get_mut(i) {
            e.error = exception_line(last);
        }
    }
}

fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "truncated JSON record".into(),
        Category::Data => format!("unexpected content in JSON record: {e}"),
        _ => format!("not a valid JSON record: {e}"),
    }
}

/// The last line of a Python traceback, `ValueError: boom`, `pkg.errors.Boom: x` or
/// `TimeoutError` → the bare class name (what dotflow records as `exception`) and message.
fn exception_line(line: &str) -> Option<TaskError> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let line = line.trim_end();
    let (path, message) = line.split_once(": ").unwrap_or((line, ""));
    let is_ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if !path.split('.').all(is_ident) {
        return None;
    }
    let class = path.rsplit('.').next().unwrap_or(path);
    Some(TaskError {
        exception: class.to_owned(),
        message: message.to_owned(),
    })
}

/// A task's status lines (in time order) → its executions. `Not started` (the task was built)
/// or `In progress` after the task already ran opens a new execution: a workflow re-run
/// under a fixed workflow_id (dotflow's checkpoint/resume) appends to the same log.
fn executions(mut lines: Vec<LogEntry>) -> Vec<Execution> {
    // Stable: equal times (the simple format has milliseconds) keep their order in the file.
    lines.sort_by_key(|l| l.time);
    let mut out = Vec::new();
    let mut cur = Execution::default();
    let mut open = false;
    for l in lines {
        match l.status.as_str() {
            NOT_STARTED | IN_PROGRESS if cur.touched() => {
                out.push(std::mem::take(&mut cur));
            }
            _ => {}
        }
        match l.status.as_str() {
            NOT_STARTED => {
                cur.created.get_or_insert(l.time);
            }
            IN_PROGRESS => cur.start = Some(l.time),
            RETRY => {
                // The simple format has no count: the n-th Retry line is retry n.
                let count = l.retry_count.unwrap_or(cur.retries.len() as i64 + 1);
                cur.retry_count = cur.retry_count.max(count);
                cur.retries.push(Retry {
                    time: l.time,
                    count,
                    error: l.error.clone(),
                });
            }
            COMPLETED | FAILED => {
                // In `parallel` and `sequential_group` modes the worker logs the final status
                // and the parent process logs it again when it collects the result: the
                // first one is when the task ended.
                cur.end.get_or_insert(l.time);
                cur.retry_count = cur.retry_count.max(l.retry_count.unwrap_or(0));
                if l.error.is_some() {
                    cur.error = l.error.clone();
                }
            }
            _ => {}
        }
        if l.duration.is_some() {
            cur.duration = l.duration;
        }
        cur.status = Some(l.status);
        open = true;
    }
    if open {
        out.push(cur);
    }
    out
}

// ---- one workflow → one run ----

/// The result's execution, completed by the log's record of the same execution.
fn merge(mut result: Execution, log: Option<Execution>) -> Execution {
    let Some(log) = log else {
        return result;
    };
    result.created = result.created.or(log.created);
    result.start = result.start.or(log.start);
    result.end = result.end.or(log.end);
    result.duration = result.duration.or(log.duration);
    result.retry_count = result.retry_count.max(log.retry_count);
    result.error = result.error.or(log.error);
    result.retries = log
        .retries
        .into_iter()
        .map(|mut r| {
            if r.error.is_none() {
                r.error = result
                    .attempt_errors
                    .iter()
                    .find(|(attempt, _)| *attempt == r.count)
                    .map(|(_, e)| e.clone());
            }
            r
        })
        .collect();
    result
}

fn workflow_run(workflow_id: &str, w: Gathered) -> Run {
    let mut log: Vec<(String, Vec<Execution>)> = w
        .log
        .into_iter()
        .map(|(task, lines)| (task, executions(lines)))
        .collect();
    // (task id, executions oldest first); the result describes a task's latest execution.
    let mut tasks: Vec<(String, Vec<Execution>)> = Vec::new();
    if let Some((_, result_tasks)) = w.result {
        for (task_id, from_result) in result_tasks {
            let mut execs = match log.iter().position(|(t, _)| *t == task_id) {
                Some(i) => log.remove(i).1,
                None => Vec::new(),
            };
            let last = execs.pop();
            execs.push(merge(from_result, last));
            tasks.push((task_id, execs));
        }
    }
    tasks.extend(log.into_iter().filter(|(_, e)| !e.is_empty()));

    let steps: Vec<Step> = tasks
        .iter()
        .flat_map(|(task_id, execs)| {
            execs
                .iter()
                .enumerate()
                .map(move |(i, e)| task_step(workflow_id, task_id, i as u32 + 1, e))
        })
        .collect();

    // The workflow's result is that of each task's latest execution, as dotflow judges it.
    let latest: Vec<Outcome> = tasks
        .iter()
        .filter_map(|(_, execs)| execs.last())
        .map(outcome_of)
        .collect();
    let outcome = match latest
        .iter()
        .copied()
        .filter(|o| o.is_error())
        .max_by_key(|o| o.severity())
    {
        Some(worst) => worst,
        // A task still In progress / Retry / Paused: the workflow did not finish (yet).
        None if latest.contains(&Outcome::Unknown) => Outcome::Unknown,
        None => Outcome::Success,
    };

    let mut attributes = Attributes::default();
    attributes.put(attr::DOTFLOW_WORKFLOW_ID, workflow_id);
    // dotflow's tracer sets every workflow attribute with str(): a string, kept so for queries
    // written against its live spans.
    attributes.put(attr::DOTFLOW_TASKS_COUNT, tasks.len().to_string());

    // Tasks that never ran have no time; then the workflow sits where its tasks were built
    // (rather than failing for want of any time).
    let any_time = steps.iter().any(|s| s.start.is_some() || s.end.is_some());
    let built = tasks
        .iter()
        .flat_map(|(_, e)| e.iter().filter_map(|e| e.created))
        .min();
    Run {
        system: SYSTEM.into(),
        run_id: workflow_id.to_owned(),
        name: format!("workflow:{workflow_id}"),
        pipeline_name: w.name.unwrap_or_else(|| workflow_id.to_owned()),
        start: if any_time { None } else { built },
        end: None,
        outcome,
        message: outcome.is_error().then(|| "workflow failed".to_owned()),
        parent: None,
        native_trace_id: None,
        native_span_id: None,
        resource: Vec::new(),
        events: Vec::new(),
        attributes,
        steps,
    }
}

/// dotflow status → CI/CD outcome. A failure by dotflow's own `@action(timeout=)` raises
/// TimeoutError. `In progress` / `Retry` as the last status means the workflow died or is
/// still running: unknown, like `Paused` (no result yet) and statuses a newer dotflow may add.
fn outcome_of(e: &Execution) -> Outcome {
    match e.status.as_deref() {
        Some(COMPLETED) => Outcome::Success,
        Some(FAILED)
            if e.error
                .as_ref()
                .is_some_and(|x| x.exception == "TimeoutError") =>
        {
            Outcome::Timeout
        }
        Some(FAILED) => Outcome::Failure,
        Some(NOT_STARTED) => Outcome::Skip,
        _ => Outcome::Unknown,
    }
}

fn task_step(workflow_id: &str, task_id: &str, attempt: u32, e: &Execution) -> Step {
    let mut step = Step::new(task_id, format!("task:{task_id}"));
    step.attempt = attempt;
    step.start = e.start;
    step.end = e.end;
    if !e.touched() {
        step.time_source = TimeSource::Derived;
    }
    step.outcome = outcome_of(e);
    if step.outcome.is_error() {
        let error = e.error.as_ref();
        let exception = error
            .map(|x| x.exception.as_str())
            .filter(|s| !s.is_empty());
        let status = e.status.as_deref().unwrap_or(FAILED);
        step.error_type = Some(exception.unwrap_or(status).to_owned());
        step.message = Some(
            error
                .map(|x| x.message.as_str())
                .filter(|m| !m.is_empty())
                .or(exception)
                .unwrap_or(status)
                .to_owned(),
        );
    }

    // Exactly the attributes of dotflow's `end_task`, in its order.
    let a = &mut step.attributes;
    a.put(attr::DOTFLOW_WORKFLOW_ID, workflow_id);
    a.put(attr::DOTFLOW_TASK_ID, task_id);
    a.put_opt(attr::DOTFLOW_TASK_STATUS, e.status.clone());
    a.put_opt(attr::DOTFLOW_TASK_DURATION, e.duration);
    if e.retry_count > 0 {
        a.put(attr::DOTFLOW_TASK_RETRY_COUNT, e.retry_count);
    }

    for r in &e.retries {
        let mut attrs = Attributes::default();
        attrs.put(attr::DOTFLOW_TASK_RETRY_COUNT, r.count);
        if let Some(x) = &r.error {
            attrs.put(sc::EXCEPTION_TYPE, x.exception.clone());
            attrs.put(sc::EXCEPTION_MESSAGE, x.message.clone());
        }
        step.events.push(Event {
            time: r.time,
            name: attr::DOTFLOW_RETRY_EVENT.into(),
            attributes: attrs,
        });
    }
    // dotflow's tracer: a Failed task with errors gets one `exception` event, the last error.
    if e.status_is(FAILED) {
        if let (Some(x), Some(time)) = (&e.error, e.end.or(e.start)) {
            let mut attrs = Attributes::default();
            attrs.put(sc::EXCEPTION_TYPE, x.exception.clone());
            attrs.put(sc::EXCEPTION_MESSAGE, x.message.clone());
            step.events.push(Event {
                time,
                name: sc::EXCEPTION_EVENT.into(),
                attributes: attrs,
            });
        }
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Nanos = 1_795_239_220_000_000_000; // 2026-11-21T05:33:40Z
    const UTC: Zone = Zone::Fixed(chrono::FixedOffset::east_opt(0).unwrap());

    fn log(text: &str) -> Result<Vec<LogEntry>, SourceError> {
        read_log(Path::new("flow.log"), text.as_bytes(), UTC)
    }

    fn runs_of(files: &[(&str, &str)]) -> (Vec<Run>, Vec<SourceError>) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|(name, text)| {
                let p = dir.path().join(name);
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect();
        let options = SourceOptions {
            tz: UTC,
            ..Default::default()
        };
        Dotflow.parse_all(&paths, &options)
    }

    #[test]
    fn detect_by_name_and_first_bytes() {
        let d = |name: &str, head: &str| Dotflow.detect(Path::new(name), head.as_bytes());
        assert!(d(
            "workflow_result.json",
            "{\n  \"workflow_id\": \"x\",\n  \"tasks\": ["
        ));
        assert!(d("r.json", "{\"tasks\" : [], \"workflow_id\":\"x\"}"));
        assert!(d(
            "flow.log",
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: ID w - t - Not started\n"
        ));
        assert!(d(
            "custom.log",
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: {\"timestamp\":"
        ));
        // dotflow's own spans: `"dotflow.workflow_id"` and `dotflow.tasks_count` are not keys.
        assert!(!d(
            "spans.otlp.json",
            "{\"resourceSpans\": [{\"key\": \"dotflow.workflow_id\", \"key\": \"dotflow.tasks_count\"}]}"
        ));
        // Storage files (`tasks/<workflow>-<task>.json`) are lists.
        assert!(!d("w-t.json", "[\"{\\\"rows\\\": 3}\"]"));
        // A value "workflow_id" is not a key.
        assert!(!d("x.json", "{\"k\": \"workflow_id\", \"tasks\": []}"));
        assert!(!d("flow.log", ""));
        assert!(!d("flow.log", "some other tool's log line\n"));
        assert!(!d(
            "flow.txt",
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: ID w - t - Not started\n"
        ));
    }

    #[test]
    fn asctime_is_local_with_comma_millis() {
        assert_eq!(
            asctime("2026-11-21 05:33:40,539", UTC),
            Ok(T0 + 539_000_000)
        );
        let tokyo = Zone::parse("+09:00").unwrap();
        assert_eq!(
            asctime("2026-11-21 14:33:40,539", tokyo),
            Ok(T0 + 539_000_000)
        );
        for bad in [
            "2026-11-21 05:33:40.539",
            "2026-11-21 05:33:40,5391",
            "yesterday,123",
            "2026-11-21 05:33:40,",
            "",
        ] {
            assert!(asctime(bad, UTC).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exception_lines() {
        let e = |l: &str| exception_line(l).map(|x| (x.exception, x.message));
        assert_eq!(
            e("ValueError: transform failed on attempt 2"),
            Some(("ValueError".into(), "transform failed on attempt 2".into()))
        );
        assert_eq!(
            e("requests.exceptions.HTTPError: 404: not found"),
            Some(("HTTPError".into(), "404: not found".into()))
        );
        assert_eq!(
            e("TimeoutError"),
            Some(("TimeoutError".into(), String::new()))
        );
        assert_eq!(e("    raise ValueError(x)"), None);
        assert_eq!(e("a note with words"), None);
    }

    #[test]
    fn simple_log_failed_line_takes_the_exception_from_its_traceback() {
        let entries = log(
            "2026-11-21 05:33:41,953 - ERROR [dotflow.1]: ID w - t - Failed \n \
             Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n\
             ValueError: boom\n\
             2026-11-21 05:33:42,000 - INFO [dotflow.1]: ID w - t2 - In progress\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].status, "Failed");
        assert_eq!(entries[0].time, T0 + 1_953_000_000);
        assert_eq!(
            entries[0].error,
            Some(TaskError {
                exception: "ValueError".into(),
                message: "boom".into()
            })
        );
        assert_eq!(entries[1].error, None);
    }

    #[test]
    fn bad_log_lines_name_the_line() {
        let err = log(
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: ID w - t - Not started\n\
             yesterday,123 - INFO [dotflow.1]: ID w - t - In progress\n",
        )
        .unwrap_err();
        assert!(err.problem.starts_with("line 2: "), "{err}");
        let err = log("x\n2026-11-21 05:33:40,539 - INFO [dotflow.1]: {\"timestamp\":\"soon\",\"workflow_id\":\"w\",\"task_id\":\"t\",\"status\":\"Completed\"}\n").unwrap_err();
        assert!(err.problem.starts_with("line 2: timestamp: "), "{err}");
        let err =
            log("2026-11-21 05:33:40,539 - INFO [dotflow.1]: {\"timestamp\":\"2026-").unwrap_err();
        assert_eq!(err.problem, "line 1: truncated JSON record");
        let err = log("2026-11-21 05:33:40,539 - INFO [dotflow.1]: ID w only\n").unwrap_err();
        assert!(err.problem.contains("expected `ID <workflow_id>"), "{err}");
        let err = log("hello\nworld\n").unwrap_err();
        assert!(err.problem.starts_with("no dotflow log lines"), "{err}");
    }

    fn entry(status: &str, ms: i64) -> LogEntry {
        LogEntry {
            workflow_id: "w".into(),
            task_id: "t".into(),
            status: status.into(),
            time: T0 + ms * 1_000_000,
            duration: None,
            retry_count: None,
            error: None,
        }
    }

    #[test]
    fn executions_split_on_reruns_and_ignore_re_reported_ends() {
        let e = executions(vec![
            entry(NOT_STARTED, 0),
            entry(IN_PROGRESS, 10),
            entry(RETRY, 20),
            entry(COMPLETED, 30),
            // The parent process re-reports the worker's result (group/parallel modes).
            entry(COMPLETED, 40),
            // The same workflow_id run again (resume): a new execution.
            entry(NOT_STARTED, 100),
            entry(IN_PROGRESS, 110),
            entry(FAILED, 120),
            // Built a third time, never run.
            entry(NOT_STARTED, 200),
        ]);
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].created, e[0].start, e[0].end),
            (Some(T0), Some(T0 + 10_000_000), Some(T0 + 30_000_000))
        );
        assert_eq!(e[0].retry_count, 1);
        assert_eq!(e[0].retries[0].time, T0 + 20_000_000);
        assert_eq!(e[0].status.as_deref(), Some(COMPLETED));
        assert_eq!(
            (e[1].start, e[1].end),
            (Some(T0 + 110_000_000), Some(T0 + 120_000_000))
        );
        assert_eq!(outcome_of(&e[1]), Outcome::Failure);
        assert_eq!((e[2].start, e[2].end), (None, None));
        assert_eq!(outcome_of(&e[2]), Outcome::Skip);
    }

    #[test]
    fn outcomes() {
        let ex = |status: Option<&str>, exception: &str| Execution {
            status: status.map(str::to_owned),
            error: (!exception.is_empty()).then(|| TaskError {
                exception: exception.into(),
                message: String::new(),
            }),
            ..Default::default()
        };
        assert_eq!(outcome_of(&ex(Some(COMPLETED), "")), Outcome::Success);
        assert_eq!(
            outcome_of(&ex(Some(FAILED), "ValueError")),
            Outcome::Failure
        );
        assert_eq!(outcome_of(&ex(Some(FAILED), "")), Outcome::Failure);
        assert_eq!(
            outcome_of(&ex(Some(FAILED), "TimeoutError")),
            Outcome::Timeout
        );
        assert_eq!(outcome_of(&ex(Some(NOT_STARTED), "")), Outcome::Skip);
        for s in [
            Some(IN_PROGRESS),
            Some(RETRY),
            Some("Paused"),
            Some("Later"),
            None,
        ] {
            assert_eq!(outcome_of(&ex(s, "")), Outcome::Unknown, "{s:?}");
        }
    }

    const RESULT: &str = r#"{"workflow_id": "w", "workflow_name": "demo", "tasks": [
        {"task_id": "a", "status": "Completed", "duration": 0.5, "retry_count": 0,
         "created_at": "2026-11-21T05:33:40", "started_at": "2026-11-21T05:33:40.100000",
         "finished_at": "2026-11-21T05:33:40.600000", "errors": [], "error": null},
        {"task_id": "b", "status": "Failed", "duration": 1.0, "retry_count": 1,
         "created_at": "2026-11-21T05:33:40", "started_at": "2026-11-21T05:33:40.600000",
         "finished_at": "2026-11-21T05:33:41.600000",
         "errors": [{"attempt": 1, "exception": "KeyError", "message": "'x'"},
                    {"attempt": null, "exception": "ValueError", "message": "bad"}]}]}"#;

    #[test]
    fn a_result_and_its_log_given_together_are_one_run() {
        let log = "2026-11-21 05:33:40,000 - INFO [dotflow.1]: ID w - a - Not started\n\
             2026-11-21 05:33:40,000 - INFO [dotflow.1]: ID w - b - Not started\n\
             2026-11-21 05:33:40,100 - INFO [dotflow.1]: ID w - a - In progress\n\
             2026-11-21 05:33:40,599 - INFO [dotflow.1]: ID w - a - Completed\n\
             2026-11-21 05:33:40,600 - INFO [dotflow.1]: ID w - b - In progress\n\
             2026-11-21 05:33:40,700 - WARNING [dotflow.1]: ID w - b - Retry\n\
             2026-11-21 05:33:41,599 - ERROR [dotflow.1]: ID w - b - Failed \n \
             Traceback (most recent call last):\nValueError: bad\n";
        let (runs, errors) = runs_of(&[("r.json", RESULT), ("flow.log", log)]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(run.name, "workflow:w");
        assert_eq!(run.pipeline_name, "demo");
        assert_eq!(run.outcome, Outcome::Failure);
        assert_eq!(run.message.as_deref(), Some("workflow failed"));
        assert_eq!(run.steps.len(), 2);
        let b = &run.steps[1];
        // Times from the result, the retry time from the log, its error from the result.
        assert_eq!(
            (b.start, b.end),
            (Some(T0 + 600_000_000), Some(T0 + 1_600_000_000))
        );
        assert_eq!(b.attempt, 1);
        assert_eq!(b.error_type.as_deref(), Some("ValueError"));
        assert_eq!(b.message.as_deref(), Some("bad"));
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].name, "dotflow.task.retry");
        assert_eq!(b.events[0].time, T0 + 700_000_000);
        assert_eq!(
            b.events[0].attributes.get(sc::EXCEPTION_TYPE),
            Some(&"KeyError".into())
        );
        assert_eq!(b.events[1].name, "exception");
        assert_eq!(b.events[1].time, T0 + 1_600_000_000);
    }

    #[test]
    fn result_without_times_takes_them_from_the_log_and_never_fails_for_want_of_time() {
        // `parallel` mode: the result's tasks ran in workers and carry no times.
        let result = r#"{"workflow_id": "w", "tasks": [{"task_id": "a", "status": "Completed",
            "duration": 0.5, "created_at": "2026-11-21T05:33:40", "started_at": null,
            "finished_at": null}]}"#;
        let log = "2026-11-21 05:33:40,100 - INFO [dotflow.1]: ID w - a - In progress\n\
             2026-11-21 05:33:40,600 - INFO [dotflow.1]: ID w - a - Completed\n";
        let (runs, errors) = runs_of(&[("r.json", result), ("flow.log", log)]);
        assert!(errors.is_empty(), "{errors:?}");
        let a = &runs[0].steps[0];
        assert_eq!(
            (a.start, a.end),
            (Some(T0 + 100_000_000), Some(T0 + 600_000_000))
        );
        assert_eq!(a.time_source, TimeSource::Recorded);

        let (runs, _) = runs_of(&[("r.json", result)]);
        assert_eq!(runs[0].start, Some(T0), "placed where the tasks were built");
        assert_eq!(runs[0].steps[0].time_source, TimeSource::Derived);
        crate::trace::build::build(runs[0].clone(), None, &crate::trace::build::scope(), "")
            .unwrap();
    }

    #[test]
    fn bad_files_are_reported_and_the_others_still_convert() {
        let (runs, errors) = runs_of(&[
            ("r.json", RESULT),
            ("copy.json", RESULT),
            ("empty.json", r#"{"workflow_id": "e", "tasks": []}"#),
            ("no_id.json", r#"{"tasks": [{"task_id": "a"}]}"#),
        ]);
        assert_eq!(runs.len(), 1);
        let problems: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("copy.json: workflow w is already read from"));
        assert!(problems[1].contains("empty.json: tasks is empty"));
        assert!(problems[2].contains("no_id.json: workflow_id is missing"));
    }
}
