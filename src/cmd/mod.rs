//! The verbs. Each file here is one verb's whole story: its clap arguments, its help text and
//! its `run`, which converts the flags once into the library's types and returns the exit
//! code. Adding a verb = its file + one line in `verbs!` below.

mod export;
mod inputs;
mod values;

pub use export::ExportArgs;

use clap::Parser;

use crate::sink::config::EnvSnapshot;

#[derive(Parser, Debug)]
#[command(
    name = "retrace",
    version,
    about = "Rebuild OpenTelemetry traces from what data pipelines leave behind",
    long_about = "Rebuild OpenTelemetry traces from what data pipelines leave behind.\n\n\
        retrace reads what dbt, Airflow, Dagu, dotflow, JUnit test reports, GitHub Actions, \
        Spark event logs and its own runner leave behind, \
        rebuilds one span per node, task try or step with the real start and end times, \
        parents each run under the caller's W3C traceparent, and delivers every span over \
        OTLP (gRPC, HTTP/protobuf, HTTP/JSON), to an OTLP/JSON file or to the console. \
        It also runs commands and workflows, tracing them live.\n\n\
        Exit codes: 0 all converted and delivered; 1 some input could not be converted (the \
        rest was delivered); 2 usage error; 3 delivery failed. `exec`, `dbt --run` and `run` \
        return the wrapped work's exit code instead (see their --help)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Declares the verbs once: the clap subcommand enum and its dispatch cannot disagree.
macro_rules! verbs {
    ($($variant:ident($module:ident)),* $(,)?) => {
        $(mod $module;)*

        #[derive(clap::Subcommand, Debug)]
        pub enum Command {
            $($variant($module::Args),)*
        }

        impl Command {
            /// Runs the chosen verb; returns the process exit code.
            pub fn run(self, env: &EnvSnapshot) -> i32 {
                match self {
                    $(Command::$variant(args) => args.run(env),)*
                }
            }
        }
    };
}

verbs! {
    Dbt(dbt),
    Airflow(airflow),
    Dagu(dagu),
    Dotflow(dotflow),
    Records(records),
    Junit(junit),
    Github(github),
    Spark(spark),
    Backfill(backfill),
    Run(run),
    Exec(exec),
    Send(send),
    View(view),
    Report(report),
    Compare(compare),
    Completions(completions),
    Man(man),
}

/// A format verb's work: its export flags resolved, then its files converted.
fn convert_files(
    source: &'static dyn crate::source::Source,
    inputs: &inputs::Paths,
    mut options: crate::source::SourceOptions,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    options.verbose = inputs.walk.verbose;
    match export.resolve_or_exit(env) {
        Ok(mut export) => {
            export.namespace_from_path = inputs.walk.namespace_from_path;
            crate::convert::run(source, &inputs.paths, &options, &export)
        }
        Err(code) => code,
    }
}
