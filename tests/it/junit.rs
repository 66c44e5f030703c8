//! `retrace junit`: real reports of five producers (fixtures/junit, copied from the corpus),
//! each time checked against the XML itself: exact where the producer records it (nextest),
//! laid out and marked derived elsewhere, anchored on the file's modification time or --start
//! when the report records none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/junit")
        .join(path)
}

fn nanos(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap() as u64
}

fn convert(paths: &[&Path], extra: &[&str]) -> Vec<ReceivedSpan> {
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("junit")
        .args(paths)
        .args(rx.cli_args())
        .args(extra));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    rx.spans()
}

/// The attribute values of an element's start tag, in file order, for every `<tag `.
fn elements(xml: &str, tag: &str) -> Vec<HashMap<String, String>> {
    let open = format!("<{tag} ");
    xml.match_indices(&open)
        .map(|(at, _)| {
            let end = at + xml[at..].find('>').unwrap();
            let head = &xml[at + open.len()..end];
            let mut out = HashMap::new();
            let mut rest = head;
            while let Some(eq) = rest.find("=\"") {
                let key = rest[..eq].trim().trim_end_matches('/').to_owned();
                let value_end = rest[eq + 2..].find('"').unwrap();
                out.insert(key, rest[eq + 2..eq + 2 + value_end].to_owned());
                rest = &rest[eq + 2 + value_end + 1..];
            }
            out
        })
        .collect()
}

fn seconds_ns(text: &str) -> u64 {
    (text.parse::<f64>().unwrap() * 1e9).round() as u64
}

#[test]
fn nextest_times_are_exact_and_retries_are_attempts() {
    let path = fixture("nextest/junit.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let spans = convert(&[&path], &[]);
    let root = spans
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .unwrap();
    let report = &elements(&xml, "testsuites")[0];
    assert_eq!(root.span.start_time_unix_nano, nanos(&report["timestamp"]));
    assert_eq!(
        root.attr_str("cicd.pipeline.run.id"),
        Some(report["uuid"].as_str())
    );
    assert_eq!(
        root.attr_str("retrace.time_source"),
        None,
        "nothing derived"
    );
    // Every testcase: its own timestamp and time, to the ms the producer wrote.
    for case in elements(&xml, "testcase") {
        let start = nanos(&case["timestamp"]);
        let span = spans
            .iter()
            .find(|s| {
                s.attr_str("test.case.name")
                    == Some(format!("{}.{}", case["classname"], case["name"]).as_str())
                    && s.span.start_time_unix_nano == start
            })
            .unwrap_or_else(|| panic!("no span for {case:?}"));
        assert_eq!(
            span.span.end_time_unix_nano,
            start + seconds_ns(&case["time"])
        );
        assert_eq!(span.attr_str("retrace.time_source"), None);
    }
    // The flaky test: a failed attempt, then the passing one the testcase names.
    let flaky: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| {
            s.attr_str("test.case.name") == Some("pedal_fares::warehouse.flaky_tariff_service")
        })
        .collect();
    assert_eq!(flaky.len(), 2);
    let first = flaky
        .iter()
        .min_by_key(|s| s.span.start_time_unix_nano)
        .unwrap();
    let last = flaky
        .iter()
        .max_by_key(|s| s.span.start_time_unix_nano)
        .unwrap();
    assert_eq!(first.attr_str("test.case.result.status"), Some("fail"));
    assert_eq!(last.attr_str("test.case.result.status"), Some("pass"));
    assert_eq!(
        first.span.start_time_unix_nano,
        nanos("2026-11-30T17:48:04.397-08:00")
    );
    assert_eq!(first.attr_i64("junit.attempts"), Some(2));
    // Its suite passed in the end; the suite with a test failing twice did not.
    let suite = |name: &str| {
        spans
            .iter()
            .find(|s| s.attr_str("test.suite.name") == Some(name))
            .unwrap()
    };
    assert_eq!(
        suite("pedal_fares::warehouse").attr_str("test.suite.run.status"),
        Some("failure")
    );
    // A timeout has no message: its type says it.
    let hang = spans
        .iter()
        .find(|s| {
            s.attr_str("test.case.name") == Some("pedal_fares::warehouse.hangs_on_locked_warehouse")
        })
        .unwrap();
    assert_eq!(hang.attr_str("error.type"), Some("test timeout"));
    let retries = xml.matches("<rerunFailure").count() + xml.matches("<flakyFailure").count();
    assert_eq!(retries, 5);
    assert_eq!(
        spans.len(),
        1 + 2 + elements(&xml, "testcase").len() + retries,
        "root, 2 suites, the cases, their other attempts"
    );
}

