//! dbt's own log (fixtures/dbt-logs: real `logs/dbt.log` histories, JSON and text, one rotated)
//! through the real binary to an in-process OTLP receiver on 127.0.0.1. Each invocation is
//! checked against the run_results.json / sources.json that invocation wrote, converted by
//! the same binary: the same trace and span ids, exact µs times for the JSON log, times within
//! the text log's precision, and one run when both are given.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::common::cli::{bounded, retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(10);

/// The text log's precision against run_results' timing: the `Began running node` line comes
/// up to 39 ms before the first timing start, `Finished running node` up to 53 ms after the
/// last timing end (measured on these fixtures).
const TEXT_SLACK_NS: i128 = 75_000_000;
/// A hook has no `Began running node` line: its start is its `START hook` line, which dbt
/// writes up to 114 ms after the hook's timing starts (measured on these fixtures).
const TEXT_HOOK_SLACK_NS: i128 = 150_000_000;

const JSON_FRESHNESS: &str = "706d2aef1266429abdd3d9520f2702cd";
const JSON_RUN: &str = "97bccb361f32474a8d4975bd9ba8dd33";
const TEXT_RUN: &str = "d605e05e6e124136a7bdff3723a1cf05";
const TEXT_FRESHNESS: &str = "12db4a62a00a449284990c67298e602d";
const ROTATED_BUILD: &str = "385ef86670ef4f9594a213e911571872";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dbt-logs")
        .join(rel)
}

/// `retrace <verb> ARGS` to a fresh receiver; exit 0, and every span it says it delivered.
fn convert(verb: &str, args: &[&Path], extra: &[&str]) -> (Vec<ReceivedSpan>, Output) {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = run(retrace()
        .arg(verb)
        .args(args)
        .args(extra)
        .args(rx.cli_args())
        .args(["--timeout", "5s"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let n: usize = err
        .lines()
        .find_map(|l| l.strip_prefix("retrace: delivered "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no delivery line: {err}"));
    let spans = rx.wait_spans(n, WAIT);
    assert_eq!(spans.len(), n, "{err}");
    (spans, out)
}

fn dbt(args: &[&Path], extra: &[&str]) -> Vec<ReceivedSpan> {
    convert("dbt", args, extra).0
}

fn by_trace(spans: &[ReceivedSpan]) -> BTreeMap<String, Vec<ReceivedSpan>> {
    let mut out: BTreeMap<String, Vec<ReceivedSpan>> = BTreeMap::new();
    for s in spans {
        out.entry(s.trace_id_hex()).or_default().push(s.clone());
    }
    out
}

fn root(spans: &[ReceivedSpan]) -> &ReceivedSpan {
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.attr_str("cicd.pipeline.run.id").is_some())
        .collect();
    assert_eq!(roots.len(), 1, "one root per trace");
    roots[0]
}

/// Spans by (trace id, span id); a key seen twice fails the test (a duplicate).
/// Each span by (trace, span id): its name, times and parent.
type Shape = BTreeMap<(String, String), (String, u64, u64, String)>;

fn shape(spans: &[ReceivedSpan]) -> Shape {
    keyed(spans)
        .into_iter()
        .map(|(k, s)| {
            let parent = s.parent_id_hex();
            let v = (
                s.span.name,
                s.span.start_time_unix_nano,
                s.span.end_time_unix_nano,
                parent,
            );
            (k, v)
        })
        .collect()
}

fn keyed(spans: &[ReceivedSpan]) -> HashMap<(String, String), ReceivedSpan> {
    let mut out = HashMap::new();
    for s in spans {
        let key = (s.trace_id_hex(), s.span_id_hex());
        assert!(
            out.insert(key.clone(), s.clone()).is_none(),
            "duplicate span {key:?} ({})",
            s.span.name
        );
    }
    out
}

fn node<'a>(spans: &'a [ReceivedSpan], trace: &str, uid: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id_hex() == trace && s.attr_str("dbt.node_id") == Some(uid))
        .filter(|s| s.attr_i64("dbt.microbatch.batch_index").is_none())
        .collect();
    assert_eq!(found.len(), 1, "{uid} in {trace}");
    found[0]
}

fn status_code(s: &ReceivedSpan) -> i32 {
    s.span.status.as_ref().map_or(0, |st| st.code)
}

fn status_message(s: &ReceivedSpan) -> String {
    s.span
        .status
        .as_ref()
        .map(|st| st.message.clone())
        .unwrap_or_default()
}

/// dbt's UTC timestamp (with `Z`, or naive as in the log's `node_info`) → Unix ns, read
/// independently of the crate's parser.
fn nanos(text: &str) -> u64 {
    let text = if text.ends_with('Z') {
        text.to_owned()
    } else {
        format!("{text}Z")
    };
    let dt = chrono::DateTime::parse_from_rfc3339(&text).expect("fixture timestamp");
    dt.timestamp_nanos_opt().unwrap() as u64
}

fn gap(a: u64, b: u64) -> i128 {
    (a as i128 - b as i128).abs()
}

/// A copy of a fixture folder's files in `to`, every file's modification time set to `mtime`
/// (a fresh clone's files are as old as the clone; text logs are dated from it).
fn copy_dir(from: &Path, to: &Path, mtime: SystemTime) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest, mtime);
        } else {
            std::fs::copy(&path, &dest).unwrap();
            set_mtime(&dest, mtime);
        }
    }
}

