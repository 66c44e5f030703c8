//! Dagu run status: `status.jsonl` (Dagu ≥ 1.17), a `dag-runs` data directory, and legacy
//! `.dat` files (before 1.17). Shapes follow Dagu's Go structs (`internal/core/exec/
//! {runstatus,node}.go`, `internal/persis/legacy/model`); the fixtures are constructed from
//! them (fixtures/dagu/README.md), as no real Dagu data was available.
//!
//! **Lines.** A status file holds one full `DAGRunStatus` JSON snapshot per line, appended on
//! every update while the run is active and compacted to one line when it ends. As in Dagu's
//! own reader the last valid line wins: a torn last line (a crash mid-write) falls back to the
//! previous valid line with a warning; a file without any valid line is an error.
//!
//! **Attempts.** `<dag>/dag-runs/YYYY/MM/DD/dag-run_<ts>_<runId>/attempt_<ts>_<id>/status.jsonl`.
//! A DAG-level retry adds an attempt directory and the newest one (by name: it starts with its
//! UTC timestamp) is the run's current state. Every attempt carries the same `dagRunId`, hence
//! the same trace and span ids, so converting an older one as well would send a second,
//! contradicting copy of the same spans. A directory walk therefore picks only the newest
//! attempt (`detect`), and an older attempt named explicitly or matched by a glob is skipped
//! with a note on stderr.
//!
//! **Sub-DAGs.** Their runs live under the root run, flat, whatever the nesting:
//! `dag-run_…/children/child_<subRunId>/attempt_*/status.jsonl` (newest attempt again). The
//! calling step names them in `children[].dagRunId`. The whole root run is one trace, shaped
//! like Dagu's live traces (where a sub-DAG process parents its `DAG:` span under the calling
//! step): under the calling step a `DAG: <sub-DAG>` step, under it the sub-DAG's steps,
//! recursively. A walk therefore skips child files, and naming one gives a note pointing at
//! its root run. A sub-DAG status that is missing or unreadable is a warning naming that
//! file; the rest of the run is still sent.
//!
//! **Time.** Dagu writes Go `time.RFC3339`: second precision with the machine's offset
//! (`2026-05-07T09:12:03+09:00`), read exactly. `""`, `"-"` (not run yet) and Go's zero time
//! mean "not recorded": the time is left to `trace::timeline`, which places the span and marks
//! it derived. Zone-less values (legacy `2006-01-02 15:04:05`) are wall-clock times in `--tz`.
//!
//! **Legacy `.dat`.** The same snapshot lines with PascalCase keys (`RequestId` is the run id,
//! `OnCancel` the abort handler). Go's decoder matches keys case-insensitively, so the serde
//! structs below accept both spellings and one conversion serves both formats.
//!
//! **Statuses.** Ints become Dagu's own labels (`dag.status`, `step.status`). Outcomes follow
//! Dagu's `IsSuccess()`: succeeded and partially_succeeded (failures tolerated by
//! `continueOn`; the failed steps keep their own failure) → success; failed → failure;
//! aborted and rejected (a human refused an approval gate) → cancellation; skipped → skip;
//! not_started, running, queued, waiting, retrying → no result yet. Dagu persists no exit
//! code; a step's `error` string is the span's status message.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::record::{Attributes, Event, Nanos, Outcome, Run, Step, TimeSource};
use crate::source::time::{parse_in_zone, Zone};
use crate::source::{
    check_runs, contains, json_message, read_file, shorten, Source, SourceError, SourceOptions,
};
use crate::trace::semconv as sc;

/// The attribute names retrace adds from Dagu's status file (`dagu.*`); Dagu's own span
/// names (`dag.*`, `step.*`) are shared with the runner, in `trace::semconv`.
mod attr {
    pub const DAGU_ATTEMPT_ID: &str = "dagu.attempt_id";
    pub const DAGU_TRIGGER_TYPE: &str = "dagu.trigger_type";
    pub const DAGU_AUTO_RETRY_COUNT: &str = "dagu.auto_retry_count";
    pub const DAGU_LABELS: &str = "dagu.labels";
    pub const DAGU_DAG_ERROR: &str = "dagu.dag.error";
    pub const DAGU_STEP_ERROR: &str = "dagu.step.error";
    pub const DAGU_STEP_HANDLER: &str = "dagu.step.handler";
    pub const DAGU_STEP_RETRY_COUNT: &str = "dagu.step.retry_count";
    pub const DAGU_STEP_DONE_COUNT: &str = "dagu.step.done_count";
    pub const DAGU_STEP_SKIPPED_BY_RETRY: &str = "dagu.step.skipped_by_retry";
    pub const DAGU_STEP_CHILD_RUN_IDS: &str = "dagu.step.child_run_ids";
    pub const DAGU_STEP_RETRY_EVENT: &str = "dagu.step.retry";
}

pub struct Dagu;

