//! `retrace run`: the built-in runner, through the real binary to an in-process OTLP receiver.
//! The central check: the spans sent live equal, field for field, the spans `retrace records`
//! later builds from the records file the run left.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Behavior, Proto, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(10);
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Parallel steps, a dependency, a retried step, a failure with a skipped dependent, a
/// failure allowed by continueOn, and the environment each step gets.
const FLOW: &str = r#"
name: nightly
env:
  - GREETING=hello
  - WHO=${GREETING}-world
steps:
  - name: extract
    command: |
      printf '%s %s %s %s\n' "$TRACEPARENT" "$RETRACE_RUN_ID" "$RETRACE_STEP" "$WHO" > extract.env
      echo extracted; echo warned >&2
  - name: transform
    depends: extract
    retryPolicy: {limit: 2, intervalSec: 1}
    command: |
      n=$(cat transform.count 2>/dev/null || echo 0); n=$((n+1)); echo $n > transform.count
      echo "$TRACEPARENT" > transform.$n.tp
      [ "$n" -ge 2 ]
  - name: flaky
    depends: [extract]
    command: echo broken >&2; exit 3
  - name: load
    depends: [transform, flaky]
    command: touch load.ran
  - name: lint
    command: exit 4
    continueOn: {failure: true}
  - name: report
    depends: lint
    env:
      - LEVEL=${GREETING}!
    command: echo "$LEVEL" > report.out
"#;

fn run_flow(dir: &Path, flow: &str, rx: &Receiver, extra: &[&str]) -> Output {
    let path = dir.join("flow.yaml");
    std::fs::write(&path, flow).unwrap();
    run(retrace()
        .current_dir(dir)
        .arg("run")
        .arg(&path)
        .args(rx.cli_args())
        .args(["--records", "run.jsonl", "--timeout", "5s"])
        .args(extra))
}