fn set_mtime(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

fn instant(rfc3339: &str) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos(rfc3339))
}

/// Every span the artifact conversion made is in `log` with the same ids and parent, the
/// same status; node times exactly equal (`slack` 0) or within `slack` ns.
fn assert_same_run(artifact: &[ReceivedSpan], log: &[ReceivedSpan], slack: i128) {
    let log = keyed(log);
    for a in artifact {
        let key = (a.trace_id_hex(), a.span_id_hex());
        let l = log
            .get(&key)
            .unwrap_or_else(|| panic!("{} ({key:?}) is not in the log's run", a.span.name));
        assert_eq!(l.span.name, a.span.name);
        assert_eq!(l.parent_id_hex(), a.parent_id_hex(), "{}", a.span.name);
        if a.attr_str("cicd.pipeline.run.id").is_some() {
            continue;
        }
        assert_eq!(
            l.attr_str("dbt.status"),
            a.attr_str("dbt.status"),
            "{}",
            a.span.name
        );
        assert_eq!(status_code(l), status_code(a), "{}", a.span.name);
        if a.attr_str("retrace.time_source") == Some("derived") {
            // Untimed in the artifact (skipped): the log has its real times.
            continue;
        }
        let (ls, le) = (l.span.start_time_unix_nano, l.span.end_time_unix_nano);
        let (as_, ae) = (a.span.start_time_unix_nano, a.span.end_time_unix_nano);
        if slack == 0 {
            assert_eq!((ls, le), (as_, ae), "{} start and end", a.span.name);
        } else {
            let slack = if a.span.name.starts_with("operation ") {
                TEXT_HOOK_SLACK_NS
            } else {
                slack
            };
            assert!(
                gap(ls, as_) <= slack && gap(le, ae) <= slack,
                "{}: log {ls}..{le}, artifact {as_}..{ae}",
                a.span.name
            );
        }
    }
}

/// The JSON log's lines of one invocation.
fn json_lines(invocation: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("json/logs/dbt.log")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["info"]["invocation_id"] == invocation)
        .collect()
}

fn dashed(trace: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &trace[..8],
        &trace[8..12],
        &trace[12..16],
        &trace[16..20],
        &trace[20..]
    )
}

