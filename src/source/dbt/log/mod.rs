//! dbt's own log as history: `logs/dbt.log` and its rotated files (`dbt.log.1` … `.5`, read
//! oldest first as one stream), in both file formats (JSON lines and the default text format;
//! a line is read as JSON when it starts with `{`, so a set whose format changed is read too).
//!
//! One run per invocation, with the ids run_results.json gives it (run id = invocation_id,
//! trace id = its 16 bytes, step ids = unique_id and attempt), so the log and the artifact of
//! one invocation are one trace; given together they merge into one run (`merge`:
//! run_results wins field by field, the log adds what it lacks — batches, hooks of a
//! freshness run, the freshness runtime error, times of skipped nodes).
//!
//! Time: JSON `info.ts`, `node_started_at`/`node_finished_at` and `timing_info` are UTC, µs,
//! exact (node span = earliest timing start → latest timing end, as for run_results; without
//! timing: node_started_at → node_finished_at, else the NodeFinished line). Text: local time
//! of day, µs, no date, no zone. The zone is `--tz` (default: the machine's), or the offset
//! the set's headers and their artifacts agree on (`zone_from_artifacts`); the date comes
//! from the invocation's artifact when it is converted together (the date that puts the
//! header nearest `invocation_started_at`; a headerless start is named by the artifact whose
//! run holds its time), else from each file's modification time, which dates its last line,
//! counting day roll-overs backwards (time of day going back by more than two hours, or at
//! an invocation header by more than a minute); an older rotated file's last line is no
//! later than the next file's first. A text node spans its `Began running node` and
//! `Finished running node` lines (a hook: its `START hook` and result lines). Such times are
//! marked `retrace.time_source=inferred`. The clock is never read.
//!
//! An invocation without its start (rotated away) or its end (the log ends, or the next
//! header comes first) is converted from what remains and marked `retrace.run.incomplete`;
//! a node still open ends at the invocation's last recorded time, marked derived. Lines that
//! are not dbt's (a line that is not a JSON record, text before a file's first record, a
//! time of day that is not one, a line longer than 8 MiB) are skipped and counted in one line
//! per log set.

mod json;
mod text;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use rustc_hash::FxHashMap as HashMap;

use super::attributes as attr;
use super::{Kind, Options};
use crate::record::{
    AttrValue, Attributes, Event as SpanEvent, Nanos, Outcome, Run, Step, TimeSource,
};
use crate::report::report;
use crate::source::time::Zone;
use crate::source::{check_run, is_regular, SourceError, SourceOptions};
use crate::trace::semconv as sc;

/// The root attribute of a run some of whose beginning or end is not in the log.
pub const RETRACE_RUN_INCOMPLETE: &str = "retrace.run.incomplete";

/// The longest line kept; the rest of a longer line is skipped unread into memory.
const MAX_LINE: usize = 8 << 20;

// ---- names ----