#[test]
fn pytest_tests_are_laid_out_from_the_session_start_and_marked() {
    let path = fixture("pytest/xunit1.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let spans = convert(&[&path], &[]);
    let suite_xml = &elements(&xml, "testsuite")[0];
    let suite = spans
        .iter()
        .find(|s| s.attr_str("test.suite.name") == Some(suite_xml["name"].as_str()))
        .unwrap();
    let start = nanos(&suite_xml["timestamp"]);
    assert_eq!(suite.span.start_time_unix_nano, start);
    // In file order, each after the one before, for its own duration; all derived.
    let mut cursor = start;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for case in elements(&xml, "testcase") {
        let name = format!("{}.{}", case["classname"], case["name"]);
        let n = seen.entry(name.clone()).or_default();
        *n += 1;
        let span = spans
            .iter()
            .filter(|s| s.attr_str("test.case.name") == Some(name.as_str()))
            .nth(*n - 1)
            .unwrap();
        assert_eq!(span.span.start_time_unix_nano, cursor, "{name}");
        cursor += seconds_ns(&case["time"]);
        assert_eq!(span.span.end_time_unix_nano, cursor, "{name}");
        assert_eq!(span.attr_str("retrace.time_source"), Some("derived"));
        // xunit1: file and the 0-based line of the def, as 1-based.
        assert_eq!(span.attr_str("code.file.path"), Some(case["file"].as_str()));
        let line: i64 = case["line"].parse().unwrap();
        assert_eq!(span.attr_i64("code.line.number"), Some(line + 1));
    }
    // record_property, a failure's message and type; no captured output by default.
    let prop = spans
        .iter()
        .find(|s| s.attr_str("junit.property.table") == Some("fct_rides"))
        .expect("record_property");
    assert_eq!(prop.attr_str("junit.property.rows_loaded"), Some("42"));
    let setup = spans
        .iter()
        .find(|s| {
            s.attr_str("test.case.name")
                == Some("tests.integration.test_warehouse.test_setup_error")
        })
        .unwrap();
    assert_eq!(setup.attr_str("junit.result"), Some("error"));
    assert!(spans.iter().all(|s| s.attr("junit.system_out").is_none()));
}

#[test]
fn captured_output_only_when_asked() {
    let path = fixture("pytest/logging-all.xml");
    let quiet = convert(&[&path], &[]);
    assert!(quiet
        .iter()
        .all(|s| s.attr("junit.system_out").is_none() && s.attr("junit.system_err").is_none()));
    assert!(quiet.iter().all(|s| s
        .span
        .events
        .iter()
        .all(|e| e.attributes.iter().all(|a| a.key != "exception.stacktrace"))));
    let loud = convert(&[&path], &["--include-output"]);
    assert!(loud.iter().any(|s| s
        .attr_str("junit.system_out")
        .is_some_and(|o| o.contains("Captured Out"))));
    assert!(loud.iter().any(|s| s
        .span
        .events
        .iter()
        .any(|e| e.attributes.iter().any(|a| a.key == "exception.stacktrace"))));
}

#[test]
fn jest_zone_less_timestamps_are_utc_unless_told() {
    let path = fixture("jest/file-attr-console-suite-errors-tz-los-angeles.xml");
    let xml = std::fs::read_to_string(&path).unwrap();
    let stamp = elements(&xml, "testsuite")
        .into_iter()
        .find_map(|s| {
            s.get("timestamp")
                .filter(|t| !t.starts_with("1970"))
                .cloned()
        })
        .unwrap();
    let utc = convert(&[&path], &[]);
    let first = utc
        .iter()
        .map(|s| s.span.start_time_unix_nano)
        .min()
        .unwrap();
    assert_eq!(first, nanos(&format!("{stamp}Z")));
    // The suite that failed to load carries the epoch: not a time.
    assert!(utc
        .iter()
        .all(|s| s.span.start_time_unix_nano > nanos("2000-01-01T00:00:00Z")));
    let la = convert(&[&path], &["--tz", "America/Los_Angeles"]);
    let first_la = la
        .iter()
        .map(|s| s.span.start_time_unix_nano)
        .min()
        .unwrap();
    assert_eq!(first_la - first, 8 * 3600 * 1_000_000_000);
}

/// A copy of a fixture with a known modification time.
fn with_mtime(path: &Path, dir: &Path, at: SystemTime) -> PathBuf {
    let copy = dir.join(path.file_name().unwrap());
    std::fs::copy(path, &copy).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(at)
        .unwrap();
    copy
}

#[test]
fn a_report_without_time_ends_at_its_modification_time_or_starts_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let node = with_mtime(&fixture("node-test/junit.xml"), tmp.path(), at);
    let spans = convert(&[&node], &[]);
    let root = spans
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .unwrap();
    let end = 1_795_000_000 * 1_000_000_000u64;
    assert_eq!(root.span.end_time_unix_nano, end);
    // Node's total, from its trailing comment: duration_ms 3214.608118.
    assert_eq!(root.span.start_time_unix_nano, end - 3_214_608_118);
    assert!(spans
        .iter()
        .filter(|s| !s.span.parent_span_id.is_empty())
        .all(|s| s.attr_str("retrace.time_source") == Some("derived")));
    let started = convert(&[&node], &["--start", "2026-12-01T00:00:00Z"]);
    let root = started
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .unwrap();
    assert_eq!(
        root.span.start_time_unix_nano,
        nanos("2026-12-01T00:00:00Z")
    );
    // Surefire: the same, per class file; the JVM's properties are not exported.
    let surefire = with_mtime(
        &fixture("maven-surefire/TEST-org.pedalshare.fares.FaresTest.xml"),
        tmp.path(),
        at,
    );
    let spans = convert(&[&surefire], &[]);
    let root = spans
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .unwrap();
    assert_eq!(root.span.end_time_unix_nano, end);
    assert!(spans.iter().all(|s| s
        .attr("junit.property.java.specification.version")
        .is_none()
        && s.attr("junit.property.user.name").is_none()));
}

