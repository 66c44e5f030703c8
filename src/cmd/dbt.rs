//! `retrace dbt [PATH...]` and the wrapper `retrace dbt --run -- dbt …`.

use std::ffi::OsString;
use std::path::PathBuf;

use super::ExportArgs;
use crate::convert;
use crate::record::{Nanos, Run};
use crate::runner::exec::{self, Around, Wrapped};
use crate::sink::config::EnvSnapshot;
use crate::source::dbt::{self, invocation};
use crate::source::SourceOptions;

/// Convert dbt artifacts (run_results.json, sources.json, a target/ directory) and logs (dbt.log).
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Convert dbt artifacts into one trace per dbt invocation.\n\n\
        PATH may be a run_results.json or sources.json file, dbt's log (logs/dbt.log, or the \
        logs/ directory with its rotated dbt.log.1 … .5), a directory (walked for all of them; \
        manifest.json beside an artifact enriches it), or a glob. A log and the artifact of \
        the same invocation are one run. Without PATH: \
        $DBT_TARGET_PATH, else ./target.\n\n\
        After `dbt build`:  dbt build; rc=$?; retrace dbt target/; exit $rc\n\
        Or let retrace run dbt:  retrace dbt --run -- dbt build"
)]
pub struct Args {
    /// Artifact files, directories or globs [default: $DBT_TARGET_PATH or ./target]
    pub paths: Vec<PathBuf>,

    /// manifest.json to enrich every artifact with (default: the one beside each artifact)
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Export compiled SQL as db.query.text (off by default: SQL may hold sensitive literals)
    #[arg(long)]
    pub include_sql: bool,

    /// Add a child span per timing phase (compile, execute) inside each node span
    #[arg(long)]
    pub phase_spans: bool,

    /// Zone of the times of day in a text dbt.log (no date, no zone written): local, UTC, an
    /// IANA name (Europe/Berlin) or an offset (+09:00) [default: local]
    #[arg(long, value_name = "ZONE", value_parser = super::values::zone)]
    pub tz: Option<crate::source::time::Zone>,

    #[command(flatten)]
    pub walk: super::inputs::Walk,

    /// Run the dbt command given after `--` under a wrapper span (dbt gets its traceparent as
    /// DBT_ENV_CUSTOM_ENV_TRACEPARENT), then convert the artifacts it wrote (PATHs, default
    /// its --target-path inside its --project-dir) as children of that span; exits with dbt's
    /// exit code.  Example: retrace dbt --run -- dbt build
    #[arg(long, requires = "command")]
    pub run: bool,

    /// The dbt command line (after `--`), for --run
    #[arg(last = true, value_name = "DBT COMMAND", requires = "run")]
    pub command: Vec<OsString>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let mut options = SourceOptions::default().with(dbt::Options {
            manifest: self.manifest.clone(),
            include_sql: self.include_sql,
            phase_spans: self.phase_spans,
            zone: self.tz,
        });
        options.verbose = self.walk.verbose;
        if self.run && self.export.behaviour.dry_run {
            return super::exec::dry_run(&self.command, "dbt", &self.export, env);
        }
        if self.run {
            let mut wrapper = DbtInvocation {
                paths: self.paths,
                argv: &self.command,
                options,
            };
            let wrapped = Wrapped {
                around: Some(&mut wrapper),
                ..Wrapped::command(&self.command)
            };
            let (export, options) = self.export.resolve_for_a_command(env);
            return exec::exec(wrapped, export, options, env);
        }
        let mut export = match self.export.resolve_or_exit(env) {
            Ok(export) => export,
            Err(code) => return code,
        };
        export.namespace_from_path = self.walk.namespace_from_path;
        let paths = if self.paths.is_empty() {
            vec![invocation::default_target()]
        } else {
            self.paths
        };
        convert::run(&dbt::Dbt, &paths, &options, &export)
    }
}

/// `--run`: dbt gets the wrapper span's context, and what this invocation wrote is sent under it.
struct DbtInvocation<'a> {
    paths: Vec<PathBuf>,
    argv: &'a [OsString],
    options: SourceOptions,
}

impl Around for DbtInvocation<'_> {
    fn env(&self, traceparent: &str) -> Vec<(String, String)> {
        // dbt writes DBT_ENV_CUSTOM_ENV_* variables into its artifacts (metadata.env).
        vec![(
            "DBT_ENV_CUSTOM_ENV_TRACEPARENT".into(),
            traceparent.to_owned(),
        )]
    }

    fn after(&mut self, started: Nanos) -> Vec<Run> {
        invocation::runs_written_since(
            std::mem::take(&mut self.paths),
            self.argv,
            started,
            &self.options,
        )
    }
}