#[test]
fn json_log_is_the_run_results_run_to_the_microsecond() {
    let log = dbt(&[&fixture("json/logs")], &[]);
    let artifacts = dbt(&[&fixture("json/history")], &[]);
    assert_eq!(log.len(), 17);
    assert_eq!(artifacts.len(), 12);
    let traces = by_trace(&log);
    assert_eq!(
        traces.keys().collect::<Vec<_>>(),
        [JSON_FRESHNESS, JSON_RUN],
        "the invocation_id is the trace id"
    );
    // freshness: root, 2 hooks, 4 sources (sources.json: 3); run: root, 7 results, 2 batches.
    assert_eq!(traces[JSON_FRESHNESS].len(), 7);
    assert_eq!(traces[JSON_RUN].len(), 10);
    assert_same_run(&artifacts, &log, 0);

    for (trace, lines) in [
        (JSON_FRESHNESS, json_lines(&dashed(JSON_FRESHNESS))),
        (JSON_RUN, json_lines(&dashed(JSON_RUN))),
    ] {
        let r = root(&traces[trace]);
        let first = lines
            .iter()
            .find(|l| l["info"]["name"] == "MainReportVersion")
            .unwrap();
        let done = lines
            .iter()
            .find(|l| l["info"]["name"] == "CommandCompleted")
            .unwrap();
        assert_eq!(
            r.span.start_time_unix_nano,
            nanos(first["info"]["ts"].as_str().unwrap())
        );
        assert_eq!(
            r.span.end_time_unix_nano,
            nanos(done["data"]["completed_at"].as_str().unwrap())
        );
        assert_eq!(
            r.attr_str("dbt.invocation_id"),
            Some(dashed(trace).as_str())
        );
        assert_eq!(r.attr_str("dbt.version"), Some("1.12.6"));
        assert_eq!(r.attr_str("dbt.target"), Some("dev"));
        assert_eq!(r.attr_bool("retrace.run.incomplete"), None);
        for s in &traces[trace] {
            assert_eq!(
                s.attr_str("retrace.time_source"),
                None,
                "{}: exact",
                s.span.name
            );
        }
    }
    let run = root(&traces[JSON_RUN]);
    assert_eq!(run.span.name, "dbt run");
    assert_eq!(
        run.attr_str("dbt.invocation_command"),
        Some("dbt run --select fct_rides+ --exclude fare_audit+ --log-format-file json")
    );
    assert_eq!(status_code(run), 1, "Ok");

    // Microbatch: each batch a child of its model, at the times of its own NodeFinished.
    let model = node(&log, JSON_RUN, "model.pedal_share.rides_monthly");
    let batches: Vec<&ReceivedSpan> = traces[JSON_RUN]
        .iter()
        .filter(|s| s.attr_i64("dbt.microbatch.batch_index").is_some())
        .collect();
    assert_eq!(batches.len(), 2);
    let mut windows: Vec<(u64, u64)> = json_lines(&dashed(JSON_RUN))
        .iter()
        .filter(|l| l["info"]["name"] == "NodeFinished")
        .filter(|l| l["data"]["node_info"]["unique_id"] == "model.pedal_share.rides_monthly")
        .map(|l| {
            let timing = l["data"]["run_result"]["timing_info"].as_array().unwrap();
            let starts = timing
                .iter()
                .map(|t| nanos(t["started_at"].as_str().unwrap()));
            let ends = timing
                .iter()
                .map(|t| nanos(t["completed_at"].as_str().unwrap()));
            (starts.min().unwrap(), ends.max().unwrap())
        })
        .collect();
    // Three NodeFinished: two batches, then the model itself.
    assert_eq!(windows.len(), 3);
    assert_eq!(
        windows.pop().unwrap(),
        (
            model.span.start_time_unix_nano,
            model.span.end_time_unix_nano
        )
    );
    let mut got: Vec<(u64, u64)> = batches
        .iter()
        .map(|b| (b.span.start_time_unix_nano, b.span.end_time_unix_nano))
        .collect();
    got.sort();
    windows.sort();
    assert_eq!(got, windows);
    let mut names: Vec<&str> = batches.iter().map(|b| b.span.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "batch 2026-11 of main.rides_monthly",
            "batch 2026-12 of main.rides_monthly"
        ]
    );
    for b in &batches {
        assert_eq!(
            b.parent_id_hex(),
            model.span_id_hex(),
            "a batch is a child of its model"
        );
        assert_eq!(b.attr_str("dbt.status"), Some("success"));
    }

    // Freshness: the runtime error sources.json leaves out, and the hooks.
    let broken = node(
        &log,
        JSON_FRESHNESS,
        "source.pedal_share.raw.dock_telemetry",
    );
    assert!(artifacts
        .iter()
        .all(|s| s.attr_str("dbt.node_id") != Some("source.pedal_share.raw.dock_telemetry")));
    assert_eq!(broken.attr_str("dbt.status"), Some("runtime error"));
    assert_eq!(status_code(broken), 2);
    assert!(
        status_message(broken).starts_with("Runtime Error in source dock_telemetry"),
        "{}",
        status_message(broken)
    );
    let stale = node(&log, JSON_FRESHNESS, "source.pedal_share.raw.stations");
    assert_eq!(stale.attr_str("dbt.status"), Some("error"));
    assert_eq!(status_code(stale), 2);
    let hook = node(
        &log,
        JSON_FRESHNESS,
        "operation.pedal_share.pedal_share-on-run-start-0",
    );
    assert_eq!(hook.attr_str("dbt.status"), Some("success"));
    let freshness = root(&traces[JSON_FRESHNESS]);
    assert_eq!(freshness.span.name, "dbt source freshness");
    assert_eq!(status_code(freshness), 2);
}