#[test]
fn the_same_report_converts_to_the_same_ids() {
    let path = fixture("pytest/default.xml");
    let ids = |spans: Vec<ReceivedSpan>| {
        let mut ids: Vec<(String, String)> = spans
            .iter()
            .map(|s| (s.trace_id_hex(), s.span_id_hex()))
            .collect();
        ids.sort();
        ids
    };
    let a = ids(convert(&[&path], &[]));
    let b = ids(convert(&[&path], &[]));
    assert_eq!(a, b);
    // Another report of the same suite is another run.
    let c = ids(convert(&[&fixture("pytest/xunit2.xml")], &[]));
    assert_ne!(a[0].0, c[0].0);
}

#[test]
fn tests_that_could_not_have_run_one_after_another_get_lanes() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("parallel.xml");
    // Four tests of 1 s in a suite of 2 s: two at a time.
    std::fs::write(
        &path,
        r#"<testsuite name="par" timestamp="2026-01-01T00:00:00Z" time="2.0" tests="4">
  <testcase classname="c" name="a" time="1.0"/><testcase classname="c" name="b" time="1.0"/>
  <testcase classname="c" name="d" time="1.0"/><testcase classname="c" name="e" time="1.0"/>
</testsuite>"#,
    )
    .unwrap();
    let spans = convert(&[&path], &[]);
    let t0 = nanos("2026-01-01T00:00:00Z");
    let mut got: Vec<(String, u64, i64)> = spans
        .iter()
        .filter_map(|s| {
            Some((
                s.attr_str("test.case.name")?.to_owned(),
                s.span.start_time_unix_nano - t0,
                s.attr_i64("junit.lane")?,
            ))
        })
        .collect();
    got.sort();
    let s = 1_000_000_000;
    assert_eq!(
        got,
        [
            ("c.a".to_owned(), 0, 1),
            ("c.b".to_owned(), 0, 2),
            ("c.d".to_owned(), s, 1),
            ("c.e".to_owned(), s, 2)
        ]
    );
}

