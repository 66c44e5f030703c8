//! `--metrics`: the runs' metrics over a real socket, every protocol, each value and time
//! computed here from the fixture itself (run_results.json, manifest.json, sources.json,
//! Airflow's API JSON), not from retrace's code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, AggregationTemporality};
use serde_json::Value;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, Receiver};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn nanos(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap() as u64
}

/// One data point as the tests read it.
#[derive(Clone, Debug, PartialEq)]
struct Point {
    metric: String,
    unit: String,
    attributes: BTreeMap<String, String>,
    value: f64,
    start: u64,
    time: u64,
    /// Delta for sums and histograms; None for gauges.
    delta: Option<bool>,
    /// Observations in a histogram point (1 for the others).
    count: u64,
    exemplar_span: Option<String>,
}

fn points(requests: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for m in requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let attrs = |list: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
            list.iter()
                .map(|kv| {
                    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), v)
                })
                .collect()
        };
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let delta = AggregationTemporality::Delta as i32;
        match &m.data {
            Some(metric::Data::Histogram(h)) => {
                for p in &h.data_points {
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                    assert_eq!(
                        p.exemplars.len() as u64,
                        p.count,
                        "one exemplar per observation"
                    );
                    out.push(Point {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        attributes: attrs(&p.attributes),
                        value: p.sum.unwrap(),
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        delta: Some(h.aggregation_temporality == delta),
                        count: p.count,
                        exemplar_span: p.exemplars.first().map(|e| hex(&e.span_id)),
                    });
                }
            }
            Some(metric::Data::Sum(s)) => {
                assert!(s.is_monotonic);
                for p in &s.data_points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(n)) => n as f64,
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        None => f64::NAN,
                    };
                    out.push(Point {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        attributes: attrs(&p.attributes),
                        value,
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        delta: Some(s.aggregation_temporality == delta),
                        count: 1,
                        exemplar_span: p.exemplars.first().map(|e| hex(&e.span_id)),
                    });
                }
            }
            Some(metric::Data::Gauge(g)) => {
                for p in &g.data_points {
                    let value = match p.value {
                        Some(number_data_point::Value::AsDouble(d)) => d,
                        Some(number_data_point::Value::AsInt(n)) => n as f64,
                        None => f64::NAN,
                    };
                    out.push(Point {
                        metric: m.name.clone(),
                        unit: m.unit.clone(),
                        attributes: attrs(&p.attributes),
                        value,
                        start: p.start_time_unix_nano,
                        time: p.time_unix_nano,
                        delta: None,
                        count: 1,
                        exemplar_span: p.exemplars.first().map(|e| hex(&e.span_id)),
                    });
                }
            }
            other => panic!("unexpected metric data {other:?}"),
        }
    }
    out
}

