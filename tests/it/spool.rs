//! The spool under unlucky conditions: tests never touch the user's real spool, concurrent
//! writers and senders never lose or duplicate a span, a partly delivered file is not
//! delivered twice.

use std::path::{Path, PathBuf};

use crate::common::cli::{bounded, retrace, stderr, test_state_home};
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

use crate::common::receiver::{Behavior, Failure, Proto, Receiver};

/// 04-build: the root and 39 nodes.
const BUILD_SPANS: usize = 40;

/// 04-build as OTLP/JSON lines of `chunk` spans each, as `--output` writes them.
fn request_lines(dir: &Path, chunk: usize) -> Vec<String> {
    let out = dir.join(format!("requests-{chunk}.jsonl"));
    let done = retrace()
        .arg("dbt")
        .arg(fixture("dbt/04-build/run_results.json"))
        .arg("-o")
        .arg(&out)
        .args(["--chunk-size", &chunk.to_string(), "-q"])
        .output()
        .unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn span_ids(spans: &[crate::common::receiver::ReceivedSpan]) -> Vec<String> {
    let mut ids: Vec<String> = spans.iter().map(|s| s.span_id_hex()).collect();
    ids.sort();
    ids
}

fn send(spool: &Path, rx: &Receiver) -> std::process::Output {
    retrace()
        .arg("send")
        .arg("--spool")
        .arg(spool)
        .args(rx.cli_args())
        .args(["--timeout", "5s"])
        .output()
        .unwrap()
}

#[test]
fn a_request_refused_for_good_is_set_aside_and_the_others_delivered() {
    for proto in [Proto::HttpProtobuf, Proto::Grpc] {
        let spool = tempfile::tempdir().unwrap();
        let rx = Receiver::start_with(
            proto,
            Behavior {
                fail_first: 1,
                fail_with: Failure::InvalidArgument,
                ..Behavior::default()
            },
        );
        let out = retrace()
            .arg("dbt")
            .arg(fixture("dbt/04-build/run_results.json"))
            .args(rx.cli_args())
            .args(["--chunk-size", "8", "--timeout", "5s", "--spool"])
            .arg(spool.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{proto:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(
                "refused 8 spans of dbt run c8eb10b8-91ff-4a5e-a843-fa04e6e63990 for good"
            ),
            "{err}"
        );
        let rejected = listing(&spool.path().join("rejected"));
        assert_eq!(rejected.len(), 1, "{err}");
        assert!(
            err.contains(&format!("set aside in {}", rejected[0].display())),
            "{err}"
        );
        // The four other requests went; the refused one is in the dead-letter file, whole.
        assert_eq!(
            rx.wait_spans(32, std::time::Duration::from_secs(5)).len(),
            32
        );
        let aside = std::fs::read_to_string(&rejected[0]).unwrap();
        assert_eq!(aside.lines().count(), 1);
        assert_eq!(aside.matches("\"startTimeUnixNano\"").count(), 8);
        // Nothing was spooled for a later send: the collector was there.
        assert_eq!(listing(spool.path()).len(), 1, "only rejected/");
    }
}

#[test]
fn a_request_too_large_for_the_collector_is_sent_in_halves() {
    for proto in [Proto::HttpProtobuf, Proto::Grpc] {
        let rx = Receiver::start_with(
            proto,
            Behavior {
                max_spans: Some(5),
                ..Behavior::default()
            },
        );
        let out = retrace()
            .arg("dbt")
            .arg(fixture("dbt/04-build/run_results.json"))
            .args(rx.cli_args())
            .args(["--chunk-size", "16", "--no-spool"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{proto:?}: {}", stderr(&out));
        let spans = rx.wait_spans(BUILD_SPANS, std::time::Duration::from_secs(5));
        assert_eq!(spans.len(), BUILD_SPANS);
        let mut ids = span_ids(&spans);
        ids.dedup();
        assert_eq!(ids.len(), BUILD_SPANS, "every span once");
        assert!(rx.requests().iter().all(|r| r
            .resource_spans
            .iter()
            .flat_map(|x| &x.scope_spans)
            .map(|s| s.spans.len())
            .sum::<usize>()
            <= 5));
    }
    // A single span over the limit is refused for good, never retried forever.
    let spool = tempfile::tempdir().unwrap();
    let rx = Receiver::start_with(
        Proto::Grpc,
        Behavior {
            max_spans: Some(0),
            ..Behavior::default()
        },
    );
    let out = retrace()
        .arg("dbt")
        .arg(fixture("dbt/06-snapshot/run_results.json"))
        .args(rx.cli_args())
        .arg("--spool")
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(one span, over the collector's size limit)"),
        "{}",
        stderr(&out)
    );
    let rejected = listing(&spool.path().join("rejected"));
    assert_eq!(
        std::fs::read_to_string(&rejected[0])
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn send_delivers_each_line_once_and_moves_bad_ones_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = request_lines(tmp.path(), 16);
    assert_eq!(lines.len(), 3);
    let spool = tmp.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let file = spool.join("20261201T000000.000000Z-1.jsonl");
    std::fs::write(
        &file,
        format!(
            "{}\n{{\"not\": otlp\n{}\n{}\n",
            lines[0], lines[1], lines[2]
        ),
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    for _ in 0..3 {
        let _ = send(&spool, &rx);
    }
    // One delivery of every good line, however often send runs.
    let spans = rx.wait_spans(BUILD_SPANS, std::time::Duration::from_secs(5));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(rx.spans().len(), BUILD_SPANS);
    assert_eq!(span_ids(&spans).len(), BUILD_SPANS);
    assert!(!file.exists());
    let aside =
        std::fs::read_to_string(spool.join("rejected/20261201T000000.000000Z-1.jsonl")).unwrap();
    assert_eq!(aside, "{\"not\": otlp\n");
}

#[test]
fn send_leaves_a_file_its_writer_still_holds() {
    use std::os::fd::AsRawFd;
    let tmp = tempfile::tempdir().unwrap();
    let lines = request_lines(tmp.path(), 64);
    let spool = tmp.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let file = spool.join("20261201T000000.000000Z-2.jsonl");
    std::fs::write(&file, format!("{}\n", lines[0])).unwrap();
    let held = std::fs::File::open(&file).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&spool, &rx);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("in use by another retrace (being written, or sent); left to it"),
        "{}",
        stderr(&out)
    );
    assert!(file.exists());
    assert_eq!(rx.attempts(), 0);
    drop(held);
    let out = send(&spool, &rx);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        rx.wait_spans(BUILD_SPANS, std::time::Duration::from_secs(5))
            .len(),
        BUILD_SPANS
    );
    assert!(!file.exists());
}

#[test]
fn two_sends_at_once_deliver_every_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = request_lines(tmp.path(), 2);
    let spool = tmp.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    for (i, line) in lines.iter().enumerate() {
        std::fs::write(
            spool.join(format!("20261201T000000.{i:06}Z-3.jsonl")),
            format!("{line}\n"),
        )
        .unwrap();
    }
    let rx = Receiver::start_with(
        Proto::Grpc,
        Behavior {
            delay: std::time::Duration::from_millis(5),
            ..Behavior::default()
        },
    );
    let start = || {
        retrace()
            .arg("send")
            .arg("--spool")
            .arg(&spool)
            .args(rx.cli_args())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (start(), start());
    assert_eq!(a.wait().unwrap().code(), Some(0));
    assert_eq!(b.wait().unwrap().code(), Some(0));
    let spans = rx.wait_spans(BUILD_SPANS, std::time::Duration::from_secs(5));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(rx.spans().len(), BUILD_SPANS, "a span delivered twice");
    let mut ids = span_ids(&spans);
    ids.dedup();
    assert_eq!(ids.len(), BUILD_SPANS);
    assert!(listing(&spool).is_empty());
}

/// A runner that spooled a step's span holds its spool file until it ends: a `send` meanwhile
/// leaves it alone, a `send` afterwards delivers the whole run once.
#[test]
fn a_spool_file_belongs_to_its_writer_until_the_writer_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    std::fs::write(
        tmp.path().join("wf.yaml"),
        "steps:\n  - name: a\n    command: \"true\"\n  - name: b\n    command: sleep 3\n    depends: a\n",
    )
    .unwrap();
    let mut runner = retrace()
        .current_dir(tmp.path())
        .args([
            "run",
            "wf.yaml",
            "-q",
            "--endpoint",
            &closed_port(),
            "--protocol",
            "grpc",
        ])
        .arg("--spool")
        .arg(&spool)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listing(&spool)
        .iter()
        .all(|p| p.extension().is_none_or(|x| x != "jsonl"))
    {
        assert!(std::time::Instant::now() < deadline, "nothing spooled");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&spool, &rx);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("left to it"), "{}", stderr(&out));
    assert_eq!(rx.attempts(), 0);
    assert_eq!(runner.wait().unwrap().code(), Some(0));
    let out = send(&spool, &rx);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rx.wait_spans(3, std::time::Duration::from_secs(5)).len(), 3);
    assert!(listing(&spool).is_empty());
}

