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

/// Runs the binary to completion; a panic fails the test whatever the exit code says.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run retrace");
    assert!(
        !stderr(&out).contains("panicked"),
        "retrace panicked: {}",
        stderr(&out)
    );
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