fn send(receiver: &Receiver, input: &Path, extra: &[&str]) {
    let out = run(retrace()
        .arg("backfill")
        .arg(input)
        .arg("--metrics")
        .args(receiver.cli_args())
        .args(["--timeout", "5s"])
        .args(extra));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A node's span times, as retrace reads them: earliest started_at → latest completed_at.
fn node_times(result: &Value) -> Option<(u64, u64)> {
    let timing = result["timing"].as_array()?;
    let start = timing
        .iter()
        .filter_map(|t| t["started_at"].as_str())
        .map(nanos)
        .min()?;
    let end = timing
        .iter()
        .filter_map(|t| t["completed_at"].as_str())
        .map(nanos)
        .max()?;
    Some((start, end))
}

#[test]
fn dbt_build_metrics_over_every_protocol() {
    let dir = fixture("dbt/04-build");
    let results = json(&dir.join("run_results.json"));
    let manifest = json(&dir.join("manifest.json"));
    for proto in Proto::all() {
        let receiver = Receiver::start(proto);
        send(&receiver, &dir, &[]);
        let got = points(&receiver.metrics());
        let spans = receiver.spans();
        let root = spans
            .iter()
            .find(|s| s.span.parent_span_id.is_empty())
            .unwrap();
        let (run_start, run_end) = (root.span.start_time_unix_nano, root.span.end_time_unix_nano);
        let pipeline = root.attr_str("cicd.pipeline.name").unwrap().to_owned();
        // The run: one executing point, from its start to its end.
        let run_points: Vec<&Point> = got
            .iter()
            .filter(|p| p.metric == "cicd.pipeline.run.duration")
            .collect();
        assert_eq!(run_points.len(), 1, "{proto:?}");
        let p = run_points[0];
        assert_eq!(p.value, (run_end - run_start) as f64 / 1e9);
        assert_eq!((p.start, p.time), (run_start, run_end));
        assert_eq!(p.attributes["cicd.pipeline.run.state"], "executing");
        assert_eq!(p.attributes["cicd.pipeline.result"], "error");
        assert_eq!(p.unit, "s");
        assert_eq!(p.delta, Some(true));
        assert!(
            !p.attributes.contains_key("cicd.pipeline.run.id"),
            "opt-in only"
        );
        // Errors: the nodes that errored or failed.
        let failed = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| matches!(r["status"].as_str(), Some("error" | "fail")))
            .count();
        let errors: f64 = got
            .iter()
            .filter(|p| p.metric == "cicd.pipeline.run.errors")
            .map(|p| p.value)
            .sum();
        assert_eq!(errors, failed as f64);
        // Every node that ran: its duration, ending at its end, starting with the run.
        let mut expected_tasks = 0;
        for r in results["results"].as_array().unwrap() {
            let Some((start, end)) = node_times(r) else {
                continue;
            };
            expected_tasks += 1;
            let id = r["unique_id"].as_str().unwrap();
            let p = got
                .iter()
                .find(|p| {
                    p.metric == "pipeline.task.duration"
                        && p.attributes["cicd.pipeline.task.name"] == id
                })
                .unwrap_or_else(|| panic!("{proto:?}: no duration for {id}"));
            assert_eq!(p.value, (end - start) as f64 / 1e9, "{id}");
            assert_eq!((p.start, p.time), (run_start, end), "{id}");
            assert_eq!(p.attributes["cicd.pipeline.name"], pipeline);
            let node = &manifest["nodes"][id];
            assert_eq!(
                p.attributes.get("dbt.resource_type").map(String::as_str),
                r["unique_id"].as_str().unwrap().split('.').next()
            );
            if let Some(m) = node["config"]["materialized"].as_str() {
                assert_eq!(p.attributes["dbt.materialized"], m, "{id}");
            }
            // The exemplar names the node's span.
            let span = spans
                .iter()
                .find(|s| s.attr_str("cicd.pipeline.task.name") == Some(id))
                .unwrap();
            assert_eq!(
                p.exemplar_span.as_deref(),
                Some(span.span_id_hex().as_str())
            );
        }
        let tasks = got
            .iter()
            .filter(|p| p.metric == "pipeline.task.duration")
            .count();
        assert_eq!(
            tasks, expected_tasks,
            "{proto:?}: nodes without times have none"
        );
        // Rows: what the adapter said it affected.
        let mut rows: Vec<(String, f64)> = got
            .iter()
            .filter(|p| p.metric == "pipeline.records.written")
            .map(|p| (p.attributes["cicd.pipeline.task.name"].clone(), p.value))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected_rows: Vec<(String, f64)> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| {
                let n = r["adapter_response"]["rows_affected"].as_i64()?;
                Some((r["unique_id"].as_str()?.to_owned(), n as f64))
            })
            .filter(|(_, n)| *n >= 0.0)
            .collect();
        expected_rows.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(rows, expected_rows, "{proto:?}");
        assert!(got
            .iter()
            .filter(|p| p.metric == "pipeline.records.written")
            .all(|p| p.unit == "{record}"));
        // Data quality: the tests that found failing rows, on the model they test.
        let mut dq: Vec<(String, String, String, f64)> = got
            .iter()
            .filter(|p| p.metric == "pipeline.data_quality.failed_records")
            .map(|p| {
                (
                    p.attributes["cicd.pipeline.task.name"].clone(),
                    p.attributes["dq.table"].clone(),
                    p.attributes["dbt.test.severity"].clone(),
                    p.value,
                )
            })
            .collect();
        dq.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected_dq: Vec<(String, String, String, f64)> = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["failures"].as_i64().is_some_and(|f| f > 0))
            .map(|r| {
                let id = r["unique_id"].as_str().unwrap();
                let node = &manifest["nodes"][id];
                (
                    id.to_owned(),
                    node["depends_on"]["nodes"][0].as_str().unwrap().to_owned(),
                    node["config"]["severity"].as_str().unwrap().to_owned(),
                    r["failures"].as_i64().unwrap() as f64,
                )
            })
            .collect();
        expected_dq.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(dq, expected_dq, "{proto:?}");
        assert_eq!(expected_dq.len(), 2);
        // Every point: the resource's service, a time no later than the run's end.
        assert!(got
            .iter()
            .all(|p| p.time <= run_end && p.start == run_start));
        let resource = &receiver.metrics()[0].resource_metrics[0].resource;
        let service = resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .unwrap();
        assert_eq!(
            service.value.as_ref().unwrap().value,
            Some(any_value::Value::StringValue("dbt".into()))
        );
    }
}

