//! `retrace records PATH...`

use super::inputs::Paths;
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{records::Records, SourceOptions};

/// Convert retrace's own step records (retrace.records/v1 JSON lines), as `retrace run` wrote
/// them: the same spans it sent live.
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
        super::convert_files(&Records, &self.inputs, options, &self.export, env)
    }
}
