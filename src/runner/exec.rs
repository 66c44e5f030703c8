//! `retrace exec -- CMD…` (one span around one command) and `retrace dbt --run -- dbt …` (the
//! same, then the artifacts this dbt invocation wrote, as children of that span). The command
//! always runs and its exit code is returned verbatim: trouble with tracing is a warning.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::cli::ExportArgs;
use crate::convert::{self, report, Delivery};
use crate::record::{Attributes, Outcome};
use crate::runner::live::{self, LiveRun};
use crate::runner::process::{self, Launch, Output};
use crate::runner::{enter_span, inherited_otel, signals, Clock};
use crate::sink::config::{EnvSnapshot, SinkConfig};
use crate::source::{self, SourceOptions};
use crate::trace::context::TraceParent;
use crate::trace::semconv as sc;

/// What the dbt wrapper converts after the command: where to look and how.
pub struct DbtArtifacts {
    /// Explicit artifact paths; empty = the target directory of the dbt command line.
    pub paths: Vec<PathBuf>,
    pub options: SourceOptions,
}

pub fn exec(argv: &[OsString], export: &ExportArgs, env: &EnvSnapshot) -> i32 {
    wrap(argv, None, export, env)
}

pub fn dbt(
    argv: &[OsString],
    artifacts: DbtArtifacts,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    wrap(argv, Some(artifacts), export, env)
}

enum Event {
    Exited(std::io::Result<(std::process::ExitStatus, i64)>),
    Signal(i32),
}

fn wrap(
    argv: &[OsString],
    dbt: Option<DbtArtifacts>,
    export: &ExportArgs,
    env: &EnvSnapshot,
) -> i32 {
    let clock = Clock::start();
    let (program, args) = argv.split_first().expect("clap requires a command");
    let executable = Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();

    // Telemetry problems never stop the command: they are reported and tracing is skipped.
    let (config, parent) = match convert::prepare(&export.sink_flags(), export, env) {
        Ok((config, parent)) => (Some(config), parent),
        Err(problem) => {
            report(format!("{problem}; running the command without tracing"));
            (None, None)
        }
    };

    let start = clock.now();
    let run = live::header(
        crate::runner::new_run_id(&clock),
        executable.clone(),
        executable.clone(),
        start,
    );
    let fallback = SinkConfig::disabled();
    let delivery = Delivery::new(config.as_ref().unwrap_or(&fallback), export);
    let mut live = LiveRun::start(run, parent.as_ref(), &export.id_namespace(), None, delivery)
        .expect("no records file to open");
    let identity = live.identity().clone();
    let traceparent = identity.traceparent(identity.root());
    if export.print_traceparent {
        println!("{traceparent}");
    }

    let mut child_env = inherited_otel(env);
    let mut remove = Vec::new();
    enter_span(&mut child_env, &mut remove, &identity, identity.root());
    if dbt.is_some() {
        // dbt writes DBT_ENV_CUSTOM_ENV_* variables into its artifacts (metadata.env).
        child_env.push(("DBT_ENV_CUSTOM_ENV_TRACEPARENT".into(), traceparent.clone()));
    }

    let (tx, rx) = mpsc::channel();
    let _listener = signals::listen(tx.clone(), Event::Signal)
        .map_err(|e| report(format!("cannot listen for signals: {e}")))
        .ok();
    let spawned = process::spawn(Launch {
        program,
        args: args.iter().map(OsString::as_os_str).collect(),
        dir: None,
        env: child_env,
        env_remove: remove,
        own_group: false,
        output: Output::Inherit,
    });

    let mut attributes = Attributes::default();
    attributes.put(sc::PROCESS_EXECUTABLE_NAME, executable.clone());
    let (code, outcome, message, end) = match spawned {
        Err(e) => {
            let end = clock.now();
            report(format!("cannot run {}: {e}", program.to_string_lossy()));
            // The shell's codes: 127 not found, 126 found but not runnable.
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            attributes.put(sc::ERROR_TYPE, format!("{:?}", e.kind()));
            (code, Outcome::Error, Some(e.to_string()), end)
        }
        Ok(spawned) => {
            let pid = spawned.pid();
            attributes.put(sc::PROCESS_PID, i64::from(pid));
            std::thread::spawn(move || {
                let _ = tx.send(Event::Exited(spawned.wait(clock)));
            });
            // Ctrl-C in a terminal already reached the child (same process group): only
            // forward SIGINT when it was sent to us alone.
            let forward_sigint = !std::io::stdin().is_terminal();
            let exited = loop {
                match rx.recv() {
                    Ok(Event::Exited(result)) => break result,
                    Ok(Event::Signal(sig)) if sig != libc::SIGINT || forward_sigint => {
                        process::signal_process(pid, sig)
                    }
                    Ok(Event::Signal(_)) => {}
                    Err(_) => unreachable!("the waiter always reports"),
                }
            };
            match exited {
                Ok((status, end)) => {
                    let code = process::exit_code(status);
                    attributes.put(sc::PROCESS_EXIT_CODE, i64::from(code));
                    if code == 0 {
                        (0, Outcome::Success, None, end)
                    } else {
                        (code, Outcome::Failure, Some(process::describe(status)), end)
                    }
                }
                Err(e) => {
                    report(format!("lost track of {executable}: {e}"));
                    (1, Outcome::Error, Some(e.to_string()), clock.now())
                }
            }
        }
    };

    if let Some(artifacts) = dbt {
        send_dbt_artifacts(
            &mut live,
            artifacts,
            argv,
            start,
            &identity.context(identity.root()),
            export,
        );
    }
    let delivered = config.is_none() || live.end(end, outcome, message, attributes);
    if !delivered {
        report(format!(
            "spans not delivered; {executable}'s exit code {code} is returned as is"
        ));
    }
    code
}