#[test]
fn source_freshness_becomes_a_gauge_per_source() {
    let dir = fixture("dbt/07-source-freshness");
    let sources = json(&dir.join("sources.json"));
    let receiver = Receiver::start(Proto::HttpProtobuf);
    send(&receiver, &dir, &[]);
    let got = points(&receiver.metrics());
    let mut fresh: Vec<(String, String, f64)> = got
        .iter()
        .filter(|p| p.metric == "dq.freshness_seconds")
        .map(|p| {
            assert_eq!(p.delta, None, "a gauge");
            (
                p.attributes["dq.table"].clone(),
                p.attributes["dbt.freshness.status"].clone(),
                p.value,
            )
        })
        .collect();
    fresh.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, String, f64)> = sources["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            Some((
                r["unique_id"].as_str()?.to_owned(),
                r["status"].as_str()?.to_owned(),
                r["max_loaded_at_time_ago_in_s"].as_f64()?,
            ))
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!expected.is_empty());
    assert_eq!(fresh, expected);
}

#[test]
fn airflow_queue_times_and_the_runs_pending_time() {
    let api = fixture("airflow/3.3.2/api");
    let run = json(&api.join("dagRun_corpus_run_ok.json"));
    // Every try: the task instances (their latest tries) and the tries endpoint's earlier ones.
    let mut tries: BTreeMap<(String, i64, i64), Value> = BTreeMap::new();
    for file in [
        "taskInstances_corpus_run_ok.json",
        "tries_quality_check_corpus_run_ok.json",
    ] {
        for t in json(&api.join(file))["task_instances"].as_array().unwrap() {
            let key = (
                t["task_id"].as_str().unwrap().to_owned(),
                t["map_index"].as_i64().unwrap_or(-1),
                t["try_number"].as_i64().unwrap(),
            );
            tries.insert(key, t.clone());
        }
    }
    let receiver = Receiver::start(Proto::HttpJson);
    send(&receiver, &api, &["--metrics-run-id"]);
    let got = points(&receiver.metrics());
    let of_run: Vec<&Point> = got
        .iter()
        .filter(|p| {
            p.attributes.get("cicd.pipeline.run.id").map(String::as_str) == Some("corpus_run_ok")
        })
        .collect();
    let pending = of_run
        .iter()
        .find(|p| {
            p.metric == "cicd.pipeline.run.duration"
                && p.attributes["cicd.pipeline.run.state"] == "pending"
        })
        .expect("the run's queue time");
    let (queued, started) = (
        nanos(run["queued_at"].as_str().unwrap()),
        nanos(run["start_date"].as_str().unwrap()),
    );
    assert_eq!(pending.value, (started - queued) as f64 / 1e9);
    assert_eq!((pending.start, pending.time), (queued, started));
    // Each try's queue time: queued_when → start_date; the tries of one task (a mapped
    // task's, a retried one's) are one point of their series.
    let mut expected: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in tries.values() {
        let (Some(q), Some(s)) = (t["queued_when"].as_str(), t["start_date"].as_str()) else {
            continue;
        };
        let task = t["task_id"].as_str().unwrap().to_owned();
        expected
            .entry(task)
            .or_default()
            .push((nanos(s) - nanos(q)) as f64 / 1e9);
    }
    // (A retried task's tries differ in result: a series each.)
    let mut queue: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for p in of_run
        .iter()
        .filter(|p| p.metric == "pipeline.task.queue_duration")
    {
        let entry = queue
            .entry(p.attributes["cicd.pipeline.task.name"].clone())
            .or_default();
        entry.0 += p.count;
        entry.1 += p.value;
    }
    assert_eq!(
        queue.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (task, values) in &expected {
        let (count, sum) = queue[task];
        assert_eq!(count, values.len() as u64, "{task}");
        let want: f64 = values.iter().sum();
        assert!((sum - want).abs() < 1e-9, "{task}: {sum} != {want}");
        if values.len() == 1 {
            assert_eq!(sum, values[0], "{task}: exact");
        }
    }
}

#[test]
fn metrics_go_into_the_output_file_and_send_replays_them() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = tmp.path().join("out.jsonl");
    let out = run(retrace()
        .args(["dbt"])
        .arg(fixture("dbt/04-build"))
        .args(["--metrics", "--output"])
        .arg(&lines));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&lines).unwrap();
    let metric_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("{\"resourceMetrics\""))
        .collect();
    assert_eq!(metric_lines.len(), 1, "one request per run");
    let from_file: ExportMetricsServiceRequest = serde_json::from_str(metric_lines[0]).unwrap();
    // `send` delivers the spans and the metrics of the file, each to its endpoint.
    for proto in [Proto::Grpc, Proto::HttpProtobuf] {
        let receiver = Receiver::start(proto);
        let out = run(retrace().arg("send").arg(&lines).args(receiver.cli_args()));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(receiver.spans().len(), 40);
        assert_eq!(receiver.metrics(), vec![from_file.clone()]);
        assert!(stderr(&out).contains("metric points"), "{}", stderr(&out));
    }
}

