//! GitHub Actions runs from the REST JSON a job can save with `gh api` — a workflow run
//! (`/actions/runs/{id}`, `/attempts/{n}`), its jobs (`/runs/{id}/jobs`,
//! `/attempts/{n}/jobs`, `filter=all`; one page, `--paginate` pages back to back, or
//! `--slurp`) — and `gh run view --json …`. One trace per run attempt: the run (root) → its
//! jobs → each job's queue time (`queue-<job>`) and steps.
//!
//! Ids are the ones the OpenTelemetry Collector's GitHub receiver derives from the same run's
//! webhooks (`receiver/githubreceiver/trace_event_handling.go`, opentelemetry-collector-contrib),
//! so a run received live and converted later is one trace: SHA-256 of
//! `"{run_id}{attempt}t"` (trace id: bytes 0–15) and `"{run_id}{attempt}s"` (root: bytes
//! 8–15); by default (receiver ≥ v0.151.0, gate `receiver.githubreceiver.UseCheckRunID`) jobs
//! `"{job_id}-j"`, queue `"{job_id}-q"`, steps `"{job_id}-{step name}-s"`; with `legacy`
//! jobs `"{run_id}{attempt}{job name}"` and steps `"{run_id}{attempt}{job name}{step
//! name}{number}"`. Where the receiver would give two steps of one name the same id, the
//! later ones are hashed with their shown name (`name-1`) so that no two spans share an id.
//!
//! Times as the receiver takes them: run `run_started_at` → `updated_at`, job `created_at` →
//! `completed_at`, queue `created_at` → `started_at`, step `started_at` → `completed_at`
//! (second precision, with offset); `gh run view` has no job creation time: its jobs start
//! at `startedAt` and have no queue span.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::record::{Attributes, Nanos, Outcome, Run, Step};
use crate::source::time::parse_utc;
use crate::source::{parse_alone, read_file, Source, SourceError, SourceOptions};
use crate::trace::semconv as sc;

/// Which of the receiver's id schemes to follow (`--github-ids`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdScheme {
    /// `{job_id}-j`: the receiver's default since v0.151.0.
    #[default]
    CheckRun,
    /// `{run_id}{attempt}{job name}`: older receivers, or the gate turned off.
    Legacy,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub ids: IdScheme,
}

mod attr {
    pub const RUN_URL: &str = "cicd.pipeline.run.url.full";
    pub const TASK_URL: &str = "cicd.pipeline.task.run.url.full";
    pub const WORKER_NAME: &str = "cicd.worker.name";
    pub const REPOSITORY_URL: &str = "vcs.repository.url.full";
    pub const REF_HEAD_NAME: &str = "vcs.ref.head.name";
    pub const REF_HEAD_REVISION: &str = "vcs.ref.head.revision";
    pub const RUN_ATTEMPT: &str = "github.run_attempt";
    pub const RUN_NUMBER: &str = "github.run_number";
    pub const EVENT: &str = "github.event";
    pub const ACTOR: &str = "github.actor";
    pub const DISPLAY_TITLE: &str = "github.display_title";
    pub const WORKFLOW_ID: &str = "github.workflow_id";
    pub const WORKFLOW_PATH: &str = "github.workflow_path";
    pub const CONCLUSION: &str = "github.conclusion";
    /// The run's creation (its queue time ends at `run_started_at`; the metrics read it).
    pub const RUN_CREATED_AT: &str = "github.workflow_run.created_at";
    /// A job's start after its queue (the job span starts at its creation; the metrics read
    /// it).
    pub const JOB_STARTED_AT: &str = "github.workflow_job.started_at";
    pub const LABELS: &str = "github.job.labels";
    pub const RUNNER_GROUP: &str = "github.runner_group_name";
    pub const STEP_NUMBER: &str = "github.step.number";
    pub const QUEUE_DURATION: &str = "cicd.pipeline.run.queue.duration";
}

pub struct Github;

