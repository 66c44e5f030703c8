//! `retrace run WORKFLOW.yaml`: the built-in runner.

use std::path::PathBuf;
use std::time::Duration;

use super::ExportArgs;
use crate::report::{exit, print_line, report};
use crate::runner::engine::{self, RunOptions};
use crate::runner::spec;
use crate::sink::config::EnvSnapshot;

/// Run a workflow of shell steps (a Dagu-compatible YAML subset), tracing it live.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Run a workflow of shell steps (a Dagu-compatible YAML subset) and trace it \
        live: one `DAG: <name>` span, a `Step: <name>` span per step sent as soon as the step \
        ends, and a span per attempt for steps with a retryPolicy. Every step process gets \
        TRACEPARENT (its own span), RETRACE_RUN_ID and RETRACE_STEP.\n\n\
        Step records go to --records as they happen; `retrace records FILE` later sends \
        exactly the same spans.\n\n\
        --dry-run checks the workflow and prints its plan (groups that may run together, each \
        step's command as written, directory, retries, timeout, environment names without \
        values); nothing runs and nothing is written or sent.\n\n\
        Exit code: 0 when every step succeeded, 1 otherwise, 128+N when stopped by signal N \
        (SIGINT 130, SIGTERM 143); 2 for an invalid workflow (nothing runs)."
)]
pub struct Args {
    /// The workflow file (YAML)
    pub workflow: PathBuf,

    /// A parameter of the workflow, KEY=VALUE (an environment variable of its steps, before
    /// its dotenv and env; replaces its `params:` default of that name); repeatable. A step's
    /// `run:` passes its `params` this way
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = param)]
    pub params: Vec<(String, String)>,

    /// A base configuration whose keys are defaults for the workflow (maps merge key by key,
    /// other values are replaced) [default: base.yaml beside the workflow, when there is one]
    #[arg(long, value_name = "FILE")]
    pub base: Option<PathBuf>,

    /// Steps running at once [default: the number of CPUs]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,

    /// Step records file (retrace.records/v1), appended as steps finish
    /// [default: .retrace/runs/<workflow name>/<run id>.jsonl]
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,

    /// Directory of the per-step log files [default: .retrace/runs/<workflow name>/<run id>/]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Time a step gets to stop after SIGTERM (timeout, cancellation) before SIGKILL
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::values::duration)]
    pub grace: Duration,

    /// The run id [default: a new UUIDv7]; derived trace and span ids follow from it
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let workflow = match spec::load_tree(&self.workflow, self.base.as_deref()) {
            Ok(w) => w.with_params(&self.params),
            Err(e) => {
                report(e);
                return exit::USAGE;
            }
        };
        if self.export.behaviour.dry_run {
            return plan(&workflow, self.max_parallel);
        }
        let export = match self
            .export
            .resolve(env, engine::export_defaults(&workflow))
        {
            Ok(export) => export,
            Err(problem) => {
                report(problem);
                return exit::USAGE;
            }
        };
        // Set by a parent run for the child a step of it runs (`run:`).
        let parent = match (
            std::env::var("RETRACE_PARENT_RUN_ID"),
            std::env::var("RETRACE_PARENT_NAME"),
        ) {
            (Ok(run), Ok(name)) if !run.is_empty() => Some((run, name)),
            _ => None,
        };
        let options = RunOptions {
            parent,
            max_parallel: self.max_parallel.map_or_else(
                || std::thread::available_parallelism().map_or(1, |n| n.get()),
                usize::from,
            ),
            records: self.records,
            log_dir: self.log_dir,
            grace: self.grace,
            run_id: self.run_id,
        };
        engine::run(&workflow, &options, &export, env)
    }
}

fn param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// `--dry-run`: the workflow checked and its plan printed; nothing runs, nothing is written.
/// Steps are grouped by depth (a group starts when the groups before it are done, at most
/// `--max-parallel` of it at once); commands are shown as written, environment names only.
fn plan(workflow: &spec::Workflow, max_parallel: Option<u16>) -> i32 {
    let mut depth = vec![0usize; workflow.steps.len()];
    // `depends` holds earlier or later indexes; the spec refused cycles, so a few passes settle.
    for _ in 0..workflow.steps.len() {
        for (i, step) in workflow.steps.iter().enumerate() {
            depth[i] = step.depends.iter().map(|d| depth[*d] + 1).max().unwrap_or(0);
        }
    }
    let parallel = max_parallel.map_or_else(|| "the number of CPUs".to_owned(), |n| n.to_string());
    print_line(format_args!(
        "would run {} ({} steps, at most {parallel} at once) in {}; nothing runs now",
        workflow.name,
        workflow.steps.len(),
        workflow.working_dir.display()
    ));
    if !workflow.env.is_empty() {
        let names: Vec<&str> = workflow.env.iter().map(|(k, _)| k.as_str()).collect();
        print_line(format_args!("env: {}", names.join(", ")));
    }
    let groups = depth.iter().max().map_or(0, |d| d + 1);
    for group in 0..groups {
        let members: Vec<&spec::StepSpec> = workflow
            .steps
            .iter()
            .zip(&depth)
            .filter(|(_, d)| **d == group)
            .map(|(s, _)| s)
            .collect();
        print_line(format_args!("group {}:", group + 1));
        for step in members {
            let mut notes = Vec::new();
            if !step.depends.is_empty() {
                let after: Vec<&str> = step
                    .depends
                    .iter()
                    .map(|d| workflow.steps[*d].name.as_str())
                    .collect();
                notes.push(format!("after {}", after.join(", ")));
            }
            if step.dir != workflow.working_dir {
                notes.push(format!("in {}", step.dir.display()));
            }
            if !step.env.is_empty() {
                let names: Vec<&str> = step.env.iter().map(|(k, _)| k.as_str()).collect();
                notes.push(format!("env {}", names.join(", ")));
            }
            if step.retry_limit > 0 {
                notes.push(format!(
                    "retried up to {} times, {}s apart",
                    step.retry_limit,
                    step.retry_interval.as_secs()
                ));
            }
            if let Some(t) = step.timeout {
                notes.push(format!("timeout {}s", t.as_secs()));
            }
            if step.continue_on_failure {
                notes.push("its failure does not stop its dependents".into());
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join("; "))
            };
            let command = match &step.run {
                // A child run: its file and its params' names (values may be secrets).
                Some(child) => {
                    let names: Vec<&str> = child.params.iter().map(|(k, _)| k.as_str()).collect();
                    let params = if names.is_empty() {
                        String::new()
                    } else {
                        format!(" with params {}", names.join(", "))
                    };
                    format!("runs workflow {}{params}", child.file.display())
                }
                None => step.command.trim_end().replace('\n', "\n      "),
            };
            print_line(format_args!("  {}: {command}{notes}", step.name));
        }
    }
    exit::OK
}

