//! `retrace run WORKFLOW.yaml`: schedules a workflow's steps (dependencies, parallelism,
//! retries, timeouts, signals), runs each as `sh -c` in a process group of its own, and hands
//! every finished step to `live` (records file + spans).
//!
//! Span tree: `DAG: <name>` → `Step: <name>` per step → `Step: <name> (attempt N)` per attempt
//! when the step has a retry policy. Each process's `TRACEPARENT` is the span it runs in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::record::{Attributes, Nanos, Outcome, Step};
use crate::report::{exit, report};
use crate::runner::live::{self, LiveRun};
use crate::runner::process::{self, Launch, Output};
use crate::runner::spec::{Handler, StepSpec, Workflow};
use crate::runner::{enter_span, inherited_otel, signals, step_report, Clock};
use crate::sink::config::{EnvSnapshot, FileDefaults};
use crate::sink::delivery::Export;
use crate::trace::build::Identity;
use crate::trace::semconv as sc;
use crate::vars::{self, Syntax};

/// The runner's own options (`retrace run --help`).
pub struct RunOptions {
    /// The run and workflow that started this one (a step's `run:`): `dag.parent_run_id`,
    /// `dag.parent_name` on its root.
    pub parent: Option<(String, String)>,
    pub max_parallel: usize,
    pub records: Option<PathBuf>,
    pub log_dir: Option<PathBuf>,
    /// How long a step may take to stop after SIGTERM (timeout, cancellation) before SIGKILL.
    pub grace: Duration,
    pub run_id: Option<String>,
}

/// Where runs are kept unless `--records`/`--log-dir` say otherwise: under the working
/// directory, so a CI job can upload `.retrace/` as an artifact.
pub const DEFAULT_RUNS_DIR: &str = ".retrace/runs";

/// The workflow's `otel:` block as the lowest layer of export settings, its `${VAR}`s
/// expanded (`DAG_NAME`, the workflow's env, the environment).
pub fn export_defaults(workflow: &Workflow) -> Option<FileDefaults> {
    // Dagu's `service.name: "dagu-${DAG_NAME}"`: the workflow's name, then its env (dotenv
    // included), then ours.
    let lookup = |name: &str| {
        if name == "DAG_NAME" {
            return Some(workflow.name.clone());
        }
        workflow
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    workflow.otel.clone().map(|mut o| {
        o.endpoint = o.endpoint.map(|e| vars::expand(&e, Syntax::Shell, &lookup));
        for (_, v) in &mut o.resource {
            *v = vars::expand(v, Syntax::Shell, &lookup);
        }
        o
    })
}

/// Runs a loaded workflow; returns the exit code (README "retrace run").
pub fn run(workflow: &Workflow, options: &RunOptions, export: &Export, env: &EnvSnapshot) -> i32 {
    let clock = Clock::start();
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| crate::runner::new_run_id(&clock));
    let run_dir = PathBuf::from(DEFAULT_RUNS_DIR).join(process::file_stem(&workflow.name));
    let records = options
        .records
        .clone()
        .unwrap_or_else(|| run_dir.join(format!("{run_id}.jsonl")));
    let log_dir = options
        .log_dir
        .clone()
        .unwrap_or_else(|| run_dir.join(&run_id));

    let mut header = live::header(
        run_id.clone(),
        format!("DAG: {}", workflow.name),
        workflow.name.clone(),
        clock.now(),
    );
    header.attributes.put(sc::DAG_NAME, workflow.name.clone());
    header.attributes.put(sc::DAG_RUN_ID, run_id.clone());
    // In the records too, so `retrace records` rebuilds the resource the workflow declared.
    header.resource = export_defaults(workflow)
        .map(|o| o.resource.into_iter().collect())
        .unwrap_or_default();
    if let Some((parent_run, parent_name)) = &options.parent {
        header
            .attributes
            .put(sc::DAG_PARENT_RUN_ID, parent_run.clone());
        header
            .attributes
            .put(sc::DAG_PARENT_NAME, parent_name.clone());
    }
    let live = match LiveRun::start(
        header,
        export.parent.as_ref(),
        &export.namespace,
        Some(&records),
        export,
    ) {
        Ok(l) => l,
        Err(e) => {
            report(e);
            return exit::USAGE;
        }
    };
    let mut live = live;
    live.announce();
    if !export.options.quiet {
        report(format!(
            "run {run_id} of {}: {} steps in {}; records in {}, logs in {}",
            workflow.name,
            workflow.steps.len(),
            workflow.working_dir.display(),
            records.display(),
            log_dir.display()
        ));
    }
    let base_env = base_env(workflow, env, &run_id);
    let child_env = child_export_env(export);
    let scheduler = Scheduler {
        child_env,
        spool: export.sink.spool.clone(),
        records: records.clone(),
        workflow,
        options,
        clock,
        live,
        log_dir,
        base_env,
        states: vec![State::Waiting; workflow.steps.len()],
        progress: vec![Progress::default(); workflow.steps.len()],
        cancelled: None,
        run_id,
        quiet: export.options.quiet,
        outputs: Vec::new(),
        handler_phase: false,
        unrecorded: vec![false; workflow.steps.len()],
    };
    scheduler.drive()
}