/// `retrace records` of the run's records file sends exactly the spans sent live.
fn assert_records_rebuild(dir: &Path, live: &[ReceivedSpan]) {
    let again = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("records")
        .arg(dir.join("run.jsonl"))
        .args(again.cli_args()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(canonical(&again.spans()), canonical(live));
}

fn by_name(spans: &[ReceivedSpan]) -> HashMap<String, ReceivedSpan> {
    spans
        .iter()
        .map(|s| (s.span.name.clone(), s.clone()))
        .collect()
}

/// Every field of every span, resource and scope included, in a comparable form.
fn canonical(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut out: Vec<String> = spans
        .iter()
        .map(|s| {
            // A resource is a set: its order is not part of what was sent.
            let mut resource: Vec<String> = s.resource.iter().map(|kv| format!("{kv:?}")).collect();
            resource.sort();
            format!("{resource:?} | {} | {:?}", s.scope_name, s.span)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn live_spans_equal_the_records_conversion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let live = Receiver::start(Proto::Grpc);
    let out = run_flow(
        dir,
        FLOW,
        &live,
        &["--traceparent", PARENT, "--run-id", "run-1"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // root + 6 steps + 2 attempts of transform
    let spans = live.wait_spans(9, WAIT);
    assert_eq!(spans.len(), 9, "{:#?}", spans);

    // The same records converted later give exactly the same spans.
    let later = Receiver::start(Proto::HttpProtobuf);
    let converted = retrace()
        .arg("records")
        .arg(dir.join("run.jsonl"))
        .args([
            "--endpoint",
            &later.endpoint(),
            "--protocol",
            "http/protobuf",
        ])
        .output()
        .unwrap();
    assert_eq!(converted.status.code(), Some(0), "{}", stderr(&converted));
    let again = later.wait_spans(9, WAIT);
    assert_eq!(canonical(&again), canonical(&spans));

    let s = by_name(&spans);
    let root = &s["DAG: nightly"];
    assert_eq!(root.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.parent_id_hex(), "00f067aa0ba902b7");
    assert_eq!(root.attr_str("dag.status"), Some("failed"));
    assert_eq!(root.attr_str("dag.run_id"), Some("run-1"));
    assert_eq!(root.attr_str("cicd.pipeline.result"), Some("failure"));
    assert_eq!(root.resource_str("service.name"), Some("retrace"));
    for span in &spans {
        assert_eq!(span.trace_id_hex(), root.trace_id_hex());
        assert!(span.span.start_time_unix_nano >= root.span.start_time_unix_nano);
        assert!(span.span.end_time_unix_nano <= root.span.end_time_unix_nano);
    }
    for step in ["extract", "transform", "flaky", "load", "lint", "report"] {
        let span = &s[&format!("Step: {step}")];
        assert_eq!(span.parent_id_hex(), root.span_id_hex(), "{step}");
        assert_eq!(span.attr_str("step.name"), Some(step));
    }

    // Each process ran inside its own span.
    let extract = &s["Step: extract"];
    let env = std::fs::read_to_string(dir.join("extract.env")).unwrap();
    assert_eq!(
        env.trim(),
        format!(
            "00-{}-{}-01 run-1 extract hello-world",
            root.trace_id_hex(),
            extract.span_id_hex()
        )
    );
    assert_eq!(extract.span.status.as_ref().unwrap().code, 1);
    assert_eq!(extract.attr_i64("step.exit_code"), Some(0));
    let log = extract.attr_str("log.file.path").unwrap();
    let log = std::fs::read_to_string(dir.join(log)).unwrap();
    assert!(
        log.contains("extracted\n") && log.contains("warned\n"),
        "{log}"
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(console.contains("extract | extracted"), "{console}");
    assert!(stderr(&out).contains("flaky | broken"));

    // One span per attempt under the step; the retry waited its interval.
    let transform = &s["Step: transform"];
    let first = &s["Step: transform (attempt 1)"];
    let second = &s["Step: transform (attempt 2)"];
    assert_eq!(transform.attr_str("step.status"), Some("succeeded"));
    assert_eq!(transform.attr_i64("retrace.step.attempts"), Some(2));
    for (n, attempt) in [(1, first), (2, second)] {
        assert_eq!(attempt.parent_id_hex(), transform.span_id_hex());
        let tp = std::fs::read_to_string(dir.join(format!("transform.{n}.tp"))).unwrap();
        assert_eq!(
            tp.trim(),
            format!("00-{}-{}-01", root.trace_id_hex(), attempt.span_id_hex())
        );
    }
    assert_eq!(first.span.status.as_ref().unwrap().code, 2);
    assert_eq!(first.attr_i64("step.exit_code"), Some(1));
    assert_eq!(second.span.status.as_ref().unwrap().code, 1);
    assert!(second.span.start_time_unix_nano >= first.span.end_time_unix_nano + 1_000_000_000);
    assert_eq!(
        transform.span.start_time_unix_nano,
        first.span.start_time_unix_nano
    );
    assert_eq!(
        transform.span.end_time_unix_nano,
        second.span.end_time_unix_nano
    );
    assert!(transform.span.start_time_unix_nano >= extract.span.end_time_unix_nano);

    // A failure skips its dependents, unless continueOn.failure.
    let flaky = &s["Step: flaky"];
    let status = flaky.span.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "exit status 3"));
    assert_eq!(flaky.attr_i64("step.exit_code"), Some(3));
    let load = &s["Step: load"];
    assert_eq!(load.attr_str("step.status"), Some("skipped"));
    assert_eq!(load.attr_str("cicd.pipeline.task.run.result"), Some("skip"));
    assert_eq!(load.span.status.as_ref().map_or(0, |s| s.code), 0);
    assert_eq!(load.span.links.len(), 2);
    assert!(!dir.join("load.ran").exists());
    assert_eq!(s["Step: lint"].attr_str("step.status"), Some("failed"));
    assert_eq!(s["Step: report"].attr_str("step.status"), Some("succeeded"));
    assert_eq!(
        std::fs::read_to_string(dir.join("report.out")).unwrap(),
        "hello!\n"
    );

    // The records hold the exact nanoseconds that were sent.
    let records = std::fs::read_to_string(dir.join("run.jsonl")).unwrap();
    let line = records
        .lines()
        .find(|l| l.contains(r#""id":"flaky""#))
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        value["start"].as_u64().unwrap(),
        flaky.span.start_time_unix_nano
    );
    assert_eq!(
        value["end"].as_u64().unwrap(),
        flaky.span.end_time_unix_nano
    );
}

#[test]
fn without_a_parent_the_trace_follows_from_the_run_id() {
    let tmp = tempfile::tempdir().unwrap();
    let flow = "steps:\n  - name: a\n    command: 'true'\n";
    let ids = |dir: &Path| {
        let rx = Receiver::start(Proto::HttpJson);
        let out = run_flow(dir, flow, &rx, &["--run-id", "fixed"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut spans = rx.wait_spans(2, WAIT);
        spans.sort_by_key(|s| s.span.name.clone());
        spans
            .iter()
            .map(|s| (s.trace_id_hex(), s.span_id_hex(), s.parent_id_hex()))
            .collect::<Vec<_>>()
    };
    let first = ids(tmp.path());
    let second = ids(tempfile::tempdir().unwrap().path());
    assert_eq!(first, second);
    assert_eq!(first[0].2, "");
    assert_eq!(first[1].2, first[0].1);
}

#[test]
fn an_invalid_workflow_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = "steps:\n  - name: a\n    command: touch ran\n    depends: c\n  - name: b\n    command: 'true'\n    depends: a\n  - name: c\n    command: 'true'\n    depends: b\n";
    let out = run_flow(tmp.path(), flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("dependency cycle: a -> c -> b -> a"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!tmp.path().join("ran").exists());
    assert!(!tmp.path().join("run.jsonl").exists());

    let out = run_flow(
        tmp.path(),
        "steps:\n  - name: a\n    command: 'true'\n    retry_policy: {limit: 1}\n",
        &rx,
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown key \"retry_policy\""));
    assert_eq!(rx.attempts(), 0);
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = "steps:\n  - name: stuck\n    timeoutSec: 1\n    command: sleep 60 & echo $! > bg.pid; wait\n";
    let started = Instant::now();
    let out = run_flow(tmp.path(), flow, &rx, &["--grace", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let spans = rx.wait_spans(2, WAIT);
    let s = by_name(&spans);
    let stuck = &s["Step: stuck"];
    assert_eq!(
        stuck.attr_str("cicd.pipeline.task.run.result"),
        Some("timeout")
    );
    assert_eq!(
        stuck.span.status.as_ref().unwrap().message,
        "timed out after 1s"
    );
    let took = stuck.span.end_time_unix_nano - stuck.span.start_time_unix_nano;
    assert!(took >= 1_000_000_000, "{took}");
    // The background child of the step's shell is gone too (or a zombie, where nothing
    // reaps orphans).
    let pid = std::fs::read_to_string(tmp.path().join("bg.pid")).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    assert!(
        matches!(state, None | Some('Z') | Some('X')),
        "sleep {pid} survived the timeout: {stat}"
    );
}

/// Waits until `path` holds a whole line (a step's marker that it is running).
fn wait_for(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(path).is_ok_and(|t| t.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `flow` in `dir` (records to run.jsonl), sends the runner SIGTERM once a step has
/// written `started`, and returns how the runner ended.
fn sigterm_once_started(dir: &Path, flow: &str, rx: &Receiver, extra: &[&str]) -> Output {
    std::fs::write(dir.join("flow.yaml"), flow).unwrap();
    let child = retrace()
        .current_dir(dir)
        .args(["run", "flow.yaml", "--records", "run.jsonl"])
        .args(rx.cli_args())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&dir.join("started"));
    // SAFETY: kill(2) on the runner the test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    child.wait_with_output().unwrap()
}

#[test]
fn sigterm_cancels_the_run_and_keeps_its_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start(Proto::Grpc);
    let out = sigterm_once_started(
        dir,
        "steps:\n  - name: quick\n    command: 'true'\n  - name: long\n    command: echo > started; sleep 60\n  - name: after\n    depends: long\n    command: 'true'\n",
        &rx,
        &[],
    );
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let spans = rx.wait_spans(4, WAIT);
    let s = by_name(&spans);
    assert_eq!(spans.len(), 4);
    assert_eq!(
        s["DAG: flow"].attr_str("cicd.pipeline.result"),
        Some("cancellation")
    );
    assert_eq!(s["DAG: flow"].attr_str("dag.status"), Some("aborted"));
    assert_eq!(s["Step: quick"].attr_str("step.status"), Some("succeeded"));
    for step in ["Step: long", "Step: after"] {
        assert_eq!(
            s[step].attr_str("cicd.pipeline.task.run.result"),
            Some("cancellation"),
            "{step}"
        );
    }
    let records = std::fs::read_to_string(dir.join("run.jsonl")).unwrap();
    assert!(records
        .lines()
        .last()
        .unwrap()
        .contains(r#""type":"run_end""#));
}

#[test]
fn a_killed_runner_leaves_convertible_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("flow.yaml"),
        "steps:\n  - name: first\n    command: 'true'\n  - name: second\n    depends: first\n    command: echo $$ > pid; sleep 60\n",
    )
    .unwrap();
    let mut child = retrace()
        .current_dir(dir)
        .args([
            "run",
            "flow.yaml",
            "--records",
            "run.jsonl",
            "--exporter",
            "none",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&dir.join("pid"));
    child.kill().unwrap();
    child.wait().unwrap();
    // The step's process group outlived the runner: end it (never group 0 or 1).
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 1);
    // SAFETY: kill(2) on a process group the test started.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }

    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .arg("records")
        .arg(dir.join("run.jsonl"))
        .args(["--endpoint", &rx.endpoint()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(2, WAIT);
    let s = by_name(&spans);
    assert_eq!(spans.len(), 2);
    let first = &s["Step: first"];
    assert_eq!(first.attr_str("step.status"), Some("succeeded"));
    // The run never ended: its span ends with the last finished step.
    assert_eq!(
        s["DAG: flow"].span.end_time_unix_nano,
        first.span.end_time_unix_nano
    );
}

#[test]
fn steps_whose_names_differ_only_in_punctuation_keep_their_own_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start(Proto::Grpc);
    let flow = "steps:\n  - name: load prod\n    command: echo space\n  - name: load/prod\n    command: echo slash\n  - name: load:prod\n    command: echo colon\n  - name: a\n    command: echo plain\n    retryPolicy: {limit: 1}\n  - name: a.1\n    command: echo dotted\n";
    let out = run_flow(dir, flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(7, WAIT);
    let s = by_name(&spans);
    let mut logs = Vec::new();
    for (step, says) in [
        ("load prod", "space"),
        ("load/prod", "slash"),
        ("load:prod", "colon"),
        ("a (attempt 1)", "plain"),
        ("a.1", "dotted"),
    ] {
        let span = &s[&format!("Step: {step}")];
        let log = span.attr_str("log.file.path").unwrap().to_owned();
        assert_eq!(
            std::fs::read_to_string(dir.join(&log)).unwrap(),
            format!("{says}\n"),
            "{step}: {log}"
        );
        logs.push(log);
    }
    logs.sort();
    logs.dedup();
    assert_eq!(logs.len(), 5, "{logs:?}");
}

#[test]
fn output_without_newlines_reaches_the_log_whole_in_bounded_pieces() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start(Proto::Grpc);
    let flow = "steps:\n  - name: progress\n    command: head -c 300000 /dev/zero | tr '\\0' x\n";
    let out = run_flow(dir, flow, &rx, &["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(2, WAIT);
    let s = by_name(&spans);
    let log = s["Step: progress"]
        .attr_str("log.file.path")
        .unwrap()
        .to_owned();
    let text = std::fs::read_to_string(dir.join(log)).unwrap();
    assert_eq!(text.len(), 300_000);
    assert!(text.bytes().all(|b| b == b'x'));
    // On the console, each piece is a line of its own under the step's prefix.
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        console.matches("progress | ").count(),
        5,
        "{}",
        console.len()
    );
}

#[test]
fn a_step_that_ignores_sigterm_is_killed_when_its_grace_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start(Proto::Grpc);
    let out = sigterm_once_started(
        dir,
        "steps:\n  - name: stubborn\n    command: trap '' TERM; echo > started; sleep 30; exit 0\n",
        &rx,
        &["--grace", "1s"],
    );
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let spans = rx.wait_spans(2, WAIT);
    let s = by_name(&spans);
    let step = &s["Step: stubborn"];
    assert_eq!(
        step.attr_str("cicd.pipeline.task.run.result"),
        Some("cancellation")
    );
    // Killed at the end of its grace, not when its 30 s sleep ended on its own.
    let ran = step.span.end_time_unix_nano - step.span.start_time_unix_nano;
    assert!(ran < 20_000_000_000, "{ran} ns");
}

/// Scheduling, timeouts and signals never wait on delivery: with a collector that takes 2 s
/// per request, a step with a 1 s timeout is still stopped at 1 s.
#[test]
fn a_slow_collector_never_delays_a_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rx = Receiver::start_with(
        Proto::Grpc,
        Behavior {
            delay: Duration::from_secs(2),
            ..Behavior::default()
        },
    );
    let flow = "steps:\n  - name: quick\n    command: \"true\"\n  - name: slow\n    command: sleep 10\n    timeoutSec: 1\n";
    let out = run_flow(dir, flow, &rx, &["-q", "--grace", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let spans = rx.wait_spans(3, WAIT);
    let s = by_name(&spans);
    let slow = &s["Step: slow"];
    assert_eq!(
        slow.attr_str("cicd.pipeline.task.run.result"),
        Some("timeout")
    );
    // Recorded times: stopped at its timeout, not after the quick step's 2 s export.
    let ran = slow.span.end_time_unix_nano - slow.span.start_time_unix_nano;
    assert!(ran < 1_800_000_000, "{ran} ns");
}

/// What a step reports about itself through `$RETRACE_SPAN`: on its span, in its records
/// line (so the conversion later is the same), and in its metrics; a bad line is named.
#[test]
fn a_step_reports_its_own_numbers_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: counted
steps:
  - name: load
    command: |
      echo 'attr pipeline.records.written=1200 pipeline.partition.key="2024-05-01"' >> "$RETRACE_SPAN"
      echo 'event record_validation_failed @1795239100000000000 record.id=42 failure.reason="negative amount"' >> "$RETRACE_SPAN"
      echo 'rows: 1200' >> "$RETRACE_SPAN"
"#;
    let out = run_flow(dir.path(), flow, &rx, &["--metrics"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("step load: RETRACE_SPAN line 3: unknown \"rows:\""),
        "{}",
        stderr(&out)
    );
    let spans = rx.wait_spans(2, WAIT);
    let load = by_name(&spans).remove("Step: load").unwrap();
    assert_eq!(load.attr_i64("pipeline.records.written"), Some(1200));
    assert_eq!(load.attr_str("pipeline.partition.key"), Some("2024-05-01"));
    let event = &load.span.events[0];
    assert_eq!(event.name, "record_validation_failed");
    assert_eq!(event.time_unix_nano, 1_795_239_100_000_000_000);
    // The records rebuild it.
    assert_records_rebuild(dir.path(), &spans);
    // And the metrics count it.
    let written: Vec<_> = rx
        .metrics()
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "pipeline.records.written")
        .cloned()
        .collect();
    assert_eq!(written.len(), 1);
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = &written[0].data
    else {
        panic!("a counter");
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(1200))
    );
    assert_eq!(
        sum.data_points[0].time_unix_nano,
        load.span.end_time_unix_nano
    );
}

/// `dotenv` files load before `env`, which can use them; single quotes keep `$` as written;
/// a missing file stops the run before anything starts, naming the file.
#[test]
fn dotenv_files_load_before_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# shared settings\nexport GREETING=\"hello\"\nLITERAL='$HOME'\n",
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: dotted
dotenv: .env
env:
  - WHO: ${GREETING}-world
steps:
  - name: greet
    command: printf '%s %s' "$WHO" "$LITERAL" > out.txt
"#;
    let out = run_flow(dir.path(), flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "hello-world $HOME"
    );
    let missing = r#"
name: dotted
dotenv: [.env, missing.env]
steps:
  - name: greet
    command: touch ran
"#;
    let out = run_flow(dir.path(), missing, &rx, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing.env: file not found"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("ran").exists());
}

/// `output: VAR`: a step's trimmed stdout is a variable for the steps after it (in their
/// commands and their `env`).
#[test]
fn a_steps_output_is_a_variable_for_the_steps_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: outputs
steps:
  - name: count
    command: printf '  42 rows \n'; echo "not captured" >&2
    output: ROWS
  - name: report
    depends: count
    env:
      - LINE=${ROWS} in total
    command: printf '%s|%s' "$ROWS" "$LINE" > out.txt
"#;
    let out = run_flow(dir.path(), flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "42 rows|42 rows in total"
    );
    let bad = "name: bad\nsteps:\n  - name: a\n    command: \"true\"\n    output: 9lives\n";
    let out = run_flow(dir.path(), bad, &rx, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("output \"9lives\" is not a variable name"),
        "{}",
        stderr(&out)
    );
}

/// Preconditions: a command whose exit code decides, or a condition compared with what is
/// expected; a step whose precondition does not hold is skipped, with the reason.
#[test]
fn preconditions_skip_a_step_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: guarded
env:
  - STAGE: prod
steps:
  - name: on-prod
    preconditions:
      - condition: "${STAGE}"
        expected: prod
      - "test -d ."
    command: touch prod.ran
  - name: on-dev
    preconditions:
      - condition: "$(echo ${STAGE})"
        expected: dev
    command: touch dev.ran
  - name: after-dev
    depends: on-dev
    command: touch after.ran
"#;
    let out = run_flow(dir.path(), flow, &rx, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a skipped step: not a success; {}",
        stderr(&out)
    );
    assert!(dir.path().join("prod.ran").exists());
    assert!(!dir.path().join("dev.ran").exists());
    assert!(!dir.path().join("after.ran").exists());
    let spans = rx.wait_spans(4, WAIT);
    let dev = by_name(&spans).remove("Step: on-dev").unwrap();
    assert_eq!(dev.attr_str("cicd.pipeline.task.run.result"), Some("skip"));
    assert_eq!(
        dev.attr_str("step.skip_reason"),
        Some("precondition not met: $(echo ${STAGE}) is \"prod\", expected \"dev\"")
    );
}

/// `handlerOn`: after the other steps, the handler of what happened (here failure), then
/// `exit`; traced as steps marked `dagu.step.handler`, and rebuilt the same from the records.
#[test]
fn handlers_run_after_the_steps_for_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: handled
steps:
  - name: work
    command: exit 5
handlerOn:
  success:
    command: touch success.ran
  failure:
    command: sleep 0.2; touch failure.ran
  exit:
    name: cleanup
    command: test -f failure.ran && touch exit.ran
"#;
    let out = run_flow(dir.path(), flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(dir.path().join("failure.ran").exists());
    assert!(dir.path().join("exit.ran").exists(), "exit after failure");
    assert!(!dir.path().join("success.ran").exists());
    let spans = rx.wait_spans(4, WAIT);
    let steps = by_name(&spans);
    assert!(
        !steps.contains_key("Step: onSuccess"),
        "only the handlers that ran"
    );
    assert_eq!(
        steps["Step: onFailure"].attr_str("dagu.step.handler"),
        Some("onFailure")
    );
    assert_eq!(
        steps["Step: cleanup"].attr_str("dagu.step.handler"),
        Some("onExit")
    );
    assert!(
        steps["Step: cleanup"].span.start_time_unix_nano
            >= steps["Step: onFailure"].span.end_time_unix_nano
    );
    assert_records_rebuild(dir.path(), &spans);
}

/// A base configuration (base.yaml beside the workflow, or --base): its keys are defaults,
/// maps merge key by key (otel.resource of both), `${DAG_NAME}` expands in resource values.
#[test]
fn a_base_configuration_gives_defaults_merged_as_dagu_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.yaml"),
        "env:\n  - TEAM: data\notel:\n  resource:\n    service.name: dagu-${DAG_NAME}\n    team: data\n",
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: nightly
otel:
  resource:
    deployment.environment: prod
steps:
  - name: who
    command: printf '%s' "$TEAM" > team.txt
"#;
    let out = run_flow(dir.path(), flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("team.txt")).unwrap(),
        "data"
    );
    let span = &rx.wait_spans(2, WAIT)[0];
    assert_eq!(span.resource_str("service.name"), Some("dagu-nightly"));
    assert_eq!(span.resource_str("team"), Some("data"));
    assert_eq!(span.resource_str("deployment.environment"), Some("prod"));
    // An explicit --base, with a problem in it: named with its own line.
    let other = dir.path().join("other-base.yaml");
    std::fs::write(&other, "env:\n  - A: 1\nstepz: []\n").unwrap();
    let out = run_flow(dir.path(), flow, &rx, &["--base", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("other-base.yaml:3:1: top level: unknown key \"stepz\""),
        "{}",
        stderr(&out)
    );
}

/// Nested workflows: a step runs a child workflow (`run:` with `params`), whose step runs a
/// grandchild that fails. One trace: each child's `DAG:` span under the step that ran it,
/// params as variables, dotenv and a base configuration merged at the top, the failure
/// carried up to each calling step, the top's handler run; and the records of all three
/// rebuild the same spans.
#[test]
fn nested_workflows_are_one_trace_under_their_steps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join(".env"), "SOURCE=warehouse\n").unwrap();
    std::fs::write(
        path.join("base.yaml"),
        "otel:\n  resource:\n    team: data\n    service.name: dagu-${DAG_NAME}\n",
    )
    .unwrap();
    std::fs::create_dir(path.join("children")).unwrap();
    std::fs::write(
        path.join("children/child.yaml"),
        r#"
name: child
steps:
  - name: show
    command: printf '%s' "$LEVEL:$FROM" > child.out
  - name: deeper
    depends: show
    run: grandchild.yaml
    params: "LEVEL=2"
"#,
    )
    .unwrap();
    std::fs::write(
        path.join("children/grandchild.yaml"),
        r#"
name: grandchild
steps:
  - name: fail
    command: printf '%s' "$LEVEL" > grandchild.out; exit 7
"#,
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = r#"
name: top
dotenv: .env
steps:
  - name: call
    run: children/child.yaml
    params:
      LEVEL: 1
      FROM: ${SOURCE}
handlerOn:
  exit:
    command: touch exit.ran
"#;
    let out = run_flow(path, flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(path.join("children/child.out")).unwrap(),
        "1:warehouse"
    );
    assert_eq!(
        std::fs::read_to_string(path.join("children/grandchild.out")).unwrap(),
        "2"
    );
    assert!(path.join("exit.ran").exists());
    let spans = rx.wait_spans(8, WAIT);
    let named = by_name(&spans);
    let trace = named["DAG: top"].trace_id_hex();
    assert!(spans.iter().all(|s| s.trace_id_hex() == trace), "one trace");
    assert_eq!(
        named["DAG: child"].parent_id_hex(),
        named["Step: call"].span_id_hex()
    );
    assert_eq!(
        named["DAG: grandchild"].parent_id_hex(),
        named["Step: deeper"].span_id_hex()
    );
    assert_eq!(
        named["Step: fail"].parent_id_hex(),
        named["DAG: grandchild"].span_id_hex()
    );
    assert_eq!(
        named["DAG: child"].attr_str("dag.parent_run_id"),
        named["DAG: top"].attr_str("dag.run_id")
    );
    assert_eq!(named["DAG: child"].attr_str("dag.parent_name"), Some("top"));
    for failed in ["Step: fail", "Step: deeper", "Step: call", "DAG: top"] {
        assert_eq!(
            named[failed].span.status.as_ref().map(|s| s.code),
            Some(2),
            "{failed} failed"
        );
    }
    // One base configuration for the whole tree, as Dagu's is every DAG's; each run names
    // its own service.
    assert!(spans.iter().all(|s| s.resource_str("team") == Some("data")));
    for (span, service) in [
        ("Step: call", "dagu-top"),
        ("Step: show", "dagu-child"),
        ("Step: fail", "dagu-grandchild"),
    ] {
        assert_eq!(named[span].resource_str("service.name"), Some(service));
    }
    // The records of the three runs, beside each other, rebuild the same spans, resources
    // included (the records keep what each workflow declared).
    let again = Receiver::start(Proto::Grpc);
    let records: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert_eq!(records.len(), 3);
    let out = run(retrace()
        .arg("records")
        .args(&records)
        .args(again.cli_args()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(canonical(&again.spans()), canonical(&spans));
}

/// A workflow that runs itself through its children is refused before any step runs, with
/// the chain of files; so is a `run:` of a file that is not there.
#[test]
fn a_cycle_of_workflow_files_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(
        path.join("b.yaml"),
        "steps:\n  - name: back\n    run: flow.yaml\n",
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let flow = "steps:\n  - name: first\n    command: touch ran\n  - name: call\n    run: b.yaml\n";
    let out = run_flow(path, flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("b.yaml: workflow cycle: flow.yaml -> b.yaml -> flow.yaml"),
        "{}",
        stderr(&out)
    );
    assert!(!path.join("ran").exists());
    let flow = "steps:\n  - name: call\n    run: missing.yaml\n";
    let out = run_flow(path, flow, &rx, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("flow.yaml: step call: run ")
            && stderr(&out).contains("missing.yaml: file not found"),
        "{}",
        stderr(&out)
    );
    // A dry run names the child and its params (not their values); nothing runs.
    std::fs::write(
        path.join("c.yaml"),
        "steps:\n  - name: c\n    command: touch ran\n",
    )
    .unwrap();
    let flow = "steps:\n  - name: call\n    run: c.yaml\n    params: TOKEN=s3cret\n";
    let out = run_flow(path, flow, &rx, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("  call: runs workflow ") && plan.contains("c.yaml with params TOKEN"),
        "{plan}"
    );
    assert!(!plan.contains("s3cret") && !path.join("ran").exists());
    assert!(rx.spans().is_empty());
}
