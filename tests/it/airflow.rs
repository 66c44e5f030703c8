//! The real binary converts real Airflow records (fixtures/airflow: 2.10.5, 3.1.8, 3.3.2) and
//! delivers them to an in-process OTLP receiver; assertions are on what arrived.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);
const DAG: &str = "otel_corpus_pipeline";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/airflow")
        .join(rel)
}

fn send(rx: &Receiver, paths: &[PathBuf], extra: &[&str]) -> Output {
    run(retrace()
        .arg("airflow")
        .args(paths)
        .args(rx.cli_args())
        .args(["--timeout", "5s"])
        .args(extra))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Airflow's date text (`+00:00`, `Z`, or with a space) → Unix nanoseconds.
fn nanos(text: &str) -> u64 {
    let t = text.replace(' ', "T");
    chrono::DateTime::parse_from_rfc3339(&t)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap() as u64
}

/// (run_id, step id, try) → span, plus each run's root.
struct Received {
    tries: HashMap<(String, String, i64), ReceivedSpan>,
    roots: HashMap<String, ReceivedSpan>,
}

fn index(spans: &[ReceivedSpan]) -> Received {
    let mut tries = HashMap::new();
    let mut roots = HashMap::new();
    for s in spans {
        let run = s.attr_str("airflow.dag_run.run_id").unwrap().to_owned();
        if s.span.name.starts_with("dag_run.") {
            assert!(roots.insert(run, s.clone()).is_none(), "one root per run");
        } else {
            let id = s.span.name.trim_start_matches("task_run.").to_owned();
            let key = (
                run,
                id,
                s.attr_i64("airflow.task_instance.try_number").unwrap(),
            );
            assert!(
                tries.insert(key.clone(), s.clone()).is_none(),
                "one span per try: {key:?}"
            );
        }
    }
    Received { tries, roots }
}

fn step_id(ti: &Value) -> String {
    let task = ti["task_id"].as_str().unwrap();
    match ti["map_index"].as_i64().unwrap() {
        -1 => task.to_owned(),
        n => format!("{task}[{n}]"),
    }
}

/// Every try the API knows (task instances + the tries endpoint), with its dates.
fn api_tries(version: &str, run: &str) -> HashMap<(String, i64), Value> {
    let mut out = HashMap::new();
    for file in [
        format!("api/taskInstances_{run}.json"),
        format!("api/tries_quality_check_{run}.json"),
    ] {
        for ti in json(&fixture(&format!("{version}/{file}")))["task_instances"]
            .as_array()
            .unwrap()
        {
            out.insert(
                (step_id(ti), ti["try_number"].as_i64().unwrap()),
                ti.clone(),
            );
        }
    }
    out
}

#[test]
fn every_record_kind_of_a_version_merges_into_one_span_per_try() {
    for (version, proto) in [
        ("2.10.5", Proto::Grpc),
        ("3.1.8", Proto::HttpProtobuf),
        ("3.3.2", Proto::HttpJson),
    ] {
        let rx = Receiver::start(proto);
        let out = send(&rx, &[fixture(version)], &[]);
        assert_eq!(out.status.code(), Some(0), "{version}: {}", stderr(&out));
        std::thread::sleep(Duration::from_millis(300));
        let got = index(&rx.spans());
        for run in ["corpus_run_ok", "corpus_run_fail"] {
            let expected = api_tries(version, run);
            let ours: BTreeSet<_> = got
                .tries
                .keys()
                .filter(|k| k.0 == run)
                .map(|k| (k.1.clone(), k.2))
                .collect();
            let theirs: BTreeSet<_> = expected.keys().cloned().collect();
            assert_eq!(
                ours, theirs,
                "{version} {run}: exactly the API's tries, each once"
            );
            let root = &got.roots[run];
            let dag_run = json(&fixture(&format!("{version}/api/dagRun_{run}.json")));
            assert_eq!(
                root.span.start_time_unix_nano,
                nanos(dag_run["start_date"].as_str().unwrap()),
                "{version} {run}"
            );
            assert_eq!(
                root.span.end_time_unix_nano,
                nanos(dag_run["end_date"].as_str().unwrap()),
                "{version} {run}"
            );
            assert_eq!(root.span.name, format!("dag_run.{DAG}"));
            assert_eq!(
                root.attr_str("cicd.pipeline.result"),
                Some(if run == "corpus_run_ok" {
                    "success"
                } else {
                    "failure"
                })
            );
            for ((id, try_number), ti) in &expected {
                let span = &got.tries[&(run.to_owned(), id.clone(), *try_number)];
                assert_eq!(
                    span.parent_id_hex(),
                    root.span_id_hex(),
                    "{version} {run} {id}"
                );
                assert_eq!(span.trace_id_hex(), root.trace_id_hex());
                assert_eq!(span.attr_str("airflow.task_id"), ti["task_id"].as_str());
                assert_eq!(
                    span.attr_i64("airflow.task_instance.map_index"),
                    ti["map_index"].as_i64()
                );
                assert_eq!(span.attr_str("airflow.dag_id"), Some(DAG));
                match (ti["start_date"].as_str(), ti["end_date"].as_str()) {
                    (Some(start), Some(end)) => {
                        assert_eq!(
                            span.span.start_time_unix_nano,
                            nanos(start),
                            "{version} {run} {id} try {try_number}"
                        );
                        assert_eq!(
                            span.span.end_time_unix_nano,
                            nanos(end),
                            "{version} {run} {id} try {try_number}"
                        );
                    }
                    _ => {
                        // upstream_failed: never ran, no dates.
                        assert_eq!(ti["state"], "upstream_failed");
                        assert_eq!(span.attr_str("retrace.time_source"), Some("derived"));
                        assert_eq!(span.attr_str("cicd.pipeline.task.run.result"), Some("skip"));
                    }
                }
                let status = span.span.status.as_ref().map_or(0, |s| s.code);
                match ti["state"].as_str().unwrap() {
                    "success" => assert_eq!(status, 1),
                    "failed" | "up_for_retry" => assert_eq!(status, 2, "{version} {run} {id}"),
                    _ => assert_eq!(status, 0),
                }
            }
            // The skipped branch: start == end, no duration.
            let skipped = &got.tries[&(run.to_owned(), "load_lake".to_owned(), 0)];
            assert_eq!(
                skipped.span.start_time_unix_nano,
                skipped.span.end_time_unix_nano
            );
            assert_eq!(
                skipped.attr_str("airflow.task_instance.state"),
                Some("skipped")
            );
        }
        // The ok run's conf carries the caller's traceparent.
        let ok = &got.roots["corpus_run_ok"];
        assert_eq!(ok.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ok.parent_id_hex(), "00f067aa0ba902b7");
        // The retried try carries the exception the task raised.
        let failed_try = &got.tries[&("corpus_run_ok".to_owned(), "quality_check".to_owned(), 1)];
        let exception = failed_try
            .span
            .events
            .iter()
            .find(|e| e.name == "exception")
            .expect("exception event");
        let attr = |k: &str| {
            exception
                .attributes
                .iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.clone())
        };
        assert!(
            format!("{:?}", attr("exception.type")).contains("ValueError"),
            "{version}"
        );
        assert!(
            format!("{:?}", attr("exception.message")).contains("quality check failed on try 1"),
            "{version}"
        );
        assert_eq!(failed_try.attr_str("error.type"), Some("ValueError"));
    }
}