impl Source for Github {
    fn name(&self) -> &'static str {
        "github"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let head = String::from_utf8_lossy(head);
        json && (head.contains("\"run_started_at\"")
            || head.contains("\"run_attempt\"")
            || (head.contains("\"workflow_id\"") && head.contains("\"head_sha\""))
            || (head.contains("\"total_count\"") && head.contains("\"jobs\""))
            || (head.contains("\"databaseId\"")
                && (head.contains("\"workflowName\"") || head.contains("\"headSha\""))))
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        parse_alone(self, path, options)
    }

    fn merges_files(&self) -> bool {
        true
    }

    /// A run's object and its jobs are often separate files (`gh api` of each): everything is
    /// read, then each run attempt is built from what was found for it.
    fn parse_all(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
    ) -> (Vec<Run>, Vec<SourceError>) {
        let scheme = options.get::<Options>().map(|o| o.ids).unwrap_or_default();
        let mut found = Found::default();
        let mut errors = Vec::new();
        for path in paths {
            if let Err(e) = read_into(path, &mut found) {
                errors.push(e);
            }
        }
        let mut runs = Vec::new();
        for ((run_id, attempt), jobs) in found.attempts() {
            match build(
                run_id,
                attempt,
                found.runs.get(&(run_id, attempt)),
                &jobs,
                scheme,
            ) {
                Ok(run) => runs.push(run),
                Err(problem) => errors.push(SourceError::new(
                    found
                        .origin
                        .get(&(run_id, attempt))
                        .map_or(Path::new("github"), PathBuf::as_path),
                    problem,
                )),
            }
        }
        (runs, errors)
    }
}

/// What the files held: runs by (id, attempt), jobs by id (a job listed twice counts once).
#[derive(Default)]
struct Found {
    runs: HashMap<(i64, i64), Value>,
    jobs: BTreeMap<i64, (i64, i64, Value)>,
    origin: HashMap<(i64, i64), PathBuf>,
}

impl Found {
    /// Every attempt something was found for, each with its jobs in the order GitHub lists
    /// them (by id).
    fn attempts(&self) -> BTreeMap<(i64, i64), Vec<&Value>> {
        let mut out: BTreeMap<(i64, i64), Vec<&Value>> = BTreeMap::new();
        for key in self.runs.keys() {
            out.entry(*key).or_default();
        }
        for (run, attempt, job) in self.jobs.values() {
            out.entry((*run, *attempt)).or_default().push(job);
        }
        out
    }

    fn add_job(&mut self, job: Value, run_id: Option<i64>, attempt: Option<i64>, path: &Path) {
        let Some(id) = job["id"].as_i64().or_else(|| job["databaseId"].as_i64()) else {
            return;
        };
        let run = job["run_id"].as_i64().or(run_id);
        let attempt = job["run_attempt"].as_i64().or(attempt);
        if let (Some(run), Some(attempt)) = (run, attempt) {
            self.origin
                .entry((run, attempt))
                .or_insert_with(|| path.to_path_buf());
            self.jobs.insert(id, (run, attempt, job));
        }
    }
}

fn read_into(path: &Path, found: &mut Found) -> Result<(), SourceError> {
    let bytes = read_file(path)?;
    // `gh api --paginate` writes its pages back to back: a stream of documents.
    let mut documents = Vec::new();
    for document in serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>() {
        documents.push(document.map_err(|e| SourceError::json(path, &e))?);
    }
    let mut any = false;
    for document in documents {
        // `--slurp`: the pages in one array.
        let items = match document {
            Value::Array(items) => items,
            other => vec![other],
        };
        for item in items {
            any |= read_document(item, path, found);
        }
    }
    if any {
        Ok(())
    } else {
        Err(SourceError::new(
            path,
            "neither a workflow run, a jobs list nor `gh run view` output",
        ))
    }
}