#[test]
fn json_log_custom_env_traceparent_parents_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = std::fs::read_to_string(fixture("json/logs/dbt.log")).unwrap();
    // What dbt writes in `info.extra` when DBT_ENV_CUSTOM_ENV_TRACEPARENT and
    // DBT_ENV_CUSTOM_ENV_TEAM are set (prefix removed, as in run_results' metadata.env).
    let extra = r#""extra": {"TEAM": "data", "TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "API_TOKEN": "hunter2"}"#;
    let edited: String = text
        .lines()
        .map(|l| {
            if l.contains(&dashed(JSON_RUN)) {
                l.replace(r#""extra": {}"#, extra)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(logs.join("dbt.log"), edited).unwrap();
    let spans = dbt(&[&logs], &[]);
    let traces = by_trace(&spans);
    let run = root(&traces["4bf92f3577b34da6a3ce929d0e0e4736"]);
    assert_eq!(run.parent_id_hex(), "00f067aa0ba902b7");
    assert_eq!(run.attr_str("dbt.env.TEAM"), Some("data"));
    assert_eq!(
        run.attr("dbt.env.API_TOKEN"),
        None,
        "credentials are never exported"
    );
    assert_eq!(traces["4bf92f3577b34da6a3ce929d0e0e4736"].len(), 10);
    // The other invocation keeps its own trace.
    assert_eq!(traces[JSON_FRESHNESS].len(), 7);
}

#[test]
fn text_log_is_dated_from_its_modification_time_and_zoned_by_tz() {
    let tmp = tempfile::tempdir().unwrap();
    // Written a day later at 01:00 UTC: its last line (01:37:22) is then of the day before.
    copy_dir(
        &fixture("text/logs"),
        &tmp.path().join("logs"),
        instant("2026-12-02T01:00:00Z"),
    );
    let log = dbt(&[&tmp.path().join("logs")], &["--tz", "UTC"]);
    let artifacts = dbt(&[&fixture("text/history")], &[]);
    assert_eq!(log.len(), 45);
    assert_eq!(artifacts.len(), 20);
    let traces = by_trace(&log);
    assert_eq!(
        traces.keys().collect::<Vec<_>>(),
        [TEXT_FRESHNESS, TEXT_RUN]
    );
    // run: root, 13 models + 1 ephemeral (logged, not in run_results), 2 hooks, 21 batches.
    assert_eq!(traces[TEXT_RUN].len(), 38);
    assert_eq!(traces[TEXT_FRESHNESS].len(), 7);
    assert_same_run(&artifacts, &log, TEXT_SLACK_NS);
    for s in &log {
        assert_eq!(
            s.attr_str("retrace.time_source"),
            Some("inferred"),
            "{}: dated by retrace",
            s.span.name
        );
    }
    // Root: the header line and `Command … at`, µs, on the artifacts' date.
    let run = root(&traces[TEXT_RUN]);
    assert_eq!(
        run.span.start_time_unix_nano,
        nanos("2026-12-01T01:37:02.710861Z")
    );
    assert_eq!(
        run.span.end_time_unix_nano,
        nanos("2026-12-01T01:37:06.668204Z")
    );
    assert_eq!(
        run.attr_str("dbt.invocation_command"),
        Some("dbt run --threads 3")
    );
    assert_eq!(run.attr_i64("dbt.threads"), Some(3));
    assert_eq!(run.attr_str("dbt.target"), Some("dev"));
    assert_eq!(run.attr_str("dbt.version"), Some("1.12.6"));
    assert_eq!(status_code(run), 2);

    let failed = node(&log, TEXT_RUN, "model.pedal_share.fare_audit");
    assert_eq!(failed.attr_str("dbt.status"), Some("error"));
    assert!(status_message(failed).starts_with("Runtime Error in model fare_audit"));
    let skipped = node(&log, TEXT_RUN, "model.pedal_share.fare_audit_summary");
    assert_eq!(skipped.attr_str("dbt.status"), Some("skipped"));
    assert_eq!(status_code(skipped), 0);
    let model = node(&log, TEXT_RUN, "model.pedal_share.rides_monthly");
    let batches: Vec<_> = traces[TEXT_RUN]
        .iter()
        .filter(|s| s.attr_i64("dbt.microbatch.batch_index").is_some())
        .collect();
    assert_eq!(batches.len(), 21);
    for b in &batches {
        assert_eq!(b.parent_id_hex(), model.span_id_hex());
        assert!(b.span.start_time_unix_nano >= model.span.start_time_unix_nano);
        assert!(b.span.end_time_unix_nano <= model.span.end_time_unix_nano);
    }
    let broken = node(
        &log,
        TEXT_FRESHNESS,
        "source.pedal_share.raw.dock_telemetry",
    );
    assert_eq!(broken.attr_str("dbt.status"), Some("runtime error"));
    assert_eq!(status_code(broken), 2);

    // The same log in another zone: dated from the same modification time, which is 10:00 on
    // 2026-12-02 in Tokyo, so 01:37:02 there that day.
    let tokyo = dbt(&[&tmp.path().join("logs")], &["--tz", "+09:00"]);
    let run = root(&by_trace(&tokyo)[TEXT_RUN]).clone();
    assert_eq!(
        run.span.start_time_unix_nano,
        nanos("2026-12-01T16:37:02.710861Z")
    );
}

#[test]
fn text_log_with_its_artifacts_is_dated_by_them_and_merged() {
    let tmp = tempfile::tempdir().unwrap();
    // A modification time that says nothing true (years later): the artifacts date the log.
    copy_dir(
        &fixture("text/logs"),
        &tmp.path().join("logs"),
        instant("2031-06-15T12:00:00Z"),
    );
    let logs = tmp.path().join("logs");
    let history = fixture("text/history");
    let merged = dbt(&[&logs, &history], &["--tz", "UTC"]);
    let artifacts = dbt(&[&history], &[]);
    // Every artifact span once, plus what only the log has: 21 batches, the ephemeral model,
    // the freshness hooks and its runtime error.
    assert_eq!(merged.len(), 45);
    let traces = by_trace(&merged);
    assert_eq!(traces.len(), 2);
    // run_results wins where it holds times: exactly its spans.
    assert_same_run(&artifacts, &merged, 0);
    let run = root(&traces[TEXT_RUN]);
    let doc: Value =
        serde_json::from_slice(&std::fs::read(history.join("03-run/run_results.json")).unwrap())
            .unwrap();
    assert_eq!(
        run.span.start_time_unix_nano,
        nanos(doc["metadata"]["invocation_started_at"].as_str().unwrap())
    );
    let model = node(&merged, TEXT_RUN, "model.pedal_share.rides_monthly");
    for b in traces[TEXT_RUN]
        .iter()
        .filter(|s| s.attr_i64("dbt.microbatch.batch_index").is_some())
    {
        assert_eq!(b.attr_str("retrace.time_source"), Some("inferred"));
        assert_eq!(b.parent_id_hex(), model.span_id_hex());
        assert!(gap(b.span.start_time_unix_nano, model.span.start_time_unix_nano) < 2_000_000_000);
    }
    // The skipped node, untimed in run_results, has the log's times on the artifact's date.
    let skipped = node(&merged, TEXT_RUN, "model.pedal_share.fare_audit_summary");
    assert_eq!(skipped.attr_str("retrace.time_source"), Some("inferred"));
    assert!(
        gap(
            skipped.span.start_time_unix_nano,
            nanos("2026-12-01T01:37:05.301959Z")
        ) < 1_000
    );
    let broken = node(
        &merged,
        TEXT_FRESHNESS,
        "source.pedal_share.raw.dock_telemetry",
    );
    assert_eq!(status_code(broken), 2);
}

#[test]
fn rotated_text_log_is_read_oldest_first_as_one_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    // As a fresh clone leaves them: all six files equally old; dbt.log's last line written
    // at 17:44:18 in Los Angeles.
    copy_dir(
        &fixture("text-rotated/logs"),
        &logs,
        instant("2026-12-01T01:44:19Z"),
    );
    let log = dbt(&[&logs], &["--tz", "America/Los_Angeles"]);
    let artifacts = dbt(&[&fixture("text-rotated/history")], &[]);
    assert_eq!(log.len(), 96);
    assert_eq!(artifacts.len(), 76);
    let traces = by_trace(&log);
    assert_eq!(traces.len(), 5);
    let counts: BTreeMap<&str, usize> = traces.iter().map(|(t, s)| (t.as_str(), s.len())).collect();
    // 542496ed: nothing to do (root only); 66816f48 freshness; af4169f8 crosses dbt.log.2 →
    // dbt.log.1 (7 results + a batch); dd4535fe crosses dbt.log.1 → dbt.log (22 results).
    assert_eq!(counts["542496edd3d745eda0f5586709260a83"], 1);
    assert_eq!(counts["66816f48c6414531bf5cbaf9de23e2ac"], 7);
    assert_eq!(counts["af4169f847044851b27d9fa5e9ba3e36"], 9);
    assert_eq!(counts["dd4535fe21cd4dbd97ed0c79c1ede6ff"], 23);
    // Every complete invocation is its artifact's run, within the text log's precision.
    let complete: Vec<ReceivedSpan> = artifacts
        .iter()
        .filter(|s| s.trace_id_hex() != ROTATED_BUILD)
        .cloned()
        .collect();
    assert_same_run(&complete, &log, TEXT_SLACK_NS);
    let test = root(&traces["dd4535fe21cd4dbd97ed0c79c1ede6ff"]);
    // 17:44:07.709387 in Los Angeles (UTC-8) on 2026-11-30.
    assert_eq!(
        test.span.start_time_unix_nano,
        nanos("2026-12-01T01:44:07.709387Z")
    );
    assert_eq!(test.attr_bool("retrace.run.incomplete"), None);

    // The build whose header (and first part) was rotated away: converted from what remains,
    // marked incomplete; without its artifact nothing names its invocation.
    let (trace, build) = traces
        .iter()
        .find(|(_, s)| root(s).attr_bool("retrace.run.incomplete") == Some(true))
        .expect("the incomplete build");
    assert_ne!(trace, ROTATED_BUILD);
    let build_root = root(build);
    assert_eq!(build_root.span.name, "dbt build");
    assert_eq!(
        build_root.span.start_time_unix_nano,
        nanos("2026-12-01T01:42:55.261106Z")
    );
    assert_eq!(
        build_root.span.end_time_unix_nano,
        nanos("2026-12-01T01:43:00.399481Z")
    );
    assert_eq!(build.len(), 56);
    // Named by its first record as written, not by a date retrace inferred: a copy of the logs
    // with other modification times gives the same ids.
    let run_id = build_root.attr_str("dbt.invocation_id").unwrap().to_owned();
    assert!(
        run_id.starts_with("incomplete@17:42:55.261106-"),
        "{run_id}"
    );
    let copy = tmp.path().join("copy");
    copy_dir(&logs, &copy, instant("2026-12-04T09:00:00Z"));
    let again = dbt(&[&copy], &["--tz", "America/Los_Angeles"]);
    let again_root = again
        .iter()
        .find(|s| s.attr_str("dbt.invocation_id") == Some(run_id.as_str()))
        .expect("the same run id");
    assert_eq!(again_root.trace_id_hex(), *trace);
    assert_eq!(again_root.span_id_hex(), build_root.span_id_hex());
    assert_ne!(
        again_root.span.start_time_unix_nano,
        build_root.span.start_time_unix_nano
    );
    assert_eq!(
        traces
            .values()
            .filter(|s| root(s).attr_bool("retrace.run.incomplete") == Some(true))
            .count(),
        1
    );

    // With the artifacts: the build is named by the run_results.json its time falls in, and
    // is one run with it (40 artifact spans + 21 batches + the ephemeral model).
    let merged = dbt(
        &[&logs, &fixture("text-rotated/history")],
        &["--tz", "America/Los_Angeles"],
    );
    let traces = by_trace(&merged);
    assert_eq!(traces.len(), 5);
    assert_eq!(traces[ROTATED_BUILD].len(), 62);
    assert_eq!(merged.len(), 102);
    assert_same_run(&artifacts, &merged, 0);

    // A backfill of many histories has one --tz; this set was written in Los Angeles. Its
    // headers meet their artifacts 8 hours apart, so it is read in UTC-08:00 whatever the
    // zone given, said once, and it is the same one run per invocation.
    let (wrong_zone, out) = convert(
        "dbt",
        &[&logs, &fixture("text-rotated/history")],
        &["--tz", "Asia/Tokyo"],
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}: its times of day are UTC-08:00 by its invocations' artifacts, not the zone given (UTC+09:00): read as UTC-08:00",
            logs.join("dbt.log").display()
        )),
        "{err}"
    );
    assert_eq!(shape(&wrong_zone), shape(&merged));
}