#[test]
fn a_fifo_or_a_device_is_refused_by_name_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("runs/good")).unwrap();
    std::fs::create_dir_all(tmp.path().join("runs/fifo")).unwrap();
    std::fs::copy(
        fixture("dbt/06-snapshot/run_results.json"),
        tmp.path().join("runs/good/run_results.json"),
    )
    .unwrap();
    let fifo = tmp.path().join("runs/fifo/run_results.json");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path this test owns.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let rx = Receiver::start(Proto::Grpc);
    let glob = tmp.path().join("runs/*/run_results.json");
    for args in [
        vec!["dbt".to_owned(), glob.to_str().unwrap().to_owned()],
        vec!["backfill".to_owned(), glob.to_str().unwrap().to_owned()],
        vec![
            "dbt".to_owned(),
            fifo.to_str().unwrap().to_owned(),
            tmp.path().join("runs/good").to_str().unwrap().to_owned(),
        ],
        // A walk names it too: it is named like an artifact.
        vec![
            "backfill".to_owned(),
            tmp.path().join("runs").to_str().unwrap().to_owned(),
        ],
        vec![
            "dbt".to_owned(),
            tmp.path().join("runs").to_str().unwrap().to_owned(),
        ],
    ] {
        let out = bounded(retrace().args(&args).args(rx.cli_args()).arg("-q"));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "retrace: {}: a FIFO (named pipe), expected a regular file\n",
                fifo.display()
            ),
            "{args:?}"
        );
    }
    // The good run, once per invocation: 5 × 4 spans.
    assert_eq!(
        rx.wait_spans(20, std::time::Duration::from_secs(5)).len(),
        20
    );
    let out = bounded(retrace().args(["dbt", "/dev/zero", "--exporter", "none"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "retrace: /dev/zero: a device, expected a regular file\n"
    );
    let out = bounded(retrace().arg("run").arg(&fifo));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a FIFO (named pipe), expected a regular file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dry_run_runs_sends_writes_and_removes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start(Proto::Grpc);
    std::fs::write(
        dir.join("wf.yaml"),
        "env:\n  - SECRET_TOKEN=hunter2\nsteps:\n  - name: a\n    command: touch ran-a\n  - name: b\n    command: touch ran-b\n    depends: a\n    timeoutSec: 5\n",
    )
    .unwrap();
    let out = retrace()
        .current_dir(dir)
        .args(["run", "wf.yaml", "--dry-run"])
        .args(rx.cli_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        plan,
        format!(
            "would run wf (2 steps, at most the number of CPUs at once) in {}; nothing runs now\n\
             env: SECRET_TOKEN\n\
             group 1:\n  a: touch ran-a\n\
             group 2:\n  b: touch ran-b  (after a; timeout 5s)\n",
            dir.canonicalize().unwrap().display()
        )
    );
    let out = retrace()
        .current_dir(dir)
        .args(["exec", "--dry-run"])
        .args(rx.cli_args())
        .args(["--", "touch", "ran-exec"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("would run \"touch ran-exec\" in a span named \"touch\""));
    // Nothing ran, nothing was recorded or sent.
    assert_eq!(listing(dir), vec![dir.join("wf.yaml")]);
    assert_eq!(rx.attempts(), 0);

    // send --dry-run lists; the spool file stays.
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let lines = request_lines(tmp.path(), 64);
    std::fs::write(
        spool.join("20261201T000000.000000Z-9.jsonl"),
        format!("{}\n", lines[0]),
    )
    .unwrap();
    let out = retrace()
        .arg("send")
        .arg("--spool")
        .arg(&spool)
        .arg("--dry-run")
        .args(rx.cli_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("would send 40 spans in 1 requests from")
    );
    assert_eq!(listing(&spool).len(), 1);
    assert_eq!(rx.attempts(), 0);
}

/// The closing line's `retrace send --spool DIR` works as printed: each spool file records
/// where its requests were headed (never headers), and send goes there unless told otherwise.
#[test]
fn send_delivers_where_the_spooled_requests_were_headed() {
    let spool = tempfile::tempdir().unwrap();
    let down = Receiver::start_with(Proto::HttpProtobuf, Behavior::always(Failure::Unavailable));
    let out = retrace()
        .arg("dbt")
        .arg(fixture("dbt/06-snapshot/run_results.json"))
        .args(down.cli_args())
        .args([
            "--timeout",
            "1s",
            "--header",
            "authorization=Bearer s3cr3t",
            "--spool",
        ])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let hint = format!(
        "(`retrace send --spool {}` delivers them)",
        spool.path().display()
    );
    assert!(stderr(&out).contains(&hint), "{}", stderr(&out));
    let files = listing(spool.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let sidecar = std::fs::read_to_string(&files[1]).unwrap();
    assert_eq!(
        sidecar,
        format!(
            r#"{{"endpoint":"{}","protocol":"http/protobuf"}}"#,
            down.endpoint()
        )
    );
    assert!(!sidecar.contains("s3cr3t"));

    // As printed, without an endpoint: to the collector the spans were headed for.
    let before = down.attempts();
    let out = retrace()
        .args(["send", "--timeout", "1s", "--spool"])
        .arg(spool.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(down.attempts() > before, "{}", stderr(&out));
    assert!(stderr(&out).contains(&down.endpoint()), "{}", stderr(&out));

    // An endpoint given wins over the recorded one; the file and its record go once delivered.
    let up = Receiver::start(Proto::Grpc);
    let out = retrace()
        .args(["send", "--spool"])
        .arg(spool.path())
        .args(up.cli_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(up.wait_spans(4, std::time::Duration::from_secs(5)).len(), 4);
    assert!(listing(spool.path()).is_empty());
}

/// A spool that cannot be written to the end (a full disk; here a file size limit): the
/// closing line says what was kept where, and how much was lost and why.
#[test]
fn a_full_disk_says_what_was_kept_and_what_was_lost() {
    let spool = tempfile::tempdir().unwrap();
    // The limit makes writes past 2 KiB fail (EFBIG, SIGXFSZ ignored) as a full disk would.
    let script = format!(
        "trap '' XFSZ; ulimit -f 4; exec '{}' dbt '{}' --endpoint {} --protocol grpc --chunk-size 1 --timeout 1s --spool '{}'",
        env!("CARGO_BIN_EXE_retrace"),
        fixture("dbt/04-build/run_results.json").display(),
        closed_port(),
        spool.path().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("XDG_STATE_HOME", crate::common::cli::test_state_home())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().rev().nth(1).unwrap_or_default();
    let file = listing(spool.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let kept = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.ends_with('}'))
        .count();
    assert!(kept >= 1, "{err}");
    assert_eq!(
        last,
        format!(
            "retrace: 40 spans not delivered; {kept} kept in {} (`retrace send --spool {}` delivers them); {} lost (spool {}: cannot write: File too large (os error 27))",
            file.display(),
            spool.path().display(),
            40 - kept,
            file.display()
        )
    );
}

#[test]
fn walks_follow_symlinked_runs_and_name_a_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("archive");
    std::fs::create_dir_all(root.join("real")).unwrap();
    std::fs::create_dir_all(tmp.path().join("elsewhere/run-1")).unwrap();
    std::fs::copy(
        fixture("dbt/06-snapshot/run_results.json"),
        tmp.path().join("elsewhere/run-1/run_results.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture("dbt/05-build-green/run_results.json"),
        tmp.path().join("elsewhere/green.json"),
    )
    .unwrap();
    // A linked run directory, a linked file, and a link back up the tree.
    std::os::unix::fs::symlink(tmp.path().join("elsewhere/run-1"), root.join("real/run-1"))
        .unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("elsewhere/green.json"),
        root.join("real/run_results.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&root, root.join("real/loop")).unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .arg("backfill")
        .arg(&root)
        .args(rx.cli_args())
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{}: cannot walk",
            root.join("real/loop").display()
        )),
        "{err}"
    );
    // 06-snapshot (4 spans) and 05-build-green, both through their links.
    let spans = rx.wait_spans(5, std::time::Duration::from_secs(5));
    let roots: Vec<&str> = spans
        .iter()
        .filter(|s| s.parent_id_hex().is_empty())
        .map(|s| s.span.name.as_str())
        .collect();
    assert_eq!(roots.len(), 2, "{roots:?}");
}

#[test]
fn a_glob_names_the_files_it_cannot_match_instead_of_dropping_them() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("runs");
    std::fs::create_dir_all(&dir).unwrap();
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"\xffrun_results.json"));
    std::fs::copy(fixture("dbt/06-snapshot/run_results.json"), &odd).unwrap();
    std::fs::copy(
        fixture("dbt/05-build-green/run_results.json"),
        dir.join("run_results.json"),
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .arg("dbt")
        .arg(dir.join("*.json"))
        .args(rx.cli_args())
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "retrace: {}: its name is not UTF-8, which a glob cannot match: name the file or its directory\n",
            odd.to_string_lossy()
        )
    );
    // Named by its directory, the walk reads it like any other.
    let out = retrace()
        .arg("dbt")
        .arg(&dir)
        .args(rx.cli_args())
        .arg("-q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
