//! `retrace backfill PATH...`: every format at once.

use super::inputs::{Paths, TimeZone};
use super::ExportArgs;
use crate::convert::{self, Selection};
use crate::record::Nanos;
use crate::sink::config::EnvSnapshot;
use crate::source::{dbt, junit, spark, SourceOptions};

/// Walk directories and globs, detect each file's format, convert everything; a bad file is
/// reported and the rest still delivered.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,

    #[command(flatten)]
    pub zone: TimeZone,

    /// Export dbt compiled SQL as db.query.text, and Spark descriptions that are SQL statements
    #[arg(long)]
    pub include_sql: bool,

    /// Spark: one span per task attempt too, under its stage
    #[arg(long)]
    pub task_spans: bool,

    /// Only runs that started at or after this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = super::values::instant)]
    pub since: Option<Nanos>,

    /// Only runs that started before this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = super::values::instant)]
    pub until: Option<Nanos>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let mut export = match self.export.resolve_or_exit(env) {
            Ok(export) => export,
            Err(code) => return code,
        };
        export.namespace_from_path = self.inputs.walk.namespace_from_path;
        let mut options = SourceOptions::default()
            .with_tz(self.zone.zone())
            .with(dbt::Options {
                include_sql: self.include_sql,
                zone: self.zone.tz,
                ..Default::default()
            })
            .with(junit::Options {
                zone: self.zone.tz,
                ..Default::default()
            })
            .with(spark::Options {
                task_spans: self.task_spans,
                include_sql: self.include_sql,
            });
        options.verbose = self.inputs.walk.verbose;
        let selection = Selection {
            since: self.since,
            until: self.until,
        };
        convert::backfill(&self.inputs.paths, &options, &export, selection)
    }
}