/// Converts what this dbt invocation wrote and sends it under the wrapper span. An artifact
/// older than the invocation belongs to an earlier one: it is named and left alone.
fn send_dbt_artifacts(
    live: &mut LiveRun,
    artifacts: DbtArtifacts,
    argv: &[OsString],
    started: i64,
    wrapper: &TraceParent,
    export: &ExportArgs,
) {
    let dbt_source = source::by_name("dbt").expect("dbt is registered");
    let paths = if artifacts.paths.is_empty() {
        vec![target_dir(argv)]
    } else {
        artifacts.paths
    };
    let (files, errors) = source::expand_inputs(dbt_source, &paths);
    for e in &errors {
        report(e);
    }
    // mtime has coarse granularity on some file systems: allow a second.
    let since = started - 1_000_000_000;
    let (fresh, stale): (Vec<PathBuf>, Vec<PathBuf>) = files
        .into_iter()
        .partition(|f| modified_nanos(f).is_some_and(|t| t >= since));
    if fresh.is_empty() {
        match stale.first() {
            Some(f) => report(format!(
                "{}: not written by this dbt invocation (it is older); nothing of dbt's is sent",
                f.display()
            )),
            None if errors.is_empty() => report(format!(
                "no dbt artifacts in {} after the command; nothing of dbt's is sent",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => {}
        }
        return;
    }
    let (runs, errors) = dbt_source.parse_all(&fresh, &artifacts.options);
    for e in &errors {
        report(e);
    }
    for run in runs {
        if run.end.is_some_and(|generated| generated < since) {
            report(format!(
                "dbt run {} was generated before this invocation started; not sent",
                run.run_id
            ));
            continue;
        }
        match convert::build_run(run, Some(wrapper), &export.id_namespace()) {
            Ok((built, _)) => live.send_run(built),
            Err(problem) => report(problem),
        }
    }
}

/// Where the dbt command line writes its artifacts: `--target-path` (or `$DBT_TARGET_PATH`,
/// default `target`) inside `--project-dir` (or `$DBT_PROJECT_DIR`, default here).
pub fn target_dir(argv: &[OsString]) -> PathBuf {
    let project = option_value(argv, "--project-dir")
        .or_else(|| std::env::var_os("DBT_PROJECT_DIR").filter(|v| !v.is_empty()))
        .map_or_else(PathBuf::new, PathBuf::from);
    let target = option_value(argv, "--target-path")
        .or_else(|| std::env::var_os("DBT_TARGET_PATH").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "target".into());
    project.join(target)
}

/// The value of `--name VALUE` or `--name=VALUE` in a command line.
fn option_value(argv: &[OsString], name: &str) -> Option<OsString> {
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == name {
            return args.next().cloned();
        }
        if let Some(value) = text.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(value.into());
        }
    }
    None
}

fn modified_nanos(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let since_epoch = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since_epoch.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_target_dir_follows_the_dbt_command_line() {
        assert_eq!(
            target_dir(&argv(&["dbt", "build", "--project-dir", "proj"])),
            Path::new("proj/target")
        );
        assert_eq!(
            target_dir(&argv(&[
                "dbt",
                "build",
                "--project-dir=proj",
                "--target-path",
                "out"
            ])),
            Path::new("proj/out")
        );
        assert_eq!(
            option_value(&argv(&["dbt", "--target-path=/abs"]), "--target-path"),
            Some(OsString::from("/abs"))
        );
    }
}
