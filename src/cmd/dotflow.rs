//! `retrace dotflow PATH...`

use super::inputs::{Paths, TimeZone};
use super::ExportArgs;
use crate::sink::config::EnvSnapshot;
use crate::source::{dotflow::Dotflow, SourceOptions};

/// Convert dotflow records: the JSON flow.log and result() JSON (whose times have no zone: --tz).
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
        super::convert_files(&Dotflow, &self.inputs, options, &self.export, env)
    }
}
