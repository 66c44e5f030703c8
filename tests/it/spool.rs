//! The spool under unlucky conditions: tests never touch the user's real spool, concurrent
//! writers and senders never lose or duplicate a span, a partly delivered file is not
//! delivered twice.

use std::path::{Path, PathBuf};

use crate::common::cli::{retrace, stderr, test_state_home};
use crate::common::receiver::closed_port;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// The spool a retrace started by hand would use: `$XDG_STATE_HOME/retrace/spool`, else
/// `~/.local/state/retrace/spool`.
fn real_spool() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("retrace/spool"))
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn the_tests_spool_into_their_own_state_directory_never_the_users() {
    let real = real_spool().expect("a home directory");
    let before = listing(&real);
    let out = retrace()
        .arg("dbt")
        .arg(fixture("dbt/06-snapshot/run_results.json"))
        .args([
            "--endpoint",
            &closed_port(),
            "--protocol",
            "grpc",
            "--timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let ours = test_state_home().join("retrace/spool");
    assert!(
        stderr(&out).contains(&format!("kept in {}", ours.display())),
        "{}",
        stderr(&out)
    );
    assert!(!listing(&ours).is_empty());
    assert_eq!(listing(&real), before, "the user's spool changed");
}

/// `retrace backfill … --print-traceparent | head -1`: the reader goes away after one line.
/// Printing stops quietly; every span is still delivered.
#[test]
fn a_closed_stdout_ends_printing_not_delivery() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use crate::common::receiver::{Proto, Receiver};
    let rx = Receiver::start(Proto::Grpc);
    for extra in [&["--print-traceparent"][..], &["--dry-run"][..]] {
        let mut child = retrace()
            .arg("backfill")
            .arg(fixture("dbt"))
            .args(rx.cli_args())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone (dropped above) after one line.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert!(!first.is_empty());
    }
    // The dbt fixtures: 18 runs, 335 spans, all delivered (the dry run sent none).
    let spans = rx.wait_spans(335, std::time::Duration::from_secs(10));
    assert_eq!(spans.len(), 335);
}

/// Nothing listening: a refused connection is retried for about a second (a restarting
/// sidecar), not for the whole --timeout; then everything goes to the spool.
#[test]
fn a_refused_connection_is_retried_briefly_then_spooled() {
    let out = retrace()
        .args(["exec", "--endpoint", &closed_port(), "--protocol", "grpc"])
        .args(["--timeout", "60s", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let attempts: u32 = err
        .split("(after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count: {err}"));
    // 60 s of backoff would be a dozen attempts; one second is three or four.
    assert!((2..=5).contains(&attempts), "{err}");
    assert!(err.contains("1 spans not delivered; 1 kept in"), "{err}");
}