/// Environment every step gets on top of ours: the OTEL_* variables we took out of our own
/// (a nested retrace or SDK exports where we do), Dagu's run variables, the workflow's `env`.
fn base_env(workflow: &Workflow, env: &EnvSnapshot, run_id: &str) -> Vec<(String, String)> {
    let mut out = inherited_otel(env);
    out.push(("DAG_NAME".into(), workflow.name.clone()));
    out.push(("DAG_RUN_ID".into(), run_id.to_owned()));
    out.push(("RETRACE_RUN_ID".into(), run_id.to_owned()));
    expand_into(&mut out, &workflow.env);
    out
}

/// Appends `entries`, expanding `${VAR}` with what is set so far, then our environment.
fn expand_into(out: &mut Vec<(String, String)>, entries: &[(String, String)]) {
    for (k, v) in entries {
        let value = {
            let lookup = |name: &str| {
                out.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .or_else(|| std::env::var(name).ok())
            };
            vars::expand(v, Syntax::Shell, &lookup)
        };
        out.push((k.clone(), value));
    }
}

#[derive(Clone, Debug)]
enum State {
    Waiting,
    /// Failed; the next attempt starts at the instant.
    Retrying {
        at: Instant,
        attempt: u32,
    },
    Running(Running),
    Done(Outcome),
}

#[derive(Clone, Debug)]
struct Running {
    attempt: u32,
    pid: u32,
    start: Nanos,
    log: PathBuf,
    deadline: Option<Instant>,
    timed_out: bool,
    /// When SIGKILL follows a SIGTERM that was not heeded.
    kill_at: Option<Instant>,
}

/// What a step has done so far (its first start, its finished attempts).
#[derive(Clone, Debug, Default)]
struct Progress {
    start: Option<Nanos>,
    attempts: Vec<Step>,
}

enum Event {
    Exited {
        step: usize,
        attempt: u32,
        result: std::io::Result<(std::process::ExitStatus, Nanos)>,
    },
    Signal(i32),
}

struct Scheduler<'w> {
    /// What a child run (`run:`) gets to export where this run exports.
    child_env: Vec<(String, String)>,
    /// This run's records file: a child's are beside it.
    records: PathBuf,
    /// Where a child keeps what it could not deliver (ours).
    spool: Option<PathBuf>,
    workflow: &'w Workflow,
    options: &'w RunOptions,
    clock: Clock,
    live: LiveRun,
    log_dir: PathBuf,
    base_env: Vec<(String, String)>,
    states: Vec<State>,
    progress: Vec<Progress>,
    /// The signal that cancelled the run.
    cancelled: Option<i32>,
    run_id: String,
    quiet: bool,
    /// `output:` variables set so far, in the order their steps ended.
    outputs: Vec<(String, String)>,
    /// The other steps are done: the `handlerOn` steps' turn.
    handler_phase: bool,
    /// Steps done without a record (handlers whose occasion did not come).
    unrecorded: Vec<bool>,
}

