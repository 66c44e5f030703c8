//! How retrace speaks to its user: every problem is one line on stderr starting with
//! `retrace: `, and the process ends with one of the exit codes below (ARCHITECTURE.md,
//! "Errors and exit codes").

/// Process exit codes (README "Exit codes").
pub mod exit {
    pub const OK: i32 = 0;
    pub const INPUT: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const DELIVERY: i32 = 3;
}

pub fn report(message: impl std::fmt::Display) {
    eprintln!("retrace: {message}");
}

/// Prints one line on stdout for whoever reads it (`--print-traceparent`, `--dry-run`). A
/// reader that went away (`| head -1`) ends the printing quietly, never the work: the spans
/// are still delivered or spooled.
pub fn print_line(line: impl std::fmt::Display) {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes a whole document (completions, a manual page) to stdout; a reader that went away
/// (`| head`) is not an error, any other failure is one line and exit 1.
pub fn write_stdout(bytes: &[u8]) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
        Err(e) => {
            report(format!("cannot write to stdout: {e}"));
            exit::INPUT
        }
    }
}