/// `dbt.log` → 0, `dbt.log.3` → 3; None for any other name.
pub fn rotation(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("dbt.log")?;
    if rest.is_empty() {
        return Some(0);
    }
    let n = rest.strip_prefix('.')?;
    (!n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

pub fn is_log(path: &Path) -> bool {
    rotation(path).is_some()
}

/// A dbt log, by its name alone (`dbt.log`, `dbt.log.1` …): a file so named is dbt's, so one
/// that holds no dbt records (empty, cut, garbage) is reported rather than passed over. A
/// walk's second pass hands a log set over by name, so detecting by content here would let
/// the two passes disagree.
pub fn detect(path: &Path, _head: &[u8]) -> bool {
    is_log(path)
}

// ---- what a line says ----

/// What the end of a node says.
#[derive(Default)]
pub struct Finish {
    pub finished: Option<Nanos>,
    pub status: Option<String>,
    pub message: Option<String>,
    pub execution_time: Option<f64>,
    pub failures: Option<i64>,
    pub thread: Option<String>,
    pub adapter_response: Option<serde_json::Map<String, serde_json::Value>>,
    /// (phase, start, end), as run_results' `timing`.
    pub timing: Vec<(String, Option<Nanos>, Option<Nanos>)>,
}

pub enum Event {
    /// The first record of an invocation (JSON `MainReportVersion`; text: the header).
    Begin {
        version: Option<String>,
    },
    Version(String),
    Args {
        invocation_command: Option<String>,
    },
    Concurrency {
        threads: Option<i64>,
        target: Option<String>,
    },
    NodeStart {
        key: String,
        uid: String,
        thread: String,
        started: Option<Nanos>,
        hook: bool,
        materialized: Option<String>,
        relation: Option<String>,
    },
    /// A microbatch batch: the open node with `key` (JSON), else the innermost open node on
    /// `thread` (text).
    Batch {
        key: Option<String>,
        thread: String,
        index: i64,
        description: Option<String>,
    },
    NodeFinish {
        key: String,
        finish: Finish,
    },
    /// A text result line (`3 of 13 OK created …`) for the innermost node open on `thread`.
    Status {
        thread: String,
        word: String,
        failures: Option<i64>,
        execution_time: Option<f64>,
    },
    /// A text error record (`Runtime Error in model x …` and the lines under it).
    ErrorText {
        thread: String,
        text: String,
    },
    End {
        at: Option<Nanos>,
        success: Option<bool>,
        command: Option<String>,
    },
    Other,
}

pub struct Line {
    pub at: Nanos,
    /// JSON: every line's invocation; text: None (the header's id begins one).
    pub invocation: Option<String>,
    pub event: Event,
    /// JSON `info.extra`: dbt's `DBT_ENV_CUSTOM_ENV_*` variables, prefix removed.
    pub env: Vec<(String, String)>,
}

// ---- one invocation ----

struct Node {
    uid: String,
    key: String,
    thread: String,
    start: Option<Nanos>,
    open: bool,
    hook: bool,
    batch: Option<(i64, Option<String>)>,
    word: Option<String>,
    failures: Option<i64>,
    execution_time: Option<f64>,
    error_text: Option<String>,
    materialized: Option<String>,
    relation: Option<String>,
    finish: Option<Finish>,
}

#[derive(Default)]
struct Invocation {
    id: Option<String>,
    began: bool,
    start: Option<Nanos>,
    end: Option<Nanos>,
    success: Option<bool>,
    command: Option<String>,
    invocation_command: Option<String>,
    version: Option<String>,
    threads: Option<i64>,
    target: Option<String>,
    env: Vec<(String, String)>,
    nodes: Vec<Node>,
    first: Option<Nanos>,
    last: Option<Nanos>,
    /// Text: times of day dated and zoned by retrace.
    inferred: bool,
    /// A headerless text invocation's run id, from its first record as written (its time of
    /// day and a hash of the line): the same however the files are copied or dated.
    content_id: Option<String>,
    /// The file its first line came from.
    file: PathBuf,
}

impl Invocation {
    fn new(file: &Path) -> Invocation {
        Invocation {
            file: file.to_path_buf(),
            ..Invocation::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn open_by_key(&mut self, key: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().rev().find(|n| n.open && n.key == key)
    }

    fn open_on_thread(&mut self, thread: &str) -> Option<&mut Node> {
        self.nodes
            .iter_mut()
            .rev()
            .find(|n| n.open && !n.hook && n.thread == thread)
    }

    fn apply(&mut self, line: Line) {
        let at = line.at;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        if self.env.is_empty() && !line.env.is_empty() {
            self.env = line.env;
        }
        match line.event {
            Event::Begin { version } => {
                self.began = true;
                self.start = Some(at);
                self.version = version.or(self.version.take());
            }
            Event::Version(v) => self.version = Some(v),
            Event::Args { invocation_command } => {
                self.invocation_command = invocation_command.or(self.invocation_command.take())
            }
            Event::Concurrency { threads, target } => {
                self.threads = threads;
                self.target = target;
            }
            Event::NodeStart {
                key,
                uid,
                thread,
                started,
                hook,
                materialized,
                relation,
            } => self.nodes.push(Node {
                uid,
                key,
                thread,
                start: started.or(Some(at)),
                open: true,
                hook,
                batch: None,
                word: None,
                failures: None,
                execution_time: None,
                error_text: None,
                materialized,
                relation,
                finish: None,
            }),
            Event::Batch {
                key,
                thread,
                index,
                description,
            } => {
                let node = match &key {
                    Some(k) => self.open_by_key(k),
                    None => self.open_on_thread(&thread),
                };
                if let Some(node) = node {
                    node.batch = Some((index, description));
                }
            }
            Event::NodeFinish { key, mut finish } => {
                finish.finished = finish.finished.or(Some(at));
                match self.open_by_key(&key) {
                    Some(node) => {
                        node.open = false;
                        node.finish = Some(finish);
                    }
                    None => {
                        // Its start is not in the log (rotated away): known by its end alone.
                        let uid = key.split('|').next().unwrap_or_default().to_owned();
                        self.nodes.push(Node {
                            hook: uid.starts_with("operation."),
                            uid,
                            key,
                            thread: finish.thread.clone().unwrap_or_default(),
                            start: None,
                            open: false,
                            batch: None,
                            word: None,
                            failures: None,
                            execution_time: None,
                            error_text: None,
                            materialized: None,
                            relation: None,
                            finish: Some(finish),
                        });
                    }
                }
            }
            Event::Status {
                thread,
                word,
                failures,
                execution_time,
            } => {
                if let Some(node) = self.open_on_thread(&thread) {
                    node.word = Some(word);
                    node.failures = failures;
                    node.execution_time = execution_time;
                }
            }
            Event::ErrorText { thread, text } => {
                if let Some(node) = self.open_on_thread(&thread) {
                    node.error_text.get_or_insert(text);
                }
            }
            Event::End {
                at: end,
                success,
                command,
            } => {
                self.end = end.or(Some(at));
                self.success = success;
                self.command = command;
            }
            Event::Other => {}
        }
    }

    /// The run, or None when the invocation left no time at all.
    fn into_run(self) -> Option<Run> {
        let first = self.first?;
        let last = self.last.unwrap_or(first);
        let incomplete = !self.began || self.end.is_none();
        let command = super::command_of(
            Kind::RunResults,
            Some(&super::Args {
                invocation_command: self
                    .invocation_command
                    .clone()
                    .or_else(|| self.command.clone()),
                ..Default::default()
            }),
        );
        let kind = if command == "source freshness" {
            Kind::Sources
        } else {
            Kind::RunResults
        };
        let time_source = if self.inferred {
            TimeSource::Inferred
        } else {
            TimeSource::Recorded
        };
        let mut steps: Vec<Step> = Vec::with_capacity(self.nodes.len());
        let mut attempts: HashMap<String, u32> = HashMap::default();
        let mut ids: HashMap<String, u32> = HashMap::default();
        let models: std::collections::HashSet<String> = self
            .nodes
            .iter()
            .filter(|n| n.batch.is_none())
            .map(|n| n.uid.clone())
            .collect();
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for node in self.nodes {
            let step = node_step(
                node,
                kind,
                time_source,
                last,
                &models,
                &mut attempts,
                &mut ids,
            );
            if step.parent.is_none() {
                if let Some(AttrValue::Str(s)) = step.attributes.get(attr::DBT_STATUS) {
                    let s = s.to_ascii_lowercase();
                    if matches!(
                        s.as_str(),
                        "error" | "runtime error" | "fail" | "partial success"
                    ) {
                        *statuses.entry(s).or_default() += 1;
                    }
                }
            }
            steps.push(step);
        }
        let mut outcome = super::worst_outcome(&steps);
        let mut message = outcome.is_error().then(|| {
            statuses
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        if self.success == Some(false) && !outcome.is_error() {
            outcome = Outcome::Error;
            message = Some(format!("dbt {command} failed"));
        }
        let (run_id, native) = match &self.id {
            Some(id) => (id.clone(), crate::trace::ids::uuid_bytes(id)),
            None => (
                self.content_id
                    .unwrap_or_else(|| format!("incomplete@{}", rfc3339(first))),
                None,
            ),
        };
        let mut attributes = Attributes::default();
        attributes.put(attr::DBT_INVOCATION_ID, run_id.as_str());
        attributes.put(attr::DBT_COMMAND, command.clone());
        attributes.put_opt(attr::DBT_VERSION, self.version);
        attributes.put_opt(attr::DBT_INVOCATION_COMMAND, self.invocation_command);
        attributes.put_opt(attr::DBT_TARGET, self.target);
        attributes.put_opt(attr::DBT_THREADS, self.threads);
        let origin = format!("{}: info.extra.TRACEPARENT", self.file.display());
        let parent = super::env_attributes(
            self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            origin,
            &mut attributes,
        );
        if incomplete {
            attributes.put(RETRACE_RUN_INCOMPLETE, true);
        }
        if self.inferred {
            attributes.put(sc::RETRACE_TIME_SOURCE, "inferred");
        }
        let name = format!("dbt {command}");
        Some(Run {
            system: "dbt".into(),
            run_id,
            name: name.clone(),
            pipeline_name: name,
            start: Some(self.start.unwrap_or(first)),
            end: Some(self.end.unwrap_or(last)),
            outcome,
            message,
            parent,
            native_trace_id: native,
            native_span_id: None,
            resource: Vec::new(),
            attributes,
            events: Vec::new(),
            steps,
        })
    }
}

fn rfc3339(at: Nanos) -> String {
    chrono::DateTime::from_timestamp_nanos(at)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A node as run_results.json's conversion makes it (`super::node_step`), from the log.
fn node_step(
    node: Node,
    kind: Kind,
    time_source: TimeSource,
    last: Nanos,
    models: &std::collections::HashSet<String>,
    attempts: &mut HashMap<String, u32>,
    ids: &mut HashMap<String, u32>,
) -> Step {
    let uid = node.uid.as_str();
    let resource_type = uid.split('.').next().unwrap_or(uid).to_owned();
    let node_name = super::name_from_unique_id(uid);
    let finish = node.finish.unwrap_or_default();
    // A text node that ended without a result line (an ephemeral model) succeeded, as the
    // JSON log says of it.
    let status = finish
        .status
        .clone()
        .or_else(|| node.word.as_deref().map(|w| status_of(w, &resource_type)))
        .or_else(|| {
            (!node.open && node.start.is_some() && node.error_text.is_none())
                .then(|| "success".to_owned())
        });
    let (id, name, parent) = match &node.batch {
        Some((index, description)) if models.contains(uid) => (
            format!("{uid}#batch-{index}"),
            description
                .clone()
                .unwrap_or_else(|| format!("batch {index}")),
            Some(node.uid.clone()),
        ),
        _ => (
            node.uid.clone(),
            format!("{resource_type} {node_name}"),
            None,
        ),
    };
    // Unique ids: a second run of a node is its next attempt (as in run_results); a batch
    // index seen twice gets its position.
    let (id, attempt) = if parent.is_none() {
        let n = attempts.entry(id.clone()).or_insert(0);
        *n += 1;
        (id, *n)
    } else {
        let n = ids.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            (format!("{id}#{n}"), 1)
        } else {
            (id, 1)
        }
    };
    let mut step = Step::new(id, name);
    step.parent = parent;
    step.attempt = attempt;
    let timed: Vec<_> = finish
        .timing
        .iter()
        .filter(|(_, s, e)| s.is_some() || e.is_some())
        .collect();
    if timed.is_empty() {
        step.start = node.start;
        step.end = finish.finished;
    } else {
        step.start = timed.iter().filter_map(|t| t.1).min();
        step.end = timed.iter().filter_map(|t| t.2).max();
    }
    step.time_source = time_source;
    if node.open {
        // Never ended in the log: at the invocation's last recorded time.
        step.end = Some(last.max(step.start.unwrap_or(last)));
        step.time_source = TimeSource::Derived;
    }
    if step.start.is_none() {
        step.time_source = TimeSource::Derived;
    }
    let status_text = status.clone().unwrap_or_else(|| {
        if node.open {
            "unfinished".into()
        } else {
            "unknown".into()
        }
    });
    step.outcome = super::outcome_of(kind, &status_text);
    let message = finish
        .message
        .clone()
        .or(node.error_text)
        .filter(|m| !m.is_empty());
    if step.outcome.is_error() {
        step.error_type = Some(super::error_type(message.as_deref(), &status_text));
        step.message = message.clone();
    }
    let a = &mut step.attributes;
    a.put(attr::DBT_NODE_ID, uid);
    a.put(attr::DBT_NODE_NAME, node_name);
    a.put(attr::DBT_RESOURCE_TYPE, resource_type);
    a.put(attr::DBT_STATUS, status_text.as_str());
    a.put_opt(attr::DBT_MESSAGE, message);
    a.put_opt(
        attr::DBT_THREAD_ID,
        finish
            .thread
            .clone()
            .or(Some(node.thread))
            .filter(|t| !t.is_empty()),
    );
    a.put_opt(
        attr::DBT_EXECUTION_TIME,
        finish
            .execution_time
            .or(node.execution_time)
            .filter(|f| f.is_finite()),
    );
    a.put_opt(attr::DBT_FAILURES, finish.failures.or(node.failures));
    if let Some(ar) = &finish.adapter_response {
        super::adapter_attributes(a, ar);
    }
    a.put_opt(attr::DBT_RELATION_NAME, node.relation);
    a.put_opt(attr::DBT_MATERIALIZED, node.materialized);
    if let Some((index, _)) = node.batch {
        a.put(attr::DBT_BATCH_INDEX, index);
    }
    if status_text.eq_ignore_ascii_case("warn") {
        if let Some(end) = step.end {
            let mut attrs = Attributes::default();
            attrs.put_opt("message", step.message.clone());
            step.events.push(SpanEvent {
                time: end,
                name: attr::DBT_WARNING_EVENT.into(),
                attributes: attrs,
            });
        }
    }
    step
}

/// A text result line's status word → the status run_results.json writes.
fn status_of(word: &str, resource_type: &str) -> String {
    match word {
        "OK" => "success",
        "PASS" => "pass",
        "FAIL" => "fail",
        "WARN" => "warn",
        "SKIP" => "skipped",
        "NO-OP" => "no-op",
        "REUSED" => "reused",
        "ERROR STALE" => "error",
        "ERROR" if resource_type == "source" => "runtime error",
        "ERROR" => "error",
        other => return other.to_ascii_lowercase(),
    }
    .to_owned()
}

// ---- merging with run_results.json ----

/// One invocation's run from its artifact and from its log: the artifact's run, with what
/// only the log has added (steps it lacks, times of its untimed steps, attributes it does
/// not set).
pub fn merge(mut artifact: Run, log: Run) -> Run {
    for (k, v) in log.attributes.0 {
        if k != sc::RETRACE_TIME_SOURCE
            && k != RETRACE_RUN_INCOMPLETE
            && artifact.attributes.get(&k).is_none()
        {
            artifact.attributes.put(k, v);
        }
    }
    if artifact.parent.is_none() {
        artifact.parent = log.parent;
    }
    artifact.start = artifact.start.or(log.start);
    artifact.end = artifact.end.or(log.end);
    // The log can know worse than the artifact (a freshness runtime error sources.json
    // leaves out, a command that failed after its artifact was written).
    if log.outcome.severity() > artifact.outcome.severity() {
        artifact.outcome = log.outcome;
        artifact.message = log.message;
    }
    let mut index: HashMap<(String, u32), usize> = artifact
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.id.clone(), s.attempt), i))
        .collect();
    for step in log.steps {
        match index.get(&(step.id.clone(), step.attempt)) {
            Some(&i) => {
                let s = &mut artifact.steps[i];
                if s.start.is_none() && s.end.is_none() && step.start.is_some() {
                    s.start = step.start;
                    s.end = step.end;
                    s.time_source = step.time_source;
                }
                if s.message.is_none() && s.outcome.is_error() {
                    s.message = step.message;
                }
                for (k, v) in step.attributes.0 {
                    if s.attributes.get(&k).is_none() {
                        s.attributes.put(k, v);
                    }
                }
            }
            None => {
                let mut step = step;
                if step
                    .parent
                    .as_ref()
                    .is_some_and(|p| !artifact.steps.iter().any(|s| &s.id == p))
                {
                    step.parent = None;
                }
                index.insert((step.id.clone(), step.attempt), artifact.steps.len());
                artifact.steps.push(step);
            }
        }
    }
    artifact
}

// ---- the artifacts a log is read with ----

/// What an artifact's head says about its invocation: enough to date a text log's
/// invocation and to find which log run it merges with.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub id: String,
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
}

/// The invocation an artifact belongs to, from its first 64 KiB (dbt writes `metadata`
/// first); None when they do not say.
pub fn anchor_of(path: &Path) -> Option<Anchor> {
    use std::io::Read;
    if !is_regular(path) {
        return None;
    }
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .take(64 << 10)
        .read_to_end(&mut head)
        .ok()?;
    let head = String::from_utf8_lossy(&head);
    let field = |name: &str| -> Option<String> {
        let key = format!("\"{name}\"");
        let at = head.find(&key)? + key.len();
        let rest = head[at..].trim_start().strip_prefix(':')?.trim_start();
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    };
    let time = |name: &str| field(name).and_then(|v| crate::source::time::parse_utc(&v, true).ok());
    Some(Anchor {
        id: field("invocation_id")?,
        start: time("invocation_started_at"),
        end: time("generated_at"),
    })
}

// ---- reading a log set ----

/// How a set of log files is read.
pub struct Reading<'a> {
    pub zone: Zone,
    pub anchors: &'a [Anchor],
}

/// Reads one log set (a directory's `dbt.log*`, or the files named) oldest first, handing
/// each invocation's run to `emit` as soon as it is complete. Returns the problems.
pub fn read_set(
    files: &[PathBuf],
    reading: &Reading,
    emit: &mut dyn FnMut(Run),
) -> Vec<SourceError> {
    let mut files: Vec<PathBuf> = files.to_vec();
    // Oldest first: dbt.log.5 … dbt.log.1, dbt.log.
    files.sort_by_key(|f| std::cmp::Reverse(rotation(f).unwrap_or(0)));
    files.dedup();
    let mut errors = Vec::new();
    let mut readable = Vec::new();
    for f in files {
        match crate::source::open_file(&f) {
            Ok(_) => readable.push(f),
            Err(e) => errors.push(e),
        }
    }
    if readable.is_empty() {
        return errors;
    }
    // The artifacts record in UTC what the text log wrote in local time: where they meet,
    // they say the zone, which beats a --tz that disagrees (or the machine's default).
    let learned;
    let reading = match zone_from_artifacts(&readable, reading.anchors) {
        // The zone given agrees where they met: kept (a named zone keeps its DST changes
        // for the invocations without an artifact).
        Some((offset, start)) if offset_at(reading.zone, start) == offset.local_minus_utc() => {
            reading
        }
        Some((offset, start)) => {
            report(format!(
                "{}: its times of day are UTC{offset} by its invocations' artifacts, not \
                 the zone given (UTC{}): read as UTC{offset}",
                readable.last().expect("one file").display(),
                chrono::FixedOffset::east_opt(offset_at(reading.zone, start))
                    .map_or_else(|| "?".to_owned(), |o| o.to_string()),
            ));
            learned = Reading {
                zone: Zone::Fixed(offset),
                anchors: reading.anchors,
            };
            &learned
        }
        None => reading,
    };
    let dates = match text_dates(&readable, reading.zone) {
        Ok(d) => d,
        Err(e) => {
            errors.push(e);
            return errors;
        }
    };
    let mut stream = Stream {
        reading,
        current: None,
        parked: Vec::new(),
        emitted_ids: Default::default(),
        skipped: Skipped::default(),
        records: 0,
        emitted: 0,
        emit,
        errors: Vec::new(),
        shift: 0,
    };
    for (file, date) in readable.iter().zip(dates) {
        if let Err(e) = stream.file(file, date) {
            stream.errors.push(e);
        }
    }
    stream.flush_all();
    let Stream {
        skipped,
        records,
        emitted,
        errors: mut stream_errors,
        ..
    } = stream;
    errors.append(&mut stream_errors);
    let newest = readable.last().expect("one file");
    if records == 0 && errors.is_empty() {
        let empty = readable
            .iter()
            .all(|f| std::fs::metadata(f).is_ok_and(|m| m.len() == 0) || is_blank(f));
        let problem = if empty {
            "file is empty".to_owned()
        } else {
            match &skipped.first {
                Some((file, line, why)) if readable.len() == 1 => {
                    format!("no dbt log records in this file (line {line}: {why})")
                }
                Some((file, line, why)) => format!(
                    "no dbt log records in these files ({}:{line}: {why})",
                    file.display()
                ),
                None => "no dbt log records in this file".to_owned(),
            }
        };
        errors.push(SourceError::new(newest, problem));
    } else if skipped.count > 0 && emitted > 0 {
        if let Some((file, line, why)) = &skipped.first {
            report(format!(
                "{}: skipped {} line{} that {} not dbt's (first: line {line}: {why})",
                file.display(),
                skipped.count,
                if skipped.count == 1 { "" } else { "s" },
                if skipped.count == 1 { "is" } else { "are" },
            ));
        }
    }
    errors
}

/// `incomplete@HH:MM:SS.ffffff-<8 hex>`: a headerless invocation named by its first record.
fn content_id(tod: text::Tod, line: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(line.as_bytes());
    let (secs, micros) = (tod / 1_000_000, tod % 1_000_000);
    format!(
        "incomplete@{:02}:{:02}:{:02}.{micros:06}-{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        crate::trace::context::hex(&hash[..4])
    )
}

/// The zone's offset from UTC at an instant, in seconds.
fn offset_at(zone: Zone, at: Nanos) -> i32 {
    let utc = chrono::FixedOffset::east_opt(0).expect("0 is an offset");
    let offset = local_of(zone, at) - local_of(Zone::Fixed(utc), at);
    i32::try_from(offset.num_seconds()).unwrap_or(0)
}

/// The offset a text log's times of day were written in, from its invocation headers that
/// have an artifact: the header's time of day minus the artifact's UTC
/// `invocation_started_at`, rounded to 15 minutes (dbt writes both within seconds of each
/// other; zones are whole quarter hours). With the start it was learned at. None when no
/// header meets an artifact, or two of them disagree (a DST change inside the set: then the
/// zone given is the better guess).
fn zone_from_artifacts(
    files: &[PathBuf],
    anchors: &[Anchor],
) -> Option<(chrono::FixedOffset, Nanos)> {
    const QUARTER_HOUR: i64 = 900;
    const DAY: i64 = 86_400;
    let starts: HashMap<&str, Nanos> = anchors
        .iter()
        .filter_map(|a| Some((a.id.as_str(), a.start?)))
        .collect();
    if starts.is_empty() {
        return None;
    }
    let mut found: Option<(i64, Nanos)> = None;
    let mut buf = Vec::new();
    for file in files {
        let Ok(f) = std::fs::File::open(file) else {
            continue;
        };
        let mut reader = std::io::BufReader::new(f);
        while let Ok(Some(_)) = read_line(&mut reader, &mut buf) {
            let line = String::from_utf8_lossy(&buf);
            let text::Kind::Header { tod, id } = text::classify(&line) else {
                continue;
            };
            let Some(&start) = starts.get(id) else {
                continue;
            };
            let utc_of_day = start.div_euclid(1_000_000_000).rem_euclid(DAY);
            let mut offset = (tod / 1_000_000 - utc_of_day).rem_euclid(DAY);
            if offset > 14 * 3600 {
                offset -= DAY;
            }
            let offset = (offset as f64 / QUARTER_HOUR as f64).round() as i64 * QUARTER_HOUR;
            match found {
                Some((seen, _)) if seen != offset => return None,
                Some(_) => {}
                None => found = Some((offset, start)),
            }
        }
    }
    let (offset, start) = found?;
    Some((chrono::FixedOffset::east_opt(offset as i32)?, start))
}

fn is_blank(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut reader = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    while let Ok(Some(_)) = read_line(&mut reader, &mut buf) {
        if !buf.iter().all(u8::is_ascii_whitespace) {
            return false;
        }
    }
    true
}

#[derive(Default)]
struct Skipped {
    count: usize,
    first: Option<(PathBuf, usize, String)>,
}

struct Stream<'a, 'e> {
    reading: &'a Reading<'a>,
    current: Option<Invocation>,
    /// JSON invocations still open while another one's lines came (two dbt processes
    /// writing one log at once): every JSON line names its invocation, so each resumes.
    parked: Vec<Invocation>,
    /// The JSON invocations emitted so far (a late line of one is not a second run).
    emitted_ids: std::collections::HashSet<String>,
    skipped: Skipped,
    records: usize,
    emitted: usize,
    emit: &'e mut dyn FnMut(Run),
    errors: Vec<SourceError>,
    /// Text: days the current invocation's artifact moves the files' dates by.
    shift: i64,
}

/// The date of a text file's first record, and the day roll-overs after it.
#[derive(Clone, Copy, Default)]
struct FileDate {
    first_day: Option<NaiveDate>,
}

/// Counts day roll-overs in a text log: a time of day that goes back by more than two hours
/// is the next day; at an invocation header (a new process, after the last one ended) by
/// more than a minute.
#[derive(Default)]
struct Days {
    prev: Option<text::Tod>,
    offset: i64,
}

impl Days {
    fn see(&mut self, tod: text::Tod, header: bool) -> i64 {
        if let Some(prev) = self.prev {
            let limit = if header { 60_000_000 } else { 7_200_000_000 };
            if tod < prev - limit {
                self.offset += 1;
            }
        }
        self.prev = Some(tod);
        self.offset
    }
}

/// Pass 1 over the text records of each file: the date of its first record, from its
/// modification time (which dates its last line; for an older file, no later than the next
/// file's first record) and the roll-overs in between. Files are dated newest first.
fn text_dates(files: &[PathBuf], zone: Zone) -> Result<Vec<FileDate>, SourceError> {
    let mut out = vec![FileDate::default(); files.len()];
    let mut bound: Option<Nanos> = None;
    for (i, file) in files.iter().enumerate().rev() {
        let f = std::fs::File::open(file)
            .map_err(|e| SourceError::new(file, format!("cannot read: {e}")))?;
        let mut reader = std::io::BufReader::new(f);
        let mut buf = Vec::new();
        let mut days = Days::default();
        let (mut first, mut last) = (None, None);
        loop {
            match read_line(&mut reader, &mut buf) {
                Ok(None) => break,
                Ok(Some(_)) => {}
                Err(e) => return Err(SourceError::new(file, format!("cannot read: {e}"))),
            }
            let line = String::from_utf8_lossy(&buf);
            if json::looks_like(&line) {
                continue;
            }
            let (tod, header) = match text::classify(&line) {
                text::Kind::Header { tod, .. } => (tod, true),
                text::Kind::Record { tod, .. } => (tod, false),
                _ => continue,
            };
            days.see(tod, header);
            first.get_or_insert(tod);
            last = Some(tod);
        }
        let (Some(first), Some(last)) = (first, last) else {
            continue;
        };
        let mtime = crate::source::fresh::modified_nanos(file).ok_or_else(|| {
            SourceError::new(
                file,
                "its modification time cannot be read (it dates the text log)",
            )
        })?;
        let anchor = bound.map_or(mtime, |b| b.min(mtime)) + 2_000_000_000;
        let local = local_of(zone, anchor);
        let mut last_day = local.date();
        if last > tod_of(local.time()) {
            last_day = last_day.pred_opt().unwrap_or(last_day);
        }
        let first_day = last_day - chrono::Days::new(days.offset.max(0) as u64);
        out[i].first_day = Some(first_day);
        bound = at(zone, first_day, first).ok();
    }
    Ok(out)
}

fn tod_of(t: NaiveTime) -> text::Tod {
    use chrono::Timelike;
    t.num_seconds_from_midnight() as i64 * 1_000_000 + (t.nanosecond() / 1000).min(999_999) as i64
}

/// A UTC instant as wall-clock time in `zone`.
fn local_of(zone: Zone, at: Nanos) -> NaiveDateTime {
    let utc = chrono::DateTime::from_timestamp_nanos(at);
    match zone {
        Zone::Local => utc.with_timezone(&chrono::Local).naive_local(),
        Zone::Fixed(o) => utc.with_timezone(&o).naive_local(),
        Zone::Named(tz) => utc.with_timezone(&tz).naive_local(),
    }
}

/// A date and a time of day in `zone` → UTC nanoseconds.
fn at(zone: Zone, day: NaiveDate, tod: text::Tod) -> Result<Nanos, String> {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(
        (tod / 1_000_000) as u32,
        (tod % 1_000_000) as u32 * 1000,
    )
    .ok_or_else(|| format!("{tod} µs is not a time of day"))?;
    zone.to_utc(day.and_time(time))
}

/// An artifact's date for a text invocation's time of day: the day that puts it nearest the
/// artifact's `invocation_started_at` (None when no candidate lies within a day).
fn artifact_day(zone: Zone, anchor: &Anchor, tod: text::Tod) -> Option<NaiveDate> {
    let start = anchor.start.or(anchor.end)?;
    let local = local_of(zone, start).date();
    [local.pred_opt()?, local, local.succ_opt()?]
        .into_iter()
        .filter_map(|d| Some((d, (at(zone, d, tod).ok()? - start).abs())))
        .filter(|(_, gap)| *gap < 43_200_000_000_000)
        .min_by_key(|(_, gap)| *gap)
        .map(|(d, _)| d)
}

/// The artifact whose invocation a headerless stretch of text log (its start rotated away)
/// falls in: the one whose run, on its own date, holds this time of day.
fn artifact_around(zone: Zone, anchors: &[Anchor], tod: text::Tod) -> Option<(&Anchor, NaiveDate)> {
    anchors.iter().find_map(|a| {
        let (start, end) = (a.start?, a.end?);
        let day = artifact_day(zone, a, tod)?;
        let t = at(zone, day, tod).ok()?;
        (start - 1_000_000_000 <= t && t <= end + 5_000_000_000).then_some((a, day))
    })
}

/// A record of the text format waiting for its continuation lines.
struct Pending {
    tod: text::Tod,
    thread: String,
    message: String,
    line: usize,
}

impl Stream<'_, '_> {
    fn skip(&mut self, file: &Path, line: usize, why: impl Into<String>) {
        self.skipped.count += 1;
        if self.skipped.first.is_none() {
            self.skipped.first = Some((file.to_path_buf(), line, why.into()));
        }
    }

    fn flush(&mut self) {
        if let Some(inv) = self.current.take() {
            if inv.is_empty() {
                return;
            }
            let file = inv.file.clone();
            if let Some(id) = inv.id.clone().filter(|_| !inv.inferred) {
                self.emitted_ids.insert(id);
            }
            if let Some(run) = inv.into_run() {
                match check_run(&run) {
                    Ok(()) => {
                        self.emitted += 1;
                        (self.emit)(run);
                    }
                    Err(problem) => self.errors.push(SourceError::new(&file, problem)),
                }
            }
        }
    }

    /// Emits the current invocation and every parked one, in the order they began.
    fn flush_all(&mut self) {
        self.flush();
        let mut parked = std::mem::take(&mut self.parked);
        parked.sort_by_key(|p| p.first);
        for inv in parked {
            self.current = Some(inv);
            self.flush();
        }
    }

    /// Makes the JSON invocation `id` current: resumed if parked, else new (a second start of
    /// an id that began already is a new run: the earlier one is emitted). The one it replaces
    /// is parked. A parked invocation that ended is emitted when another one begins: dbt
    /// writes a line or two after `CommandCompleted`, so an ended one waits for them. False:
    /// the line belongs to an invocation already emitted (such a late line carries nothing a
    /// run needs) and is left out, rather than making a second run with the same ids.
    fn switch_json(&mut self, file: &Path, id: Option<String>, begins: bool) -> bool {
        if let Some(current) = self.current.take() {
            if current.id.is_some() && current.id != id {
                self.parked.push(current);
            } else {
                self.current = Some(current);
                self.flush();
            }
        }
        if begins {
            let (ended, open): (Vec<Invocation>, Vec<Invocation>) =
                std::mem::take(&mut self.parked)
                    .into_iter()
                    .partition(|p| p.end.is_some() && p.id != id);
            self.parked = open;
            for inv in ended {
                self.current = Some(inv);
                self.flush();
            }
        }
        if let Some(i) = self.parked.iter().position(|p| p.id == id) {
            let inv = self.parked.remove(i);
            let restarted = begins && inv.began;
            self.current = Some(inv);
            if !restarted {
                return true;
            }
            self.flush();
        } else if !begins && id.as_ref().is_some_and(|i| self.emitted_ids.contains(i)) {
            return false;
        }
        let mut inv = Invocation::new(file);
        inv.id = id;
        self.current = Some(inv);
        true
    }

    fn begin(&mut self, file: &Path, id: Option<String>, inferred: bool) {
        self.flush();
        let mut inv = Invocation::new(file);
        inv.id = id;
        inv.inferred = inferred;
        self.current = Some(inv);
    }

    fn file(&mut self, file: &Path, date: FileDate) -> Result<(), SourceError> {
        let f = std::fs::File::open(file)
            .map_err(|e| SourceError::new(file, format!("cannot read: {e}")))?;
        let mut reader = std::io::BufReader::with_capacity(64 << 10, f);
        let mut buf = Vec::new();
        let mut number = 0;
        let zone = self.reading.zone;
        let mut days = Days::default();
        // Text: days the invocation's artifact moves the file's dates by (kept across files:
        // an invocation that crosses a rotation keeps its date).
        let mut shift: i64 = self.shift;
        let mut pending: Option<Pending> = None;
        let mut in_record = false;
        loop {
            let too_long = match read_line(&mut reader, &mut buf) {
                Ok(None) => break,
                Ok(Some(too_long)) => too_long,
                Err(e) => return Err(SourceError::new(file, format!("cannot read: {e}"))),
            };
            number += 1;
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches('\r');
            if too_long {
                self.skip(file, number, format!("longer than {} MiB", MAX_LINE >> 20));
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            if json::looks_like(line) {
                self.text_record(file, pending.take(), &date, &mut days, shift);
                in_record = false;
                match json::read(line) {
                    Ok(record) => {
                        self.records += 1;
                        let id = record.invocation.clone();
                        let begins = matches!(record.event, Event::Begin { .. });
                        let same = self
                            .current
                            .as_ref()
                            .is_some_and(|c| c.id == id && !(begins && c.began));
                        if !same && !self.switch_json(file, id, begins) {
                            continue;
                        }
                        if let Some(c) = self.current.as_mut() {
                            c.apply(record);
                        }
                    }
                    Err(why) => self.skip(file, number, why),
                }
                continue;
            }
            match text::classify(line) {
                text::Kind::Header { tod, id } => {
                    self.text_record(file, pending.take(), &date, &mut days, shift);
                    in_record = true;
                    self.records += 1;
                    let offset = days.see(tod, true);
                    let Some(day) = date.first_day.map(|d| d + chrono::Days::new(offset as u64))
                    else {
                        continue;
                    };
                    let anchored = self
                        .reading
                        .anchors
                        .iter()
                        .find(|a| a.id == id)
                        .and_then(|a| artifact_day(zone, a, tod));
                    shift = anchored.map_or(0, |d| (d - day).num_days());
                    self.begin(file, Some(id.to_owned()), true);
                    match at(zone, day + chrono::Duration::days(shift), tod) {
                        Ok(t) => {
                            if let Some(c) = self.current.as_mut() {
                                c.apply(Line {
                                    at: t,
                                    invocation: None,
                                    event: Event::Begin { version: None },
                                    env: Vec::new(),
                                });
                            }
                        }
                        Err(why) => self.skip(file, number, why),
                    }
                }
                text::Kind::Record {
                    tod,
                    thread,
                    message,
                } => {
                    self.text_record(file, pending.take(), &date, &mut days, shift);
                    in_record = true;
                    self.records += 1;
                    if self.current.is_none() {
                        // The stream starts inside an invocation whose header was rotated
                        // away: the artifact it falls in names it, if one is given.
                        let offset = days.prev.map_or(0, |_| days.offset);
                        let day = date.first_day.map(|d| d + chrono::Days::new(offset as u64));
                        let found = artifact_around(zone, self.reading.anchors, tod);
                        shift = match (found, day) {
                            (Some((_, d)), Some(day)) => (d - day).num_days(),
                            _ => 0,
                        };
                        let id = found.map(|(a, _)| a.id.clone());
                        let unnamed = id.is_none();
                        self.begin(file, id, true);
                        if let Some(c) = self.current.as_mut().filter(|_| unnamed) {
                            c.content_id = Some(content_id(tod, line));
                        }
                    }
                    let keep = text::is_error_text(message);
                    pending = Some(Pending {
                        tod,
                        thread: thread.to_owned(),
                        message: if keep {
                            message.to_owned()
                        } else {
                            message.chars().take(4096).collect()
                        },
                        line: number,
                    });
                    if !keep {
                        // Only error records need their continuation lines.
                        let p = pending.take().expect("just set");
                        self.text_record(file, Some(p), &date, &mut days, shift);
                    }
                }
                text::Kind::BadTime(time) => {
                    self.text_record(file, pending.take(), &date, &mut days, shift);
                    self.skip(file, number, format!("{time:?} is not a time of day"));
                }
                text::Kind::Other if in_record => {
                    if let Some(p) = pending.as_mut() {
                        if p.message.len() < 64 << 10 {
                            p.message.push('\n');
                            p.message.push_str(line);
                        }
                    }
                }
                text::Kind::Other => self.skip(file, number, "not a dbt log record"),
            }
        }
        self.text_record(file, pending.take(), &date, &mut days, shift);
        self.shift = shift;
        Ok(())
    }

    /// A complete text record, dated.
    fn text_record(
        &mut self,
        file: &Path,
        record: Option<Pending>,
        date: &FileDate,
        days: &mut Days,
        shift: i64,
    ) {
        let Some(p) = record else { return };
        let zone = self.reading.zone;
        let offset = days.see(p.tod, false);
        let Some(day) = date
            .first_day
            .map(|d| d + chrono::Days::new(offset as u64) + chrono::Duration::days(shift))
        else {
            return;
        };
        let t = match at(zone, day, p.tod) {
            Ok(t) => t,
            Err(why) => return self.skip(file, p.line, why),
        };
        let near = |tod: text::Tod| -> Nanos {
            // `… at HH:MM:SS` is written a moment before its line: the same day, or the day
            // before when the line is just past midnight.
            let d = if tod > p.tod + 43_200_000_000 {
                day.pred_opt().unwrap_or(day)
            } else {
                day
            };
            at(zone, d, tod).unwrap_or(t)
        };
        let event = text::event(&p.thread, &p.message, t, &near);
        if let Some(c) = self.current.as_mut() {
            c.apply(Line {
                at: t,
                invocation: None,
                event,
                env: Vec::new(),
            });
        }
    }
}

/// Reads one line into `buf` (without its `\n`), keeping at most `MAX_LINE` bytes. Ok(None)
/// at the end; Ok(Some(true)) for a line that was longer (its rest is skipped unread).
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let newline = available.iter().position(|b| *b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        let room = MAX_LINE.saturating_sub(buf.len());
        if chunk.len() > room {
            too_long = true;
            buf.extend_from_slice(&chunk[..room]);
        } else {
            buf.extend_from_slice(chunk);
        }
        let used = newline.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(Some(too_long));
        }
    }
}

