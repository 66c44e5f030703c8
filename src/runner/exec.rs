//! Runs one command inside one span (`retrace exec -- CMD…`), and is what a format's wrapper
//! builds on (`retrace dbt --run -- dbt …`: the same, then the artifacts this dbt invocation
//! wrote, as children of that span). The command always runs and its exit code is returned
//! verbatim: trouble with tracing is a warning.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::mpsc;

use opentelemetry::trace::SpanKind;

use crate::record::{Attributes, Nanos, Outcome, Run};
use crate::report::report;
use crate::runner::live::{self, LiveRun};
use crate::runner::process::{self, Launch, Output};
use crate::runner::{enter_span, inherited_otel, signals, step_report, Clock};
use crate::sink::config::EnvSnapshot;
use crate::sink::delivery::{DeliveryOptions, Export};
use crate::trace::build;
use crate::trace::semconv as sc;

/// What a format adds around a wrapped command (the dbt wrapper).
pub trait Around {
    /// Environment the command gets beside `TRACEPARENT`, given its span's traceparent.
    fn env(&self, _traceparent: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Runs to send as children of the command's span, once the command (which started at
    /// `started`) has ended.
    fn after(&mut self, _started: Nanos) -> Vec<Run> {
        Vec::new()
    }
}

/// A command to run inside a span.
pub struct Wrapped<'a> {
    pub argv: &'a [OsString],
    pub around: Option<&'a mut dyn Around>,
    /// The span's name [default: the program, or for `sh -c SCRIPT` the script's command].
    pub name: Option<String>,
    /// The span's kind (otel-cli's `--kind`) [default: server, as every run's root].
    pub kind: Option<SpanKind>,
    /// Attributes of the span (`--attr K=V`).
    pub attributes: Vec<(String, String)>,
    /// A non-zero exit makes the span an error (otherwise its status stays unset).
    pub status_from_exit: bool,
}

impl<'a> Wrapped<'a> {
    /// A plain command: named after what it runs, status from its exit code.
    pub fn command(argv: &'a [OsString]) -> Self {
        Wrapped {
            argv,
            around: None,
            name: None,
            kind: None,
            attributes: Vec::new(),
            status_from_exit: true,
        }
    }
}

/// What a command line runs, as a span name: the program's file name, or for a shell given
/// a script (`sh -c 'dbt build …'`) the script's first command (`dbt`), past `VAR=value`
/// assignments and `exec`.
pub fn command_name(argv: &[OsString]) -> String {
    let base = |word: &str| word.rsplit('/').next().unwrap_or(word).to_owned();
    let program = argv
        .first()
        .map(|p| base(&p.to_string_lossy()))
        .unwrap_or_default();
    let shells = ["sh", "bash", "dash", "zsh", "ksh", "ash"];
    if shells.contains(&program.as_str()) && argv.get(1).is_some_and(|a| a == "-c") {
        let script = argv.get(2).map(|s| s.to_string_lossy()).unwrap_or_default();
        let command = script
            .split_whitespace()
            .find(|w| !w.contains('=') && *w != "exec" && !w.starts_with('('));
        if let Some(command) = command {
            return base(command.trim_end_matches(';'));
        }
    }
    program
}

enum Event {
    Exited(std::io::Result<(std::process::ExitStatus, i64)>),
    Signal(i32),
}

/// Runs the command; `export` is the resolved export or why it could not be resolved (then
/// the command runs without tracing). Returns the command's exit code.
pub fn exec(
    wrapped: Wrapped,
    export: Result<Export, String>,
    options: DeliveryOptions,
    env: &EnvSnapshot,
) -> i32 {
    let Wrapped {
        argv,
        mut around,
        name,
        kind,
        attributes: span_attributes,
        status_from_exit,
    } = wrapped;
    let clock = Clock::start();
    let Some((program, args)) = argv.split_first() else {
        report("no command given");
        return crate::report::exit::USAGE;
    };
    let executable = Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();

    // Telemetry problems never stop the command: they are reported and tracing is skipped.
    let (export, tracing) = match export {
        Ok(export) => (export, true),
        Err(problem) => {
            report(format!("{problem}; running the command without tracing"));
            (Export::disabled(options), false)
        }
    };

    let start = clock.now();
    let name = name.unwrap_or_else(|| command_name(argv));
    let mut run = live::header(crate::runner::new_run_id(&clock), name.clone(), name, start);
    run.attributes.merge(
        span_attributes
            .into_iter()
            .map(|(k, v)| (k.into(), v.into())),
    );
    let mut live = match LiveRun::start(
        run,
        export.parent.as_ref(),
        &export.namespace,
        None,
        &export,
    ) {
        Ok(live) => live.with_root_kind(kind),
        Err(e) => unreachable!("no records file to open: {e}"),
    };
    let identity = live.identity().clone();
    let traceparent = identity.traceparent(identity.root());
    // Without usable export settings nothing is sent: no context to hand on to later work.
    if tracing {
        live.announce();
    }

    let mut child_env = inherited_otel(env);
    let mut remove = Vec::new();
    enter_span(&mut child_env, &mut remove, &identity, identity.root());
    // What the command reports about itself (`$RETRACE_SPAN`), in a file of this run's own.
    let report_file = std::env::temp_dir().join(format!(
        "retrace-span-{}-{}",
        std::process::id(),
        identity.traceparent(identity.root())[36..52].to_owned()
    ));
    let reporting = tracing && step_report::prepare(&report_file).is_ok();
    if reporting {
        child_env.push((step_report::ENV.into(), report_file.display().to_string()));
    }
    if let Some(around) = &around {
        child_env.extend(around.env(&traceparent));
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
                    } else if status_from_exit {
                        (code, Outcome::Failure, Some(process::describe(status)), end)
                    } else {
                        (code, Outcome::Unknown, None, end)
                    }
                }
                Err(e) => {
                    report(format!("lost track of {executable}: {e}"));
                    (1, Outcome::Error, Some(e.to_string()), clock.now())
                }
            }
        }
    };

    if reporting {
        let reported = step_report::read(&report_file, &executable, end);
        let _ = std::fs::remove_file(&report_file);
        attributes.merge(reported.attributes.0);
        live.add_events(reported.events);
    }
    if let Some(around) = around.as_mut() {
        let wrapper = identity.context(identity.root());
        for run in around.after(start) {
            match build::build_under(run, Some(&wrapper), &export.namespace) {
                Ok((built, _)) => live.send_run(built),
                Err(problem) => report(problem),
            }
        }
    }
    let delivered = !tracing || live.end(end, outcome, message, attributes);
    if !delivered {
        report(format!(
            "spans not delivered; {executable}'s exit code {code} is returned as is"
        ));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_named_after_what_it_runs() {
        let name =
            |args: &[&str]| command_name(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert_eq!(name(&["/usr/bin/make", "test"]), "make");
        assert_eq!(name(&["sh", "-c", "dbt build --select x"]), "dbt");
        assert_eq!(name(&["bash", "-c", "FOO=1 exec ./run.sh; echo"]), "run.sh");
        assert_eq!(name(&["sh", "-c", "   "]), "sh");
        assert_eq!(name(&["sh", "script.sh"]), "sh");
    }
}
