//! `retrace exec -- COMMAND...`: one command inside one span.

use std::ffi::OsString;

use super::ExportArgs;
use crate::runner::exec::{self, Wrapped};
use crate::sink::config::EnvSnapshot;

/// Run one command inside one span; TRACEPARENT of that span is passed to it.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "Run one command inside one span. The command gets TRACEPARENT (and \
        TRACESTATE) of that span, shares stdin, stdout and stderr, receives SIGTERM/SIGHUP (and \
        SIGINT when not from a terminal) that retrace receives, and its exit code is returned \
        verbatim, also when the span cannot be delivered (then a warning).\n\n\
        Example:  retrace exec -- make test"
)]
pub struct Args {
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,

    #[command(flatten)]
    pub export: ExportArgs,
}

impl Args {
    pub fn run(self, env: &EnvSnapshot) -> i32 {
        let wrapped = Wrapped {
            argv: &self.command,
            around: None,
        };
        exec::exec(
            wrapped,
            self.export.resolve(env, None),
            self.export.options(),
            env,
        )
    }
}
