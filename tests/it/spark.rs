//! `retrace spark`: real event logs of Spark 4.3 (fixtures/spark, from the corpus and made
//! with Spark for the other codecs), each conversion checked against the log itself, read
//! here on its own: every SQL execution, job and stage attempt a span with the log's exact
//! millisecond times, under its parent; failures, retries, late task ends, a killed driver.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/spark")
        .join(path)
}

fn convert(paths: &[&Path], extra: &[&str]) -> (Vec<ReceivedSpan>, String) {
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("spark")
        .args(paths)
        .args(rx.cli_args())
        .args(extra));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (rx.spans(), stderr(&out))
}

/// A log's events, decompressed by the codec its name says (zstd by the zstd crate; the
/// Java-stream codecs by retrace's reader, whose output is checked against the sha256 that
/// Spark's own codec gave, in fixtures/spark/codecs/README.md).
fn events(files: &[PathBuf]) -> Vec<Value> {
    let mut text = Vec::new();
    for path in files {
        let raw = std::fs::read(path).unwrap();
        let name = path.to_string_lossy();
        if name.contains(".zstd") {
            text.extend(zstd::stream::decode_all(&raw[..]).unwrap());
        } else if name.ends_with(".lz4") || name.ends_with(".snappy") || name.ends_with(".lzf") {
            let codec = retrace::source::spark::codec::Codec::of(path);
            codec
                .reader(&raw[..])
                .unwrap()
                .read_to_end(&mut text)
                .unwrap();
        } else {
            text.extend(raw);
        }
    }
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn ns(ms: &Value) -> u64 {
    ms.as_u64().unwrap() * 1_000_000
}

fn by_name<'a>(spans: &'a [ReceivedSpan], prefix: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.span.name.starts_with(prefix))
        .collect()
}

fn by_span_id(spans: &[ReceivedSpan]) -> HashMap<String, &ReceivedSpan> {
    spans.iter().map(|s| (s.span_id_hex(), s)).collect()
}

const ERROR: i32 = 2;
const OK: i32 = 1;

fn status(span: &ReceivedSpan) -> i32 {
    span.span.status.as_ref().map_or(0, |s| s.code)
}