#[test]
fn undelivered_metrics_are_spooled_and_sent_later() {
    let spool = tempfile::tempdir().unwrap();
    let dead = crate::common::receiver::closed_port();
    let out = run(retrace()
        .arg("dbt")
        .arg(fixture("dbt/04-build"))
        .args(["--metrics", "--protocol", "grpc", "--endpoint"])
        .arg(&dead)
        .arg("--spool")
        .arg(spool.path()));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("metric points not delivered"),
        "{}",
        stderr(&out)
    );
    let receiver = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("send")
        .arg("--spool")
        .arg(spool.path())
        .args(receiver.cli_args()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(receiver.spans().len(), 40);
    let points = points(&receiver.metrics());
    assert!(points
        .iter()
        .any(|p| p.metric == "cicd.pipeline.run.duration"));
}

#[test]
fn github_jobs_queue_times_and_the_first_attempts_pending_time() {
    let dir = fixture("github");
    let jobs = json(&dir.join("jobs-attempt-1.json"));
    let run = json(&dir.join("run-attempt-1.json"));
    let tmp = tempfile::tempdir().unwrap();
    for f in ["run-attempt-1.json", "jobs-attempt-1.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let receiver = Receiver::start(Proto::Grpc);
    send(&receiver, tmp.path(), &[]);
    let got = points(&receiver.metrics());
    let pending = got
        .iter()
        .find(|p| {
            p.metric == "cicd.pipeline.run.duration"
                && p.attributes["cicd.pipeline.run.state"] == "pending"
        })
        .unwrap();
    let (created, started) = (
        nanos(run["created_at"].as_str().unwrap()),
        nanos(run["run_started_at"].as_str().unwrap()),
    );
    assert_eq!(pending.value, (started - created) as f64 / 1e9);
    assert_eq!((pending.start, pending.time), (created, started));
    // Each job that started: created_at → started_at; the job is the task, not its steps.
    for job in jobs["jobs"].as_array().unwrap() {
        let name = job["name"].as_str().unwrap();
        let (c, s) = (
            nanos(job["created_at"].as_str().unwrap()),
            nanos(job["started_at"].as_str().unwrap()),
        );
        let queue: Vec<&Point> = got
            .iter()
            .filter(|p| {
                p.metric == "pipeline.task.queue_duration"
                    && p.attributes["cicd.pipeline.task.name"] == name
            })
            .collect();
        if s < c {
            assert!(queue.is_empty(), "{name}: started before it was created");
            continue;
        }
        assert_eq!(queue.len(), 1, "{name}");
        assert_eq!(queue[0].value, (s - c) as f64 / 1e9, "{name}");
        assert_eq!(queue[0].time, s);
    }
    let tasks: Vec<&str> = got
        .iter()
        .filter(|p| p.metric == "pipeline.task.duration")
        .map(|p| p.attributes["cicd.pipeline.task.name"].as_str())
        .collect();
    assert_eq!(tasks.len(), jobs["jobs"].as_array().unwrap().len());
}

#[test]
fn a_wrapped_command_of_any_kind_has_its_run_metrics() {
    let receiver = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .args(["exec", "--kind", "client", "--metrics"])
        .args(receiver.cli_args())
        .args(["--", "sh", "-c", "exit 3"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let got = points(&receiver.metrics());
    let span = &receiver.spans()[0];
    let duration = got
        .iter()
        .find(|p| p.metric == "cicd.pipeline.run.duration")
        .expect("the command's run");
    assert_eq!(
        duration.value,
        (span.span.end_time_unix_nano - span.span.start_time_unix_nano) as f64 / 1e9
    );
    assert_eq!(duration.attributes["cicd.pipeline.result"], "failure");
}

#[test]
fn send_replays_metrics_to_the_metrics_endpoint_its_variables_name() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = tmp.path().join("out.jsonl");
    let out = run(retrace()
        .arg("dbt")
        .arg(fixture("dbt/04-build"))
        .args(["--metrics", "--output"])
        .arg(&lines));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans_to = Receiver::start(Proto::HttpProtobuf);
    let metrics_to = Receiver::start(Proto::HttpProtobuf);
    let out = run(retrace()
        .arg("send")
        .arg(&lines)
        .args(spans_to.cli_args())
        .env(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            format!("http://{}/v1/metrics", metrics_to.addr()),
        ));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(spans_to.spans().len(), 40);
    assert!(spans_to.metrics().is_empty());
    assert_eq!(metrics_to.metrics().len(), 1);
}

/// Spark: the stages, jobs and SQL executions are the tasks (a retried stage's attempts one
/// task name), never the task attempts `--task-spans` adds (one series each); rows and bytes
/// are the stages' own aggregates.
#[test]
fn spark_stages_are_the_tasks_and_task_attempts_are_not() {
    let log = fixture("spark/b-failures-retries/local-1796090155073");
    let receiver = Receiver::start(Proto::Grpc);
    send(&receiver, &log, &["--task-spans"]);
    let got = points(&receiver.metrics());
    let spans = receiver.spans();
    let tasks: Vec<_> = spans
        .iter()
        .filter(|s| s.attr_str("spark.task.type").is_some())
        .collect();
    assert_eq!(tasks.len(), 37, "the log's 37 task ends");
    let steps: Vec<_> = spans
        .iter()
        .filter(|s| !s.span.parent_span_id.is_empty() && s.attr_str("spark.task.type").is_none())
        .collect();
    let durations: Vec<&Point> = got
        .iter()
        .filter(|p| p.metric == "pipeline.task.duration")
        .collect();
    assert_eq!(durations.len(), steps.len());
    for s in &steps {
        let name = s.attr_str("cicd.pipeline.task.name").unwrap();
        let p = durations
            .iter()
            .find(|p| p.exemplar_span.as_deref() == Some(s.span_id_hex().as_str()))
            .unwrap_or_else(|| panic!("no duration for {}", s.span.name));
        assert_eq!(p.attributes["cicd.pipeline.task.name"], name);
        let secs = (s.span.end_time_unix_nano - s.span.start_time_unix_nano) as f64 / 1e9;
        assert_eq!(p.value, secs, "{}", s.span.name);
        assert_eq!(p.time, s.span.end_time_unix_nano);
    }
    // Stage 10 failed (FetchFailed) and was retried: two attempts, one task name.
    let stage10: Vec<&&Point> = durations
        .iter()
        .filter(|p| p.attributes["cicd.pipeline.task.name"] == "stage/10")
        .collect();
    assert_eq!(stage10.len(), 2);
    let results: Vec<&str> = stage10
        .iter()
        .map(|p| p.attributes["cicd.pipeline.task.run.result"].as_str())
        .collect();
    assert_eq!(results, ["failure", "success"]);
    // Rows and bytes: each stage's aggregate, once.
    for (metric, attribute) in [
        ("pipeline.records.written", "pipeline.records.written"),
        ("pipeline.bytes.processed", "pipeline.bytes.processed"),
    ] {
        let sent: f64 = got
            .iter()
            .filter(|p| p.metric == metric)
            .map(|p| p.value)
            .sum();
        let on_stages: i64 = steps.iter().filter_map(|s| s.attr_i64(attribute)).sum();
        assert_eq!(sent, on_stages as f64, "{metric}");
    }
}
