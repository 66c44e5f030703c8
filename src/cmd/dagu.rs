//! `retrace dagu PATH...`

use super::inputs::{Paths, TimeZone};
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{dagu::Dagu, SourceOptions};

/// Convert Dagu run status: status.jsonl, a dag-runs data directory, legacy .dat files
/// (whose times have no zone: --tz).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Paths,

    #[command(flatten)]
    pub zone: TimeZone,
    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let options = SourceOptions::default().with_tz(self.zone.zone());
        super::convert_files(&Dagu, &self.inputs, options, &self.export, env)
    }
}
