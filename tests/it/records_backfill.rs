//! `retrace records` (our own step records) and `retrace backfill` (every format at once),
//! through the real binary to an in-process OTLP receiver.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, Receiver};

const WAIT: Duration = Duration::from_secs(10);

fn send(rx: &Receiver, verb: &str, paths: &[PathBuf]) -> Output {
    let mut cmd = retrace();
    cmd.arg(verb)
        .args(paths)
        .args(rx.cli_args())
        .args(["--timeout", "5s"]);
    // `records` times carry their zone; backfill also reads formats whose times do not.
    if verb == "backfill" {
        cmd.args(["--tz", "UTC"]);
    }
    run(&mut cmd)
}

const RECORDS: &str = r#"{"type":"run","schema":"retrace.records/v1","system":"retrace","run_id":"run-42","name":"DAG: etl","pipeline_name":"etl","start":1795239100000000000,"attributes":{"dag.name":"etl","dag.run_id":"run-42"}}
{"type":"step","schema":"retrace.records/v1","run_id":"run-42","id":"extract","name":"Step: extract","attempt":1,"start":1795239100100000000,"end":1795239100200000001,"outcome":"failure","exit_code":1,"message":"exit status 1","attributes":{"step.name":"extract","step.exit_code":1}}
{"type":"step","schema":"retrace.records/v1","run_id":"run-42","id":"extract","name":"Step: extract","attempt":2,"start":1795239101000000000,"end":1795239101500000000,"outcome":"success","exit_code":0,"attributes":{"step.name":"extract"}}
{"type":"run_end","schema":"retrace.records/v1","run_id":"run-42","end":1795239102000000000,"outcome":"success"}
"#;

#[test]
fn records_convert_to_exact_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("run-42.jsonl");
    std::fs::write(&path, RECORDS).unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, "records", &[path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut spans = rx.wait_spans(3, WAIT);
    spans.sort_by_key(|s| s.span.start_time_unix_nano);
    // Golden ids: SHA-256 of the length-prefixed tuples (computed independently in Python).
    assert_eq!(spans[0].trace_id_hex(), "220f827fe5aaaf84e1e2fb523a92190d");
    assert_eq!(spans[0].span_id_hex(), "2a3ec420f7fbbee9");
    assert_eq!(spans[0].span.name, "DAG: etl");
    assert_eq!(spans[0].span.end_time_unix_nano, 1_795_239_102_000_000_000);
    assert_eq!(spans[0].resource_str("service.name"), Some("retrace"));
    assert_eq!(spans[1].span_id_hex(), "d5c19de387043f92");
    assert_eq!(spans[1].span.end_time_unix_nano, 1_795_239_100_200_000_001);
    assert_eq!(spans[1].span.status.as_ref().unwrap().code, 2);
    assert_eq!(spans[1].attr_i64("step.exit_code"), Some(1));
    assert_eq!(
        spans[1].attr_str("cicd.pipeline.task.run.id"),
        Some("extract")
    );
    assert_eq!(spans[2].span_id_hex(), "25c339104d582945");
    assert_eq!(
        spans[2].attr_str("cicd.pipeline.task.run.id"),
        Some("extract#2")
    );
    for s in &spans[1..] {
        assert_eq!(s.parent_id_hex(), "2a3ec420f7fbbee9");
    }
}