/// One document: a run (REST or `gh run view`, with its jobs) or a page of jobs.
fn read_document(mut doc: Value, path: &Path, found: &mut Found) -> bool {
    if let Some(jobs) = doc.get_mut("jobs").map(Value::take) {
        let gh_run = doc["databaseId"].as_i64();
        let gh_attempt = doc["attempt"].as_i64();
        for job in jobs.as_array().cloned().unwrap_or_default() {
            found.add_job(job, gh_run, gh_attempt, path);
        }
        if gh_run.is_none() {
            return doc.get("total_count").is_some();
        }
    }
    let run = doc["id"]
        .as_i64()
        .filter(|_| doc.get("run_attempt").is_some() || doc.get("run_started_at").is_some())
        .or_else(|| doc["databaseId"].as_i64());
    let attempt = doc["run_attempt"]
        .as_i64()
        .or_else(|| doc["attempt"].as_i64())
        .unwrap_or(1);
    let Some(run) = run else {
        return false;
    };
    found.origin.insert((run, attempt), path.to_path_buf());
    found.runs.insert((run, attempt), doc);
    true
}

fn digest(input: &str) -> [u8; 32] {
    Sha256::digest(input.as_bytes()).into()
}

fn span_id(input: &str) -> [u8; 8] {
    let d = digest(input);
    let mut id = [0u8; 8];
    id.copy_from_slice(&d[8..16]);
    id
}

/// A time as GitHub writes it; gh's `0001-01-01T00:00:00Z` (and null) is none.
fn time(value: &Value) -> Result<Option<Nanos>, String> {
    match value.as_str().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.starts_with("0001-") => Ok(None),
        Some(t) => parse_utc(t, false).map(Some),
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A conclusion as a result (the mapping: the CI/CD conventions' values).
fn outcome(conclusion: Option<&str>) -> Outcome {
    match conclusion.map(str::to_ascii_lowercase).as_deref() {
        Some("success") => Outcome::Success,
        Some("failure" | "startup_failure") => Outcome::Failure,
        Some("cancelled") => Outcome::Cancellation,
        Some("timed_out") => Outcome::Timeout,
        Some("skipped" | "neutral") => Outcome::Skip,
        _ => Outcome::Unknown,
    }
}

/// Either spelling: REST's `snake_case` or gh's `camelCase`.
fn field<'a>(v: &'a Value, rest: &str, gh: &str) -> &'a Value {
    match v.get(rest) {
        Some(found) if !found.is_null() => found,
        _ => v.get(gh).unwrap_or(&Value::Null),
    }
}

fn build(
    run_id: i64,
    attempt: i64,
    run: Option<&Value>,
    jobs: &[&Value],
    scheme: IdScheme,
) -> Result<Run, String> {
    let empty = Value::Null;
    let r = run.unwrap_or(&empty);
    let name = text(&r["name"])
        .or_else(|| text(&r["workflowName"]))
        .or_else(|| jobs.first().and_then(|j| text(&j["workflow_name"])))
        .unwrap_or_else(|| "workflow".to_owned());
    let trace_digest = digest(&format!("{run_id}{attempt}t"));
    let mut trace = [0u8; 16];
    trace.copy_from_slice(&trace_digest[..16]);
    let conclusion = text(&r["conclusion"]);
    let mut attributes = Attributes::default();
    let run_url = text(field(r, "html_url", "url"));
    attributes.put_opt(attr::RUN_URL, run_url);
    attributes.put_opt(attr::REPOSITORY_URL, text(&r["repository"]["html_url"]));
    attributes.put_opt(
        attr::REF_HEAD_NAME,
        text(field(r, "head_branch", "headBranch")),
    );
    attributes.put_opt(
        attr::REF_HEAD_REVISION,
        text(field(r, "head_sha", "headSha")),
    );
    attributes.put(attr::RUN_ATTEMPT, attempt);
    attributes.put_opt(attr::RUN_NUMBER, r["run_number"].as_i64());
    attributes.put_opt(attr::EVENT, text(&r["event"]));
    attributes.put_opt(attr::ACTOR, text(&r["actor"]["login"]));
    attributes.put_opt(
        attr::DISPLAY_TITLE,
        text(field(r, "display_title", "displayTitle")),
    );
    attributes.put_opt(attr::WORKFLOW_ID, r["workflow_id"].as_i64());
    attributes.put_opt(attr::WORKFLOW_PATH, text(&r["path"]));
    attributes.put_opt(attr::CONCLUSION, conclusion.clone());
    // A re-run keeps the first attempt's creation: only attempt 1 has a queue time.
    attributes.put_opt(
        attr::RUN_CREATED_AT,
        text(field(r, "created_at", "createdAt")).filter(|_| attempt == 1),
    );
    let start = time(field(r, "run_started_at", "startedAt"))?;
    let end = time(field(r, "updated_at", "updatedAt"))?;
    let mut steps = Vec::new();
    for job in jobs {
        job_steps(job, run_id, attempt, scheme, &mut steps)?;
    }
    let outcome = match &conclusion {
        Some(c) => outcome(Some(c)),
        // Only the jobs known: the worst of them.
        None => steps
            .iter()
            .filter(|s: &&Step| s.parent.is_none())
            .map(|s| s.outcome)
            .max_by_key(|o| o.severity())
            .unwrap_or(Outcome::Unknown),
    };
    Ok(Run {
        system: "github".into(),
        run_id: run_id.to_string(),
        name: name.clone(),
        pipeline_name: name,
        start,
        end: end.max(start),
        outcome,
        message: conclusion.filter(|_| outcome.is_error()),
        parent: None,
        native_trace_id: Some(trace),
        native_span_id: Some(span_id(&format!("{run_id}{attempt}s"))),
        resource: Vec::new(),
        events: Vec::new(),
        attributes,
        steps,
    })
}