#[test]
fn backfill_of_a_log_and_its_run_results_is_one_run() {
    for (dir, spans, artifact_spans) in [("json", 17, 12), ("text", 45, 20)] {
        let (got, out) = convert("backfill", &[&fixture(dir)], &["--tz", "UTC"]);
        assert_eq!(got.len(), spans, "{dir}: {}", stderr(&out));
        let traces = by_trace(&got);
        assert_eq!(traces.len(), 2, "{dir}: one trace per invocation");
        for (trace, s) in &traces {
            root(s);
            assert!(s.iter().all(|x| x.trace_id_hex() == *trace));
        }
        keyed(&got);
        let artifacts = dbt(&[&fixture(dir).join("history")], &[]);
        assert_eq!(artifacts.len(), artifact_spans);
        assert_same_run(&artifacts, &got, 0);
    }
}

#[test]
fn lines_that_are_not_dbt_s_are_skipped_and_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = std::fs::read_to_string(fixture("json/logs/dbt.log")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "pip: some other tool wrote here");
    lines.insert(10, "[1, 2]");
    lines.insert(20, "{\"not\": \"a record\"}");
    std::fs::write(logs.join("dbt.log"), lines.join("\n")).unwrap();
    let (spans, out) = convert("dbt", &[&logs], &[]);
    assert_eq!(spans.len(), 17);
    let err = stderr(&out);
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("not dbt's")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains("skipped 3 lines"), "{err}");
    assert!(notes[0].contains("line 4"), "{err}");
}

