//! Running the real binary from a test.

use std::process::{Command, Output};

/// The binary with a clean environment: no OTEL_*, TRACEPARENT/TRACESTATE or DBT_TARGET_PATH
/// leaking in from the machine running the tests.
pub fn retrace() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retrace"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_")
            || k == "TRACEPARENT"
            || k == "TRACESTATE"
            || k == "DBT_TARGET_PATH"
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
