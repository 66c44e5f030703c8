//! `retrace spark PATH...`

use super::inputs::Paths;
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{spark, SourceOptions};

/// Convert Spark event logs (plain or zstd/lz4/snappy/lzf, single files, rolling
/// `eventlog_v2_*` directories, `.inprogress` logs, a History Server's log directory): the
/// application, its SQL executions, jobs and stage attempts, tasks aggregated per stage
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,

    /// One span per task attempt too (executor, host, locality, outcome), under its stage
    #[arg(long)]
    pub task_spans: bool,

    /// Export descriptions that are SQL statements (the spark-sql shell's and the Thrift
    /// server's) as written; by default they are withheld: they can hold credentials
    #[arg(long)]
    pub include_sql: bool,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let options = SourceOptions::default().with(spark::Options {
            task_spans: self.task_spans,
            include_sql: self.include_sql,
        });
        super::convert_files(&spark::Spark, &self.inputs, options, &self.export, env)
    }
}
