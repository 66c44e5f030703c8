//! `retrace github PATH...`

use super::inputs::Paths;
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{github, SourceOptions};

/// Convert GitHub Actions runs saved with `gh api` (a run, its jobs) or `gh run view --json`:
/// a trace per run attempt with the ids the Collector's GitHub receiver gives it
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,

    /// The Collector GitHub receiver's id scheme to match: checkrun (its default since
    /// v0.151.0) or legacy (older receivers, or the UseCheckRunID gate off)
    #[arg(long, value_name = "SCHEME", default_value = "checkrun", value_parser = ["checkrun", "legacy"])]
    pub github_ids: String,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let options = SourceOptions::default().with(github::Options {
            ids: scheme(&self.github_ids),
        });
        super::convert_files(&github::Github, &self.inputs, options, &self.export, env)
    }
}

pub fn scheme(text: &str) -> github::IdScheme {
    match text {
        "legacy" => github::IdScheme::Legacy,
        _ => github::IdScheme::CheckRun,
    }
}
