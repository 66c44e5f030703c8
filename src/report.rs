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