/// Every SQL execution, job and stage attempt of the log is one span with its exact times,
/// parent and outcome; stage aggregates equal the sums of their task ends. Returns the
/// spans by their Spark key (`sql/0`, `job/3`, `stage/9/1`).
fn check_against_log<'a>(
    spans: &'a [ReceivedSpan],
    log: &[Value],
) -> BTreeMap<String, &'a ReceivedSpan> {
    let ids = by_span_id(spans);
    let mut keyed: BTreeMap<String, &ReceivedSpan> = BTreeMap::new();
    for s in spans {
        let key = if let Some(id) = s.attr_i64("spark.stage.id") {
            format!(
                "stage/{id}/{}",
                s.attr_i64("spark.stage.attempt_id").unwrap()
            )
        } else if let Some(id) = s.attr_i64("spark.job.id") {
            format!("job/{id}")
        } else if let Some(id) = s.attr_i64("spark.sql.execution.id") {
            format!("sql/{id}")
        } else if s.attr_i64("spark.task.id").is_some() {
            continue;
        } else {
            "app".into()
        };
        assert!(keyed.insert(key.clone(), s).is_none(), "{key} twice");
    }
    let app = keyed["app"];
    assert!(spans.iter().all(|s| s.trace_id_hex() == app.trace_id_hex()));
    let parent_key = |s: &ReceivedSpan| {
        let parent = ids[&s.parent_id_hex()];
        keyed
            .iter()
            .find(|(_, v)| v.span_id_hex() == parent.span_id_hex())
            .unwrap()
            .0
            .clone()
    };
    // A stage attempt lasts until its last task ended (a killed task can end after the stage
    // completed); a parent covers its children, as every retrace trace does.
    let mut last_task_end: HashMap<String, u64> = HashMap::new();
    for e in log.iter().filter(|e| e["Event"] == "SparkListenerTaskEnd") {
        let key = format!("stage/{}/{}", e["Stage ID"], e["Stage Attempt ID"]);
        let end = ns(&e["Task Info"]["Finish Time"]);
        let last = last_task_end.entry(key).or_default();
        *last = (*last).max(end);
    }
    let covering = |s: &ReceivedSpan, end: u64| {
        spans
            .iter()
            .filter(|c| c.parent_id_hex() == s.span_id_hex())
            .map(|c| c.span.end_time_unix_nano)
            .fold(end, u64::max)
    };
    let mut stage_job: HashMap<i64, i64> = HashMap::new();
    let mut tasks: HashMap<String, (i64, i64, i64)> = HashMap::new();
    let mut sql_roots: HashMap<i64, i64> = HashMap::new();
    for e in log {
        let event = e["Event"].as_str().unwrap();
        match event {
            "SparkListenerApplicationStart" => {
                assert_eq!(app.span.start_time_unix_nano, ns(&e["Timestamp"]));
                assert_eq!(app.attr_str("spark.app.id"), e["App ID"].as_str());
                assert_eq!(
                    app.span.name,
                    format!("spark {}", e["App Name"].as_str().unwrap())
                );
            }
            "SparkListenerApplicationEnd" => {
                assert_eq!(app.span.end_time_unix_nano, ns(&e["Timestamp"]));
            }
            "SparkListenerJobStart" => {
                let id = e["Job ID"].as_i64().unwrap();
                let job = keyed[&format!("job/{id}")];
                assert_eq!(
                    job.span.start_time_unix_nano,
                    ns(&e["Submission Time"]),
                    "job {id}"
                );
                let sql = e["Properties"]["spark.sql.execution.id"].as_str();
                let expected = match sql {
                    Some(sql) => format!("sql/{sql}"),
                    None => "app".into(),
                };
                assert_eq!(parent_key(job), expected, "job {id}");
                for sid in e["Stage IDs"].as_array().unwrap() {
                    stage_job.insert(sid.as_i64().unwrap(), id);
                }
            }
            "SparkListenerJobEnd" => {
                let id = e["Job ID"].as_i64().unwrap();
                let job = keyed[&format!("job/{id}")];
                assert_eq!(
                    job.span.end_time_unix_nano,
                    covering(job, ns(&e["Completion Time"])),
                    "job {id}"
                );
                let result = e["Job Result"]["Result"].as_str().unwrap();
                assert_eq!(job.attr_str("spark.job.result"), Some(result));
                if result == "JobSucceeded" {
                    assert_eq!(status(job), OK, "job {id}");
                } else {
                    assert_eq!(status(job), ERROR, "job {id}");
                    let message = e["Job Result"]["Exception"]["Message"].as_str().unwrap();
                    let got = &job.span.status.as_ref().unwrap().message;
                    assert!(message.starts_with(got.trim_end_matches('…')), "job {id}");
                }
            }
            "SparkListenerStageSubmitted" => {
                let info = &e["Stage Info"];
                let (id, attempt) = (
                    info["Stage ID"].as_i64().unwrap(),
                    info["Stage Attempt ID"].as_i64().unwrap(),
                );
                let stage = keyed[&format!("stage/{id}/{attempt}")];
                assert_eq!(
                    stage.span.start_time_unix_nano,
                    ns(&info["Submission Time"])
                );
                assert_eq!(
                    parent_key(stage),
                    format!("job/{}", stage_job[&id]),
                    "stage {id}"
                );
                assert_eq!(
                    stage.attr_i64("spark.stage.num_tasks"),
                    info["Number of Tasks"].as_i64()
                );
            }
            "SparkListenerStageCompleted" => {
                let info = &e["Stage Info"];
                let (id, attempt) = (
                    info["Stage ID"].as_i64().unwrap(),
                    info["Stage Attempt ID"].as_i64().unwrap(),
                );
                let key = format!("stage/{id}/{attempt}");
                let stage = keyed[&key];
                let completed = ns(&info["Completion Time"]);
                let end = last_task_end
                    .get(&key)
                    .map_or(completed, |&t| t.max(completed));
                assert_eq!(stage.span.end_time_unix_nano, covering(stage, end), "{key}");
                let failed = info.get("Failure Reason").is_some();
                assert_eq!(
                    status(stage),
                    if failed { ERROR } else { OK },
                    "stage {id}.{attempt}"
                );
            }
            "SparkListenerTaskEnd" => {
                let key = format!("stage/{}/{}", e["Stage ID"], e["Stage Attempt ID"]);
                let m = &e["Task Metrics"];
                let t = tasks.entry(key).or_default();
                t.0 += 1;
                t.1 += m["Input Metrics"]["Records Read"].as_i64().unwrap_or(0);
                t.2 += m["Shuffle Write Metrics"]["Shuffle Bytes Written"]
                    .as_i64()
                    .unwrap_or(0);
            }
            "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart" => {
                let id = e["executionId"].as_i64().unwrap();
                let sql = keyed[&format!("sql/{id}")];
                assert_eq!(sql.span.start_time_unix_nano, ns(&e["time"]));
                sql_roots.insert(id, e["rootExecutionId"].as_i64().unwrap_or(id));
            }
            "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd" => {
                let id = e["executionId"].as_i64().unwrap();
                let sql = keyed[&format!("sql/{id}")];
                assert_eq!(sql.span.end_time_unix_nano, covering(sql, ns(&e["time"])));
                let failed = !e["errorMessage"].as_str().unwrap_or("").is_empty();
                assert_eq!(status(sql), if failed { ERROR } else { OK }, "sql {id}");
                let root = sql_roots[&id];
                let expected = if root == id {
                    "app".into()
                } else {
                    format!("sql/{root}")
                };
                assert_eq!(parent_key(sql), expected, "sql {id}");
            }
            _ => {}
        }
    }
    for (key, (count, records, shuffle)) in &tasks {
        let stage = keyed[key];
        assert_eq!(stage.attr_i64("spark.stage.tasks"), Some(*count), "{key}");
        assert_eq!(
            stage.attr_i64("pipeline.records.read"),
            Some(*records),
            "{key}"
        );
        assert_eq!(
            stage.attr_i64("spark.stage.shuffle.write.bytes"),
            Some(*shuffle),
            "{key}"
        );
    }
    keyed
}

