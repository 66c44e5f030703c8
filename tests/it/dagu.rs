//! The real binary converts the Dagu fixtures (constructed from Dagu's Go structs, see
//! fixtures/dagu/README.md) and delivers them to an in-process OTLP receiver on 127.0.0.1;
//! every assertion is on what arrived over the socket.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::cli::{retrace, run, stderr};
use crate::common::fs::write;
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(10);

const STATUS_UNSET: i32 = 0;
const STATUS_OK: i32 = 1;
const STATUS_ERROR: i32 = 2;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dagu/data")
}

const ETL: &str = "dag-runs/etl/dag-runs/2026/05/07/dag-run_20260507_001202Z_r1";
const ETL_OLD: &str = "attempt_20260507_001202_120Z_a1b2c3/status.jsonl";
const REPORT: &str = "dag-runs/report/dag-runs/2026/05/07/dag-run_20260507_020000Z_r2";
const INGEST: &str = "dag-runs/ingest/dag-runs/2026/05/08/dag-run_20260508_111500Z_r3/attempt_20260508_111500_050Z_9f8e7d/status.jsonl";
const NIGHTLY: &str =
    "nightly-5e8a4c/nightly.20240102.030405.678Z.9c1e2a4b-7f3d-4e5a-8b6c-0d1e2f3a4b5c.dat";

fn send(rx: &Receiver, paths: &[&Path], extra: &[&str]) -> Output {
    run(retrace()
        .arg("dagu")
        .args(paths)
        .args(rx.cli_args())
        .args(["--timeout", "5s"])
        .args(extra))
}

/// The lines of stderr that are not the closing "delivered …" summary.
fn problems(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| !l.contains("delivered"))
        .map(str::to_owned)
        .collect()
}

/// RFC 3339 text → Unix nanoseconds, independently of the crate's own parser.
fn nanos(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .timestamp_nanos_opt()
        .unwrap() as u64
}

