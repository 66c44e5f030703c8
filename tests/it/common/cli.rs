//! Running the real binary from a test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The binary with a clean environment: no OTEL_*, TRACEPARENT/TRACESTATE or DBT_TARGET_PATH
/// leaking in from the machine running the tests, and a state directory of the test run's own,
/// so a spooled span never lands in the user's real spool.
pub fn retrace() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retrace"));
    cmd.env("XDG_STATE_HOME", test_state_home());
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

/// `XDG_STATE_HOME` of every retrace the tests start: a fresh directory per test process,
/// inside cargo's target directory.
pub fn test_state_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a state directory for the tests");
        dir
    })
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

/// Runs retrace, killing it (and failing) if it has not ended within 20 s: a read that blocks
/// forever must fail the test, not hang the suite.
pub fn bounded(cmd: &mut Command) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("retrace did not end: blocked on a FIFO or a device");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