#[test]
fn hostile_reports_are_named_and_the_rest_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write(
        "good.xml",
        r#"<testsuite name="ok" timestamp="2026-01-01T00:00:00Z"><testcase name="t" time="0.5"/></testsuite>"#,
    );
    let truncated = write(
        "truncated.xml",
        r#"<testsuites><testsuite name="s" timestamp="2026-01-01T00:00:00Z"><testcase name="t""#,
    );
    let laughs = write(
        "laughs.xml",
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="x" timestamp="2026-01-01T00:00:00Z"><testcase name="t"><failure message="m">&lol3;</failure></testcase></testsuite>"#,
    );
    let garbage_time = write(
        "time.xml",
        r#"<testsuite name="s" timestamp="yesterday"><testcase name="t" time="1"/></testsuite>"#,
    );
    let huge = "x".repeat(200_000);
    let big = write(
        "big.xml",
        &format!(
            r#"<testsuite name="b" timestamp="2026-01-01T00:00:00Z"><testcase name="{huge}" time="0"/></testsuite>"#
        ),
    );
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("junit")
        .args([&good, &truncated, &laughs, &garbage_time, &big])
        .args(rx.cli_args()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("truncated.xml: "), "{err}");
    assert!(err.contains("laughs.xml: line 2"), "{err}");
    assert!(
        err.contains("time.xml: ") && err.contains("yesterday"),
        "{err}"
    );
    assert_eq!(err.matches("retrace: ").count(), 4, "one line each: {err}");
    // The good report and the big one are delivered.
    let roots = rx
        .spans()
        .into_iter()
        .filter(|s| s.span.parent_span_id.is_empty())
        .count();
    assert_eq!(roots, 2);
}

#[test]
fn backfill_reads_junit_beside_the_other_formats() {
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(fixture(""))
        .args(rx.cli_args()));
    // Node's and Surefire's reports end at their checkout time: still converted.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let roots = rx
        .spans()
        .into_iter()
        .filter(|s| s.span.parent_span_id.is_empty())
        .count();
    assert_eq!(roots, 14, "8 pytest, 1 node, 2 jest, 1 nextest, 2 surefire");
}

#[test]
fn extreme_numbers_and_nesting_cost_one_line_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // A suite "time" of 1e-300: lanes are bounded by the tests.
    let tiny = write(
        "tiny.xml",
        r#"<testsuite name="t" timestamp="2026-01-01T00:00:00Z" time="1e-300"><testcase name="a" time="1"/><testcase name="b" time="1"/></testsuite>"#.into(),
    );
    // A test of 1e30 s, and a line at the end of i64.
    let huge = write(
        "huge.xml",
        r#"<testsuite name="h" timestamp="2026-01-01T00:00:00Z"><testcase name="a" time="1e30" file="x" line="9223372036854775807"/></testsuite>"#.into(),
    );
    let deep = write(
        "deep.xml",
        format!(
            "{}<testcase name=\"a\"/>{}",
            "<testsuite name=\"s\">".repeat(100_000),
            "</testsuite>".repeat(100_000)
        ),
    );
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("junit")
        .args([&tiny, &huge, &deep])
        .args(rx.cli_args()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("deep.xml: line 1: elements nested deeper than 256"),
        "{}",
        stderr(&out)
    );
    let lanes: Vec<i64> = rx
        .spans()
        .iter()
        .filter_map(|s| s.attr_i64("junit.lane"))
        .collect();
    assert!(lanes.iter().all(|&l| l <= 2), "{lanes:?}");
    assert_eq!(
        rx.spans()
            .iter()
            .filter(|s| s.span.parent_span_id.is_empty())
            .count(),
        2
    );
}