const STATUS_FILE: &str = "status.jsonl";
const ATTEMPT_PREFIX: &str = "attempt_";
const CHILD_PREFIX: &str = "child_";
const CHILDREN_DIR: &str = "children";
/// Sub-DAGs may call sub-DAGs; nesting deeper than this is taken for a loop in the data.
const MAX_DEPTH: usize = 32;

impl Source for Dagu {
    fn name(&self) -> &'static str {
        "dagu"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == STATUS_FILE {
            // The name alone is generic; `dagRunId` comes within the first keys of every line.
            return contains(head, b"\"dagRunId\"")
                && match place_of(path) {
                    Place::Loose => true,
                    Place::Child { .. } => false,
                    Place::Attempt { run_dir } => is_newest_attempt(path, &run_dir),
                };
        }
        name.ends_with(".dat") && starts_with_key(head, "RequestId")
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        let children_dir = match place_of(path) {
            Place::Child { root_run_dir } => {
                note(
                    path,
                    format!(
                        "a sub-DAG run, converted as part of its root run: give {} instead",
                        root_run_dir.display()
                    ),
                );
                return Ok(Vec::new());
            }
            Place::Attempt { run_dir } => {
                if let Some(newest) = newest_attempt(&run_dir) {
                    if !is_newest_attempt(path, &run_dir) {
                        note(
                            path,
                            format!(
                                "skipped: superseded by the newer attempt {} (only a run's newest attempt is converted)",
                                newest.display()
                            ),
                        );
                        return Ok(Vec::new());
                    }
                }
                Some(run_dir.join(CHILDREN_DIR))
            }
            Place::Loose => None,
        };
        let status = read_status(path)?;
        let converter = Converter {
            tz: options.tz,
            legacy: is_legacy(path),
            children_dir,
            steps: Vec::new(),
            ids: HashSet::new(),
            expanded: HashSet::new(),
        };
        check_runs(path, vec![converter.run(path, &status)?])
    }
}

/// `{"RequestId"…`: Go writes struct fields in order without spaces, and the legacy status
/// struct starts with `RequestId`.
fn starts_with_key(head: &[u8], key: &str) -> bool {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let rest = match head.trim_ascii_start().strip_prefix(b"{") {
        Some(r) => r.trim_ascii_start(),
        None => return false,
    };
    rest.strip_prefix(b"\"")
        .and_then(|r| r.strip_prefix(key.as_bytes()))
        .is_some_and(|r| r.starts_with(b"\""))
}

fn is_legacy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "dat")
}

fn note(path: &Path, message: impl Display) {
    let message = message.to_string();
    eprintln!("retrace: note: {}: {}", path.display(), shorten(&message));
}

fn warn(path: &Path, message: impl Display) {
    let message = message.to_string();
    eprintln!(
        "retrace: warning: {}: {}",
        path.display(),
        shorten(&message)
    );
}

// ---- where a status file sits in a data directory ----

enum Place {
    /// Not inside an `attempt_*` directory: a copied or legacy file, converted on its own.
    Loose,
    /// `…/dag-run_<ts>_<id>/attempt_*/status.jsonl` of a root run.
    Attempt { run_dir: PathBuf },
    /// `…/dag-run_<ts>_<id>/children/child_<id>/attempt_*/status.jsonl` of a sub-DAG run.
    Child { root_run_dir: PathBuf },
}

fn dir_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

fn place_of(path: &Path) -> Place {
    // Judged on the absolute path, so that `attempt_x/status.jsonl` given from inside a run
    // directory still finds its run (no symlinks are resolved, nothing is read).
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let ancestor = |n: usize| abs.ancestors().nth(n).filter(|d| !dir_name(d).is_empty());
    if !ancestor(1).is_some_and(|d| dir_name(d).starts_with(ATTEMPT_PREFIX)) {
        return Place::Loose;
    }
    let Some(run_dir) = ancestor(2) else {
        return Place::Loose;
    };
    if dir_name(run_dir).starts_with(CHILD_PREFIX)
        && ancestor(3).is_some_and(|d| dir_name(d) == CHILDREN_DIR)
        && abs.ancestors().nth(4).is_some()
    {
        return Place::Child {
            root_run_dir: spelled_as_given(path, &abs, 4),
        };
    }
    Place::Attempt {
        run_dir: spelled_as_given(path, &abs, 2),
    }
}

/// The directory `levels` above `path`, spelled from the path as the user gave it when that
/// reaches so far (messages then show paths the user recognises), else absolute.
fn spelled_as_given(path: &Path, abs: &Path, levels: usize) -> PathBuf {
    match path.ancestors().nth(levels) {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => abs
            .ancestors()
            .nth(levels)
            .map_or_else(PathBuf::new, Path::to_path_buf),
    }
}

/// The status file of a run directory's newest attempt: attempt directory names start with
/// their UTC timestamp (`attempt_20260507_001202_120Z_a1b2c3`), so the greatest name is the
/// newest. An attempt without a status file yet (just created) does not count.
fn newest_attempt(run_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(run_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(ATTEMPT_PREFIX))
        })
        .map(|e| e.path().join(STATUS_FILE))
        .filter(|p| p.is_file())
        .max_by(|a, b| attempt_name(a).cmp(attempt_name(b)))
}