#[test]
fn a_bad_log_file_is_one_line_and_the_others_are_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let good = runs.join("good/dbt.log");
    std::fs::create_dir_all(good.parent().unwrap()).unwrap();
    std::fs::copy(fixture("json/logs/dbt.log"), &good).unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut bad: Vec<(PathBuf, &str)> = Vec::new();
    for (dir, bytes, problem) in [
        ("empty", &b""[..], "file is empty"),
        (
            "binary",
            &garbage[..],
            "no dbt log records in this file (line 1: not a dbt log record)",
        ),
        (
            "other",
            &b"Collecting dbt-core\n  Downloading dbt_core-1.12.6.tar.gz\n"[..],
            "no dbt log records in this file (line 1: not a dbt log record)",
        ),
        (
            "cut",
            &br#"{"data": {"log_version": 3, "version": "=1.12.6"}, "info": {"#[..],
            "no dbt log records in this file (line 1: not a dbt JSON log record: EOF",
        ),
    ] {
        let path = runs.join(dir).join("dbt.log");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        bad.push((path, problem));
    }
    let fifo = runs.join("fifo/dbt.log");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path this test owns.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    bad.push((fifo, "a FIFO (named pipe), expected a regular file"));

    let glob = runs.join("*/dbt.log");
    let rx = Receiver::start(Proto::Grpc);
    for verb in ["dbt", "backfill"] {
        let out = bounded(retrace().arg(verb).arg(&glob).args(rx.cli_args()).arg("-q"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{verb}: {err}");
        for (path, problem) in &bad {
            let lines: Vec<&str> = err
                .lines()
                .filter(|l| l.contains(path.to_str().unwrap()))
                .collect();
            assert_eq!(lines.len(), 1, "{verb}: {}: {err}", path.display());
            assert!(lines[0].contains(problem), "{verb}: {}", lines[0]);
        }
        assert_eq!(err.lines().count(), bad.len(), "{verb}: {err}");
    }
    // The good log, once per verb: 2 × 17 spans.
    assert_eq!(rx.wait_spans(34, WAIT).len(), 34);
}

/// Two dbt processes writing one JSON log at once: their lines interleave, and each line names
/// its invocation, so each is still one run with the ids and times it has alone.
#[test]
fn interleaved_json_invocations_are_told_apart_by_their_ids() {
    let original = fixture("json/logs/dbt.log");
    let text = std::fs::read_to_string(&original).unwrap();
    let of = |id: &str| -> Vec<&str> { text.lines().filter(|l| l.contains(id)).collect() };
    let (a, b) = (
        of("706d2aef-1266-429a-bdd3-d9520f2702cd"),
        of("97bccb36-1f32-474a-8d49-75bd9ba8dd33"),
    );
    assert_eq!((a.len(), b.len()), (174, 340));
    let mut mixed: Vec<&str> = Vec::new();
    for i in 0..a.len().max(b.len()) {
        mixed.extend(a.get(i).copied());
        mixed.extend(b.get(i).copied());
    }
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("dbt.log"), mixed.join("\n") + "\n").unwrap();

    let alone = dbt(&[&original], &[]);
    let interleaved = dbt(&[&logs.join("dbt.log")], &[]);
    assert_eq!(by_trace(&interleaved).len(), 2);
    assert_eq!(interleaved.len(), alone.len());
    assert_eq!(shape(&interleaved), shape(&alone));
}

