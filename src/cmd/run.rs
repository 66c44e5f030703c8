//! `retrace run WORKFLOW.yaml`: the built-in runner.

use std::path::PathBuf;
use std::time::Duration;

use super::ExportArgs;
use crate::report::{exit, report};
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
        Exit code: 0 when every step succeeded, 1 otherwise, 128+N when stopped by signal N \
        (SIGINT 130, SIGTERM 143); 2 for an invalid workflow (nothing runs)."
)]
pub struct Args {
    /// The workflow file (YAML)
    pub workflow: PathBuf,

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
        let workflow = match spec::load(&self.workflow) {
            Ok(w) => w,
            Err(e) => {
                report(e);
                return exit::USAGE;
            }
        };
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
        let options = RunOptions {
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