// ---- the dbt format's files together ----

/// The folder a log file's set lives in.
pub fn set_of(path: &Path) -> Option<PathBuf> {
    is_log(path).then(|| path.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// dbt's files of one conversion: the artifacts (given first), then each log set; a log
/// run whose artifact is among them waits for it and merges with it.
pub struct Merge {
    artifacts: Vec<PathBuf>,
    options: SourceOptions,
    /// The artifacts' invocations, read once a log set comes.
    anchors: Option<Vec<Anchor>>,
    held: HashMap<String, Run>,
    errors: Vec<SourceError>,
}

impl Merge {
    pub fn new(artifacts: &[PathBuf], options: &SourceOptions) -> Merge {
        Merge {
            artifacts: artifacts.to_vec(),
            options: options.clone(),
            anchors: None,
            held: HashMap::default(),
            errors: Vec::new(),
        }
    }
}

/// The zone of a text log: dbt's `--tz`, else the conversion's (`backfill --tz`), which is
/// the machine's zone when none is given (dbt writes the local time of the machine it ran on).
pub fn zone_of(options: &SourceOptions) -> Zone {
    options
        .get::<Options>()
        .and_then(|o| o.zone)
        .unwrap_or(options.tz)
}

impl crate::source::FolderMerge for Merge {
    fn folder(&mut self, files: Vec<PathBuf>, emit: &mut dyn FnMut(Vec<Run>)) {
        let logs: Vec<PathBuf> = files.iter().filter(|f| is_log(f)).cloned().collect();
        let others: Vec<PathBuf> = files.into_iter().filter(|f| !is_log(f)).collect();
        self.artifacts.extend(others);
        if logs.is_empty() {
            return;
        }
        if self.anchors.is_none() {
            self.anchors = Some(self.artifacts.iter().filter_map(|a| anchor_of(a)).collect());
        }
        let anchors = self.anchors.take().unwrap_or_default();
        let reading = Reading {
            zone: zone_of(&self.options),
            anchors: &anchors,
        };
        let held = &mut self.held;
        let verbose = self.options.verbose;
        let errors = read_set(&logs, &reading, &mut |run| {
            if anchors.iter().any(|a| a.id == run.run_id) {
                if verbose {
                    report(format!(
                        "dbt run {}: its log and its artifact are converted together, as one run",
                        run.run_id
                    ));
                }
                match held.remove(&run.run_id) {
                    Some(earlier) => {
                        held.insert(run.run_id.clone(), merge(earlier, run));
                    }
                    None => {
                        held.insert(run.run_id.clone(), run);
                    }
                }
            } else {
                emit(vec![run]);
            }
        });
        self.errors.extend(errors);
        self.anchors = Some(anchors);
    }

    fn finish(mut self: Box<Self>, emit: &mut dyn FnMut(Vec<Run>)) -> Vec<SourceError> {
        let mut errors = std::mem::take(&mut self.errors);
        for artifact in std::mem::take(&mut self.artifacts) {
            match super::Dbt.parse_artifact(&artifact, &self.options) {
                Ok(runs) => {
                    for run in runs {
                        let run = match self.held.remove(&run.run_id) {
                            Some(log) => {
                                let merged = merge(run.clone(), log);
                                match check_run(&merged) {
                                    Ok(()) => merged,
                                    Err(problem) => {
                                        errors.push(SourceError::new(
                                            &artifact,
                                            format!("merged with its log: {problem}"),
                                        ));
                                        run
                                    }
                                }
                            }
                            None => run,
                        };
                        emit(vec![run]);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        // Logs whose artifact could not be read are sent alone.
        let mut rest: Vec<Run> = self.held.drain().map(|(_, r)| r).collect();
        rest.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        for run in rest {
            emit(vec![run]);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(rotation(Path::new("logs/dbt.log")), Some(0));
        assert_eq!(rotation(Path::new("logs/dbt.log.5")), Some(5));
        assert_eq!(rotation(Path::new("logs/dbt.log.x")), None);
        assert_eq!(rotation(Path::new("logs/dbt.logs")), None);
        assert_eq!(rotation(Path::new("logs/dbt.log.")), None);
        assert!(detect(Path::new("logs/dbt.log.2"), b""));
        assert!(!detect(Path::new("other.log"), b"{\"data\": {}"));
    }

    #[test]
    fn day_rollovers() {
        let mut d = Days::default();
        assert_eq!(d.see(text::DAY - 1_000_000, false), 0);
        assert_eq!(d.see(text::DAY - 1_100_000, false), 0, "threads interleave");
        assert_eq!(d.see(5_000_000, false), 1, "past midnight");
        assert_eq!(d.see(3_600_000_000, true), 1);
        assert_eq!(
            d.see(3_000_000_000, true),
            2,
            "a header earlier in the day: a later day"
        );
    }
}
