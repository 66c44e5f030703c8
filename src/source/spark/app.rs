//! One application's events, folded into a `Run` as they stream by: open jobs and stages are
//! held, tasks are aggregated into their stage attempt (or kept as spans with `--task-spans`),
//! and a stage attempt becomes a step once it completed and its last running task ended (task
//! ends can come after their stage and job ended).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::attributes as at;
use super::events::*;
use crate::record::{Attributes, Event, Nanos, Outcome, ParentText, Run, Step, TimeSource};
use crate::trace::semconv as sc;

/// Events kept per stage attempt for task attempts that did not succeed; the rest counted.
const MAX_TASK_EVENTS: usize = 100;
/// Longest text kept from a Spark message (a failure reason holds a whole stack trace).
const MAX_MESSAGE: usize = 2048;
/// Longest span name part taken from a description (which can be a whole SQL statement).
const MAX_NAME: usize = 120;

/// A stage attempt: (stage id, attempt id).
type StageKey = (i64, i64);

pub struct App {
    task_spans: bool,
    include_sql: bool,
    version: Option<String>,
    start: Option<AppStart>,
    end: Option<AppEnd>,
    /// From the Spark configuration: a parent context, the master, the deploy mode.
    traceparent: Option<String>,
    tracestate: Option<String>,
    master: Option<String>,
    deploy_mode: Option<String>,
    first_time: Option<Millis>,
    last_time: Option<Millis>,
    sqls: BTreeMap<i64, Sql>,
    jobs: BTreeMap<i64, Job>,
    /// The job that last listed each stage id (a stage runs for the job that submitted it).
    stage_job: HashMap<i64, i64>,
    stages: HashMap<(i64, i64), Stage>,
    /// Stage attempts already made steps, for task ends that come later still.
    finished_stages: HashSet<(i64, i64)>,
    /// Each stage's latest finished attempt: what a stage that reads its output links to.
    latest_attempt: HashMap<i64, i64>,
    stage_steps: Vec<Step>,
    /// `--task-spans`: started tasks not ended yet, and the ended ones.
    open_tasks: HashMap<i64, (StageKey, TaskInfo)>,
    task_steps: Vec<Step>,
}

struct Sql {
    start: Millis,
    end: Option<Millis>,
    root: Option<i64>,
    description: Option<String>,
    query_id: Option<String>,
    error: Option<String>,
}

#[derive(Default)]
struct Job {
    start: Option<Millis>,
    end: Option<Millis>,
    stage_ids: Vec<i64>,
    sql: Option<i64>,
    result: Option<String>,
    message: Option<String>,
    /// Its description, else its call site: what the job was.
    label: Option<String>,
    /// The context of whoever submitted it (a `traceparent` local property).
    caller: Option<ParentText>,
    attributes: Attributes,
}

#[derive(Default)]
struct Stage {
    name: Option<String>,
    num_tasks: Option<i64>,
    parent_ids: Vec<i64>,
    job: Option<i64>,
    submitted: Option<Millis>,
    completed: Option<Millis>,
    /// StageCompleted seen.
    done: bool,
    failure: Option<String>,
    running: u64,
    first_launch: Option<Millis>,
    last_finish: Option<Millis>,
    totals: Totals,
    durations: Vec<u32>,
    events: Vec<Event>,
    events_not_shown: i64,
}

#[derive(Default)]
struct Totals {
    tasks: i64,
    failed: i64,
    killed: i64,
    speculative: i64,
    run_time_ms: i64,
    cpu_time_ns: i64,
    gc_time_ms: i64,
    input_bytes: i64,
    input_records: i64,
    output_bytes: i64,
    output_records: i64,
    shuffle_read_bytes: i64,
    shuffle_read_records: i64,
    shuffle_write_bytes: i64,
    shuffle_write_records: i64,
    memory_spilled: i64,
    disk_spilled: i64,
}

