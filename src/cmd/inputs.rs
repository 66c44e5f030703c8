//! The arguments of the verbs that read artifacts: which files, and the zone of zone-less
//! times for the formats that have them.

use std::path::PathBuf;

use clap::Args;

use crate::source::time::Zone;

#[derive(Args, Debug)]
pub struct Paths {
    /// Files, directories or globs
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub walk: Walk,
}

#[derive(Args, Debug)]
pub struct Walk {
    /// List every file a directory walk read (and as which format) or skipped, and why
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Salt each input's ids with the first folder of its path under the PATH it was found
    /// under (archive/prod/… given archive → prod; after --namespace when both are given), so
    /// two installations whose DAG and run ids coincide never share a trace
    #[arg(long, help_heading = "Trace context")]
    pub namespace_from_path: bool,
}

#[derive(Args, Debug)]
pub struct TimeZone {
    /// Zone of timestamps written without one: local, UTC, an IANA name (Europe/Berlin) or an
    /// offset (+09:00) [default: local]
    #[arg(long, value_name = "ZONE", value_parser = super::values::zone)]
    pub tz: Option<Zone>,
}

impl TimeZone {
    pub fn zone(&self) -> Zone {
        self.tz.unwrap_or_default()
    }
}
