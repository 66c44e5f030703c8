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

/// The inputs of the analysing verbs: anything the format verbs read, and OTLP/JSON lines.
#[derive(Args, Debug)]
pub struct Analysed {
    /// Files, directories or globs: any format's artifacts, records, or OTLP/JSON lines
    /// (--output files, spool files, the Collector's file exporter)
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// List every file a directory walk read (and as which format) or skipped, and why
    #[arg(long, short = 'v')]
    pub verbose: bool,

    #[command(flatten)]
    pub zone: TimeZone,

    #[command(flatten)]
    pub selection: RunSelection,
}

/// Which runs the analysing verbs (`view`, `report`) look at when a path holds many.
#[derive(Args, Debug)]
pub struct RunSelection {
    /// Only this run: its run id (dbt invocation_id, Airflow run_id …), or its trace id (or a
    /// prefix of it) or root span id in hex
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,

    /// Only runs that started at or after this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = super::values::instant)]
    pub since: Option<crate::record::Nanos>,

    /// Only runs that started before this instant (RFC 3339, or a UTC date YYYY-MM-DD)
    #[arg(long, value_name = "TIME", value_parser = super::values::instant)]
    pub until: Option<crate::record::Nanos>,
}

impl RunSelection {
    pub fn filter(&self) -> crate::analysis::load::Filter {
        crate::analysis::load::Filter {
            run: self.run.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

/// Reads the runs of `paths` for the analysing verbs; None (after saying so) when there are
/// none.
pub fn load_runs(inputs: &Analysed) -> Option<crate::analysis::load::Loaded> {
    let mut options = crate::source::SourceOptions::default().with_tz(inputs.zone.zone());
    options.verbose = inputs.verbose;
    let filter = inputs.selection.filter();
    let loaded = crate::analysis::load::load(&inputs.paths, &options, &filter);
    if loaded.runs.is_empty() {
        crate::report::report(
            "no runs found in the given paths (or none matched --run/--since/--until)",
        );
        return None;
    }
    Some(loaded)
}