#[test]
fn a_torn_records_file_still_converts() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("crashed.jsonl");
    let torn: String =
        RECORDS.lines().take(2).collect::<Vec<_>>().join("\n") + "\n{\"type\":\"step\",\"sche";
    std::fs::write(&path, torn).unwrap();
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = send(&rx, "records", &[path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 3 is incomplete"));
    let spans = rx.wait_spans(2, WAIT);
    assert_eq!(spans.len(), 2);
    let root = spans.iter().find(|s| s.span.name == "DAG: etl").unwrap();
    assert_eq!(
        root.span.end_time_unix_nano, 1_795_239_100_200_000_001,
        "a run without its end line ends with its last step"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A mixed history: dbt 1.12 and 1.7, Airflow 2.10.5 and 3.3.2 (same dag and run ids in
/// both!), Dagu, dotflow, our own records, and one corrupt file.
fn mixed_tree(tree: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for (from, to) in [
        ("dbt/04-build", "dbt/a"),
        ("dbt/21-build-dbt1.7", "dbt/b"),
        ("airflow/2.10.5", "airflow2"),
        ("airflow/3.3.2", "airflow3"),
        ("dagu", "dagu"),
        ("dotflow", "dotflow"),
    ] {
        std::fs::create_dir_all(tree.join(to)).unwrap();
        copy_dir(&root.join(from), &tree.join(to));
    }
    std::fs::write(tree.join("records.jsonl"), RECORDS).unwrap();
    std::fs::create_dir_all(tree.join("dbt/broken")).unwrap();
    std::fs::write(tree.join("dbt/broken/run_results.json"), "{\"metadata\": {").unwrap();
}

/// dbt 04 (40) + dbt 1.7 (36) + Airflow 2.10.5 (2 runs of 13, 2 `dags test` runs of 12) +
/// Airflow 3.3.2 (3 runs of 13) + Dagu (4 runs, 28 spans) + dotflow (2 runs of 4) + records (3).
const MIXED_SPANS: usize = 40 + 36 + (2 * 13 + 2 * 12) + 3 * 13 + 28 + 2 * 4 + 3;

fn problems(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| {
            !l.contains("delivered") && !l.contains("retrace: backfill:") && !l.contains("warning:")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn backfill_of_a_mixed_history_isolates_the_bad_file_and_is_repeatable() {
    let tmp = tempfile::tempdir().unwrap();
    mixed_tree(tmp.path());
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, "backfill", &[tmp.path().to_path_buf()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let problems = problems(&out);
    assert_eq!(problems.len(), 1, "{}", stderr(&out));
    assert!(
        problems[0].contains("broken/run_results.json") && problems[0].contains("truncated JSON"),
        "{problems:?}"
    );
    assert!(
        stderr(&out).contains("files converted, 1 failed"),
        "{}",
        stderr(&out)
    );
    let first = rx.wait_spans(MIXED_SPANS, WAIT);
    assert_eq!(first.len(), MIXED_SPANS);
    let ids = |spans: &[crate::common::receiver::ReceivedSpan]| {
        spans
            .iter()
            .map(|s| (s.trace_id_hex(), s.span_id_hex(), s.parent_id_hex()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let first_ids = ids(&first);
    // Airflow 2.10.5 and 3.3.2 each have a run `corpus_run_ok` of the same DAG, under the
    // same conf parent: a run's ids are a function of its identity alone, so its 13 spans are
    // sent with the same ids twice, and a warning says how to tell the installations apart.
    assert_eq!(first_ids.len(), MIXED_SPANS - 13);
    assert!(
        stderr(&out)
            .contains("has 2 runs with run id \"corpus_run_ok\", from different installations"),
        "{}",
        stderr(&out)
    );
    let rx_apart = Receiver::start(Proto::Grpc);
    let out = send(
        &rx_apart,
        "backfill",
        &[tmp.path().to_path_buf(), "--namespace-from-path".into()],
    );
    assert!(!stderr(&out).contains("installations"), "{}", stderr(&out));
    assert_eq!(
        ids(&rx_apart.wait_spans(MIXED_SPANS, WAIT)).len(),
        MIXED_SPANS
    );

    // The same tree again: the same ids.
    let rx2 = Receiver::start(Proto::HttpProtobuf);
    send(&rx2, "backfill", &[tmp.path().to_path_buf()]);
    assert_eq!(ids(&rx2.wait_spans(MIXED_SPANS, WAIT)), first_ids);

    // A namespace salts derived ids; dbt's trace ids are its invocation ids and stay.
    let rx3 = Receiver::start(Proto::Grpc);
    let out = retrace()
        .args([
            "backfill",
            tmp.path().to_str().unwrap(),
            "--endpoint",
            &rx3.endpoint(),
            "--protocol",
            "grpc",
            "--tz",
            "UTC",
        ])
        .env("RETRACE_NAMESPACE", "staging")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let salted = rx3.wait_spans(MIXED_SPANS, WAIT);
    for s in &salted {
        let system = s.resource_str("service.name").unwrap();
        let known_trace = first.iter().any(|f| f.trace_id_hex() == s.trace_id_hex());
        let known_span = first_ids.iter().any(|f| f.1 == s.span_id_hex());
        assert!(!known_span, "{system}: span ids are salted");
        // dbt (invocation id) and conf/artifact parents keep their trace ids.
        if system == "dagu" || system == "dotflow" {
            assert!(!known_trace, "{system}: derived trace ids are salted");
        }
    }
}

#[test]
fn backfill_since_until_selects_runs_by_start() {
    let tmp = tempfile::tempdir().unwrap();
    mixed_tree(tmp.path());
    let rx = Receiver::start(Proto::Grpc);
    // Airflow 3.3.2's runs started 05:39:15–05:41:44; everything else earlier or in other months.
    let out = retrace()
        .args([
            "backfill",
            tmp.path().join("airflow3").to_str().unwrap(),
            tmp.path().join("airflow2").to_str().unwrap(),
        ])
        .args([
            "--since",
            "2026-11-21T05:39:00Z",
            "--until",
            "2026-11-21T05:41:00Z",
        ])
        .args(["--endpoint", &rx.endpoint(), "--protocol", "grpc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("5 runs outside --since/--until skipped"),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(300));
    let spans = rx.spans();
    assert_eq!(
        spans.len(),
        2 * 13,
        "corpus_run_ok (05:39:15) and corpus_run_fail (05:39:25) of 3.3.2"
    );
    let bad = run_usage(&["backfill", "x", "--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--since"));
}

fn run_usage(args: &[&str]) -> Output {
    retrace().args(args).output().unwrap()
}