impl Totals {
    fn add(&mut self, m: &TaskMetrics) {
        let add = |total: &mut i64, v: i64| *total = total.saturating_add(v.max(0));
        add(&mut self.run_time_ms, m.run_time_ms);
        add(&mut self.cpu_time_ns, m.cpu_time_ns);
        add(&mut self.gc_time_ms, m.gc_time_ms);
        add(&mut self.input_bytes, m.input.bytes);
        add(&mut self.input_records, m.input.records);
        add(&mut self.output_bytes, m.output.bytes);
        add(&mut self.output_records, m.output.records);
        add(
            &mut self.shuffle_read_bytes,
            m.shuffle_read
                .remote_bytes
                .saturating_add(m.shuffle_read.local_bytes),
        );
        add(&mut self.shuffle_read_records, m.shuffle_read.records);
        add(&mut self.shuffle_write_bytes, m.shuffle_write.bytes);
        add(&mut self.shuffle_write_records, m.shuffle_write.records);
        add(&mut self.memory_spilled, m.memory_spilled);
        add(&mut self.disk_spilled, m.disk_spilled);
    }
}

/// Epoch ms → ns; None for a time that is not one (0, negative, past year 2262).
fn nanos(ms: Option<Millis>) -> Option<Nanos> {
    ms.filter(|&t| t > 0)?.checked_mul(1_000_000)
}

/// A description as exported: the spark-sql shell and the Thrift server describe each
/// statement's execution and jobs by its text, which can hold credentials (`OPTIONS (password
/// …)`), so a description that reads as SQL is withheld unless `--include-sql`.
fn shown(description: Option<String>, include_sql: bool) -> Option<String> {
    description.filter(|d| include_sql || !reads_as_sql(d))
}

