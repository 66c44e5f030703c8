//! retrace: parses the command line and dispatches. Nothing else.

mod cli;
mod convert;
mod record;
mod sink;
mod source;
mod trace;

use clap::Parser;

fn main() {
    // Read OTEL_* before anything else runs (it also removes the exporter variables from
    // our environment, see sink::config::EnvSnapshot::take).
    let env = sink::config::EnvSnapshot::take();
    let cli = cli::Cli::parse();
    let code = match &cli.command {
        cli::Command::Dbt(args) => {
            let paths = if args.paths.is_empty() {
                vec![default_dbt_target()]
            } else {
                args.paths.clone()
            };
            let dbt = source::by_name("dbt").expect("dbt is registered");
            convert::run(dbt, &paths, &args.source_options(), &args.export, &env)
        }
    };
    std::process::exit(code);
}

/// dbt's own default: `$DBT_TARGET_PATH`, else `target` in the working directory.
fn default_dbt_target() -> std::path::PathBuf {
    std::env::var_os("DBT_TARGET_PATH")
        .filter(|v| !v.is_empty())
        .map_or_else(|| "target".into(), Into::into)
}