impl Scheduler<'_> {
    fn drive(mut self) -> i32 {
        let (tx, rx) = mpsc::channel();
        let _listener = signals::listen(tx.clone(), Event::Signal)
            .map_err(|e| report(format!("cannot listen for signals: {e}")))
            .ok();
        loop {
            self.skip_blocked();
            if !self.handler_phase && self.main_steps_done() {
                self.start_handlers();
            }
            self.launch_ready(&tx);
            if self.states.iter().all(|s| matches!(s, State::Done(_))) {
                break;
            }
            let wait = self
                .next_timer()
                .map(|t| t.saturating_duration_since(Instant::now()));
            let event = match wait {
                Some(w) => rx.recv_timeout(w).ok(),
                None => rx.recv().ok(),
            };
            match event {
                Some(Event::Exited {
                    step,
                    attempt,
                    result,
                }) => self.exited(step, attempt, result),
                Some(Event::Signal(sig)) => self.cancel(sig),
                None => {}
            }
            self.fire_timers();
        }
        self.finish()
    }

    /// Marks as skipped every waiting step whose dependencies are all done and one of them
    /// was skipped, cancelled, or failed without `continueOn.failure`.
    fn skip_blocked(&mut self) {
        loop {
            let blocked = (0..self.states.len()).find(|&i| self.blocked(i));
            let Some(i) = blocked else { return };
            let now = self.clock.now();
            let step = self.step_record(i, now, now, Outcome::Skip);
            self.states[i] = State::Done(Outcome::Skip);
            self.live.finish_steps(vec![step]);
        }
    }

    fn main_steps_done(&self) -> bool {
        self.workflow
            .steps
            .iter()
            .zip(&self.states)
            .all(|(spec, state)| spec.handler.is_some() || matches!(state, State::Done(_)))
    }

    /// The run's outcome from its recorded steps: any that did not succeed fails it.
    fn outcome(&self) -> Outcome {
        if self.cancelled.is_some() {
            return Outcome::Cancellation;
        }
        let failed = self
            .states
            .iter()
            .zip(&self.unrecorded)
            .any(|(state, &silent)| {
                !silent && matches!(state, State::Done(o) if *o != Outcome::Success)
            });
        if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }

    /// The handlers whose occasion came (success, failure or cancel) run, then `exit`; the
    /// others are done without a record, as Dagu shows only the handlers that ran.
    fn start_handlers(&mut self) {
        self.handler_phase = true;
        let outcome = self.outcome();
        for (i, spec) in self.workflow.steps.iter().enumerate() {
            let occasion = match spec.handler {
                None => continue,
                Some(Handler::Success) => outcome == Outcome::Success,
                Some(Handler::Failure) => outcome == Outcome::Failure,
                Some(Handler::Cancel) => outcome == Outcome::Cancellation,
                Some(Handler::Exit) => true,
            };
            if !occasion {
                self.states[i] = State::Done(Outcome::Skip);
                self.unrecorded[i] = true;
            }
        }
    }

    /// A waiting step whose dependencies are all done and one of them was skipped, cancelled,
    /// or failed without `continueOn.failure`.
    fn blocked(&self, i: usize) -> bool {
        let depends = &self.workflow.steps[i].depends;
        let done = |d: usize| match self.states[d] {
            State::Done(o) => Some(o),
            _ => None,
        };
        matches!(self.states[i], State::Waiting)
            && depends.iter().all(|&d| done(d).is_some())
            && depends.iter().any(|&d| match done(d) {
                Some(Outcome::Success) | None => false,
                Some(o) if o.is_error() => !self.workflow.steps[d].continue_on_failure,
                Some(_) => true,
            })
    }

    fn launch_ready(&mut self, tx: &mpsc::Sender<Event>) {
        // Once cancelled, only the handlers start (onCancel, then onExit).
        if self.cancelled.is_some() && !self.handler_phase {
            return;
        }
        let now = Instant::now();
        let mut running = self
            .states
            .iter()
            .filter(|s| matches!(s, State::Running(_)))
            .count();
        for i in 0..self.states.len() {
            if running >= self.options.max_parallel {
                return;
            }
            match self.workflow.steps[i].handler {
                Some(_) if !self.handler_phase => continue,
                // `onExit` after the other handler that ran.
                Some(Handler::Exit)
                    if self.workflow.steps.iter().zip(&self.states).any(|(s, st)| {
                        s.handler.is_some_and(|h| h != Handler::Exit)
                            && !matches!(st, State::Done(_))
                    }) =>
                {
                    continue
                }
                _ => {}
            }
            let attempt = match &self.states[i] {
                // A step skipped just now (a precondition) blocks its dependents: they are
                // skipped on the next round, not launched.
                State::Waiting
                    if self.workflow.steps[i]
                        .depends
                        .iter()
                        .all(|&d| matches!(self.states[d], State::Done(_)))
                        && !self.blocked(i) =>
                {
                    1
                }
                State::Retrying { at, attempt } if *at <= now => *attempt,
                _ => continue,
            };
            self.launch(i, attempt, tx);
            running += usize::from(matches!(self.states[i], State::Running(_)));
        }
    }

    fn launch(&mut self, i: usize, attempt: u32, tx: &mpsc::Sender<Event>) {
        let spec = &self.workflow.steps[i];
        let identity = self.live.identity().clone();
        let span = self.span_of(&identity, spec, attempt);
        let log = self.log_dir.join(if spec.retry_limit > 0 {
            format!("{}.{attempt}.log", process::file_stem(&spec.name))
        } else {
            format!("{}.log", process::file_stem(&spec.name))
        });
        let mut env = self.base_env.clone();
        // Earlier steps' `output:` variables, before the step's own env (which may use them).
        env.extend(self.outputs.iter().cloned());
        env.push(("DAG_RUN_STEP_NAME".into(), spec.name.clone()));
        env.push(("RETRACE_STEP".into(), spec.name.clone()));
        expand_into(&mut env, &spec.env);
        if attempt == 1 {
            if let Some(reason) = unmet(spec, &env) {
                let now = self.clock.now();
                self.progress[i].start.get_or_insert(now);
                let mut step = self.step_record(i, now, now, Outcome::Skip);
                // An unset status carries no message: the reason is an attribute too.
                step.attributes.put(SKIP_REASON, reason.clone());
                step.message = Some(reason);
                self.states[i] = State::Done(Outcome::Skip);
                self.live.finish_steps(vec![step]);
                return;
            }
        }
        let mut remove = Vec::new();
        enter_span(&mut env, &mut remove, &identity, span);
        // Beside the step's log: what the step reports about itself. Absolute: the step may
        // run in another directory.
        let report_file = std::path::absolute(log.with_extension("span"))
            .unwrap_or_else(|_| log.with_extension("span"));
        let prepared = report_file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| step_report::prepare(&report_file));
        match prepared {
            Ok(()) => env.push((step_report::ENV.into(), report_file.display().to_string())),
            Err(e) => report(format!(
                "step {}: {}: cannot create: {e}; ${} is not set",
                spec.name,
                report_file.display(),
                step_report::ENV
            )),
        }
        let start = self.clock.now();
        self.progress[i].start.get_or_insert(start);
        // A step that runs a workflow: `retrace run` of it, inside this step's span (its
        // TRACEPARENT), its records beside ours, exporting where we export.
        let (program, args): (std::ffi::OsString, Vec<std::ffi::OsString>) = match &spec.run {
            None => ("sh".into(), vec!["-c".into(), spec.command.clone().into()]),
            Some(child) => {
                let child_id = crate::runner::new_run_id(&self.clock);
                // Absolute: the child runs in its step's directory.
                let here = |p: &std::path::Path| std::path::absolute(p).unwrap_or(p.to_path_buf());
                let records = here(&self.records.with_file_name(format!("{child_id}.jsonl")));
                let mut args: Vec<std::ffi::OsString> = vec![
                    "run".into(),
                    child.file.clone().into(),
                    "--run-id".into(),
                    child_id.clone().into(),
                    "--records".into(),
                    records.into(),
                    "--log-dir".into(),
                    here(&self.log_dir.join(&child_id)).into(),
                    "--grace".into(),
                    format!("{}ms", self.options.grace.as_millis()).into(),
                ];
                if let Some(base) = &self.workflow.base {
                    args.push("--base".into());
                    args.push(base.clone().into());
                }
                args.push("--max-parallel".into());
                args.push(self.options.max_parallel.max(1).to_string().into());
                match &self.spool {
                    Some(dir) => {
                        args.push("--spool".into());
                        args.push(here(dir).into());
                    }
                    None => args.push("--no-spool".into()),
                }
                // Params are expanded as the step's env is (`NAME=${X}`).
                let mut expanded = env.clone();
                let params: Vec<(String, String)> = child.params.clone();
                expand_into(&mut expanded, &params);
                for (k, v) in expanded.iter().skip(env.len()) {
                    args.push("--param".into());
                    args.push(format!("{k}={v}").into());
                }
                env.extend(self.child_env.iter().cloned());
                env.push(("RETRACE_PARENT_RUN_ID".into(), self.run_id.clone()));
                env.push(("RETRACE_PARENT_NAME".into(), self.workflow.name.clone()));
                let exe = std::env::current_exe().unwrap_or_else(|_| "retrace".into());
                (exe.into_os_string(), args)
            }
        };
        let spawned = process::spawn(Launch {
            program: &program,
            args: args.iter().map(std::ffi::OsString::as_os_str).collect(),
            dir: Some(&spec.dir),
            env,
            env_remove: remove,
            own_group: true,
            output: Output::Capture {
                log: log.clone(),
                prefix: format!("{} | ", spec.name),
                stdout_copy: spec.output.as_ref().map(|_| log.with_extension("out")),
            },
        });
        match spawned {
            Ok(spawned) => {
                let pid = spawned.pid();
                let (tx, clock) = (tx.clone(), self.clock);
                std::thread::spawn(move || {
                    let result = spawned.wait(clock);
                    let _ = tx.send(Event::Exited {
                        step: i,
                        attempt,
                        result,
                    });
                });
                self.states[i] = State::Running(Running {
                    attempt,
                    pid,
                    start,
                    log,
                    deadline: spec.timeout.map(|t| Instant::now() + t),
                    timed_out: false,
                    kill_at: None,
                });
            }
            Err(e) => {
                let message = format!("cannot start in {}: {e}", spec.dir.display());
                report(format!("step {}: {message}", spec.name));
                let running = Running {
                    attempt,
                    pid: 0,
                    start,
                    log,
                    deadline: None,
                    timed_out: false,
                    kill_at: None,
                };
                self.attempt_done(i, running, start, None, Outcome::Error, Some(message));
            }
        }
    }

    fn exited(
        &mut self,
        i: usize,
        attempt: u32,
        result: std::io::Result<(std::process::ExitStatus, Nanos)>,
    ) {
        let State::Running(running) = self.states[i].clone() else {
            return;
        };
        if running.attempt != attempt {
            return;
        }
        let spec = &self.workflow.steps[i];
        let (end, code, outcome, message) = match result {
            Err(e) => (
                self.clock.now(),
                None,
                Outcome::Error,
                Some(format!("lost track of the process: {e}")),
            ),
            Ok((status, end)) => {
                let code = process::exit_code(status);
                let (outcome, message) = if status.success() {
                    (Outcome::Success, None)
                } else if running.timed_out {
                    let limit = spec.timeout.unwrap_or_default().as_secs();
                    (Outcome::Timeout, Some(format!("timed out after {limit}s")))
                } else if let Some(sig) = self.cancelled {
                    (
                        Outcome::Cancellation,
                        Some(format!("cancelled by {}", process::signal_name(sig))),
                    )
                } else {
                    (Outcome::Failure, Some(process::describe(status)))
                };
                (end, Some(code), outcome, message)
            }
        };
        self.attempt_done(i, running, end, code, outcome, message);
    }

    /// Records an attempt; retries it, or records the step.
    fn attempt_done(
        &mut self,
        i: usize,
        running: Running,
        end: Nanos,
        code: Option<i32>,
        outcome: Outcome,
        message: Option<String>,
    ) {
        let spec = &self.workflow.steps[i];
        let attempt = running.attempt;
        let reported = step_report::read(
            &running.log.with_extension("span"),
            &format!("step {}", spec.name),
            end,
        );
        let mut last = Step::new(
            format!("{}#{attempt}", spec.name),
            format!("Step: {} (attempt {attempt})", spec.name),
        );
        last.parent = Some(spec.name.clone());
        last.attempt = attempt;
        last.start = Some(running.start);
        last.end = Some(end);
        last.outcome = outcome;
        last.exit_code = code.map(i64::from);
        last.message = message;
        let a = &mut last.attributes;
        a.put(sc::CICD_TASK_NAME, spec.name.clone());
        a.put(sc::CICD_TASK_RUN_ID, format!("{}#{attempt}", spec.name));
        a.put(sc::STEP_NAME, spec.name.clone());
        a.put(sc::STEP_STATUS, status_label(outcome));
        if let Some(code) = code {
            a.put(sc::STEP_EXIT_CODE, i64::from(code));
            a.put(sc::PROCESS_EXIT_CODE, i64::from(code));
        }
        if running.pid != 0 {
            a.put(sc::PROCESS_PID, i64::from(running.pid));
        }
        a.put(sc::LOG_FILE_PATH, running.log.display().to_string());
        a.merge(reported.attributes.0.iter().cloned());
        last.events.extend(reported.events.iter().cloned());
        self.progress[i].attempts.push(last);

        let retryable = matches!(outcome, Outcome::Failure | Outcome::Timeout);
        if retryable && attempt <= spec.retry_limit && self.cancelled.is_none() {
            if !self.quiet {
                report(format!(
                    "step {}: attempt {attempt} failed; retrying in {}s",
                    spec.name,
                    spec.retry_interval.as_secs()
                ));
            }
            self.states[i] = State::Retrying {
                at: Instant::now() + spec.retry_interval,
                attempt: attempt + 1,
            };
            return;
        }
        self.states[i] = State::Done(outcome);
        if let Some(var) = &spec.output {
            self.capture_output(var.clone(), &running.log.with_extension("out"));
        }
        let attempts = std::mem::take(&mut self.progress[i].attempts);
        let mut step = self.step_record(i, self.progress[i].start.unwrap_or(end), end, outcome);
        let final_attempt = attempts.last().expect("pushed above");
        step.exit_code = final_attempt.exit_code;
        step.message = final_attempt.message.clone();
        // The step carries its final attempt's facts (Dagu's step span has no attempts).
        for key in [
            sc::STEP_EXIT_CODE,
            sc::PROCESS_EXIT_CODE,
            sc::PROCESS_PID,
            sc::LOG_FILE_PATH,
        ] {
            if let Some(v) = final_attempt.attributes.get(key) {
                step.attributes.put(key, v.clone());
            }
        }
        // What it reported about itself: on the step, or with retries on each attempt (whose
        // spans are the step's children; the metrics count those).
        if spec.retry_limit == 0 {
            step.attributes.merge(reported.attributes.0);
            step.events.extend(reported.events);
        }
        let mut records = vec![step];
        if spec.retry_limit > 0 {
            records[0]
                .attributes
                .put(sc::RETRACE_STEP_ATTEMPTS, attempts.len() as i64);
            records.extend(attempts);
        }
        self.live.finish_steps(records);
    }

    /// `output: VAR`: the step's stdout, trimmed (at most 1 MiB read), for the steps after it.
    fn capture_output(&mut self, var: String, file: &std::path::Path) {
        use std::io::Read;
        let mut bytes = Vec::new();
        if let Ok(f) = std::fs::File::open(file) {
            let _ = f.take(1 << 20).read_to_end(&mut bytes);
        }
        let value = String::from_utf8_lossy(&bytes).trim().to_owned();
        self.outputs.retain(|(k, _)| *k != var);
        self.outputs.push((var, value));
    }

    /// The `Step: <name>` record of step `i`.
    fn step_record(&self, i: usize, start: Nanos, end: Nanos, outcome: Outcome) -> Step {
        let spec = &self.workflow.steps[i];
        let mut step = Step::new(spec.name.clone(), format!("Step: {}", spec.name));
        step.start = Some(start);
        step.end = Some(end);
        step.outcome = outcome;
        // Links only to steps already recorded, so the live span and the converted one agree.
        step.links = spec
            .depends
            .iter()
            .filter(|&&d| matches!(self.states[d], State::Done(_)))
            .map(|&d| self.workflow.steps[d].name.clone())
            .collect();
        step.attributes.put(sc::CICD_TASK_NAME, spec.name.clone());
        step.attributes.put(sc::STEP_NAME, spec.name.clone());
        step.attributes.put(sc::STEP_STATUS, status_label(outcome));
        if let Some(handler) = spec.handler {
            // The attribute Dagu's own handler nodes carry.
            step.attributes.put(STEP_HANDLER, handler.name());
        }
        step
    }

    /// The span a step's process runs in: its attempt's when it has a retry policy.
    fn span_of(&self, identity: &Identity, spec: &StepSpec, attempt: u32) -> [u8; 8] {
        if spec.retry_limit > 0 {
            identity.span(&format!("{}#{attempt}", spec.name), attempt)
        } else {
            identity.span(&spec.name, 1)
        }
    }

    /// SIGINT/SIGTERM/SIGHUP: forwarded to every running step, nothing new starts, waiting
    /// steps are recorded as cancelled; a second signal kills at once.
    fn cancel(&mut self, sig: i32) {
        let now = Instant::now();
        let first = self.cancelled.is_none();
        self.cancelled.get_or_insert(sig);
        for state in &mut self.states {
            if let State::Running(r) = state {
                if first {
                    process::signal_group(r.pid, sig);
                    r.kill_at = Some(now + self.options.grace);
                } else {
                    process::signal_group(r.pid, libc::SIGKILL);
                }
            }
        }
        if !first {
            return;
        }
        report(format!(
            "{} received: stopping the running steps (SIGKILL in {}s, or at a second signal)",
            process::signal_name(sig),
            self.options.grace.as_secs()
        ));
        let at = self.clock.now();
        let mut records = Vec::new();
        for i in 0..self.states.len() {
            if !matches!(self.states[i], State::Waiting | State::Retrying { .. })
                || self.workflow.steps[i].handler.is_some()
            {
                continue;
            }
            let attempts = std::mem::take(&mut self.progress[i].attempts);
            let start = self.progress[i].start.unwrap_or(at);
            let mut step = self.step_record(i, start, at, Outcome::Cancellation);
            step.message = Some(format!("cancelled by {}", process::signal_name(sig)));
            self.states[i] = State::Done(Outcome::Cancellation);
            records.push(step);
            if self.workflow.steps[i].retry_limit > 0 {
                records.extend(attempts);
            }
        }
        if !records.is_empty() {
            self.live.finish_steps(records);
        }
    }

    /// The next instant something must happen: a retry, a step's timeout, or the SIGKILL at
    /// the end of a grace period (after a timeout, or after a cancellation — a step without
    /// a timeout that ignores SIGTERM must still be killed when its grace ends).
    fn next_timer(&self) -> Option<Instant> {
        self.states
            .iter()
            .flat_map(|s| match s {
                State::Retrying { at, .. } => [Some(*at), None],
                State::Running(r) => [r.deadline.filter(|_| !r.timed_out), r.kill_at],
                _ => [None, None],
            })
            .flatten()
            .min()
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let grace = self.options.grace;
        for state in &mut self.states {
            let State::Running(r) = state else { continue };
            if !r.timed_out && r.deadline.is_some_and(|d| d <= now) {
                r.timed_out = true;
                process::signal_group(r.pid, libc::SIGTERM);
                r.kill_at.get_or_insert(now + grace);
            } else if r.kill_at.is_some_and(|k| k <= now) {
                process::signal_group(r.pid, libc::SIGKILL);
                r.kill_at = None;
            }
        }
    }

    fn finish(self) -> i32 {
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        for (state, &silent) in self.states.iter().zip(&self.unrecorded) {
            let State::Done(o) = state else { continue };
            if !silent {
                *counts.entry(status_label(*o)).or_default() += 1;
            }
        }
        // A handler that failed fails the run too.
        let outcome = self.outcome();
        let summary = ["succeeded", "failed", "skipped", "aborted"]
            .iter()
            .filter_map(|l| counts.get(l).map(|n| format!("{n} {l}")))
            .collect::<Vec<_>>()
            .join(", ");
        let message = (outcome != Outcome::Success).then(|| format!("steps: {summary}"));
        let mut end_attributes = Attributes::default();
        end_attributes.put(sc::DAG_STATUS, status_label(outcome));
        if !self.quiet {
            report(format!(
                "run {} of {} {}: {summary}",
                self.run_id,
                self.workflow.name,
                status_label(outcome)
            ));
        }
        let end = self.clock.now();
        let delivered = self.live.end(end, outcome, message, end_attributes);
        if !delivered {
            report("some spans were not delivered; the records file keeps them all (retrace records FILE re-sends)");
        }
        match (self.cancelled, outcome) {
            (Some(sig), _) => 128 + sig,
            (None, Outcome::Success) => 0,
            _ => 1,
        }
    }
}

