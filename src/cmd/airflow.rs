//! `retrace airflow PATH...`

use super::inputs::Paths;
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{airflow::Airflow, SourceOptions};

/// Convert Airflow records: REST API JSON, CLI JSON, task-log folders, scheduler output.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,
    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let options = SourceOptions::default();
        super::convert_files(&Airflow, &self.inputs, options, &self.export, env)
    }
}