fn job_steps(
    job: &Value,
    run_id: i64,
    attempt: i64,
    scheme: IdScheme,
    out: &mut Vec<Step>,
) -> Result<(), String> {
    let job_id = job["id"]
        .as_i64()
        .or_else(|| job["databaseId"].as_i64())
        .ok_or("a job without an id")?;
    let name = text(&job["name"]).unwrap_or_else(|| job_id.to_string());
    let created = time(field(job, "created_at", "createdAt"))?;
    let started = time(field(job, "started_at", "startedAt"))?;
    let completed = time(field(job, "completed_at", "completedAt"))?;
    let conclusion = text(&job["conclusion"]);
    let id = format!("job:{job_id}");
    let mut step = Step::new(id.clone(), name.clone());
    // The receiver's times: from creation (queue included); an end before the start is
    // both at the start.
    step.start = created.or(started);
    step.end = completed.map(|c| step.start.map_or(c, |s| c.max(s)));
    step.outcome = outcome(conclusion.as_deref());
    step.message = conclusion.clone().filter(|_| step.outcome.is_error());
    step.native_span_id = Some(match scheme {
        IdScheme::CheckRun => span_id(&format!("{job_id}-j")),
        IdScheme::Legacy => span_id(&format!("{run_id}{attempt}{name}")),
    });
    let a = &mut step.attributes;
    a.put(sc::CICD_TASK_NAME, name.clone());
    a.put(sc::CICD_TASK_RUN_ID, job_id.to_string());
    a.put_opt(attr::TASK_URL, text(field(job, "html_url", "url")));
    a.put_opt(attr::WORKER_NAME, text(&job["runner_name"]));
    a.put_opt(attr::RUNNER_GROUP, text(&job["runner_group_name"]));
    a.put_opt(attr::CONCLUSION, conclusion.clone());
    a.put_opt(
        attr::JOB_STARTED_AT,
        text(field(job, "started_at", "startedAt")).filter(|_| created.is_some()),
    );
    if let Some(labels) = job["labels"].as_array() {
        let labels: Vec<String> = labels.iter().filter_map(text).collect();
        if !labels.is_empty() {
            a.put(attr::LABELS, labels);
        }
    }
    let job_start = step.start;
    out.push(step);
    if let (Some(created), Some(started)) = (created, started) {
        let queue_name = format!("queue-{name}");
        let mut queue = Step::new(format!("queue:{job_id}"), queue_name.clone());
        queue.parent = Some(id.clone());
        queue.start = Some(created);
        queue.end = Some(started.max(created));
        queue.outcome = Outcome::Unknown;
        queue.native_span_id = Some(match scheme {
            IdScheme::CheckRun => span_id(&format!("{job_id}-q")),
            IdScheme::Legacy => span_id(&format!("{run_id}{attempt}{name}{queue_name}1")),
        });
        queue.attributes.put(sc::CICD_TASK_NAME, queue_name);
        // As the receiver writes it: nanoseconds, a double.
        queue.attributes.put(
            attr::QUEUE_DURATION,
            (started.max(created) - created) as f64,
        );
        out.push(queue);
    }
    let steps = job["steps"].as_array().cloned().unwrap_or_default();
    let shown = shown_names(&steps);
    for (s, shown) in steps.iter().zip(shown) {
        let raw = text(&s["name"]).unwrap_or_default();
        let number = s["number"].as_i64().unwrap_or(0);
        let mut step = Step::new(format!("step:{job_id}:{number}:{shown}"), shown.clone());
        step.parent = Some(id.clone());
        step.start = time(field(s, "started_at", "startedAt"))?;
        step.end = time(field(s, "completed_at", "completedAt"))?;
        if let (Some(start), Some(end)) = (step.start, step.end) {
            step.end = Some(end.max(start));
        }
        let conclusion = text(&s["conclusion"]);
        step.outcome = outcome(conclusion.as_deref());
        step.message = conclusion.clone().filter(|_| step.outcome.is_error());
        // The receiver hashes the raw name (two steps of one name collide); the later ones
        // are hashed with their shown name so that every span keeps an id of its own.
        let hashed = if shown == raw { &raw } else { &shown };
        step.native_span_id = Some(match scheme {
            IdScheme::CheckRun => span_id(&format!("{job_id}-{hashed}-s")),
            IdScheme::Legacy => span_id(&format!("{run_id}{attempt}{name}{raw}{number}")),
        });
        let a = &mut step.attributes;
        a.put(sc::CICD_TASK_NAME, shown);
        a.put(attr::STEP_NUMBER, number);
        a.put_opt(attr::CONCLUSION, conclusion);
        if step.start.is_none() && job_start.is_some() {
            // Never ran (a cancelled job's later steps): placed by retrace, marked.
            step.time_source = crate::record::TimeSource::Derived;
        }
        out.push(step);
    }
    Ok(())
}