/// Whether a text starts like a SQL statement (after blanks and `--` comments) and goes on
/// past its first word. A free-text description that merely starts with such a word ("Load
/// the rides") is withheld too: the safe side.
fn reads_as_sql(text: &str) -> bool {
    const STATEMENTS: &[&str] = &[
        "ADD", "ALTER", "ANALYZE", "CACHE", "CALL", "COPY", "CREATE", "DECLARE", "DELETE", "DESC",
        "DESCRIBE", "DROP", "EXECUTE", "EXPLAIN", "FROM", "GRANT", "INSERT", "LIST", "LOAD",
        "MERGE", "MSCK", "OPTIMIZE", "REFRESH", "REPAIR", "REPLACE", "RESET", "REVOKE", "SELECT",
        "SET", "SHOW", "TABLE", "TRUNCATE", "UNCACHE", "UPDATE", "USE", "VACUUM", "VALUES", "WITH",
    ];
    let code = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut words = code.split(|c: char| c.is_whitespace() || c == '(');
    let first = words.next().unwrap_or("");
    STATEMENTS.iter().any(|s| s.eq_ignore_ascii_case(first)) && words.any(|w| !w.is_empty())
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// A one-line name part: the first line, clipped.
fn name_part(text: &str) -> String {
    clip(text.lines().next().unwrap_or("").trim(), MAX_NAME)
}

impl App {
    pub fn new(task_spans: bool, include_sql: bool) -> App {
        App {
            task_spans,
            include_sql,
            version: None,
            start: None,
            end: None,
            traceparent: None,
            tracestate: None,
            master: None,
            deploy_mode: None,
            first_time: None,
            last_time: None,
            sqls: BTreeMap::new(),
            jobs: BTreeMap::new(),
            stage_job: HashMap::new(),
            stages: HashMap::new(),
            finished_stages: HashSet::new(),
            latest_attempt: HashMap::default(),
            stage_steps: Vec::new(),
            open_tasks: HashMap::new(),
            task_steps: Vec::new(),
        }
    }

    /// Whether the log has said which application it is.
    pub fn started(&self) -> bool {
        self.start.is_some()
    }

    fn saw(&mut self, time: Option<Millis>) {
        if let Some(t) = time.filter(|&t| t > 0) {
            self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
            self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
        }
    }

    /// One event line of a kind retrace reads. Err: what is wrong with it.
    pub fn event(&mut self, kind: Kind, line: &[u8]) -> Result<(), serde_json::Error> {
        match kind {
            Kind::LogStart => {
                let e: LogStart = serde_json::from_slice(line)?;
                self.version = e.version.or(self.version.take());
            }
            Kind::AppStart => {
                let e: AppStart = serde_json::from_slice(line)?;
                self.saw(Some(e.time));
                self.start = Some(e);
            }
            Kind::AppEnd => {
                let e: AppEnd = serde_json::from_slice(line)?;
                self.saw(Some(e.time));
                self.end = Some(e);
            }
            Kind::Environment => {
                let e: EnvironmentUpdate = serde_json::from_slice(line)?;
                for (key, value) in e.spark {
                    match key.as_str() {
                        "spark.otel.traceparent" => self.traceparent = Some(value),
                        "spark.otel.tracestate" => self.tracestate = Some(value),
                        "spark.master" => self.master = Some(value),
                        "spark.submit.deployMode" => self.deploy_mode = Some(value),
                        _ => {}
                    }
                }
            }
            Kind::SqlStart => {
                let e: SqlStart = serde_json::from_slice(line)?;
                self.saw(Some(e.time));
                self.sqls.insert(
                    e.id,
                    Sql {
                        start: e.time,
                        end: None,
                        root: e.root,
                        description: shown(e.description, self.include_sql),
                        query_id: e.query_id,
                        error: None,
                    },
                );
            }
            Kind::SqlEnd => {
                let e: SqlEnd = serde_json::from_slice(line)?;
                self.saw(Some(e.time));
                if let Some(sql) = self.sqls.get_mut(&e.id) {
                    sql.end = Some(e.time);
                    sql.error = e.error.filter(|m| !m.is_empty());
                }
            }
            Kind::JobStart => {
                let e: JobStart = serde_json::from_slice(line)?;
                self.saw(e.time);
                self.job_start(e);
            }
            Kind::JobEnd => {
                let e: JobEnd = serde_json::from_slice(line)?;
                self.saw(e.time);
                let job = self.jobs.entry(e.id).or_default();
                job.end = e.time;
                if let Some(result) = e.result {
                    job.message = result
                        .exception
                        .and_then(|x| x.message)
                        .map(|m| clip(&m, MAX_MESSAGE));
                    job.result = Some(result.result);
                }
            }
            Kind::StageSubmitted => {
                let e: StageEvent = serde_json::from_slice(line)?;
                self.saw(e.info.submitted);
                let key = (e.info.id, e.info.attempt);
                let job = self.stage_job.get(&e.info.id).copied();
                let stage = self.stages.entry(key).or_default();
                stage.job = stage.job.or(job);
                stage.absorb(e.info);
            }
            Kind::StageCompleted => {
                let e: StageEvent = serde_json::from_slice(line)?;
                self.saw(e.info.completed);
                let key = (e.info.id, e.info.attempt);
                if self.finished_stages.contains(&key) {
                    return Ok(());
                }
                let job = self.stage_job.get(&e.info.id).copied();
                let stage = self.stages.entry(key).or_default();
                stage.job = stage.job.or(job);
                stage.done = true;
                stage.failure = e.info.failure.as_deref().map(|m| clip(m, MAX_MESSAGE));
                stage.absorb(e.info);
                self.close_stage_if_done(key);
            }
            Kind::TaskStart => {
                let e: TaskStart = serde_json::from_slice(line)?;
                self.saw(e.info.launch);
                let key = (e.stage, e.stage_attempt);
                if !self.finished_stages.contains(&key) {
                    let job = self.stage_job.get(&e.stage).copied();
                    let stage = self.stages.entry(key).or_default();
                    stage.job = stage.job.or(job);
                    stage.running += 1;
                }
                if self.task_spans {
                    self.open_tasks.insert(e.info.id, (key, e.info));
                }
            }
            Kind::TaskEnd => {
                let e: TaskEnd = serde_json::from_slice(line)?;
                self.saw(e.info.finish);
                self.task_end(e);
            }
        }
        Ok(())
    }

    fn job_start(&mut self, e: JobStart) {
        let mut attributes = Attributes::default();
        let props = &e.properties;
        let prop = |k: &str| props.get(k).filter(|v| !v.is_empty()).cloned();
        let description = shown(prop("spark.job.description"), self.include_sql);
        attributes.put_opt(at::JOB_GROUP, prop("spark.jobGroup.id"));
        attributes.put_opt(at::JOB_DESCRIPTION, description.clone());
        attributes.put_opt(at::JOB_CALL_SITE, prop("callSite.short"));
        attributes.put_opt(at::JOB_POOL, prop("spark.scheduler.pool"));
        attributes.put_opt(at::STREAMING_QUERY_ID, prop("sql.streaming.queryId"));
        attributes.put_opt(at::STREAMING_BATCH_ID, prop("streaming.sql.batchId"));
        // Properties an orchestrator set for this job (`sc.setLocalProperty("pipeline.…")`).
        let mut own: Vec<(&String, &String)> = props
            .iter()
            .filter(|(k, _)| k.starts_with("pipeline."))
            .collect();
        own.sort();
        for (k, v) in own {
            attributes.put(k.clone(), v.clone());
        }
        let mut ids: Vec<String> = e.stage_ids.iter().map(i64::to_string).collect();
        ids.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
        attributes.put(at::JOB_STAGE_IDS, ids);
        for sid in &e.stage_ids {
            self.stage_job.insert(*sid, e.id);
        }
        let sql = prop("spark.sql.execution.id").and_then(|s| s.parse().ok());
        let job = self.jobs.entry(e.id).or_default();
        job.label = description.or_else(|| prop("callSite.short"));
        // Local properties are per thread: each caller of a shared application can say who
        // it is (`sc.setLocalProperty("traceparent", …)`).
        job.caller = prop("traceparent")
            .or_else(|| prop("spark.otel.traceparent"))
            .map(|traceparent| ParentText {
                traceparent,
                tracestate: prop("tracestate").or_else(|| prop("spark.otel.tracestate")),
                origin: format!("job {} local property traceparent", e.id),
            });
        job.start = e.time;
        job.stage_ids = e.stage_ids;
        job.sql = sql;
        job.attributes = attributes;
    }

    fn task_end(&mut self, e: TaskEnd) {
        let key = (e.stage, e.stage_attempt);
        let succeeded = e.reason.as_ref().is_none_or(|r| r.reason == "Success");
        let duration = match (e.info.launch, e.info.finish) {
            (Some(l), Some(f)) if l > 0 && f >= l => u32::try_from(f - l).ok(),
            _ => None,
        };
        if !self.finished_stages.contains(&key) {
            let job = self.stage_job.get(&e.stage).copied();
            let stage = self.stages.entry(key).or_default();
            stage.job = stage.job.or(job);
            stage.running = stage.running.saturating_sub(1);
            let launch = e.info.launch.filter(|&t| t > 0);
            stage.first_launch = match (stage.first_launch, launch) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let finish = e.info.finish.filter(|&t| t > 0);
            stage.last_finish = stage.last_finish.max(finish);
            let t = &mut stage.totals;
            t.tasks += 1;
            t.failed += i64::from(e.info.failed);
            t.killed += i64::from(e.info.killed);
            t.speculative += i64::from(e.info.speculative);
            if let Some(m) = &e.metrics {
                t.add(m);
            }
            if let Some(d) = duration {
                stage.durations.push(d);
            }
            if !succeeded {
                match nanos(e.info.finish) {
                    Some(time) if stage.events.len() < MAX_TASK_EVENTS => {
                        // A killed attempt (a speculative loser, a cancelled stage) did not fail.
                        let killed = e.info.killed
                            || e.reason.as_ref().is_some_and(|r| r.reason == "TaskKilled");
                        stage.events.push(Event {
                            time,
                            name: if killed {
                                at::TASK_KILLED_EVENT
                            } else {
                                at::TASK_FAILED_EVENT
                            }
                            .into(),
                            attributes: task_failure(&e),
                        });
                    }
                    _ => stage.events_not_shown += 1,
                }
            }
        }
        if self.task_spans {
            self.open_tasks.remove(&e.info.id);
            let step = task_step(key, &e.info, e.task_type.as_deref(), &e, None);
            self.task_steps.push(step);
        }
        self.close_stage_if_done(key);
    }

    fn close_stage_if_done(&mut self, key: (i64, i64)) {
        let ready = self
            .stages
            .get(&key)
            .is_some_and(|s| s.done && s.running == 0);
        if ready {
            let stage = self.stages.remove(&key).expect("checked above");
            let links = self.parent_links(&stage);
            let mut step = stage_step(key, stage, None);
            step.links = links;
            self.stage_steps.push(step);
            self.finished_stages.insert(key);
            let latest = self.latest_attempt.entry(key.0).or_insert(key.1);
            *latest = (*latest).max(key.1);
        }
    }

    /// The stages whose shuffle output this one read (its `Parent IDs`), as the attempts
    /// that produced it: span links that draw the stage DAG. A parent skipped here (its
    /// output computed by an earlier job under another id) has no span, and no link.
    fn parent_links(&self, stage: &Stage) -> Vec<String> {
        let mut parents = stage.parent_ids.clone();
        parents.sort_unstable();
        parents.dedup();
        parents
            .into_iter()
            .filter_map(|p| Some(format!("stage/{p}/{}", self.latest_attempt.get(&p)?)))
            .collect()
    }

    /// The run, once the log ended. None when the log never said which application it is.
    /// `running`: Spark marked the log as still being written (an `.inprogress` name).
    pub fn finish(mut self, running: bool) -> Option<Run> {
        let start = self.start.take()?;
        let last = nanos(self.last_time);
        // Stage attempts still open: ended at the log's last event (derived).
        let mut open: Vec<((i64, i64), Stage)> = self.stages.drain().collect();
        open.sort_by_key(|(k, _)| *k);
        for (key, stage) in open {
            let end = if stage.done { None } else { last };
            let links = self.parent_links(&stage);
            let mut step = stage_step(key, stage, end);
            step.links = links;
            self.stage_steps.push(step);
        }
        let mut tasks: Vec<(i64, (StageKey, TaskInfo))> = self.open_tasks.drain().collect();
        tasks.sort_by_key(|(id, _)| *id);
        for (_, (key, info)) in tasks {
            self.task_steps.push(task_step_open(key, &info, last));
        }
        let mut steps = Vec::new();
        let known_sql: HashSet<i64> = self.sqls.keys().copied().collect();
        for (id, sql) in std::mem::take(&mut self.sqls) {
            steps.push(sql_step(id, sql, &known_sql, last));
        }
        let known_jobs: HashSet<i64> = self.jobs.keys().copied().collect();
        for (id, mut job) in std::mem::take(&mut self.jobs) {
            // SQL jobs carry the session's configuration, the application's own parent too:
            // only another context is a caller.
            if job.caller.as_ref().map(|c| &c.traceparent) == self.traceparent.as_ref() {
                job.caller = None;
            }
            steps.push(job_step(id, job, &known_sql, last));
        }
        for step in self.stage_steps.iter_mut() {
            // A stage whose job is not in the log (its JobStart lost) hangs under the app.
            if step
                .parent
                .as_deref()
                .and_then(|p| p.strip_prefix("job/"))
                .and_then(|j| j.parse::<i64>().ok())
                .is_some_and(|j| !known_jobs.contains(&j))
            {
                step.parent = None;
            }
        }
        let stage_ids: HashSet<String> = self.stage_steps.iter().map(|s| s.id.clone()).collect();
        steps.append(&mut self.stage_steps);
        // Spark never logs a task twice; a log that does (spliced, corrupt) keeps the first,
        // rather than failing the whole application on a span id seen twice.
        let mut seen_tasks: HashSet<(String, u32)> = HashSet::new();
        for mut task in std::mem::take(&mut self.task_steps) {
            if !seen_tasks.insert((task.id.clone(), task.attempt)) {
                continue;
            }
            if task.parent.as_ref().is_some_and(|p| !stage_ids.contains(p)) {
                task.parent = None;
            }
            steps.push(task);
        }

        let app_id = start.id.clone().unwrap_or_else(|| "unknown".into());
        let name = start.name.clone().unwrap_or_else(|| app_id.clone());
        let run_id = match &start.attempt {
            Some(a) => format!("{app_id}/{a}"),
            None => app_id.clone(),
        };
        let mut attributes = Attributes::default();
        attributes.put(at::APP_ID, app_id);
        attributes.put(at::APP_NAME, name.clone());
        attributes.put_opt(at::APP_ATTEMPT_ID, start.attempt.clone());
        attributes.put_opt(at::APP_USER, start.user.clone());
        attributes.put_opt(at::VERSION, self.version.clone());
        attributes.put_opt(at::MASTER, self.master.clone());
        attributes.put_opt(at::DEPLOY_MODE, self.deploy_mode.clone());
        let (end, outcome, message) = match &self.end {
            Some(e) => {
                attributes.put_opt(at::APP_EXIT_CODE, e.exit_code);
                match e.exit_code {
                    Some(code) if code != 0 => (
                        nanos(Some(e.time)),
                        Outcome::Failure,
                        Some(format!("exit code {code}")),
                    ),
                    _ => (nanos(Some(e.time)), Outcome::Success, None),
                }
            }
            None => {
                attributes.put(at::INCOMPLETE, true);
                if running {
                    attributes.put(at::APP_IN_PROGRESS, true);
                }
                (
                    None,
                    Outcome::Unknown,
                    Some("the log ends before the application did".to_owned()),
                )
            }
        };
        Some(Run {
            system: "spark".into(),
            run_id,
            name: format!("spark {}", name_part(&name)),
            pipeline_name: name,
            start: nanos(Some(start.time)).or(nanos(self.first_time)),
            end,
            outcome,
            message,
            parent: self.traceparent.take().map(|traceparent| ParentText {
                traceparent,
                tracestate: self.tracestate.take(),
                origin: "spark.otel.traceparent in the Spark configuration".into(),
            }),
            native_trace_id: None,
            native_span_id: None,
            resource: Vec::new(),
            attributes,
            events: Vec::new(),
            steps,
        })
    }
}

impl Stage {
    fn absorb(&mut self, info: StageInfo) {
        self.name = info.name.or(self.name.take());
        self.num_tasks = info.num_tasks.or(self.num_tasks);
        if !info.parent_ids.is_empty() {
            self.parent_ids = info.parent_ids;
        }
        self.submitted = info.submitted.or(self.submitted);
        self.completed = info.completed.or(self.completed);
    }
}

fn task_failure(e: &TaskEnd) -> Attributes {
    let mut a = Attributes::default();
    a.put(at::TASK_ID, e.info.id);
    a.put(at::TASK_INDEX, e.info.index);
    a.put(at::TASK_ATTEMPT, e.info.attempt);
    a.put_opt(at::EXECUTOR_ID, e.info.executor.clone());
    if let Some(r) = &e.reason {
        a.put(at::TASK_END_REASON, r.reason.clone());
        a.put_opt(sc::EXCEPTION_TYPE, r.class_name.clone());
        a.put_opt(
            sc::EXCEPTION_MESSAGE,
            failure_message(r).map(|m| clip(m, MAX_MESSAGE)),
        );
    }
    a
}

/// What a task end reason says happened, whichever kind it is.
fn failure_message(r: &EndReason) -> Option<&str> {
    r.description
        .as_deref()
        .or(r.kill_reason.as_deref())
        .or(r.message.as_deref())
        .or(r.loss_reason.as_deref())
}

fn sql_step(id: i64, sql: Sql, known: &HashSet<i64>, last: Option<Nanos>) -> Step {
    let mut step = Step::new(
        format!("sql/{id}"),
        match &sql.description {
            Some(d) if !d.trim().is_empty() => format!("SQL {id}: {}", name_part(d)),
            _ => format!("SQL {id}"),
        },
    );
    step.parent = sql
        .root
        .filter(|r| *r != id && known.contains(r))
        .map(|r| format!("sql/{r}"));
    step.start = nanos(Some(sql.start));
    step.attributes.put(at::SQL_EXECUTION_ID, id);
    step.attributes
        .put_opt(at::SQL_ROOT_EXECUTION_ID, sql.root.filter(|r| *r != id));
    step.attributes.put_opt(
        at::SQL_DESCRIPTION,
        sql.description.map(|d| clip(&d, MAX_MESSAGE)),
    );
    step.attributes.put_opt(at::SQL_QUERY_ID, sql.query_id);
    match sql.end {
        Some(end) => {
            step.end = nanos(Some(end));
            match sql.error {
                Some(error) => {
                    step.outcome = Outcome::Failure;
                    step.message = Some(clip(&error, MAX_MESSAGE));
                }
                None => step.outcome = Outcome::Success,
            }
        }
        None => still_open(&mut step, last),
    }
    step
}

fn job_step(id: i64, job: Job, known_sql: &HashSet<i64>, last: Option<Nanos>) -> Step {
    let mut step = Step::new(
        format!("job/{id}"),
        match &job.label {
            Some(l) => format!("job {id}: {}", name_part(l)),
            None => format!("job {id}"),
        },
    );
    step.parent = job
        .sql
        .filter(|s| known_sql.contains(s))
        .map(|s| format!("sql/{s}"));
    step.start = nanos(job.start);
    step.attributes.put(at::JOB_ID, id);
    step.attributes.merge(job.attributes.0);
    step.remote_links.extend(job.caller);
    step.attributes.put_opt(at::JOB_RESULT, job.result.clone());
    if job.end.is_none() {
        still_open(&mut step, last);
        return step;
    }
    step.end = nanos(job.end);
    match job.result.as_deref() {
        Some("JobSucceeded") => step.outcome = Outcome::Success,
        Some(_) => {
            step.outcome = Outcome::Failure;
            step.message = job.message;
        }
        None => {}
    }
    step
}

fn stage_step(key: (i64, i64), stage: Stage, open_end: Option<Nanos>) -> Step {
    let (id, attempt) = key;
    let label = stage.name.as_deref().map(name_part);
    let mut name = match label {
        Some(l) if !l.is_empty() => format!("stage {id}: {l}"),
        _ => format!("stage {id}"),
    };
    if attempt > 0 {
        name.push_str(&format!(" (attempt {})", attempt.saturating_add(1)));
    }
    let mut step = Step::new(format!("stage/{id}/{attempt}"), name);
    step.attempt = u32::try_from(attempt.saturating_add(1)).unwrap_or(1);
    step.parent = stage.job.map(|j| format!("job/{j}"));
    step.start = nanos(stage.submitted).or(nanos(stage.first_launch));
    let a = &mut step.attributes;
    // A retried stage's attempts are one task (one metrics series), as a runner step's are.
    a.put(sc::CICD_TASK_NAME, format!("stage/{id}"));
    a.put(at::STAGE_ID, id);
    a.put(at::STAGE_ATTEMPT_ID, attempt);
    a.put_opt(at::STAGE_NAME, stage.name.clone());
    a.put_opt(at::STAGE_NUM_TASKS, stage.num_tasks);
    if !stage.parent_ids.is_empty() {
        let mut ids = stage.parent_ids.clone();
        ids.sort();
        a.put(
            at::STAGE_PARENT_IDS,
            ids.iter().map(i64::to_string).collect::<Vec<_>>(),
        );
    }
    let t = &stage.totals;
    a.put(at::STAGE_TASKS, t.tasks);
    a.put(at::STAGE_TASKS_FAILED, t.failed);
    a.put(at::STAGE_TASKS_KILLED, t.killed);
    a.put(at::STAGE_TASKS_SPECULATIVE, t.speculative);
    a.put(at::STAGE_RUN_TIME, t.run_time_ms);
    a.put(at::STAGE_CPU_TIME, t.cpu_time_ns / 1_000_000);
    a.put(at::STAGE_GC_TIME, t.gc_time_ms);
    a.put(at::PIPELINE_RECORDS_READ, t.input_records);
    a.put(sc::PIPELINE_RECORDS_WRITTEN, t.output_records);
    a.put(sc::PIPELINE_BYTES_PROCESSED, t.input_bytes);
    a.put(at::STAGE_INPUT_BYTES, t.input_bytes);
    a.put(at::STAGE_OUTPUT_BYTES, t.output_bytes);
    a.put(at::STAGE_SHUFFLE_READ_BYTES, t.shuffle_read_bytes);
    a.put(at::STAGE_SHUFFLE_READ_RECORDS, t.shuffle_read_records);
    a.put(at::STAGE_SHUFFLE_WRITE_BYTES, t.shuffle_write_bytes);
    a.put(at::STAGE_SHUFFLE_WRITE_RECORDS, t.shuffle_write_records);
    a.put(at::STAGE_MEMORY_SPILLED, t.memory_spilled);
    a.put(at::STAGE_DISK_SPILLED, t.disk_spilled);
    let mut durations = stage.durations;
    if !durations.is_empty() {
        durations.sort_unstable();
        let rank = |q: f64| {
            durations[((durations.len() as f64 * q).ceil() as usize).clamp(1, durations.len()) - 1]
        };
        a.put(at::STAGE_TASK_P50, i64::from(rank(0.50)));
        a.put(at::STAGE_TASK_P95, i64::from(rank(0.95)));
        a.put(
            at::STAGE_TASK_MAX,
            i64::from(*durations.last().expect("not empty")),
        );
    }
    if stage.events_not_shown > 0 {
        a.put(at::STAGE_TASK_FAILURES_NOT_SHOWN, stage.events_not_shown);
    }
    step.events = stage.events;
    if !stage.done {
        if stage.running > 0 {
            let running = i64::try_from(stage.running).unwrap_or(i64::MAX);
            step.attributes.put(at::STAGE_TASKS_RUNNING_AT_END, running);
        }
        still_open(&mut step, open_end.or(nanos(stage.last_finish)));
        return step;
    }
    // A task that ends after its stage completed (a killed straggler) kept the stage's
    // executors busy until then.
    step.end = match (nanos(stage.completed), nanos(stage.last_finish)) {
        (Some(completed), Some(last)) => Some(completed.max(last)),
        (completed, last) => completed.or(last),
    };
    match stage.failure {
        Some(reason) => {
            step.outcome = Outcome::Failure;
            step.message = Some(reason);
        }
        None => step.outcome = Outcome::Success,
    }
    step
}

fn task_step(
    key: (i64, i64),
    info: &TaskInfo,
    task_type: Option<&str>,
    e: &TaskEnd,
    open_end: Option<Nanos>,
) -> Step {
    let mut step = task_step_base(key, info);
    step.attributes
        .put_opt(at::TASK_TYPE, task_type.map(str::to_owned));
    step.end = nanos(info.finish).or(open_end);
    let reason = e.reason.as_ref().map_or("Success", |r| r.reason.as_str());
    step.attributes.put(at::TASK_END_REASON, reason.to_owned());
    if let Some(m) = &e.metrics {
        step.attributes.put(at::TASK_RUN_TIME, m.run_time_ms);
        step.attributes
            .put(at::PIPELINE_RECORDS_READ, m.input.records);
        step.attributes
            .put(sc::PIPELINE_RECORDS_WRITTEN, m.output.records);
    }
    match reason {
        "Success" => step.outcome = Outcome::Success,
        "TaskKilled" => {
            step.outcome = Outcome::Cancellation;
            step.message = e
                .reason
                .as_ref()
                .and_then(|r| r.kill_reason.as_deref())
                .map(|m| clip(m, MAX_MESSAGE));
        }
        _ => {
            step.outcome = Outcome::Failure;
            step.message = e
                .reason
                .as_ref()
                .and_then(failure_message)
                .map(|m| clip(m, MAX_MESSAGE))
                .or_else(|| Some(reason.to_owned()));
            step.error_type = e
                .reason
                .as_ref()
                .map(|r| r.class_name.clone().unwrap_or_else(|| r.reason.clone()));
        }
    }
    step
}

fn task_step_open(key: (i64, i64), info: &TaskInfo, last: Option<Nanos>) -> Step {
    let mut step = task_step_base(key, info);
    still_open(&mut step, last);
    step
}

fn task_step_base(key: (i64, i64), info: &TaskInfo) -> Step {
    let (stage, attempt) = key;
    let mut step = Step::new(
        format!("task/{}", info.id),
        format!(
            "task {} (stage {stage}, partition {})",
            info.id,
            info.partition.unwrap_or(info.index)
        ),
    );
    step.parent = Some(format!("stage/{stage}/{attempt}"));
    step.start = nanos(info.launch);
    let a = &mut step.attributes;
    a.put(at::TASK_ID, info.id);
    a.put(at::TASK_INDEX, info.index);
    a.put(at::TASK_ATTEMPT, info.attempt);
    a.put_opt(at::TASK_PARTITION, info.partition);
    a.put_opt(at::EXECUTOR_ID, info.executor.clone());
    a.put_opt(at::HOST_NAME, info.host.clone());
    a.put_opt(at::TASK_LOCALITY, info.locality.clone());
    a.put(at::TASK_SPECULATIVE, info.speculative);
    step
}

/// A span the log never ended: it ends at the log's last event, marked as derived.
fn still_open(step: &mut Step, last: Option<Nanos>) {
    step.outcome = Outcome::Unknown;
    step.end = last.max(step.start);
    step.time_source = TimeSource::Derived;
    step.attributes.put(at::OPEN_AT_END, true);
}