/// Every `HH:MM:SS.ffffff` in `bytes` moved by `hours` (mod 24), as if written in another zone.
fn shift_times_of_day(bytes: &[u8], hours: u32) -> Vec<u8> {
    let is_tod = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b':',
            8 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let fits = i + 15 <= bytes.len() && (i == 0 || !bytes[i - 1].is_ascii_digit());
        if fits && is_tod(&bytes[i..i + 15]) {
            let h = u32::from(bytes[i] - b'0') * 10 + u32::from(bytes[i + 1] - b'0');
            out.extend(format!("{:02}", (h + hours) % 24).bytes());
            out.extend(&bytes[i + 2..i + 15]);
            i += 15;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A named zone that agrees with the offset an artifact shows is kept, with its DST changes:
/// in Los Angeles, the run of 2026-10-31 18:37 PDT has its artifact, the freshness check the
/// next day at 17:37 (PST, after the change) has none and keeps its own offset.
#[test]
fn a_named_zone_that_agrees_with_the_artifacts_keeps_its_dst_changes() {
    let text = std::fs::read(fixture("text/logs/dbt.log")).unwrap();
    let header = b"============================== 01:37:20.401861 | 12db4a62";
    let split = text
        .windows(header.len())
        .position(|w| w == header)
        .expect("the freshness invocation's header");
    let mut log = shift_times_of_day(&text[..split], 17);
    log.extend(shift_times_of_day(&text[split..], 16));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("logs")).unwrap();
    std::fs::create_dir_all(tmp.path().join("history/03-run")).unwrap();
    let dbt_log = tmp.path().join("logs/dbt.log");
    std::fs::write(&dbt_log, log).unwrap();
    // Its last line: 17:37:2x PST on 2026-11-01.
    set_mtime(&dbt_log, instant("2026-11-02T01:38:00Z"));
    let artifact = std::fs::read_to_string(fixture("text/history/03-run/run_results.json"))
        .unwrap()
        .replace("2026-12-01T", "2026-11-01T");
    std::fs::write(tmp.path().join("history/03-run/run_results.json"), artifact).unwrap();

    let (spans, out) = convert(
        "dbt",
        &[&tmp.path().join("logs"), &tmp.path().join("history")],
        &["--tz", "America/Los_Angeles"],
    );
    assert!(
        !stderr(&out).contains("its times of day are"),
        "{}",
        stderr(&out)
    );
    let traces = by_trace(&spans);
    let run = root(&traces["d605e05e6e124136a7bdff3723a1cf05"]);
    assert_eq!(
        run.attr_str("retrace.time_source"),
        None,
        "dated by its artifact"
    );
    let freshness = root(&traces["12db4a62a00a449284990c67298e602d"]);
    assert_eq!(
        freshness.span.start_time_unix_nano,
        nanos("2026-11-02T01:37:20.401861Z")
    );
}