/// The id contract (ARCHITECTURE.md, "Ids"), computed here independently: the first 16 bytes of SHA-256 over the
/// length-prefixed ("retrace/v1", "trace", system, run id).
fn derived_trace_id(system: &str, run_id: &str) -> String {
    let mut h = Sha256::new();
    for f in [
        b"retrace/v1".as_slice(),
        b"trace",
        system.as_bytes(),
        run_id.as_bytes(),
    ] {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn status_code(s: &ReceivedSpan) -> i32 {
    s.span.status.as_ref().map_or(0, |st| st.code)
}

fn status_message(s: &ReceivedSpan) -> &str {
    s.span.status.as_ref().map_or("", |st| st.message.as_str())
}

/// The spans of one trace by name (names are unique within each fixture run).
fn by_name(spans: &[ReceivedSpan], trace_id: &str) -> HashMap<String, ReceivedSpan> {
    let mut map = HashMap::new();
    for s in spans.iter().filter(|s| s.trace_id_hex() == trace_id) {
        assert!(
            map.insert(s.span.name.clone(), s.clone()).is_none(),
            "duplicate span name {}",
            s.span.name
        );
    }
    map
}

fn times(s: &ReceivedSpan) -> (u64, u64) {
    (s.span.start_time_unix_nano, s.span.end_time_unix_nano)
}

#[test]
fn data_dir_converts_one_trace_per_run_newest_attempts_only() {
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, &[&data()], &["--tz", "Asia/Tokyo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // etl 5 + report 14 (with both sub-DAG levels) + ingest 4 + nightly 5; the older etl
    // attempt and the sub-DAG files are not runs of their own.
    let spans = rx.wait_spans(28, WAIT);
    assert_eq!(spans.len(), 28);
    let mut roots: Vec<(&str, &str)> = spans
        .iter()
        .filter(|s| s.parent_id_hex().is_empty())
        .map(|s| (s.span.name.as_str(), s.attr_str("dag.run_id").unwrap()))
        .collect();
    roots.sort();
    assert_eq!(
        roots,
        [
            ("DAG: etl", "r1"),
            ("DAG: ingest", "r3"),
            ("DAG: nightly", "9c1e2a4b-7f3d-4e5a-8b6c-0d1e2f3a4b5c"),
            ("DAG: report", "r2"),
        ]
    );
    for s in &spans {
        assert_eq!(s.resource_str("service.name"), Some("dagu"));
        if s.parent_id_hex().is_empty() {
            let run_id = s.attr_str("dag.run_id").unwrap();
            assert_eq!(s.trace_id_hex(), derived_trace_id("dagu", run_id));
            assert_eq!(s.span.kind, 2, "root is SERVER");
        } else {
            assert_eq!(s.span.kind, 1, "steps are INTERNAL");
        }
    }
    // The only remark: the torn line of the running ingest run.
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(
        lines[0].starts_with("retrace: warning: ") && lines[0].contains(INGEST),
        "{}",
        lines[0]
    );
}

#[test]
fn sub_dags_nest_under_their_calling_steps_with_exact_times_and_statuses() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = send(&rx, &[&data().join(REPORT)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(problems(&out), Vec::<String>::new());
    let spans = rx.wait_spans(14, WAIT);
    assert_eq!(spans.len(), 14);
    let trace = derived_trace_id("dagu", "r2");
    let s = by_name(&spans, &trace);
    assert_eq!(s.len(), 14, "every span in the one trace of the root run");

    let root = &s["DAG: report"];
    assert_eq!(root.parent_id_hex(), "");
    assert_eq!(
        times(root),
        (
            nanos("2026-05-07T04:00:00+02:00"),
            nanos("2026-05-07T04:00:31+02:00")
        )
    );
    assert_eq!(status_code(root), STATUS_ERROR);
    assert_eq!(status_message(root), "failed steps: publish");
    assert_eq!(root.attr_str("dag.name"), Some("report"));
    assert_eq!(root.attr_str("dag.run_id"), Some("r2"));
    assert_eq!(root.attr_str("dag.status"), Some("failed"));
    assert_eq!(root.attr_str("dag.parent_run_id"), None);
    assert_eq!(root.attr_str("dagu.attempt_id"), Some("0a1b2c"));
    assert_eq!(root.attr_str("dagu.trigger_type"), Some("scheduler"));
    assert_eq!(root.attr_str("cicd.pipeline.name"), Some("report"));
    assert_eq!(root.attr_str("cicd.pipeline.run.id"), Some("r2"));
    assert_eq!(root.attr_str("cicd.pipeline.result"), Some("failure"));
    assert_eq!(root.attr_str("error.type"), Some("failure"));

    // (span, parent span, start, end, step.status / dag.status, span status code)
    let expected: &[(&str, &str, &str, &str, &str, i32)] = &[
        (
            "Step: prepare",
            "DAG: report",
            "2026-05-07T04:00:01+02:00",
            "2026-05-07T04:00:03+02:00",
            "succeeded",
            STATUS_OK,
        ),
        (
            "Step: run_transform",
            "DAG: report",
            "2026-05-07T04:00:03+02:00",
            "2026-05-07T04:00:20+02:00",
            "partially_succeeded",
            STATUS_OK,
        ),
        (
            "DAG: transform",
            "Step: run_transform",
            "2026-05-07T04:00:03+02:00",
            "2026-05-07T04:00:19+02:00",
            "partially_succeeded",
            STATUS_OK,
        ),
        (
            "Step: clean",
            "DAG: transform",
            "2026-05-07T04:00:04+02:00",
            "2026-05-07T04:00:06+02:00",
            "succeeded",
            STATUS_OK,
        ),
        (
            "Step: enrich",
            "DAG: transform",
            "2026-05-07T04:00:06+02:00",
            "2026-05-07T04:00:12+02:00",
            "succeeded",
            STATUS_OK,
        ),
        (
            "DAG: lookup",
            "Step: enrich",
            "2026-05-07T02:00:06Z",
            "2026-05-07T02:00:11Z",
            "succeeded",
            STATUS_OK,
        ),
        (
            "Step: fetch",
            "DAG: lookup",
            "2026-05-07T02:00:07Z",
            "2026-05-07T02:00:11Z",
            "succeeded",
            STATUS_OK,
        ),
        (
            "Step: aggregate",
            "DAG: transform",
            "2026-05-07T04:00:12+02:00",
            "2026-05-07T04:00:19+02:00",
            "failed",
            STATUS_ERROR,
        ),
        (
            "Step: publish",
            "DAG: report",
            "2026-05-07T04:00:20+02:00",
            "2026-05-07T04:00:29+02:00",
            "failed",
            STATUS_ERROR,
        ),
        // Untimed ("-"): zero-length at the end of their upstream step, marked derived.
        (
            "Step: archive",
            "DAG: report",
            "2026-05-07T04:00:29+02:00",
            "2026-05-07T04:00:29+02:00",
            "aborted",
            STATUS_UNSET,
        ),
        (
            "Step: cleanup",
            "DAG: report",
            "2026-05-07T04:00:03+02:00",
            "2026-05-07T04:00:03+02:00",
            "skipped",
            STATUS_UNSET,
        ),
        (
            "Step: onFailure",
            "DAG: report",
            "2026-05-07T04:00:29+02:00",
            "2026-05-07T04:00:30+02:00",
            "succeeded",
            STATUS_OK,
        ),
        (
            "Step: onExit",
            "DAG: report",
            "2026-05-07T04:00:30+02:00",
            "2026-05-07T04:00:31+02:00",
            "succeeded",
            STATUS_OK,
        ),
    ];
    for &(name, parent, start, end, label, code) in expected {
        let span = &s[name];
        assert_eq!(
            span.parent_id_hex(),
            s[parent].span_id_hex(),
            "{name} under {parent}"
        );
        assert_eq!(times(span), (nanos(start), nanos(end)), "{name}");
        assert_eq!(status_code(span), code, "{name}");
        let key = if name.starts_with("DAG:") {
            "dag.status"
        } else {
            "step.status"
        };
        assert_eq!(span.attr_str(key), Some(label), "{name}");
        let derived = matches!(name, "Step: archive" | "Step: cleanup");
        assert_eq!(
            span.attr_str("retrace.time_source"),
            derived.then_some("derived"),
            "{name}"
        );
    }
    assert!(
        s.keys().all(|n| n != "Step: onSuccess"),
        "a handler that never ran is no span"
    );

    // Outcomes as CI/CD results; Dagu's error string is the message.
    let result = |n: &str| s[n].attr_str("cicd.pipeline.task.run.result");
    assert_eq!(result("Step: publish"), Some("failure"));
    assert_eq!(result("Step: archive"), Some("cancellation"));
    assert_eq!(result("Step: cleanup"), Some("skip"));
    assert_eq!(result("Step: run_transform"), Some("success"));
    assert_eq!(status_message(&s["Step: publish"]), "exit status 1");
    assert_eq!(
        s["Step: publish"].attr_str("dagu.step.error"),
        Some("exit status 1")
    );
    assert_eq!(s["Step: publish"].attr_str("error.type"), Some("failure"));
    assert_eq!(status_message(&s["Step: aggregate"]), "exit status 2");

    // Retries: the count, and an event at the last retry's time.
    let publish = &s["Step: publish"];
    assert_eq!(publish.attr_i64("dagu.step.retry_count"), Some(2));
    assert_eq!(publish.span.events.len(), 1);
    assert_eq!(publish.span.events[0].name, "dagu.step.retry");
    assert_eq!(
        publish.span.events[0].time_unix_nano,
        nanos("2026-05-07T04:00:26+02:00")
    );

    // Names and attributes as Dagu's own spans; the child run id only on calling steps.
    let prepare = &s["Step: prepare"];
    assert_eq!(prepare.attr_str("step.name"), Some("prepare"));
    assert_eq!(prepare.attr_str("cicd.pipeline.task.name"), Some("prepare"));
    assert_eq!(
        prepare.attr_str("cicd.pipeline.task.run.id"),
        Some("prepare")
    );
    assert!(prepare.attr("dagu.step.child_run_ids").is_none());
    let call = &s["Step: run_transform"];
    assert_eq!(string_list(call, "dagu.step.child_run_ids"), ["c1"]);
    assert_eq!(
        string_list(&s["Step: enrich"], "dagu.step.child_run_ids"),
        ["c2"]
    );
    let transform = &s["DAG: transform"];
    assert_eq!(transform.attr_str("dag.name"), Some("transform"));
    assert_eq!(transform.attr_str("dag.run_id"), Some("c1"));
    assert_eq!(transform.attr_str("dag.parent_run_id"), Some("r2"));
    assert_eq!(transform.attr_str("dag.parent_name"), Some("report"));
    assert_eq!(transform.attr_str("dagu.trigger_type"), Some("subdag"));
    let lookup = &s["DAG: lookup"];
    assert_eq!(lookup.attr_str("dag.run_id"), Some("c2"));
    assert_eq!(lookup.attr_str("dag.parent_run_id"), Some("c1"));
    assert_eq!(lookup.attr_str("dag.parent_name"), Some("transform"));
    let fetch = &s["Step: fetch"];
    assert_eq!(fetch.attr_str("step.name"), Some("fetch"));
    assert_eq!(
        fetch.attr_str("cicd.pipeline.task.run.id"),
        Some("run_transform/c1/enrich/c2/fetch")
    );
    assert_eq!(string_list(root, "dagu.labels"), ["team=data", "daily"]);
}

fn string_list(s: &ReceivedSpan, key: &str) -> Vec<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    match s.attr(key) {
        Some(Value::ArrayValue(a)) => a
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn a_retried_run_is_its_newest_attempt() {
    let rx = Receiver::start(Proto::HttpJson);
    let out = send(&rx, &[&data().join(ETL)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(5, WAIT);
    assert_eq!(spans.len(), 5);
    let s = by_name(&spans, &derived_trace_id("dagu", "r1"));
    let root = &s["DAG: etl"];
    assert_eq!(root.attr_str("dagu.attempt_id"), Some("d4e5f6"));
    assert_eq!(root.attr_str("dagu.trigger_type"), Some("retry"));
    assert_eq!(root.attr_str("dag.status"), Some("succeeded"));
    assert_eq!(status_code(root), STATUS_OK);
    // The step kept from the first attempt brings its own (earlier) times: the root is
    // widened to cover it, and says so.
    assert_eq!(
        times(root),
        (
            nanos("2026-05-07T09:12:03+09:00"),
            nanos("2026-05-07T09:30:26+09:00")
        )
    );
    assert_eq!(root.attr_bool("retrace.time.adjusted"), Some(true));
    let extract = &s["Step: extract"];
    assert_eq!(extract.attr_str("step.status"), Some("skipped"));
    assert_eq!(extract.attr_bool("dagu.step.skipped_by_retry"), Some(true));
    assert_eq!(status_code(extract), STATUS_UNSET);
    let load = &s["Step: load"];
    assert_eq!(load.attr_str("step.status"), Some("succeeded"));
    assert_eq!(
        times(load),
        (
            nanos("2026-05-07T09:30:16+09:00"),
            nanos("2026-05-07T09:30:24+09:00")
        )
    );
    assert_eq!(load.attr_i64("dagu.step.retry_count"), Some(1));
    assert_eq!(
        load.span.events[0].time_unix_nano,
        nanos("2026-05-07T09:30:19+09:00")
    );
    let on_exit = &s["Step: onExit"];
    assert_eq!(on_exit.attr_str("dagu.step.handler"), Some("onExit"));
    assert!(!s.contains_key("Step: onFailure"));

    // The older attempt named explicitly: a note, nothing sent.
    let rx = Receiver::start(Proto::Grpc);
    let old = data().join(ETL).join(ETL_OLD);
    let out = send(&rx, &[&old], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("retrace: note: "), "{err}");
    assert!(err.contains(old.to_str().unwrap()), "{err}");
    assert!(err.contains("attempt_20260507_003015_480Z_d4e5f6"), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rx.attempts(), 0);
}

#[test]
fn a_sub_dag_file_named_on_its_own_points_at_its_root_run() {
    let rx = Receiver::start(Proto::Grpc);
    let child = data()
        .join(REPORT)
        .join("children/child_c1/attempt_20260507_020003_200Z_1a2b3c/status.jsonl");
    let out = send(&rx, &[&child], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("converted as part of its root run"), "{err}");
    assert!(err.contains(data().join(REPORT).to_str().unwrap()), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rx.attempts(), 0);
}

#[test]
fn a_torn_last_line_falls_back_to_the_previous_line_with_a_warning() {
    let rx = Receiver::start(Proto::Grpc);
    let file = data().join(INGEST);
    let out = send(&rx, &[&file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert_eq!(
        lines[0],
        format!(
            "retrace: warning: {}: last line 3 is not a valid status (truncated JSON); using line 2",
            file.display()
        )
    );
    let spans = rx.wait_spans(4, WAIT);
    assert_eq!(spans.len(), 4);
    let s = by_name(&spans, &derived_trace_id("dagu", "r3"));
    let root = &s["DAG: ingest"];
    assert_eq!(root.attr_str("dag.status"), Some("running"));
    assert_eq!(root.attr_str("cicd.pipeline.result"), None, "no result yet");
    assert_eq!(status_code(root), STATUS_UNSET);
    // Line 2: download done, parse started (no finish yet), load not started.
    let at = |t: &str| nanos(t);
    assert_eq!(
        times(root),
        (
            at("2026-05-08T06:15:00-05:00"),
            at("2026-05-08T06:15:09-05:00")
        )
    );
    assert_eq!(
        times(&s["Step: download"]),
        (
            at("2026-05-08T06:15:01-05:00"),
            at("2026-05-08T06:15:09-05:00")
        )
    );
    for name in ["Step: parse", "Step: load"] {
        assert_eq!(
            times(&s[name]),
            (
                at("2026-05-08T06:15:09-05:00"),
                at("2026-05-08T06:15:09-05:00")
            ),
            "{name}"
        );
        assert_eq!(s[name].attr_str("retrace.time_source"), Some("derived"));
    }
    assert_eq!(s["Step: parse"].attr_str("step.status"), Some("running"));
    assert_eq!(s["Step: load"].attr_str("step.status"), Some("not_started"));
}

#[test]
fn legacy_dat_reads_pascal_case_and_zone_less_times_in_tz() {
    let file = data().join(NIGHTLY);
    for (tz, offset) in [
        ("Asia/Tokyo", "+09:00"),
        ("+00:00", "+00:00"),
        ("America/New_York", "-05:00"),
    ] {
        let rx = Receiver::start(Proto::Grpc);
        let out = send(&rx, &[&file], &["--tz", tz]);
        assert_eq!(out.status.code(), Some(0), "{tz}: {}", stderr(&out));
        let spans = rx.wait_spans(5, WAIT);
        assert_eq!(spans.len(), 5, "{tz}");
        let run_id = "9c1e2a4b-7f3d-4e5a-8b6c-0d1e2f3a4b5c";
        let s = by_name(&spans, &derived_trace_id("dagu", run_id));
        let at = |t: &str| nanos(&format!("2024-01-02T{t}{offset}"));
        let root = &s["DAG: nightly"];
        assert_eq!(times(root), (at("12:04:05"), at("12:05:40")), "{tz}");
        assert_eq!(root.attr_str("dag.status"), Some("failed"));
        assert_eq!(status_message(root), "failed steps: transform");
        let transform = &s["Step: transform"];
        assert_eq!(times(transform), (at("12:04:30"), at("12:05:38")), "{tz}");
        assert_eq!(transform.attr_str("step.status"), Some("failed"));
        assert_eq!(status_message(transform), "exit status 1");
        assert_eq!(transform.attr_i64("dagu.step.retry_count"), Some(1));
        assert_eq!(transform.span.events[0].time_unix_nano, at("12:05:10"));
        assert_eq!(s["Step: load"].attr_str("step.status"), Some("aborted"));
        assert_eq!(
            s["Step: onExit"].parent_id_hex(),
            root.span_id_hex(),
            "{tz}"
        );
    }
}

#[test]
fn bad_files_get_one_line_naming_them_and_the_rest_is_delivered() {
    let good = std::fs::read_to_string(
        data()
            .join(REPORT)
            .join("children/child_c2/attempt_20260507_020006_300Z_4d5e6f/status.jsonl"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(
                tmp.path(),
                "html/status.jsonl",
                b"<html>502 Bad Gateway</html>\n",
            ),
            "line 1: not valid JSON",
        ),
        (
            write(
                tmp.path(),
                "badtime/status.jsonl",
                good.replace("2026-05-07T02:00:07Z", "yesterday at noon")
                    .as_bytes(),
            ),
            r#"nodes[0] (fetch).startedAt: "yesterday at noon" is not an ISO 8601 timestamp"#,
        ),
        (
            write(
                tmp.path(),
                "badruntime/status.jsonl",
                good.replace(
                    "\"startedAt\":\"2026-05-07T02:00:06Z\"",
                    "\"startedAt\":\"2026-02-30T00:00:00Z\"",
                )
                .as_bytes(),
            ),
            "startedAt: ",
        ),
        (
            write(tmp.path(), "empty/status.jsonl", b"\n\n"),
            "file is empty",
        ),
        (
            write(
                tmp.path(),
                "alltorn/status.jsonl",
                format!("{}\n{}", &good[..40], &good[..90]).as_bytes(),
            ),
            "none of its 2 lines is a valid status; the last (line 2): truncated JSON",
        ),
        (
            write(
                tmp.path(),
                "wrongtype/status.jsonl",
                good.replace(
                    "\"status\":4,\"triggerType\"",
                    "\"status\":\"done\",\"triggerType\"",
                )
                .as_bytes(),
            ),
            "line 1: not a Dagu status: invalid type",
        ),
        (
            write(
                tmp.path(),
                "noid/status.jsonl",
                br#"{"name":"x","status":4}"#,
            ),
            "missing field `dagRunId`",
        ),
        (
            write(
                tmp.path(),
                "legacy.dat",
                br#"{"RequestId":"","Name":"x","Status":4,"Nodes":null}"#,
            ),
            "RequestId is empty",
        ),
        (tmp.path().join("missing/status.jsonl"), "no such file"),
    ];
    let rx = Receiver::start(Proto::HttpProtobuf);
    for (path, expected) in &cases {
        let out = send(&rx, &[path, &data().join(ETL)], &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        let lines = problems(&out);
        assert_eq!(lines.len(), 1, "{}", stderr(&out));
        assert!(
            lines[0].starts_with(&format!("retrace: {}: ", path.display())),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains(expected),
            "expected {expected:?} in {}",
            lines[0]
        );
    }
    // Every time, the good neighbour (the etl run, 5 spans) was still delivered.
    assert_eq!(rx.wait_spans(5 * cases.len(), WAIT).len(), 5 * cases.len());
}

/// Copies the report run into a temporary data directory.
fn copy_report(tmp: &Path) -> PathBuf {
    let src = data().join(REPORT);
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        write(tmp, rel.to_str().unwrap(), &std::fs::read(&entry).unwrap());
    }
    tmp.to_path_buf()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[test]
fn a_bad_sub_dag_status_is_a_warning_and_the_rest_of_the_run_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let run = copy_report(tmp.path());
    let c2 = run.join("children/child_c2/attempt_20260507_020006_300Z_4d5e6f/status.jsonl");
    let text = std::fs::read_to_string(&c2).unwrap();
    std::fs::write(&c2, text.replace("2026-05-07T02:00:07Z", "soon")).unwrap();

    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, &[&run], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(
        lines[0].starts_with(&format!("retrace: warning: {}: ", c2.display())),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(r#"nodes[0] (fetch).startedAt: "soon""#)
            && lines[0].contains("sub-DAG run c2 of step enrich"),
        "{}",
        lines[0]
    );
    // 14 spans less `DAG: lookup` and its step.
    let spans = rx.wait_spans(12, WAIT);
    assert_eq!(spans.len(), 12);
    let s = by_name(&spans, &derived_trace_id("dagu", "r2"));
    assert!(!s.contains_key("DAG: lookup") && !s.contains_key("Step: fetch"));
    assert_eq!(
        string_list(&s["Step: enrich"], "dagu.step.child_run_ids"),
        ["c2"]
    );

    // A sub-DAG run whose directory is missing: the same, with the place it looked.
    std::fs::remove_dir_all(run.join("children/child_c1")).unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, &[&run], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = problems(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(
        lines[0].contains("sub-DAG run c1 of step run_transform left out")
            && lines[0].contains("child_c1"),
        "{}",
        lines[0]
    );
    assert_eq!(rx.wait_spans(8, WAIT).len(), 8);
}