fn attempt_name(status_file: &Path) -> &str {
    status_file.parent().map(dir_name).unwrap_or_default()
}

fn is_newest_attempt(path: &Path, run_dir: &Path) -> bool {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    newest_attempt(run_dir).is_some_and(|n| attempt_name(&n) == attempt_name(&abs))
}

// ---- status structs (Dagu's JSON tags; legacy PascalCase as aliases) ----

/// `null` (a nil Go slice or struct pointer) reads as the default value.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default, deserialize_with = "nullable")]
    parent: RunRef,
    #[serde(alias = "Name")]
    name: String,
    #[serde(rename = "dagRunId", alias = "RequestId")]
    dag_run_id: String,
    #[serde(default, deserialize_with = "nullable")]
    attempt_id: String,
    #[serde(default, alias = "Status")]
    status: i64,
    #[serde(default)]
    trigger_type: Option<i64>,
    #[serde(default, alias = "Nodes", deserialize_with = "nullable")]
    nodes: Vec<Option<Node>>,
    #[serde(default)]
    on_init: Option<Node>,
    #[serde(default, alias = "OnExit")]
    on_exit: Option<Node>,
    #[serde(default, alias = "OnSuccess")]
    on_success: Option<Node>,
    #[serde(default, alias = "OnFailure")]
    on_failure: Option<Node>,
    #[serde(default)]
    on_abort: Option<Node>,
    /// Before Dagu 2.3 (and in legacy files) the abort handler was `onCancel`.
    #[serde(default, alias = "OnCancel")]
    on_cancel: Option<Node>,
    #[serde(default)]
    on_wait: Option<Node>,
    /// Unix milliseconds.
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    queued_at: Option<String>,
    #[serde(default, alias = "StartedAt")]
    started_at: Option<String>,
    #[serde(default, alias = "FinishedAt")]
    finished_at: Option<String>,
    #[serde(default)]
    auto_retry_count: Option<i64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    /// `labels` before Dagu 2.6.
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RunRef {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    #[serde(default, alias = "Step", deserialize_with = "nullable")]
    step: StepDef,
    #[serde(default, alias = "StartedAt")]
    started_at: Option<String>,
    #[serde(default, alias = "FinishedAt")]
    finished_at: Option<String>,
    #[serde(default, alias = "Status")]
    status: i64,
    #[serde(default, alias = "RetriedAt")]
    retried_at: Option<String>,
    #[serde(default, alias = "RetryCount")]
    retry_count: Option<i64>,
    #[serde(default, alias = "DoneCount")]
    done_count: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    repeated: bool,
    #[serde(default, deserialize_with = "nullable")]
    skipped_by_retry: bool,
    #[serde(default, alias = "Error")]
    error: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    children: Vec<SubRunRef>,
    /// Sub-DAG runs of earlier repetitions of a repeated step.
    #[serde(default, deserialize_with = "nullable")]
    children_repeated: Vec<SubRunRef>,
}

impl Node {
    /// The sub-DAG runs this step started, each once: the current repetition's (`children`)
    /// and earlier ones' (`childrenRepeated`), which may list a run again.
    fn sub_runs(&self) -> impl Iterator<Item = &SubRunRef> {
        let mut seen = HashSet::new();
        self.children
            .iter()
            .chain(&self.children_repeated)
            .filter(move |c| !c.dag_run_id.trim().is_empty() && seen.insert(c.dag_run_id.trim()))
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StepDef {
    #[serde(default, alias = "Name", deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    id: String,
    /// Names (or ids) of upstream steps.
    #[serde(default, alias = "Depends", deserialize_with = "nullable")]
    depends: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SubRunRef {
    #[serde(default, deserialize_with = "nullable")]
    dag_run_id: String,
    #[serde(default, deserialize_with = "nullable")]
    dag_name: String,
}

// ---- reading the last valid line ----

fn read_status(path: &Path) -> Result<Status, SourceError> {
    let bytes = read_file(path)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let lines: Vec<(usize, &[u8])> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_ascii()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    // The first failure met going backwards is the last line's.
    let mut last_bad: Option<(usize, String)> = None;
    for &(number, line) in lines.iter().rev() {
        // serde_json does not look at the text of keys it skips: check the whole line.
        if let Err(e) = std::str::from_utf8(line) {
            if last_bad.is_none() {
                last_bad = Some((
                    number,
                    format!("not UTF-8 text (column {})", e.valid_up_to() + 1),
                ));
            }
            continue;
        }
        match serde_json::from_slice::<Status>(line) {
            Ok(status) => {
                if let Some((bad, why)) = &last_bad {
                    warn(
                        path,
                        format!(
                            "last line {bad} is not a valid status ({why}); using line {number}"
                        ),
                    );
                }
                return Ok(status);
            }
            Err(e) => {
                if last_bad.is_none() {
                    last_bad = Some((number, describe(&e)));
                }
            }
        }
    }
    let problem = match last_bad {
        None => "file is empty".to_owned(),
        Some((number, why)) if lines.len() == 1 => format!("line {number}: {why}"),
        Some((number, why)) => format!(
            "none of its {} lines is a valid status; the last (line {number}): {why}",
            lines.len()
        ),
    };
    Err(SourceError::new(path, problem))
}

/// A serde error on one line, in words a user can act on (serde's own position is relative
/// to the line, so only the column is kept).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let bare = json_message(e);
    match e.classify() {
        Category::Eof => "truncated JSON".to_owned(),
        Category::Syntax => format!("not valid JSON: {bare} at column {}", e.column()),
        Category::Data => format!("not a Dagu status: {bare}"),
        Category::Io => format!("cannot read: {bare}"),
    }
}

// ---- statuses ----

/// `core.Status.String()`.
fn run_label(status: i64) -> &'static str {
    match status {
        0 => "not_started",
        1 => "running",
        2 => "failed",
        3 => "aborted",
        4 => "succeeded",
        5 => "queued",
        6 => "partially_succeeded",
        7 => "waiting",
        8 => "rejected",
        _ => "unknown",
    }
}

/// `core.NodeStatus.String()`: the run's labels, with 5 = skipped and 9 = retrying.
fn node_label(status: i64) -> &'static str {
    match status {
        5 => "skipped",
        9 => "retrying",
        s => run_label(s),
    }
}