/// The environment that makes a child `retrace run` export where `export` does: the resolved
/// settings as the variables the child reads above its own workflow's `otel:` block. The
/// file exporter is not passed on (one file cannot take two writers); a child's spans are in
/// its records.
fn child_export_env(export: &Export) -> Vec<(String, String)> {
    use crate::sink::config::ExporterKind;
    let c = &export.sink;
    let mut out = Vec::new();
    let exporters: Vec<&str> = c
        .exporters
        .iter()
        .filter_map(|k| match k {
            ExporterKind::Otlp => Some("otlp"),
            ExporterKind::Console => Some("console"),
            ExporterKind::None => Some("none"),
            ExporterKind::File => None,
        })
        .collect();
    out.push((
        "OTEL_TRACES_EXPORTER".into(),
        if exporters.is_empty() {
            "none".into()
        } else {
            exporters.join(",")
        },
    ));
    let encode = |t: &str| {
        t.replace('%', "%25")
            .replace(',', "%2C")
            .replace('=', "%3D")
    };
    let signal =
        |prefix: &str, c: &crate::sink::config::SinkConfig, out: &mut Vec<(String, String)>| {
            out.push((format!("{prefix}ENDPOINT"), c.endpoint.clone()));
            out.push((format!("{prefix}PROTOCOL"), c.protocol.as_str().into()));
            out.push((
                format!("{prefix}TIMEOUT"),
                c.timeout.as_millis().to_string(),
            ));
            if !c.headers.is_empty() {
                let headers: Vec<String> = c
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect();
                out.push((format!("{prefix}HEADERS"), headers.join(",")));
            }
            if c.compression.is_some() {
                out.push((format!("{prefix}COMPRESSION"), "gzip".into()));
            }
            if let Some(cert) = &c.certificate {
                out.push((format!("{prefix}CERTIFICATE"), cert.display().to_string()));
            }
            if let Some((cert, key)) = &c.client_identity {
                out.push((
                    format!("{prefix}CLIENT_CERTIFICATE"),
                    cert.display().to_string(),
                ));
                out.push((format!("{prefix}CLIENT_KEY"), key.display().to_string()));
            }
        };
    signal("OTEL_EXPORTER_OTLP_TRACES_", c, &mut out);
    if let Some(m) = &c.metrics {
        out.push(("OTEL_METRICS_EXPORTER".into(), "otlp".into()));
        signal("OTEL_EXPORTER_OTLP_METRICS_", &m.otlp, &mut out);
    }
    // The resource stays the child's own (its workflow's `otel.resource`, the OTEL_*
    // variables it inherits).
    out
}

