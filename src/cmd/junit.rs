//! `retrace junit PATH...`

use super::inputs::{Paths, TimeZone};
use super::ExportArgs;
use crate::record::Nanos;
use crate::sink::config::EnvSnapshot;
use crate::source::{junit, SourceOptions};

/// Convert JUnit XML test reports (pytest, Node's test runner, jest-junit, cargo-nextest,
/// Maven Surefire, Ant/Gradle): a span per suite and per test, retries as attempts
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,

    /// Zone of timestamps written without one (jest-junit, Ant) [default: UTC, as they write
    /// them]
    #[arg(long, value_name = "ZONE", value_parser = super::values::zone)]
    pub tz: Option<crate::source::time::Zone>,

    /// Where a report that records no time started (RFC 3339, or a UTC date YYYY-MM-DD)
    /// [default: it ended at the file's modification time]
    #[arg(long, value_name = "TIME", value_parser = super::values::instant)]
    pub start: Option<Nanos>,

    /// Export captured stdout/stderr and failure bodies (they can hold secrets)
    #[arg(long)]
    pub include_output: bool,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let options = SourceOptions::default()
            .with_tz(TimeZone { tz: self.tz }.zone())
            .with(junit::Options {
                include_output: self.include_output,
                start: self.start,
                zone: self.tz,
            });
        super::convert_files(&junit::Junit, &self.inputs, options, &self.export, env)
    }
}
