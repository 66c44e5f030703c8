//! Nothing lost: retries per the OTLP specification, permanent errors, partial success, a dead
//! or silent collector (bounded exit, spool), and `retrace send` re-delivering the spool with
//! the very same ids. All against in-process receivers on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{closed_port, Behavior, Failure, Proto, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(10);
/// 04-build: the root and 39 nodes.
const SPANS: usize = 40;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/04-build/run_results.json")
}

fn convert(endpoint: &str, proto: Proto, spool: &Path, extra: &[&str]) -> Output {
    run(retrace()
        .arg("dbt")
        .arg(fixture())
        .args(["--endpoint", endpoint, "--protocol", proto.flag()])
        .arg("--spool")
        .arg(spool)
        .args(extra))
}

/// The spool's entries, without the `.destination` records beside its files.
fn spool_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_none_or(|x| x != "destination"))
                .collect()
        })
        .unwrap_or_default()
}

fn ids(spans: &[ReceivedSpan]) -> Vec<(String, String, String, u64, u64)> {
    let mut out: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.trace_id_hex(),
                s.span_id_hex(),
                s.parent_id_hex(),
                s.span.start_time_unix_nano,
                s.span.end_time_unix_nano,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn retryable_answers_are_retried_until_delivered() {
    for (proto, failure) in [
        (Proto::Grpc, Failure::Unavailable),
        (Proto::HttpProtobuf, Failure::Http(503)),
        (Proto::HttpJson, Failure::Http(429)),
        (Proto::HttpProtobuf, Failure::Http(502)),
    ] {
        let spool = tempfile::tempdir().unwrap();
        let rx = Receiver::start_with(
            proto,
            Behavior {
                fail_first: 3,
                fail_with: failure.clone(),
                ..Default::default()
            },
        );
        let out = convert(&rx.endpoint(), proto, spool.path(), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{proto:?} {failure:?}: {}",
            stderr(&out)
        );
        assert_eq!(rx.wait_spans(SPANS, WAIT).len(), SPANS);
        assert_eq!(rx.attempts(), 4, "{proto:?} {failure:?}");
        assert!(spool_files(spool.path()).is_empty());
    }
}

#[test]
fn a_request_refused_for_good_fails_at_once_and_is_set_aside() {
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let spool = tempfile::tempdir().unwrap();
        let rx = Receiver::start_with(proto, Behavior::always(Failure::InvalidArgument));
        let out = convert(&rx.endpoint(), proto, spool.path(), &[]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(rx.attempts(), 1, "{proto:?}");
        let err = stderr(&out);
        assert!(err.contains("receiver: injected failure"), "{err}");
        // Not spooled for a later send (it would be refused again): set aside, named.
        assert!(
            err.contains("40 spans refused for good by the collector, set aside in"),
            "{err}"
        );
        assert_eq!(
            spool_files(spool.path()),
            vec![spool.path().join("rejected")]
        );
    }
}

#[test]
fn partial_success_is_reported() {
    let spool = tempfile::tempdir().unwrap();
    let rx = Receiver::start_with(
        Proto::Grpc,
        Behavior {
            partial_reject: Some((2, "2 spans too old".into())),
            ..Default::default()
        },
    );
    let out = convert(&rx.endpoint(), Proto::Grpc, spool.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("rejected 2 of 40 spans of dbt run c8eb10b8-91ff-4a5e-a843-fa04e6e63990: 2 spans too old"),
        "{err}"
    );
    assert!(err.contains("2 spans rejected by the collector"), "{err}");
    // Rejected spans are refused for good: not spooled.
    assert!(spool_files(spool.path()).is_empty());
}

#[test]
fn without_a_collector_the_spool_keeps_everything_and_send_delivers_the_same_ids() {
    let spool = tempfile::tempdir().unwrap();
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let out = convert(&closed_port(), proto, spool.path(), &["--timeout", "1s"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("retrace send --spool"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(spool_files(spool.path()).len(), 2);

    // What a working collector gets directly, for comparison.
    let direct = Receiver::start(Proto::Grpc);
    let out = convert(&direct.endpoint(), Proto::Grpc, spool.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let direct = direct.wait_spans(SPANS, WAIT);

    let rx = Receiver::start(Proto::HttpJson);
    let out = retrace()
        .args(["send", "--spool"])
        .arg(spool.path())
        .args(["--endpoint", &rx.endpoint(), "--protocol", "http/json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sent 80 spans from 2 file(s)"),
        "{}",
        stderr(&out)
    );
    let resent = rx.wait_spans(2 * SPANS, WAIT);
    assert_eq!(resent.len(), 2 * SPANS);
    assert_eq!(ids(&resent[..SPANS]), ids(&direct));
    assert_eq!(ids(&resent[SPANS..]), ids(&direct));
    assert!(
        spool_files(spool.path()).is_empty(),
        "delivered files are removed"
    );
}

#[test]
fn send_keeps_the_spool_when_the_collector_is_still_down() {
    let spool = tempfile::tempdir().unwrap();
    let out = convert(
        &closed_port(),
        Proto::Grpc,
        spool.path(),
        &["--timeout", "1s"],
    );
    assert_eq!(out.status.code(), Some(3));
    let out = retrace()
        .args(["send", "--spool"])
        .arg(spool.path())
        .args(["--endpoint", &closed_port(), "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("what is left stays in the spool"));
    assert_eq!(spool_files(spool.path()).len(), 1);
}

#[test]
fn a_silent_collector_costs_one_timeout_not_one_per_request() {
    let spool = tempfile::tempdir().unwrap();
    let rx = Receiver::start_with(
        Proto::Grpc,
        Behavior {
            delay: Duration::from_secs(60),
            ..Default::default()
        },
    );
    let started = Instant::now();
    // 40 spans in 8 requests; only the first may wait for the deadline.
    let out = convert(
        &rx.endpoint(),
        Proto::Grpc,
        spool.path(),
        &["--timeout", "1s", "--chunk-size", "5"],
    );
    // A guard against hanging, not a benchmark (the bound is measured in the notes).
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("40 spans not delivered; 40 kept in"), "{err}");
}