/// Which `handlerOn` step a step is (`onExit`, …), as Dagu marks its handler nodes.
const STEP_HANDLER: &str = "dagu.step.handler";

/// Why a step was skipped, when it is its own (a precondition).
const SKIP_REASON: &str = "step.skip_reason";

/// Why a step's preconditions do not hold, if one does not: a condition without `expected`
/// is a command (exit 0 holds); with it, the condition is evaluated as a double-quoted shell
/// word (`$VAR`, `$(command)`) and compared, trimmed, with `expected`. Run in the step's
/// directory and environment, before the step (the scheduler waits for them).
fn unmet(spec: &StepSpec, env: &[(String, String)]) -> Option<String> {
    use std::process::{Command, Stdio};
    for p in &spec.preconditions {
        let mut sh = Command::new("sh");
        sh.current_dir(&spec.dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        match &p.expected {
            None => {
                let held = sh
                    .arg("-c")
                    .arg(&p.condition)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !held {
                    return Some(format!("precondition not met: {}", p.condition));
                }
            }
            Some(expected) => {
                let word = p.condition.replace('\\', "\\\\").replace('"', "\\\"");
                let got = sh
                    .arg("-c")
                    .arg(format!("printf '%s' \"{word}\""))
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                if got != expected.trim() {
                    return Some(format!(
                        "precondition not met: {} is {got:?}, expected {expected:?}",
                        p.condition
                    ));
                }
            }
        }
    }
    None
}

/// Dagu's status labels (`step.status`, `dag.status`).
fn status_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "succeeded",
        Outcome::Skip => "skipped",
        Outcome::Cancellation => "aborted",
        _ => "failed",
    }
}
