//! `retrace exec -- COMMAND...`: one command inside one span, as otel-cli's `exec`.

use std::ffi::OsString;

use opentelemetry::trace::SpanKind;

use super::ExportArgs;
use crate::runner::exec::{self, Wrapped};
use crate::sink::config::EnvSnapshot;

/// Run one command inside one span; TRACEPARENT of that span is passed to it.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Run one command inside one span. The command gets TRACEPARENT (and \
        TRACESTATE) of that span, shares stdin, stdout and stderr, receives SIGTERM/SIGHUP (and \
        SIGINT when not from a terminal) that retrace receives, and its exit code is returned \
        verbatim, also when the span cannot be delivered (then a warning). \
        --print-traceparent writes to stderr here: stdout is the command's.\n\n\
        Example:  retrace exec --name 'unit tests' --attr team=data -- make test\n\n\
        With --convert, what the command wrote is converted under its span once it has ended:\n\
        retrace exec --convert report.xml -- pytest --junitxml=report.xml"
)]
pub struct Args {
    /// The span's name [default: the program's name; for `sh -c SCRIPT`, the script's
    /// first command]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The span's kind: server, client, internal, producer or consumer [default: server]
    #[arg(long, value_name = "KIND", value_parser = kind)]
    pub kind: Option<SpanKind>,

    /// An attribute of the span, KEY=VALUE; repeatable
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = key_value)]
    pub attributes: Vec<(String, String)>,

    /// Whether a non-zero exit code makes the span an error (false: its status stays unset)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub status_from_exit: bool,

    /// Once the command has ended, convert what it wrote at PATH (a file, directory or glob;
    /// any format retrace reads) as children of its span; repeatable. Files older than the
    /// command are left alone
    #[arg(long, value_name = "PATH")]
    pub convert: Vec<std::path::PathBuf>,

    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        if self.export.behaviour.dry_run {
            let name = self
                .name
                .clone()
                .unwrap_or_else(|| exec::command_name(&self.command));
            return dry_run(&self.command, &name, &self.export, env);
        }
        let what = exec::command_name(&self.command);
        let mut convert = Convert {
            paths: self.convert.clone(),
            what: what.clone(),
        };
        let wrapped = Wrapped {
            name: self.name.clone(),
            kind: self.kind.clone(),
            attributes: self.attributes.clone(),
            status_from_exit: self.status_from_exit,
            around: (!self.convert.is_empty()).then_some(&mut convert as &mut dyn exec::Around),
            ..Wrapped::command(&self.command)
        };
        let (export, options) = self.export.resolve_for_a_command(env);
        exec::exec(wrapped, export, options, env)
    }
}

/// `--convert PATH`: what the command wrote there, sent under its span once it has ended.
struct Convert {
    paths: Vec<std::path::PathBuf>,
    /// The command's name, for messages.
    what: String,
}

impl exec::Around for Convert {
    fn after(&mut self, started: crate::record::Nanos) -> Vec<crate::record::Run> {
        crate::source::fresh::runs_written_since(
            &self.paths,
            None,
            &self.what,
            started,
            &crate::source::SourceOptions::default(),
        )
    }
}

/// `--dry-run` of a wrapped command (`exec`, `dbt --run`): what would run, in which span, sent
/// where; nothing runs.
pub fn dry_run(command: &[OsString], name: &str, export: &ExportArgs, env: &EnvSnapshot) -> i32 {
    let argv: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let sent_to = match export.resolve(env, None) {
        Ok(export) => crate::sink::delivery::destination(&export.sink),
        Err(problem) => format!("nowhere ({problem})"),
    };
    crate::report::print_line(format_args!(
        "would run {:?} in a span named {name:?}, sent to {sent_to}; nothing runs now",
        argv.join(" ")
    ));
    crate::report::exit::OK
}

fn kind(text: &str) -> Result<SpanKind, String> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "internal" => SpanKind::Internal,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => return Err("expected server, client, internal, producer or consumer".into()),
    })
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".into()),
    }
}