/// The receiver's step names: a name used more than once gets `-1`, `-2`… after its first
/// (skipping a suffix another step is already named, so that no two names are the same).
fn shown_names(steps: &[Value]) -> Vec<String> {
    let names: Vec<String> = steps
        .iter()
        .map(|s| text(&s["name"]).unwrap_or_default())
        .collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for n in &names {
        *count.entry(n).or_default() += 1;
    }
    let mut taken: std::collections::HashSet<String> = names.iter().cloned().collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    names
        .iter()
        .map(|n| {
            if count[n.as_str()] == 1 {
                return n.clone();
            }
            let k = seen.entry(n).or_default();
            *k += 1;
            if *k == 1 {
                return n.clone();
            }
            let mut suffix = *k - 1;
            let mut shown = format!("{n}-{suffix}");
            while taken.contains(&shown) && shown != *n {
                suffix += 1;
                shown = format!("{n}-{suffix}");
            }
            *k = suffix + 1;
            taken.insert(shown.clone());
            shown
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_step_names_never_repeat() {
        let steps: Vec<Value> = ["build", "build", "build-1", "test"]
            .iter()
            .map(|n| serde_json::json!({ "name": n }))
            .collect();
        assert_eq!(shown_names(&steps), ["build", "build-2", "build-1", "test"]);
        let steps: Vec<Value> = ["a", "a", "a"]
            .iter()
            .map(|n| serde_json::json!({ "name": n }))
            .collect();
        assert_eq!(shown_names(&steps), ["a", "a-1", "a-2"]);
    }
}