fn attrs(span: &Value) -> HashMap<String, String> {
    span["attributes"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    let v = a["value"].as_object().unwrap().values().next().unwrap();
                    (
                        a["key"].as_str().unwrap().to_owned(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn native_spans(path: &Path) -> Vec<Value> {
    let doc = json(path);
    let mut out = Vec::new();
    for rs in doc["resourceSpans"].as_array().unwrap() {
        for ss in rs["scopeSpans"].as_array().unwrap() {
            out.extend(ss["spans"].as_array().unwrap().iter().cloned());
        }
    }
    out
}

/// Airflow's own spans of the same runs. Their span times are not the task's dates (2.x and
/// 3.0/3.1 start at queued time and end when the scheduler noticed; 3.2+ the same on the
/// API server), but they carry the dates Airflow recorded as attributes (2.x `start_date`,
/// 3.1 `airflow.task.start_date`, µs) — our span of that try must start and end exactly there.
/// 3.3 spans carry no dates; their start is the TI's queued time (as a float, so equal to
/// the µs of our `queued_when` within a microsecond) and their try/map/state must match ours.
#[test]
fn our_tries_match_airflows_own_spans() {
    let cases = [
        (
            "2.10.5",
            "2.10.5/otel/airflow_native_spans_runs_ok_fail.otlp.json",
            "",
            "run_id",
        ),
        (
            "3.1.8",
            "3.1.8/otel/airflow_native_spans_runs_ok_fail.otlp.json",
            "airflow.task.",
            "airflow.dag_run.run_id",
        ),
        (
            "3.3.2",
            "3.3.2/otel/airflow_native_spans_run_otel_detail2.otlp.json",
            "",
            "",
        ),
    ];
    for (version, file, prefix, run_key) in cases {
        let rx = Receiver::start(Proto::Grpc);
        let out = send(&rx, &[fixture(version)], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        std::thread::sleep(Duration::from_millis(300));
        let ours = index(&rx.spans());
        let native = native_spans(&fixture(file));
        let mut compared = 0;
        if version == "3.3.2" {
            for s in native
                .iter()
                .filter(|s| s["name"].as_str().unwrap().starts_with("task_run."))
            {
                let a = attrs(s);
                let id = s["name"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("task_run.")
                    .to_owned();
                let key = (
                    a["airflow.dag_run.run_id"].clone(),
                    id,
                    a["airflow.task_instance.try_number"]
                        .parse::<i64>()
                        .unwrap(),
                );
                let mine = &ours.tries[&key];
                assert_eq!(
                    mine.attr_str("airflow.task_instance.state"),
                    Some(a["airflow.task_instance.state"].as_str()),
                    "{key:?}"
                );
                assert_eq!(
                    mine.attr_i64("airflow.task_instance.map_index")
                        .unwrap()
                        .to_string(),
                    a["airflow.task_instance.map_index"]
                );
                let queued = nanos(mine.attr_str("airflow.task_instance.queued_when").unwrap());
                let their_start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                assert!(
                    queued.abs_diff(their_start) < 1_000,
                    "{key:?}: queued {queued} vs {their_start}"
                );
                compared += 1;
            }
            assert_eq!(
                compared, 11,
                "every task_run span of the run, load_lake (skipped, never queued) has none"
            );
            continue;
        }
        // Task spans hang under the dag-run span, which names the run.
        let runs: HashMap<String, String> = native
            .iter()
            .filter_map(|s| {
                Some((
                    s["spanId"].as_str()?.to_owned(),
                    attrs(s).get(run_key)?.clone(),
                ))
            })
            .collect();
        for s in &native {
            let a = attrs(s);
            let (Some(start), Some(end), Some(try_number)) = (
                a.get(&format!("{prefix}start_date")),
                a.get(&format!("{prefix}end_date")),
                a.get(&format!("{prefix}try_number")),
            ) else {
                continue;
            };
            let run = &runs[s["parentSpanId"].as_str().unwrap()];
            let task = s["name"].as_str().unwrap();
            // Mapped instances share one native span name; ours are told apart by map index.
            let mine: Vec<_> = ours
                .tries
                .iter()
                .filter(|((r, id, n), _)| {
                    r == run
                        && (id == task || id.starts_with(&format!("{task}[")))
                        && n.to_string() == *try_number
                })
                .map(|(_, span)| span)
                .filter(|span| span.span.start_time_unix_nano == nanos(start))
                .collect();
            assert_eq!(
                mine.len(),
                1,
                "{version} {run} {task} try {try_number} start {start}"
            );
            assert_eq!(
                mine[0].span.end_time_unix_nano,
                nanos(end),
                "{version} {run} {task}"
            );
            compared += 1;
        }
        assert!(compared >= 10, "{version}: compared {compared}");
    }
}

#[test]
fn task_logs_alone_give_tries_with_their_exit_codes_and_exceptions() {
    let rx = Receiver::start(Proto::Grpc);
    let run_dir = fixture(&format!("2.10.5/logs/dag_id={DAG}/run_id=corpus_run_ok"));
    let out = send(&rx, &[run_dir], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    let got = index(&rx.spans());
    assert_eq!(got.tries.len(), 11, "one log per try that ran");
    let qc1 = &got.tries[&("corpus_run_ok".to_owned(), "quality_check".to_owned(), 1)];
    // "Marking task as UP_FOR_RETRY. … start_date=20261121T053337, end_date=20261121T053337"
    // says the seconds; the log's own lines inside those seconds say the milliseconds: the
    // first line (.148) and the Marking line (.363).
    assert_eq!(
        qc1.span.start_time_unix_nano,
        nanos("2026-11-21T05:33:37.148+00:00")
    );
    assert_eq!(
        qc1.span.end_time_unix_nano,
        nanos("2026-11-21T05:33:37.363+00:00")
    );
    assert_eq!(
        qc1.attr_str("airflow.task_instance.state"),
        Some("up_for_retry")
    );
    assert_eq!(qc1.attr_i64("process.exit.code"), Some(1));
    let qc2 = &got.tries[&("corpus_run_ok".to_owned(), "quality_check".to_owned(), 2)];
    assert_eq!(qc2.attr_i64("process.exit.code"), Some(0));
    assert_eq!(qc2.span.status.as_ref().unwrap().code, 1);
    let mapped = &got.tries[&("corpus_run_ok".to_owned(), "transform[1]".to_owned(), 1)];
    assert_eq!(mapped.attr_i64("airflow.task_instance.map_index"), Some(1));

    // 3.x JSON-line logs: where the log started and stopped, and error_detail.
    let rx = Receiver::start(Proto::Grpc);
    let log = fixture(&format!(
        "3.3.2/logs/dag_id={DAG}/run_id=corpus_run_ok/task_id=quality_check/attempt=1.log"
    ));
    let out = send(&rx, std::slice::from_ref(&log), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(2, WAIT);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let got = index(&spans);
    let span = &got.tries[&("corpus_run_ok".to_owned(), "quality_check".to_owned(), 1)];
    assert_eq!(
        span.span.start_time_unix_nano,
        nanos(lines[0]["timestamp"].as_str().unwrap())
    );
    assert_eq!(
        span.span.end_time_unix_nano,
        nanos(lines.last().unwrap()["timestamp"].as_str().unwrap())
    );
    assert_eq!(
        span.attr_str("airflow.task_instance.id"),
        Some("01a1fc9d-ae09-7c91-a5ea-043efe50a8a1")
    );
    assert!(span.span.events.iter().any(|e| e.name == "exception"));
}

#[test]
fn scheduler_output_alone_gives_runs_and_tries() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = send(
        &rx,
        &[fixture(
            "2.10.5/scheduler/scheduler_stdout_until_holdout.log",
        )],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    let got = index(&rx.spans());
    let root = &got.roots["corpus_run_fail"];
    assert_eq!(
        root.span.start_time_unix_nano,
        nanos("2026-11-21 05:31:47.436372+00:00")
    );
    assert_eq!(
        root.span.end_time_unix_nano,
        nanos("2026-11-21 05:34:34.582313+00:00")
    );
    let qc = &got.tries[&("corpus_run_fail".to_owned(), "quality_check".to_owned(), 1)];
    assert_eq!(
        qc.attr_str("airflow.task_instance.state"),
        Some("up_for_retry")
    );
    assert_eq!(
        qc.span.start_time_unix_nano,
        nanos("2026-11-21 05:34:05.491167+00:00")
    );
    assert_eq!(
        qc.attr_str("airflow.task_instance.operator"),
        Some("_PythonDecoratedOperator")
    );
    assert_eq!(
        qc.attr_str("airflow.task_instance.queued_when"),
        Some("2026-11-21 05:33:46.968571+00:00")
    );

    // 3.x structlog form.
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = send(
        &rx,
        &[fixture(
            "3.3.2/scheduler/scheduler_stdout_phase2_until_holdout.log",
        )],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    let got = index(&rx.spans());
    let qc = &got.tries[&("corpus_run_fail".to_owned(), "quality_check".to_owned(), 2)];
    assert_eq!(
        qc.span.end_time_unix_nano,
        nanos("2026-11-21 05:41:23.050027+00:00")
    );
    assert_eq!(
        qc.attr_str("airflow.task_instance.id"),
        Some("01a1fc9f-8123-73f6-a85c-aa958a913979")
    );
}

#[test]
fn cli_output_merges_with_the_api_and_tolerates_warning_lines() {
    // CLI states name no run: they join the run whose tries started at the same instants.
    let rx = Receiver::start(Proto::Grpc);
    let out = send(
        &rx,
        &[
            fixture("3.3.2/cli/states-for-dag-run_corpus_run_ok.json"),
            fixture("3.3.2/api/taskInstances_corpus_run_ok.json"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    let spans = rx.spans();
    assert_eq!(spans.len(), 12, "11 tries + root, nothing doubled");

    // Alone, they still make a run (named after its earliest start).
    let rx = Receiver::start(Proto::Grpc);
    let out = send(
        &rx,
        &[fixture("2.10.5/cli/states-for-dag-run_corpus_run_ok.json")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rx.wait_spans(12, WAIT).len(), 12);

    // `dags list-runs` with log lines printed before the JSON.
    let rx = Receiver::start(Proto::Grpc);
    let out = send(
        &rx,
        &[fixture("2.10.5/cli/list-runs_stdout_with_log_noise.txt")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    let got = index(&rx.spans());
    assert!(got.roots.contains_key("corpus_run_ok") && got.roots.contains_key("corpus_run_fail"));
}

#[test]
fn reserved_conf_key_and_flag_precedence() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = json(&fixture("3.3.2/api/dagRun_corpus_run_ok.json"));
    run["conf"] = serde_json::json!({
        "airflow/dagrun_parent_trace_context": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    });
    let path = tmp.path().join("dagRun.json");
    std::fs::write(&path, run.to_string()).unwrap();
    let rx = Receiver::start(Proto::Grpc);
    assert_eq!(
        send(&rx, std::slice::from_ref(&path), &[]).status.code(),
        Some(0)
    );
    let root = rx.wait_spans(1, WAIT).remove(0);
    assert_eq!(root.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(root.parent_id_hex(), "b7ad6b7169203331");

    let rx = Receiver::start(Proto::Grpc);
    let flag = [
        "--traceparent",
        "00-11111111111111111111111111111111-2222222222222222-01",
    ];
    assert_eq!(send(&rx, &[path], &flag).status.code(), Some(0));
    assert_eq!(
        rx.wait_spans(1, WAIT)[0].trace_id_hex(),
        "11111111111111111111111111111111"
    );
}

#[test]
fn bad_airflow_inputs_are_reported_and_the_rest_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fixture("3.3.2/api/dagRun_corpus_run_ok.json");
    let text = std::fs::read_to_string(&good).unwrap();
    let write = |name: &str, content: &str| {
        let p = tmp.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    };
    let cases = [
        (
            write("truncated.json", &text[..text.len() / 2]),
            "truncated JSON",
        ),
        (
            write(
                "garbage_date.json",
                &text.replace("2026-11-21T05:39:15.987398Z", "soonish"),
            ),
            "start_date",
        ),
        (
            write("other.json", r#"{"dag_id": "x", "hello": 1}"#),
            "not an Airflow record",
        ),
        (
            write(
                "nowhere/attempt=1.log",
                "[2026-11-21T05:28:47.185+0000] {x.py:1} INFO - hi\n",
            ),
            "cannot tell which task try",
        ),
        (
            write(
                "sched/scheduler.log",
                "x TaskInstance Finished: dag_id=d, run_start_date=yesterday\n",
            ),
            "without dag_id/task_id/run_id",
        ),
    ];
    let rx = Receiver::start(Proto::Grpc);
    for (path, expected) in &cases {
        let out = send(&rx, &[path.clone(), good.clone()], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        let problems: Vec<&str> = err.lines().filter(|l| !l.contains("delivered")).collect();
        assert_eq!(problems.len(), 1, "{err}");
        assert!(
            problems[0].contains(path.to_str().unwrap()) && problems[0].contains(expected),
            "{expected}: {err}"
        );
    }
    assert_eq!(
        rx.wait_spans(cases.len(), WAIT).len(),
        cases.len(),
        "the good dag run went out every time"
    );
}

/// The roots' (trace id, span id) of what a conversion sent, sorted.
fn root_ids(rx: &Receiver) -> Vec<(String, String, String)> {
    let mut ids: Vec<_> = rx
        .spans()
        .into_iter()
        .filter(|s| s.span.name.starts_with("dag_run."))
        .map(|s| {
            (
                s.attr_str("airflow.dag_run.run_id").unwrap().to_owned(),
                s.trace_id_hex(),
                s.span_id_hex(),
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_runs_ids_do_not_depend_on_what_else_is_converted_with_it() {
    // Its logs alone, and its logs with its CLI states: one run, the same ids.
    let logs = fixture(&format!("3.1.8/logs/dag_id={DAG}/run_id=corpus_run_ok"));
    let cli = fixture("3.1.8/cli/states-for-dag-run_corpus_run_ok.json");
    let alone = Receiver::start(Proto::Grpc);
    assert_eq!(
        send(&alone, std::slice::from_ref(&logs), &[]).status.code(),
        Some(0)
    );
    let with_cli = Receiver::start(Proto::Grpc);
    assert_eq!(send(&with_cli, &[logs, cli], &[]).status.code(), Some(0));
    alone.wait_spans(12, WAIT);
    with_cli.wait_spans(13, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(root_ids(&alone), root_ids(&with_cli));
    assert_eq!(root_ids(&alone).len(), 1);

    // One installation's run alone, and inside a backfill of three installations whose runs
    // share DAG and run ids: the same ids, and a warning naming the sources.
    let one = Receiver::start(Proto::Grpc);
    assert_eq!(send(&one, &[fixture("3.3.2")], &[]).status.code(), Some(0));
    let all = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(fixture(""))
        .args(all.cli_args())
        .arg("-q"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("has 3 runs with run id \"corpus_run_fail\", from different installations")
            && err.contains("3.3.2/api/dagRun_corpus_run_fail.json")
            && err.contains("--namespace-from-path"),
        "{err}"
    );
    one.wait_spans(26, WAIT);
    all.wait_spans(115, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let from_all = root_ids(&all);
    for id in root_ids(&one) {
        assert!(from_all.contains(&id), "{id:?} changed inside the backfill");
    }

    // Told apart per installation folder: no warning, and every run its own ids.
    let apart = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(fixture(""))
        .args(apart.cli_args())
        .args(["-q", "--namespace-from-path"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    apart.wait_spans(115, WAIT);
    let mut ids: Vec<String> = root_ids(&apart)
        .into_iter()
        .map(|(_, _, span)| span)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9, "every run has its own root span id");
}

/// A history of task-log folders is converted one run folder at a time (memory bounded by a
/// run, benches/README.md): exactly what each folder gives on its own.
#[test]
fn a_log_history_converted_folder_by_folder_gives_what_each_folder_gives() {
    let logs = fixture(&format!("2.10.5/logs/dag_id={DAG}"));
    let all = Receiver::start(Proto::Grpc);
    assert_eq!(
        send(&all, std::slice::from_ref(&logs), &[]).status.code(),
        Some(0)
    );
    let one_by_one = Receiver::start(Proto::Grpc);
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 4);
    for folder in &folders {
        assert_eq!(
            send(&one_by_one, std::slice::from_ref(folder), &[])
                .status
                .code(),
            Some(0)
        );
    }
    let spans = |rx: &Receiver| {
        std::thread::sleep(Duration::from_millis(200));
        let mut all: Vec<(String, String, String, u64, u64, String)> = rx
            .spans()
            .into_iter()
            .map(|s| {
                (
                    s.trace_id_hex(),
                    s.span_id_hex(),
                    s.parent_id_hex(),
                    s.span.start_time_unix_nano,
                    s.span.end_time_unix_nano,
                    s.span.name.clone(),
                )
            })
            .collect();
        all.sort();
        all
    };
    let (a, b) = (spans(&all), spans(&one_by_one));
    assert_eq!(a.len(), 27, "12 + 11 + 2 + 2");
    assert_eq!(a, b);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A walk hands the run folders over one at a time; the API records that sort after them in
/// the walk (found later) must still join their runs, as when they come first.
#[test]
fn records_found_after_the_run_folders_still_join_their_runs() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&fixture("3.3.2/logs"), &tmp.path().join("a_logs"));
    copy_tree(&fixture("3.3.2/api"), &tmp.path().join("z_api"));
    let walked = Receiver::start(Proto::Grpc);
    let out = send(&walked, &[tmp.path().to_path_buf()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let api_first = Receiver::start(Proto::Grpc);
    let out = send(
        &api_first,
        &[fixture("3.3.2/api"), fixture("3.3.2/logs")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = |rx: &Receiver| {
        let mut all: Vec<(String, String, u64, u64, String, Option<String>)> = rx
            .spans()
            .into_iter()
            .map(|s| {
                (
                    s.span_id_hex(),
                    s.parent_id_hex(),
                    s.span.start_time_unix_nano,
                    s.span.end_time_unix_nano,
                    s.span.name.clone(),
                    s.attr_str("airflow.task_instance.queued_when")
                        .map(str::to_owned),
                )
            })
            .collect();
        all.sort();
        all
    };
    let (a, b) = (spans(&walked), spans(&api_first));
    assert!(
        a.iter().any(|s| s.5.is_some()),
        "the API's queue times joined the logs' tries"
    );
    assert_eq!(a, b);
}

/// Arguments that overlap (a history and one of its folders) reach a run folder twice: it is
/// converted once, and no clash of installations is claimed.
#[test]
fn a_run_folder_reached_twice_is_converted_once() {
    let logs = fixture(&format!("2.10.5/logs/dag_id={DAG}"));
    let folder = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let once = Receiver::start(Proto::Grpc);
    assert_eq!(
        send(&once, std::slice::from_ref(&logs), &[]).status.code(),
        Some(0)
    );
    let twice = Receiver::start(Proto::Grpc);
    let out = send(&twice, &[logs.clone(), folder], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("different installations"),
        "{}",
        stderr(&out)
    );
    let ids = |rx: &Receiver| {
        let mut ids: Vec<String> = rx.spans().iter().map(|s| s.span_id_hex()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&twice), ids(&once));
}