fn count(log: &[Value], event: &str) -> usize {
    log.iter()
        .filter(|e| e["Event"].as_str().unwrap().ends_with(event))
        .count()
}

/// Failures and retries (run b): a failed job and its SQL execution, a stage that fails after
/// three task attempts, a task killed and logged after the next SQL execution ended, a
/// FetchFailed stage retried as attempt 1, a stage that first runs as attempt 1.
#[test]
fn failures_retries_and_late_task_ends() {
    let path = fixture("b-failures-retries/local-1796090155073");
    let log = events(std::slice::from_ref(&path));
    let (spans, _) = convert(&[&path], &[]);
    let keyed = check_against_log(&spans, &log);
    // Root + every SQL execution, job and stage attempt, nothing else.
    let stage_attempts = count(&log, "StageSubmitted");
    assert_eq!(spans.len(), 1 + 4 + 11 + stage_attempts);
    assert_eq!(stage_attempts, 14);
    let stage3 = keyed["stage/3/0"];
    assert_eq!(stage3.attr_i64("spark.stage.tasks.failed"), Some(3));
    // Stage 3 completed at …170413 (job 2 failed); its killed task 9 ended at …171930: the
    // stage lasts until then, and job 2 and SQL 1 cover it — with or without task spans.
    assert_eq!(stage3.span.end_time_unix_nano, 1_796_090_171_930_000_000);
    assert_eq!(
        keyed["job/2"].span.end_time_unix_nano,
        1_796_090_171_930_000_000
    );
    assert_eq!(
        keyed["sql/1"].span.end_time_unix_nano,
        1_796_090_171_930_000_000
    );
    let (with_tasks, _) = convert(&[&path], &["--task-spans"]);
    let ends = |spans: &[ReceivedSpan]| -> BTreeMap<String, (u64, u64)> {
        spans
            .iter()
            .filter(|s| s.attr_i64("spark.task.id").is_none())
            .map(|s| {
                let times = (s.span.start_time_unix_nano, s.span.end_time_unix_nano);
                (s.span_id_hex(), times)
            })
            .collect()
    };
    assert_eq!(ends(&with_tasks), ends(&spans));
    // Task 9's TaskEnd (killed) is logged after job 2 ended: it still counts in stage 3.
    assert_eq!(stage3.attr_i64("spark.stage.tasks.killed"), Some(1));
    let failed: Vec<(i64, &str)> = stage3
        .span
        .events
        .iter()
        .map(|e| {
            let get = |k: &str| e.attributes.iter().find(|a| a.key == k).unwrap();
            let id = match get("spark.task.id")
                .value
                .as_ref()
                .unwrap()
                .value
                .as_ref()
                .unwrap()
            {
                opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i) => *i,
                _ => panic!(),
            };
            (id, e.name.as_str())
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (8, "spark.task.failed"),
            (10, "spark.task.failed"),
            (11, "spark.task.failed"),
            (9, "spark.task.killed")
        ]
    );
    // The stage DAG as span links: a stage links to the attempt that produced the shuffle
    // output it read (its Parent IDs); stage 10's first attempt read stage 9's output that
    // job 5 had made under stage 7, so stage 9 has no attempt 0 and that link is not drawn.
    let links = |key: &str| -> Vec<String> {
        keyed[key]
            .span
            .links
            .iter()
            .map(|l| l.span_id.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    };
    assert_eq!(links("stage/8/0"), vec![keyed["stage/7/0"].span_id_hex()]);
    assert_eq!(links("stage/10/1"), vec![keyed["stage/9/1"].span_id_hex()]);
    assert!(links("stage/10/0").is_empty());
    assert!(links("stage/7/0").is_empty());
    // Stage 9 never ran as attempt 0 (skipped); its first run is attempt 1, a try of its own.
    assert!(!keyed.contains_key("stage/9/0"));
    assert!(keyed["stage/9/1"].span.name.ends_with("(attempt 2)"));
    assert_eq!(
        keyed["stage/10/0"].attr_i64("spark.stage.tasks.failed"),
        Some(3)
    );
    assert_eq!(status(keyed["stage/10/1"]), OK);
    // The application ran on: its span is Ok; ids are the same on a second conversion.
    assert_eq!(status(keyed["app"]), OK);
    let (again, _) = convert(&[&path], &[]);
    let mut a: Vec<String> = spans.iter().map(|s| s.span_id_hex()).collect();
    let mut b: Vec<String> = again.iter().map(|s| s.span_id_hex()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

/// `--task-spans`: every task attempt under its stage attempt with its launch and finish
/// times; a killed task is a cancellation, a failed one an error with Spark's reason.
#[test]
fn task_spans_are_exact() {
    let path = fixture("b-failures-retries/local-1796090155073");
    let log = events(std::slice::from_ref(&path));
    let (spans, _) = convert(&[&path], &["--task-spans"]);
    let ids = by_span_id(&spans);
    let tasks = by_name(&spans, "task ");
    assert_eq!(tasks.len(), count(&log, "SparkListenerTaskEnd"));
    for e in log.iter().filter(|e| e["Event"] == "SparkListenerTaskEnd") {
        let info = &e["Task Info"];
        let task = tasks
            .iter()
            .find(|t| t.attr_i64("spark.task.id") == info["Task ID"].as_i64())
            .unwrap();
        assert_eq!(task.span.start_time_unix_nano, ns(&info["Launch Time"]));
        assert_eq!(task.span.end_time_unix_nano, ns(&info["Finish Time"]));
        let stage = ids[&task.parent_id_hex()];
        assert_eq!(stage.attr_i64("spark.stage.id"), e["Stage ID"].as_i64());
        assert_eq!(
            stage.attr_i64("spark.stage.attempt_id"),
            e["Stage Attempt ID"].as_i64()
        );
        let reason = e["Task End Reason"]["Reason"].as_str().unwrap();
        assert_eq!(task.attr_str("spark.task.end_reason"), Some(reason));
        let expected = match reason {
            "Success" => OK,
            "TaskKilled" => 0,
            _ => ERROR,
        };
        assert_eq!(status(task), expected, "task {}", info["Task ID"]);
    }
}

/// zstd (many frames), rolling directories (plain-then-zstd, read in numeric order, a task
/// whose start is in events_1 and end in events_2), streaming with nested SQL executions.
#[test]
fn compressed_and_rolling_layouts() {
    let d1 = fixture("d1-zstd/local-1796090184327.zstd");
    let log = events(std::slice::from_ref(&d1));
    assert_eq!(log.len(), 175);
    let (spans, _) = convert(&[&d1], &[]);
    check_against_log(&spans, &log);
    assert_eq!(spans.len(), 1 + 3 + 8 + 15);

    let folder = fixture("d2-rolling/eventlog_v2_local-1796090209548");
    let mut files: Vec<PathBuf> = (1..=3)
        .map(|n| folder.join(format!("events_{n}_local-1796090209548.zstd")))
        .collect();
    let log = events(&files);
    assert_eq!(log.len(), 1239);
    let (spans, _) = convert(&[&folder], &[]);
    check_against_log(&spans, &log);
    assert_eq!(spans.len(), 1 + 24 + 57 + 113);
    // Given as files in any order, or as the folder above it: the same one application.
    files.reverse();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (again, _) = convert(&paths, &[]);
    assert_eq!(again.len(), spans.len());
    // Two of the three named: the gap is said once.
    let (partial, err) = convert(&[paths[0], paths[2]], &[]);
    assert!(partial.len() < spans.len());
    assert!(
        err.contains(&format!(
            "{}: events_2_… is missing (not there, or not named): the application is converted from the other files, without what the missing ones held",
            folder.display()
        )),
        "{err}"
    );
    let root = spans.iter().find(|s| s.parent_id_hex().is_empty()).unwrap();
    assert_eq!(root.attr_bool("spark.app.in_progress"), None);
    assert_eq!(root.attr_bool("retrace.run.incomplete"), None);

    // The same application read while running: two files so far, appstatus still in progress.
    let running = tempfile::tempdir().unwrap();
    let copy = running.path().join("eventlog_v2_local-1796090209548");
    std::fs::create_dir(&copy).unwrap();
    std::fs::write(copy.join("appstatus_local-1796090209548.inprogress"), b"").unwrap();
    for file in &files[1..] {
        std::fs::copy(file, copy.join(file.file_name().unwrap())).unwrap();
    }
    let (partial, _) = convert(&[&copy], &[]);
    check_against_log(
        &partial,
        &events(&files[1..].iter().rev().cloned().collect::<Vec<_>>()),
    );
    let root = partial
        .iter()
        .find(|s| s.parent_id_hex().is_empty())
        .unwrap();
    assert_eq!(root.attr_bool("spark.app.in_progress"), Some(true));
    assert_eq!(root.attr_bool("retrace.run.incomplete"), Some(true));

    let f = fixture(
        "f-streaming-rolling/eventlog_v2_local-1796090249231/events_1_local-1796090249231.zstd",
    );
    let log = events(std::slice::from_ref(&f));
    let (spans, _) = convert(&[&fixture("f-streaming-rolling")], &[]);
    let keyed = check_against_log(&spans, &log);
    assert_eq!(spans.len(), 1 + 14 + 8 + 13);
    // A micro-batch's job carries its streaming query and batch.
    let job = keyed["job/0"];
    assert!(job.attr_str("spark.streaming.query.id").is_some());
    assert_eq!(job.attr_str("spark.streaming.batch_id"), Some("0"));
}

/// The codecs Spark writes besides zstd, as Spark 4.3 wrote them: lz4-java blocks, snappy-java
/// chunks, compress-lzf chunks; decompressed exactly (sha256 as Spark's own codec gave it).
#[test]
fn lz4_snappy_and_lzf_logs() {
    let readme = std::fs::read_to_string(fixture("codecs/README.md")).unwrap();
    let mut checked = 0;
    for entry in walk(&fixture("codecs")) {
        let name = entry.to_string_lossy().into_owned();
        if !(name.ends_with(".lz4") || name.ends_with(".snappy") || name.ends_with(".lzf")) {
            continue;
        }
        let codec = retrace::source::spark::codec::Codec::of(&entry);
        let mut text = Vec::new();
        codec
            .reader(std::fs::File::open(&entry).unwrap())
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        let sha = format!("{:x}", sha2::Sha256::digest(&text));
        assert!(
            readme.contains(&sha),
            "{name}: decompressed sha256 {sha} not in the README"
        );
        let log = events(std::slice::from_ref(&entry));
        let (spans, _) = convert(&[&entry], &[]);
        check_against_log(&spans, &log);
        checked += 1;
    }
    assert_eq!(checked, 4);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A driver killed while a job ran (run h): the log ends with that job's JobStart. What is
/// there converts; the application and the job are still open at the log's last event, marked
/// so, never ended at the clock; the executor lost and the FetchFailed retry are there.
#[test]
fn a_killed_driver_leaves_an_incomplete_application() {
    let path = fixture("h-driver-killed/app-20261201015803-0000.inprogress");
    let log = events(std::slice::from_ref(&path));
    let (spans, _) = convert(&[&path], &[]);
    let keyed = check_against_log(&spans, &log);
    let last_ms = log
        .iter()
        .flat_map(|e| {
            [
                &e["Timestamp"],
                &e["Submission Time"],
                &e["Completion Time"],
                &e["time"],
                &e["Stage Info"]["Submission Time"],
                &e["Stage Info"]["Completion Time"],
                &e["Task Info"]["Launch Time"],
                &e["Task Info"]["Finish Time"],
            ]
        })
        .filter_map(Value::as_u64)
        .max()
        .unwrap();
    let app = keyed["app"];
    assert_eq!(app.attr_bool("retrace.run.incomplete"), Some(true));
    assert_eq!(status(app), 0);
    // The name still ends in .inprogress: Spark cannot tell a running application from a
    // dead driver.
    assert_eq!(app.attr_bool("spark.app.in_progress"), Some(true));
    let job6 = keyed["job/6"];
    assert_eq!(job6.attr_bool("spark.open_at_log_end"), Some(true));
    assert_eq!(job6.attr_str("retrace.time_source"), Some("derived"));
    assert_eq!(job6.span.end_time_unix_nano, last_ms * 1_000_000);
    assert_eq!(app.span.end_time_unix_nano, last_ms * 1_000_000);
    let stage3 = keyed["stage/3/0"];
    assert_eq!(status(stage3), ERROR);
    assert!(keyed.contains_key("stage/3/1") && keyed.contains_key("stage/2/1"));
    let lost = stage3
        .span
        .events
        .iter()
        .chain(keyed["stage/2/0"].span.events.iter())
        .chain(keyed["stage/3/0"].span.events.iter())
        .flat_map(|e| e.attributes.iter())
        .filter(|a| a.key == "spark.task.end_reason")
        .filter_map(|a| match a.value.as_ref()?.value.as_ref()? {
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s) => {
                Some(s.clone())
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    assert!(lost.iter().any(|r| r == "ExecutorLostFailure"), "{lost:?}");
    assert!(lost.iter().any(|r| r == "FetchFailed"), "{lost:?}");
}

/// A compressed log cut while written (`.zstd.inprogress` ending inside a frame) converts what
/// was written and says once that the rest is left out; an injected traceparent in the Spark
/// configuration parents the application.
#[test]
fn a_cut_compressed_log_and_the_spark_conf_traceparent() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("d1-zstd/local-1796090184327.zstd")).unwrap();
    let cut = dir.path().join("local-1796090184327.zstd.inprogress");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (spans, err) = convert(&[&cut], &[]);
    assert!(err.contains("local-1796090184327.zstd.inprogress: local-1796090184327.zstd.inprogress ends inside an event"), "{err}");
    let root = spans.iter().find(|s| s.parent_id_hex().is_empty()).unwrap();
    assert_eq!(root.attr_bool("retrace.run.incomplete"), Some(true));
    assert!(spans.len() > 5 && spans.len() < 27, "{}", spans.len());

    let text = std::fs::read_to_string(fixture("b-failures-retries/local-1796090155073")).unwrap();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let text = text.replacen(
        "\"Spark Properties\":{",
        &format!("\"Spark Properties\":{{\"spark.otel.traceparent\":\"{parent}\","),
        1,
    );
    // Job 3 was submitted by a caller that said who it is in its local properties.
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("{\"Event\":\"SparkListenerJobStart\",\"Job ID\":3,") {
                line.replacen(
                    "\"Properties\":{",
                    &format!(
                        "\"Properties\":{{\"traceparent\":\"{caller}\",\"pipeline.owner\":\"etl\","
                    ),
                    1,
                ) + "\n"
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let path = dir.path().join("local-1796090155073");
    std::fs::write(&path, text).unwrap();
    let (spans, _) = convert(&[&path], &[]);
    let root = spans
        .iter()
        .find(|s| s.span.name.starts_with("spark "))
        .unwrap();
    assert_eq!(root.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root.parent_id_hex(), "00f067aa0ba902b7");
    for job in by_name(&spans, "job ") {
        let links: Vec<(String, String)> = job
            .span
            .links
            .iter()
            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
            .collect();
        if job.attr_i64("spark.job.id") == Some(3) {
            let expected = (
                "0af7651916cd43dd8448eb211c80319c".into(),
                "b7ad6b7169203331".into(),
            );
            assert_eq!(links, vec![expected]);
            assert_eq!(job.attr_str("pipeline.owner"), Some("etl"));
        } else {
            assert!(links.is_empty(), "{}", job.span.name);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `backfill` over the fixtures finds every application once: single files, the rolling
/// folders (their appstatus files are not logs), the in-progress one, the other codecs.
#[test]
fn backfill_finds_every_application_once() {
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(fixture(""))
        .args(rx.cli_args()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut apps: Vec<String> = rx
        .spans()
        .iter()
        .filter(|s| s.parent_id_hex().is_empty())
        .map(|s| s.attr_str("spark.app.id").unwrap().to_owned())
        .collect();
    apps.sort();
    let unique = apps.len();
    apps.dedup();
    assert_eq!(unique, apps.len(), "{apps:?}");
    assert_eq!(apps.len(), 9, "{apps:?}");
}

/// A copy of a log taken while the application ran (still named `.inprogress`) beside its
/// finished log is the same application with the same ids: backfill converts the finished one
/// and names the copy once, so a backend never receives a partial version of its spans.
#[test]
fn backfill_leaves_out_an_in_progress_copy_of_a_finished_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read(fixture("b-failures-retries/local-1796090155073")).unwrap();
    let finished = dir.path().join("eventlog/local-1796090155073");
    let copy = dir.path().join("snapshot/local-1796090155073.inprogress");
    for (path, bytes) in [(&finished, &log[..]), (&copy, &log[..log.len() / 2])] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(dir.path())
        .args(rx.cli_args()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "{}: left out: the same application's finished log is converted",
            copy.display()
        )),
        "{err}"
    );
    let (alone, _) = convert(&[&finished], &[]);
    let spans = rx.spans();
    assert_eq!(spans.len(), alone.len());
    assert_eq!(by_span_id(&spans).len(), by_span_id(&alone).len());
    let root = spans.iter().find(|s| s.parent_id_hex().is_empty()).unwrap();
    assert_eq!(root.attr_bool("retrace.run.incomplete"), None);

    // Alone, the copy is converted (as incomplete).
    let (partial, _) = convert(&[&copy], &[]);
    let root = partial
        .iter()
        .find(|s| s.parent_id_hex().is_empty())
        .unwrap();
    assert_eq!(root.attr_bool("spark.app.in_progress"), Some(true));
}

/// Garbage a real log never holds but a spliced or corrupt one may: a task logged twice, a
/// stage attempt id at i64::MAX. The application still converts, every span once.
#[test]
fn a_task_logged_twice_and_a_huge_stage_attempt_still_convert() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("b-failures-retries/local-1796090155073")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let task_end = lines[16];
    assert!(task_end.starts_with(r#"{"Event":"SparkListenerTaskEnd","Stage ID":0,"#));
    let mut twice = lines.clone();
    twice.insert(17, task_end);
    let log = dir.path().join("local-1796090155073");
    std::fs::write(&log, twice.join("\n") + "\n").unwrap();
    let (alone, _) = convert(
        &[&fixture("b-failures-retries/local-1796090155073")],
        &["--task-spans"],
    );
    let (spans, err) = convert(&[&log], &["--task-spans"]);
    assert_eq!(spans.len(), alone.len(), "{err}");
    assert_eq!(by_span_id(&spans).len(), spans.len());

    let huge = text.replacen(
        r#""Event":"SparkListenerStageSubmitted","Stage Info":{"Stage ID":0,"Stage Attempt ID":0"#,
        r#""Event":"SparkListenerStageSubmitted","Stage Info":{"Stage ID":0,"Stage Attempt ID":9223372036854775807"#,
        1,
    );
    std::fs::write(&log, huge).unwrap();
    let (spans, err) = convert(&[&log], &[]);
    assert!(!err.contains("panicked"), "{err}");
    let stage = spans
        .iter()
        .find(|s| s.attr_i64("spark.stage.attempt_id") == Some(i64::MAX))
        .expect("the stage attempt");
    assert!(
        stage.span.name.ends_with("(attempt 9223372036854775807)"),
        "{}",
        stage.span.name
    );
}

/// The spark-sql shell and the Thrift server describe a statement's execution and jobs by its
/// text, which can hold credentials: such descriptions are withheld (names fall back to the
/// call site, or the id) unless --include-sql.
#[test]
fn sql_statements_in_descriptions_are_withheld_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let statement =
        "CREATE TABLE t USING jdbc OPTIONS (url 'jdbc:postgresql://db/x', password 'hunter2')";
    let text = std::fs::read_to_string(fixture("b-failures-retries/local-1796090155073"))
        .unwrap()
        .replace(
            r#""spark.job.description":"b4a shuffle computed""#,
            &format!(
                r#""spark.job.description":"{}""#,
                statement.replace('\'', "\\u0027")
            ),
        )
        .replacen(
            r#""description":"b5 final success""#,
            r#""description":"\n-- nightly\nselect count(*) from rides""#,
            1,
        );
    let log = dir.path().join("local-1796090155073");
    std::fs::write(&log, text).unwrap();
    let everything = |spans: &[ReceivedSpan]| -> String {
        spans
            .iter()
            .map(|s| format!("{} {:?}", s.span.name, s.span.attributes))
            .collect()
    };
    let (spans, _) = convert(&[&log], &[]);
    let all = everything(&spans);
    assert!(
        !all.contains("hunter2") && !all.contains("from rides"),
        "{all}"
    );
    let job5 = spans
        .iter()
        .find(|s| s.attr_i64("spark.job.id") == Some(5))
        .unwrap();
    assert_eq!(
        job5.span.name,
        "job 5: collect at /var/spark-corpus/shared/b-failures-retries/job_b.py:76"
    );
    assert_eq!(job5.attr_str("spark.job.description"), None);
    let sql3 = spans
        .iter()
        .find(|s| s.attr_i64("spark.sql.execution.id") == Some(3))
        .unwrap();
    assert_eq!(sql3.span.name, "SQL 3");
    // A free-text description stays.
    let job6 = spans
        .iter()
        .find(|s| s.attr_i64("spark.job.id") == Some(6))
        .unwrap();
    assert!(job6
        .span
        .name
        .starts_with("job 6: b4b same shuffle re-read"));

    let (spans, _) = convert(&[&log], &["--include-sql"]);
    let job5 = spans
        .iter()
        .find(|s| s.attr_i64("spark.job.id") == Some(5))
        .unwrap();
    assert_eq!(job5.attr_str("spark.job.description"), Some(statement));
    assert!(everything(&spans).contains("from rides"));
}