fn run_outcome(status: i64) -> Outcome {
    match status {
        2 => Outcome::Failure,
        3 | 8 => Outcome::Cancellation,
        4 | 6 => Outcome::Success,
        _ => Outcome::Unknown,
    }
}

fn node_outcome(status: i64) -> Outcome {
    match status {
        5 => Outcome::Skip,
        9 => Outcome::Unknown,
        s => run_outcome(s),
    }
}

/// `core.TriggerType.String()` (6 = catchup in the newest versions).
fn trigger_label(trigger: i64) -> &'static str {
    match trigger {
        1 => "scheduler",
        2 => "manual",
        3 => "webhook",
        4 => "subdag",
        5 => "retry",
        6 => "catchup",
        _ => "unknown",
    }
}

/// Dagu validates run ids to this alphabet; anything else must not become a path.
fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

// ---- conversion ----

/// Builds one run's steps; sub-DAG runs are added to the same list.
struct Converter {
    tz: Zone,
    /// Legacy files spell their keys in PascalCase; error messages name fields as written.
    legacy: bool,
    /// `children/` of the root run, when the file sits in a dag-runs tree.
    children_dir: Option<PathBuf>,
    steps: Vec<Step>,
    /// Step ids handed out so far (unique within the run).
    ids: HashSet<String>,
    /// Run ids already in the trace: a sub-DAG referenced twice, or a loop, is taken once.
    expanded: HashSet<String>,
}

/// One node of a status, in span order, with what the conversion needs beside it.
struct Entry<'a> {
    node: &'a Node,
    /// `onExit`, … for handler nodes.
    handler: Option<&'static str>,
    /// Field path for error messages (`nodes[2]`, `onExit`).
    at: String,
    name: String,
    id: String,
}

impl Converter {
    fn run(mut self, path: &Path, s: &Status) -> Result<Run, SourceError> {
        let (name_key, id_key) = if self.legacy {
            ("Name", "RequestId")
        } else {
            ("name", "dagRunId")
        };
        let name = s.name.trim();
        if name.is_empty() {
            return Err(SourceError::new(path, format!("{name_key} is empty")));
        }
        let run_id = s.dag_run_id.trim();
        if run_id.is_empty() {
            return Err(SourceError::new(path, format!("{id_key} is empty")));
        }
        let mut start = self.time(path, &self.field("startedAt"), s.started_at.as_deref())?;
        let end = self.time(path, &self.field("finishedAt"), s.finished_at.as_deref())?;
        self.expanded.insert(run_id.to_owned());
        self.add_steps(path, s, None, 0)?;
        // A run that never started (queued, not_started) has no step times either; its
        // queue time still places it.
        if start.is_none()
            && self
                .steps
                .iter()
                .all(|st| st.start.is_none() && st.end.is_none())
        {
            start = match self.time(path, &self.field("queuedAt"), s.queued_at.as_deref())? {
                Some(t) => Some(t),
                None => s
                    .created_at
                    .filter(|ms| *ms > 0)
                    .and_then(|ms| ms.checked_mul(1_000_000)),
            };
        }
        let outcome = run_outcome(s.status);
        Ok(Run {
            system: "dagu".into(),
            run_id: run_id.to_owned(),
            name: format!("DAG: {name}"),
            pipeline_name: name.to_owned(),
            start,
            end,
            outcome,
            message: run_message(s, outcome),
            parent: None,
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            events: Vec::new(),
            attributes: dag_attributes(s, None),
            steps: self.steps,
        })
    }

