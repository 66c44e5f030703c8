//! retrace: parses the command line and dispatches. Nothing else.

use clap::Parser;
use retrace::{cli, convert, runner, send, sink, source};

// glibc's allocator spent a fifth of a 20,000-node conversion consolidating free chunks
// (benches/README.md); mimalloc does the same work without that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Read OTEL_* before anything else runs (it also removes the exporter variables from
    // our environment, see sink::config::EnvSnapshot::take).
    let env = sink::config::EnvSnapshot::take();
    let cli = cli::Cli::parse();
    let tz_of = |tz: &Option<String>| match tz.as_deref().map(source::time::Zone::parse).transpose()
    {
        Ok(tz) => tz.unwrap_or_default(),
        Err(e) => {
            convert::report(e);
            std::process::exit(convert::exit::USAGE);
        }
    };
    let code = match &cli.command {
        cli::Command::Run(args) => {
            let Some(grace) = sink::config::parse_duration(&args.grace) else {
                convert::report(format!(
                    "--grace {:?}: expected e.g. 500ms, 10s, 2m",
                    args.grace
                ));
                std::process::exit(convert::exit::USAGE);
            };
            let options = runner::engine::RunOptions {
                max_parallel: args.max_parallel.map_or_else(
                    || std::thread::available_parallelism().map_or(1, |n| n.get()),
                    usize::from,
                ),
                records: args.records.clone(),
                log_dir: args.log_dir.clone(),
                grace,
                run_id: args.run_id.clone(),
            };
            runner::engine::run(&args.workflow, &options, &args.export, &env)
        }
        cli::Command::Exec(args) => runner::exec::exec(&args.command, &args.export, &env),
        cli::Command::Send(args) => send::send(&args.files, &args.export, &env),
        cli::Command::Dbt(args) if args.run => runner::exec::dbt(
            &args.command,
            runner::exec::DbtArtifacts {
                paths: args.paths.clone(),
                options: args.source_options(),
            },
            &args.export,
            &env,
        ),
        cli::Command::Backfill(args) => {
            let options = source::SourceOptions {
                tz: tz_of(&args.tz),
                include_sql: args.include_sql,
                ..Default::default()
            };
            let instant = |flag: &str, text: &Option<String>| -> Option<i64> {
                let text = text.as_deref()?;
                let full = if text.len() == 10 {
                    format!("{text}T00:00:00Z")
                } else {
                    text.to_owned()
                };
                match source::time::parse_utc(&full, false) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        convert::report(format!("{flag}: {e} (expected RFC 3339 or YYYY-MM-DD)"));
                        std::process::exit(convert::exit::USAGE);
                    }
                }
            };
            let selection = convert::Selection {
                since: instant("--since", &args.since),
                until: instant("--until", &args.until),
                namespace: args.export.id_namespace(),
            };
            convert::backfill(&args.paths, &options, &args.export, &env, &selection)
        }
        command => {
            let source =
                source::by_name(command.format()).expect("every verb's format is registered");
            match command {
                cli::Command::Dbt(args) => {
                    let paths = if args.paths.is_empty() {
                        vec![default_dbt_target()]
                    } else {
                        args.paths.clone()
                    };
                    convert::run(source, &paths, &args.source_options(), &args.export, &env)
                }
                cli::Command::Airflow(args)
                | cli::Command::Dagu(args)
                | cli::Command::Dotflow(args)
                | cli::Command::Records(args) => {
                    let options = source::SourceOptions {
                        tz: tz_of(&args.tz),
                        ..Default::default()
                    };
                    convert::run(source, &args.paths, &options, &args.export, &env)
                }
                cli::Command::Backfill(_)
                | cli::Command::Run(_)
                | cli::Command::Exec(_)
                | cli::Command::Send(_) => {
                    unreachable!("handled above")
                }
            }
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