    /// `startedAt` → `StartedAt` in legacy files.
    fn field(&self, camel: &str) -> String {
        if !self.legacy {
            return camel.to_owned();
        }
        let mut chars = camel.chars();
        chars.next().map_or_else(String::new, |c| {
            c.to_ascii_uppercase().to_string() + chars.as_str()
        })
    }

    fn time(
        &self,
        file: &Path,
        field: &str,
        text: Option<&str>,
    ) -> Result<Option<Nanos>, SourceError> {
        let Some(t) = text.map(str::trim).filter(|t| !unrecorded(t)) else {
            return Ok(None);
        };
        parse_in_zone(t, self.tz)
            .map(Some)
            .map_err(|e| SourceError::new(file, format!("{field}: {e}")))
    }

    /// A step id unique within the run: names may repeat across sub-DAGs and handlers, and
    /// the builder needs every id once.
    fn alloc(&mut self, base: String) -> String {
        if self.ids.insert(base.clone()) {
            return base;
        }
        let mut n = 2;
        loop {
            let candidate = format!("{base}#{n}");
            if self.ids.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }

    /// The steps of one DAG run (the root, or a sub-DAG under the step `under`).
    fn add_steps(
        &mut self,
        file: &Path,
        s: &Status,
        under: Option<&str>,
        depth: usize,
    ) -> Result<(), SourceError> {
        // Span order: onInit, the steps, then the other handlers as Dagu runs them. Handlers
        // are listed only when they ran: Dagu keeps every defined handler in the status, and
        // one that never fired (onFailure of a green run) did no work.
        let abort = match (&s.on_abort, &s.on_cancel) {
            (Some(n), _) => ("onAbort", Some(n)),
            (None, n) => ("onCancel", n.as_ref()),
        };
        let handlers = [
            ("onSuccess", "onSuccess", s.on_success.as_ref()),
            ("onFailure", "onFailure", s.on_failure.as_ref()),
            ("onAbort", abort.0, abort.1),
            ("onWait", "onWait", s.on_wait.as_ref()),
            ("onExit", "onExit", s.on_exit.as_ref()),
        ];
        let mut planned: Vec<(Option<&'static str>, String, &Node)> =
            Vec::with_capacity(s.nodes.len() + 2);
        if let Some(n) = s.on_init.as_ref().filter(|n| n.status != 0) {
            planned.push((Some("onInit"), self.field("onInit"), n));
        }
        let nodes_key = self.field("nodes");
        for (i, n) in s.nodes.iter().enumerate() {
            if let Some(n) = n {
                planned.push((None, format!("{nodes_key}[{i}]"), n));
            }
        }
        for (label, key, node) in handlers {
            if let Some(n) = node.filter(|n| n.status != 0) {
                planned.push((Some(label), self.field(key), n));
            }
        }

        // First every id of this DAG, so that `depends` can name a step listed later.
        let mut by_name: HashMap<&str, String> = HashMap::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(planned.len());
        for (handler, at, node) in planned {
            let name = [
                node.step.name.trim(),
                node.step.id.trim(),
                handler.unwrap_or_default(),
            ]
            .into_iter()
            .find(|n| !n.is_empty())
            .map_or_else(|| at.clone(), str::to_owned);
            let id = self.alloc(match under {
                Some(u) => format!("{u}/{name}"),
                None => name.clone(),
            });
            if handler.is_none() {
                for key in [node.step.name.trim(), node.step.id.trim()] {
                    if !key.is_empty() {
                        by_name.entry(key).or_insert_with(|| id.clone());
                    }
                }
            }
            entries.push(Entry {
                node,
                handler,
                at,
                name,
                id,
            });
        }

        for e in &entries {
            let step = self.node_step(file, e, under, &by_name)?;
            self.steps.push(step);
            for child in e.node.sub_runs() {
                self.add_sub_run(file, s, e, child, depth);
            }
        }
        Ok(())
    }

    fn node_step(
        &self,
        file: &Path,
        e: &Entry,
        under: Option<&str>,
        by_name: &HashMap<&str, String>,
    ) -> Result<Step, SourceError> {
        let n = e.node;
        let at = |field: &str| format!("{} ({}).{}", e.at, e.name, self.field(field));
        let mut step = Step::new(e.id.clone(), format!("Step: {}", e.name));
        step.parent = under.map(str::to_owned);
        step.start = self.time(file, &at("startedAt"), n.started_at.as_deref())?;
        step.end = self.time(file, &at("finishedAt"), n.finished_at.as_deref())?;
        if step.start.is_none() && step.end.is_none() {
            step.time_source = TimeSource::Derived;
        }
        step.outcome = node_outcome(n.status);
        let error = n.error.as_deref().map(str::trim).filter(|m| !m.is_empty());
        if step.outcome.is_error() {
            step.message = error.map(str::to_owned);
        }
        step.links = n
            .step
            .depends
            .iter()
            .filter_map(|d| by_name.get(d.trim()).cloned())
            .collect();

        let a = &mut step.attributes;
        a.put(sc::CICD_TASK_NAME, e.name.clone());
        a.put(sc::STEP_NAME, e.name.clone());
        a.put(sc::STEP_STATUS, node_label(n.status));
        a.put_opt(attr::DAGU_STEP_HANDLER, e.handler);
        a.put_opt(attr::DAGU_STEP_ERROR, error);
        let retries = n.retry_count.filter(|c| *c > 0);
        a.put_opt(attr::DAGU_STEP_RETRY_COUNT, retries);
        if n.repeated {
            a.put_opt(attr::DAGU_STEP_DONE_COUNT, n.done_count);
        }
        if n.skipped_by_retry {
            a.put(attr::DAGU_STEP_SKIPPED_BY_RETRY, true);
        }
        let child_ids: Vec<String> = n
            .sub_runs()
            .map(|c| c.dag_run_id.trim().to_owned())
            .collect();
        if !child_ids.is_empty() {
            a.put(attr::DAGU_STEP_CHILD_RUN_IDS, child_ids);
        }
        // Dagu keeps only the last retry's time: one event for it.
        if let Some(t) = self.time(file, &at("retriedAt"), n.retried_at.as_deref())? {
            let mut attrs = Attributes::default();
            attrs.put_opt(attr::DAGU_STEP_RETRY_COUNT, retries);
            step.events.push(Event {
                time: t,
                name: attr::DAGU_STEP_RETRY_EVENT.into(),
                attributes: attrs,
            });
        }
        Ok(step)
    }

    /// A sub-DAG run of step `e`: a `DAG: <name>` step under it, then its own steps. Any
    /// problem with the sub-DAG's file is a warning: the rest of the trace is still worth
    /// sending.
    fn add_sub_run(
        &mut self,
        file: &Path,
        parent: &Status,
        e: &Entry,
        child: &SubRunRef,
        depth: usize,
    ) {
        let cid = child.dag_run_id.trim();
        if cid.is_empty() {
            return;
        }
        let what = format!("sub-DAG run {cid} of step {}", e.name);
        let Some(children_dir) = &self.children_dir else {
            warn(
                file,
                format!("{what} left out: sub-DAG runs are read from a dag-runs tree (…/dag-run_*/children/child_<id>/)"),
            );
            return;
        };
        if !is_run_id(cid) {
            warn(file, format!("{what} left out: not a Dagu run id"));
            return;
        }
        if depth >= MAX_DEPTH || self.expanded.contains(cid) {
            warn(
                file,
                format!("{what} left out: already in this trace (a loop of sub-DAG calls?)"),
            );
            return;
        }
        let child_dir = children_dir.join(format!("{CHILD_PREFIX}{cid}"));
        let Some(child_file) = newest_attempt(&child_dir) else {
            warn(
                file,
                format!(
                    "{what} left out: no attempt_*/{STATUS_FILE} under {}",
                    child_dir.display()
                ),
            );
            return;
        };
        let status = match read_status(&child_file) {
            Ok(s) => s,
            Err(err) => {
                warn(
                    &err.path,
                    format!("{}; {what} in {} left out", err.problem, file.display()),
                );
                return;
            }
        };
        // A bad time deep inside must not leave half a sub-DAG behind.
        let (steps, ids, expanded) = (self.steps.len(), self.ids.clone(), self.expanded.clone());
        self.expanded.insert(cid.to_owned());
        if let Err(err) = self.sub_run_steps(&child_file, parent, e, child, &status, depth) {
            self.steps.truncate(steps);
            self.ids = ids;
            self.expanded = expanded;
            warn(
                &err.path,
                format!("{}; {what} in {} left out", err.problem, file.display()),
            );
        }
    }

    fn sub_run_steps(
        &mut self,
        file: &Path,
        parent: &Status,
        e: &Entry,
        child: &SubRunRef,
        s: &Status,
        depth: usize,
    ) -> Result<(), SourceError> {
        let name = [
            s.name.trim(),
            child.dag_name.trim(),
            child.dag_run_id.trim(),
        ]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or_default()
        .to_owned();
        let id = self.alloc(format!("{}/{}", e.id, child.dag_run_id.trim()));
        let mut step = Step::new(id.clone(), format!("DAG: {name}"));
        step.parent = Some(e.id.clone());
        step.start = self.time(file, &self.field("startedAt"), s.started_at.as_deref())?;
        step.end = self.time(file, &self.field("finishedAt"), s.finished_at.as_deref())?;
        if step.start.is_none() && step.end.is_none() {
            step.time_source = TimeSource::Derived;
        }
        step.outcome = run_outcome(s.status);
        step.message = run_message(s, step.outcome);
        step.attributes.put(sc::CICD_TASK_NAME, name);
        step.attributes
            .0
            .extend(dag_attributes(s, Some((parent.dag_run_id.trim(), parent.name.trim()))).0);
        // The status file's own id wins over the reference that led here.
        if s.dag_run_id.trim().is_empty() {
            step.attributes
                .put(sc::DAG_RUN_ID, child.dag_run_id.trim().to_owned());
        }
        self.steps.push(step);
        self.add_steps(file, s, Some(&id), depth + 1)
    }
}

fn unrecorded(t: &str) -> bool {
    // `-`: a node that has not run; `0001-01-01…`: Go's zero time.
    t.is_empty() || t == "-" || t.starts_with("0001-01-01")
}

/// The attributes Dagu puts on its `DAG:` spans, plus what the status adds.
/// `caller`: (run id, name) of the calling run, for a sub-DAG whose status names no parent.
fn dag_attributes(s: &Status, caller: Option<(&str, &str)>) -> Attributes {
    let mut a = Attributes::default();
    let run_id = s.dag_run_id.trim();
    if !s.name.trim().is_empty() {
        a.put(sc::DAG_NAME, s.name.trim().to_owned());
    }
    if !run_id.is_empty() {
        a.put(sc::DAG_RUN_ID, run_id.to_owned());
    }
    let parent = Some((s.parent.id.trim(), s.parent.name.trim()))
        .filter(|(id, _)| !id.is_empty() && *id != run_id)
        .or(caller);
    if let Some((id, name)) = parent {
        a.put(sc::DAG_PARENT_RUN_ID, id.to_owned());
        if !name.is_empty() {
            a.put(sc::DAG_PARENT_NAME, name.to_owned());
        }
    }
    a.put(sc::DAG_STATUS, run_label(s.status));
    let attempt = s.attempt_id.trim();
    if !attempt.is_empty() {
        a.put(attr::DAGU_ATTEMPT_ID, attempt.to_owned());
    }
    a.put_opt(attr::DAGU_TRIGGER_TYPE, s.trigger_type.map(trigger_label));
    a.put_opt(
        attr::DAGU_AUTO_RETRY_COUNT,
        s.auto_retry_count.filter(|c| *c > 0),
    );
    let labels = s.labels.as_ref().or(s.tags.as_ref());
    a.put_opt(attr::DAGU_LABELS, labels.filter(|l| !l.is_empty()).cloned());
    a.put_opt(
        attr::DAGU_DAG_ERROR,
        s.error.as_deref().map(str::trim).filter(|m| !m.is_empty()),
    );
    a
}

/// The root span's status message of a failed run: Dagu's run-level `error`, else which
/// steps failed.
fn run_message(s: &Status, outcome: Outcome) -> Option<String> {
    if !outcome.is_error() {
        return None;
    }
    if let Some(e) = s.error.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        return Some(e.to_owned());
    }
    let failed: Vec<&str> = s
        .nodes
        .iter()
        .flatten()
        .chain(
            [
                &s.on_init,
                &s.on_success,
                &s.on_failure,
                &s.on_abort,
                &s.on_cancel,
                &s.on_wait,
                &s.on_exit,
            ]
            .into_iter()
            .flatten(),
        )
        .filter(|n| node_outcome(n.status).is_error())
        .map(|n| n.step.name.trim())
        .filter(|n| !n.is_empty())
        .collect();
    Some(if failed.is_empty() {
        "failed".to_owned()
    } else {
        format!("failed steps: {}", failed.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> Status {
        serde_json::from_str(json).unwrap()
    }

    fn convert(json: &str, tz: Zone) -> Run {
        let converter = Converter {
            tz,
            legacy: false,
            children_dir: None,
            steps: Vec::new(),
            ids: HashSet::new(),
            expanded: HashSet::new(),
        };
        converter
            .run(Path::new("x/status.jsonl"), &status(json))
            .unwrap()
    }

    #[test]
    fn labels_and_outcomes() {
        assert_eq!(run_label(6), "partially_succeeded");
        assert_eq!(run_label(5), "queued");
        assert_eq!(node_label(5), "skipped");
        assert_eq!(node_label(9), "retrying");
        assert_eq!(node_label(42), "unknown");
        assert_eq!(run_outcome(4), Outcome::Success);
        assert_eq!(run_outcome(6), Outcome::Success);
        assert_eq!(run_outcome(2), Outcome::Failure);
        assert_eq!(run_outcome(3), Outcome::Cancellation);
        assert_eq!(run_outcome(8), Outcome::Cancellation);
        assert_eq!(run_outcome(1), Outcome::Unknown);
        assert_eq!(run_outcome(5), Outcome::Unknown, "queued, not skipped");
        assert_eq!(node_outcome(5), Outcome::Skip);
        assert_eq!(node_outcome(9), Outcome::Unknown);
        assert_eq!(trigger_label(5), "retry");
    }

    #[test]
    fn places_in_a_data_directory() {
        let run = "/d/etl/dag-runs/2026/05/07/dag-run_20260507_001202Z_r1";
        assert!(matches!(
            place_of(Path::new(&format!("{run}/attempt_1/status.jsonl"))),
            Place::Attempt { run_dir } if run_dir == Path::new(run)
        ));
        assert!(matches!(
            place_of(Path::new(&format!("{run}/children/child_c1/attempt_1/status.jsonl"))),
            Place::Child { root_run_dir } if root_run_dir == Path::new(run)
        ));
        assert!(matches!(
            place_of(Path::new("/tmp/status.jsonl")),
            Place::Loose
        ));
        assert!(matches!(place_of(Path::new("status.jsonl")), Place::Loose));
    }

    #[test]
    fn legacy_heads() {
        assert!(starts_with_key(
            b"{\"RequestId\":\"x\",\"Name\":\"n\"",
            "RequestId"
        ));
        assert!(starts_with_key(
            b"\xef\xbb\xbf { \"RequestId\":",
            "RequestId"
        ));
        assert!(!starts_with_key(b"{\"RequestIdx\":1}", "RequestId"));
        assert!(!starts_with_key(b"garbage", "RequestId"));
    }

    #[test]
    fn unrecorded_times_are_left_to_the_timeline() {
        let run = convert(
            r#"{"name":"d","dagRunId":"r","status":1,"startedAt":"2026-05-07T09:12:02+09:00",
                "finishedAt":"","nodes":[
                {"step":{"name":"a"},"startedAt":"2026-05-07T09:12:03+09:00","finishedAt":"-","status":1},
                {"step":{"name":"b"},"startedAt":"-","finishedAt":"-","status":0},
                {"step":{"name":"c"},"startedAt":"0001-01-01T00:00:00Z","finishedAt":"0001-01-01T00:00:00Z","status":0}]}"#,
            Zone::Local,
        );
        assert_eq!(run.start, Some(1_778_112_722_000_000_000));
        assert_eq!(run.end, None);
        assert_eq!(run.steps[0].start, Some(1_778_112_723_000_000_000));
        assert_eq!(run.steps[0].end, None);
        assert_eq!(run.steps[1].time_source, TimeSource::Derived);
        assert_eq!(run.steps[2].start, None);
        assert_eq!(run.outcome, Outcome::Unknown);
    }

    #[test]
    fn zone_less_times_use_the_zone_and_never_started_runs_their_queue_time() {
        let tokyo = Zone::parse("Asia/Tokyo").unwrap();
        let run = convert(
            r#"{"name":"d","dagRunId":"r","status":5,"queuedAt":"2026-05-07 09:12:02","nodes":[]}"#,
            tokyo,
        );
        assert_eq!(run.start, Some(1_778_112_722_000_000_000));
        let run = convert(
            r#"{"name":"d","dagRunId":"r","status":5,"createdAt":1778112722871,"nodes":null}"#,
            tokyo,
        );
        assert_eq!(run.start, Some(1_778_112_722_871_000_000));
    }

    #[test]
    fn duplicate_names_and_handlers_get_unique_ids() {
        let run = convert(
            r#"{"name":"d","dagRunId":"r","status":4,"startedAt":"2026-05-07T00:00:00Z",
                "nodes":[{"step":{"name":"onExit"},"status":4},{"step":{"name":"onExit"},"status":4},{"step":{},"status":4}],
                "onExit":{"step":{"name":"onExit"},"status":4},
                "onFailure":{"step":{"name":"onFailure"},"status":0}}"#,
            Zone::Local,
        );
        let ids: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["onExit", "onExit#2", "nodes[2]", "onExit#3"]);
        assert_eq!(
            run.steps[3].attributes.get(attr::DAGU_STEP_HANDLER),
            Some(&"onExit".into())
        );
    }

    #[test]
    fn failed_run_message_names_the_failed_steps() {
        let run = convert(
            r#"{"name":"d","dagRunId":"r","status":2,"startedAt":"2026-05-07T00:00:00Z",
                "nodes":[{"step":{"name":"a"},"status":2,"error":"exit status 1"},{"step":{"name":"b"},"status":3}]}"#,
            Zone::Local,
        );
        assert_eq!(run.message.as_deref(), Some("failed steps: a"));
        assert_eq!(run.steps[0].message.as_deref(), Some("exit status 1"));
        assert_eq!(run.steps[1].message, None);
    }

    #[test]
    fn garbage_time_names_the_node() {
        let converter = Converter {
            tz: Zone::Local,
            legacy: true,
            children_dir: None,
            steps: Vec::new(),
            ids: HashSet::new(),
            expanded: HashSet::new(),
        };
        let err = converter
            .run(
                Path::new("x.dat"),
                &status(r#"{"RequestId":"r","Name":"d","Status":4,"Nodes":[{"Step":{"Name":"a"},"StartedAt":"soon","Status":4}]}"#),
            )
            .unwrap_err();
        assert_eq!(
            err.problem,
            r#"Nodes[0] (a).StartedAt: "soon" is not an ISO 8601 timestamp"#
        );
    }
}
