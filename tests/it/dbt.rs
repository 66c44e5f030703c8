//! The real binary converts real dbt runs (fixtures/dbt) and delivers them to an in-process
//! OTLP receiver on 127.0.0.1; every assertion is on what arrived over the socket.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::cli::{retrace, run, stderr};
use crate::common::fs::write;
use crate::common::receiver::{Behavior, Failure, Proto, ReceivedSpan, Receiver};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dbt")
        .join(name)
}

fn send(receiver: &Receiver, args: &[&str]) -> Output {
    run(retrace().arg("dbt").args(args).args([
        "--endpoint",
        &receiver.endpoint(),
        "--protocol",
        receiver.proto().flag(),
        "--timeout",
        "5s",
    ]))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// dbt's UTC timestamp text → Unix nanoseconds, independently of the crate's own parser.
fn nanos(text: &str) -> u64 {
    let dt = chrono::DateTime::parse_from_rfc3339(text).expect("fixture timestamp");
    dt.timestamp_nanos_opt().unwrap() as u64
}

fn by_node(spans: &[ReceivedSpan]) -> HashMap<String, ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.attr_str("dbt.phase").is_none())
        .filter_map(|s| Some((s.attr_str("dbt.node_id")?.to_owned(), s.clone())))
        .collect()
}

fn root(spans: &[ReceivedSpan]) -> ReceivedSpan {
    let roots: Vec<_> = spans
        .iter()
        .filter(|s| s.attr_str("cicd.pipeline.run.id").is_some())
        .collect();
    assert_eq!(roots.len(), 1, "one root span per run");
    roots[0].clone()
}

const STATUS_UNSET: i32 = 0;
const STATUS_OK: i32 = 1;
const STATUS_ERROR: i32 = 2;

fn status_code(s: &ReceivedSpan) -> i32 {
    s.span.status.as_ref().map_or(0, |st| st.code)
}

/// Checks every result of an artifact against the spans received for it: one span each,
/// under the root, exact nanosecond times for timed nodes, derived marks for the others,
/// statuses, and the root covering everything.
fn assert_matches_artifact(artifact: &Path, spans: &[ReceivedSpan]) {
    let doc = read_json(artifact);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        results.len() + 1,
        "{}: one span per result plus the root",
        artifact.display()
    );
    let root = root(spans);
    let nodes = by_node(spans);
    let meta = &doc["metadata"];
    assert_eq!(
        root.span.end_time_unix_nano,
        nanos(meta["generated_at"].as_str().unwrap())
    );
    if let Some(started) = meta["invocation_started_at"].as_str() {
        assert_eq!(root.span.start_time_unix_nano, nanos(started));
    }
    assert_eq!(root.span.kind, 2, "root is SERVER");
    for r in results {
        let uid = r["unique_id"].as_str().unwrap();
        let span = &nodes[uid];
        assert_eq!(
            span.parent_id_hex(),
            root.span_id_hex(),
            "{uid} sits under the root"
        );
        assert_eq!(span.trace_id_hex(), root.trace_id_hex());
        assert_eq!(span.span.kind, 1, "nodes are INTERNAL");
        let timing = r["timing"].as_array().cloned().unwrap_or_default();
        let starts: Vec<u64> = timing
            .iter()
            .filter_map(|t| t["started_at"].as_str())
            .map(nanos)
            .collect();
        let ends: Vec<u64> = timing
            .iter()
            .filter_map(|t| t["completed_at"].as_str())
            .map(nanos)
            .collect();
        if starts.is_empty() {
            assert_eq!(
                span.attr_str("retrace.time_source"),
                Some("derived"),
                "{uid}"
            );
            assert_eq!(
                span.span.start_time_unix_nano, span.span.end_time_unix_nano,
                "{uid}: derived spans are zero-length"
            );
        } else {
            assert_eq!(
                span.span.start_time_unix_nano,
                *starts.iter().min().unwrap(),
                "{uid} start"
            );
            assert_eq!(
                span.span.end_time_unix_nano,
                *ends.iter().max().unwrap(),
                "{uid} end"
            );
            assert_eq!(span.attr_str("retrace.time_source"), None, "{uid}");
        }
        assert!(
            root.span.start_time_unix_nano <= span.span.start_time_unix_nano,
            "{uid} inside the root"
        );
        assert!(
            span.span.end_time_unix_nano <= root.span.end_time_unix_nano,
            "{uid} inside the root"
        );
        let status = r["status"].as_str().unwrap();
        assert_eq!(span.attr_str("dbt.status"), Some(status));
        let expected = match status {
            "error" | "fail" | "runtime error" | "partial success" => STATUS_ERROR,
            "success" | "pass" | "warn" => STATUS_OK,
            _ => STATUS_UNSET,
        };
        assert_eq!(status_code(span), expected, "{uid} status {status}");
    }
}

#[test]
fn build_run_arrives_exactly_over_every_protocol() {
    for proto in Proto::all() {
        let rx = Receiver::start(proto);
        let out = send(&rx, &[fixture("04-build").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{proto:?}: {}", stderr(&out));
        let spans = rx.wait_spans(40, WAIT);
        assert_eq!(spans.len(), 40, "{proto:?}");
        assert_matches_artifact(&fixture("04-build/run_results.json"), &spans);

        // Golden ids (independently computed, see src/trace/ids.rs): no parent given, so the
        // trace id is the invocation_id's 16 bytes.
        let root = root(&spans);
        assert_eq!(root.trace_id_hex(), "c8eb10b891ff4a5ea843fa04e6e63990");
        assert_eq!(root.span_id_hex(), "78132ea5754df20c");
        assert_eq!(root.parent_id_hex(), "");
        assert_eq!(root.span.name, "dbt build");
        assert_eq!(root.resource_str("service.name"), Some("dbt"));
        assert_eq!(root.scope_name, "retrace");
        assert_eq!(root.attr_str("cicd.pipeline.result"), Some("error"));
        assert_eq!(
            root.attr_str("cicd.pipeline.run.id"),
            Some("c8eb10b8-91ff-4a5e-a843-fa04e6e63990")
        );
        assert_eq!(
            root.attr_str("dbt.invocation_id"),
            Some("c8eb10b8-91ff-4a5e-a843-fa04e6e63990")
        );
        assert_eq!(root.attr_str("dbt.version"), Some("1.12.6"));
        assert_eq!(root.attr_str("dbt.project_name"), Some("pedal_share"));
        assert_eq!(root.span.start_time_unix_nano, 1_795_239_104_449_174_000);
        assert_eq!(root.span.end_time_unix_nano, 1_795_239_108_031_984_000);

        let nodes = by_node(&spans);
        let stg = &nodes["model.pedal_share.stg_rides"];
        assert_eq!(stg.span_id_hex(), "c7e999a91f0dc455");
        assert_eq!(stg.span.name, "model stg_rides");
        assert_eq!(stg.span.start_time_unix_nano, 1_795_239_106_167_076_000);
        assert_eq!(stg.span.end_time_unix_nano, 1_795_239_106_263_928_000);
        assert_eq!(stg.attr_str("dbt.materialized"), Some("view"));
        assert_eq!(stg.attr_str("dbt.thread_id"), Some("Thread-1 (worker)"));
        assert_eq!(
            stg.attr_f64("dbt.execution_time"),
            Some(0.09797382354736328)
        );
        assert_eq!(
            stg.attr_str("cicd.pipeline.task.name"),
            Some("model.pedal_share.stg_rides")
        );
        assert_eq!(
            stg.attr_str("cicd.pipeline.task.run.result"),
            Some("success")
        );
        assert_eq!(
            stg.attr_str("dbt.relation_name"),
            Some("\"pedal_share\".\"main\".\"stg_rides\"")
        );
        assert!(stg.attr("db.query.text").is_none(), "no SQL unless asked");

        let failed = &nodes["model.pedal_share.fare_audit"];
        assert_eq!(failed.attr_str("error.type"), Some("Runtime Error"));
        assert_eq!(
            failed.attr_str("cicd.pipeline.task.run.result"),
            Some("error")
        );
        let message = failed.span.status.as_ref().unwrap().message.clone();
        assert!(
            message.starts_with("Runtime Error in model fare_audit"),
            "{message}"
        );

        let test_fail = &nodes["test.pedal_share.assert_no_round_trips"];
        assert_eq!(test_fail.attr_i64("dbt.failures"), Some(4));
        assert_eq!(
            test_fail.attr_str("cicd.pipeline.task.run.result"),
            Some("failure")
        );
        assert_eq!(test_fail.attr_str("error.type"), Some("fail"));

        let warn = &nodes["test.pedal_share.not_null_stg_members_email.317bbb3408"];
        assert_eq!(status_code(warn), STATUS_OK);
        assert_eq!(warn.attr_str("dbt.test.severity"), Some("warn"));
        assert_eq!(warn.span.events.len(), 1);
        assert_eq!(warn.span.events[0].name, "dbt.warning");
        assert_eq!(
            warn.span.events[0].time_unix_nano,
            warn.span.end_time_unix_nano
        );

        // A skipped node sits, zero-length, at the end of the upstream that failed.
        let skipped = &nodes["model.pedal_share.fare_audit_summary"];
        assert_eq!(
            skipped.attr_str("cicd.pipeline.task.run.result"),
            Some("skip")
        );
        assert_eq!(
            skipped.span.start_time_unix_nano,
            failed.span.end_time_unix_nano
        );
        assert_eq!(skipped.span.links.len(), 1);
        assert_eq!(hex(&skipped.span.links[0].span_id), failed.span_id_hex());

        let seed = &nodes["seed.pedal_share.ride_events"];
        assert_eq!(seed.attr_i64("pipeline.records.written"), Some(40));
        assert_eq!(seed.attr_str("dbt.adapter_response.code"), Some("INSERT"));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_fixture_run_converts_correctly() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let mut artifacts = Vec::new();
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let dir = entry.unwrap().path();
        for name in ["run_results.json", "sources.json"] {
            if dir.join(name).is_file() {
                artifacts.push(dir.join(name));
            }
        }
    }
    artifacts.sort();
    assert_eq!(artifacts.len(), 18);
    let out = send(&rx, &[fixture("").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let total: usize = artifacts
        .iter()
        .map(|a| read_json(a)["results"].as_array().unwrap().len() + 1)
        .sum();
    let spans = rx.wait_spans(total, WAIT);
    assert_eq!(spans.len(), total);

    let mut by_run: HashMap<String, Vec<ReceivedSpan>> = HashMap::new();
    for s in &spans {
        let run = s.attr_str("dbt.invocation_id").map(str::to_owned);
        let run = run.unwrap_or_else(|| {
            // Node spans carry the run only through their trace and parent; group by trace.
            s.trace_id_hex()
        });
        by_run.entry(run).or_default().push(s.clone());
    }
    let mut by_trace: HashMap<String, Vec<ReceivedSpan>> = HashMap::new();
    for s in &spans {
        by_trace
            .entry(s.trace_id_hex())
            .or_default()
            .push(s.clone());
    }
    for artifact in &artifacts {
        let doc = read_json(artifact);
        let invocation = doc["metadata"]["invocation_id"].as_str().unwrap();
        let trace = match doc["metadata"]["env"]["TRACEPARENT"].as_str() {
            Some(tp) => tp.split('-').nth(1).unwrap().to_owned(),
            None => invocation.replace('-', ""),
        };
        assert_matches_artifact(artifact, &by_trace[&trace]);
    }

    // Ids are unique across the whole delivery and never zero.
    let ids: HashSet<String> = spans.iter().map(ReceivedSpan::span_id_hex).collect();
    assert_eq!(ids.len(), spans.len());
    assert!(!ids.contains("0000000000000000"));
}

#[test]
fn root_names_follow_the_dbt_command() {
    let rx = Receiver::start(Proto::Grpc);
    for (dir, name) in [
        ("09-retry", "dbt retry"),
        ("10-compile", "dbt compile"),
        ("11-run-operation", "dbt run-operation"),
        ("07-source-freshness", "dbt source freshness"),
        ("21-build-dbt1.7", "dbt build"),
    ] {
        let before = rx.spans().len();
        let out = send(&rx, &[fixture(dir).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{dir}: {}", stderr(&out));
        let spans: Vec<_> = rx.spans().into_iter().skip(before).collect();
        assert_eq!(root(&spans).span.name, name, "{dir}");
    }
}

#[test]
fn dbt_1_8_run_span_starts_at_generated_at_minus_elapsed_time() {
    let rx = Receiver::start(Proto::HttpJson);
    let out = send(
        &rx,
        &[fixture("20-build-dbt1.8/run_results.json")
            .to_str()
            .unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(37, WAIT);
    let root = root(&spans);
    // generated_at 2026-11-21T05:33:27.836046Z − elapsed_time 2.3960187435150146 s.
    let doc = read_json(&fixture("20-build-dbt1.8/run_results.json"));
    let generated = nanos(doc["metadata"]["generated_at"].as_str().unwrap());
    let elapsed = (doc["elapsed_time"].as_f64().unwrap() * 1e9).round() as u64;
    assert_eq!(root.span.start_time_unix_nano, generated - elapsed);
    assert_eq!(root.span.end_time_unix_nano, generated);
}

#[test]
fn freshness_runtime_error_without_timing_is_an_error_placed_at_the_run_end() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = send(
        &rx,
        &[fixture("22-source-freshness-dbt1.7/sources.json")
            .to_str()
            .unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(5, WAIT);
    let nodes = by_node(&spans);
    let broken = &nodes["source.pedal_share.raw.dock_telemetry"];
    assert_eq!(broken.span.name, "source raw.dock_telemetry");
    assert_eq!(status_code(broken), STATUS_ERROR);
    assert_eq!(broken.attr_str("retrace.time_source"), Some("derived"));
    assert_eq!(
        broken.span.start_time_unix_nano,
        root(&spans).span.end_time_unix_nano
    );
    let stale = &nodes["source.pedal_share.raw.stations"];
    assert_eq!(
        stale.attr_str("cicd.pipeline.task.run.result"),
        Some("failure")
    );
    assert_eq!(stale.attr_str("dbt.freshness.error_after"), Some("2 hour"));
    assert_eq!(
        stale.attr_str("dbt.freshness.max_loaded_at"),
        Some("2025-03-01T08:00:00+00:00")
    );
    // sources.json says why only in numbers; the span says it in words.
    let reason = "loaded 629d21h ago, error after 2 hour".to_owned();
    let status = stale.span.status.as_ref().unwrap();
    assert_eq!(status.message, reason);
    assert_eq!(stale.attr_str("dbt.message"), Some(reason.as_str()));
    let warned = &nodes["source.pedal_share.raw.ride_events"];
    assert_eq!(status_code(warned), STATUS_OK);
    let warning = &warned.span.events[0];
    assert_eq!(warning.name, "dbt.warning");
    assert_eq!(
        warning.attributes[0]
            .value
            .as_ref()
            .and_then(|v| v.value.clone()),
        Some(AnyValue::StringValue(
            "loaded 534d15h ago, warn after 1 day".into()
        ))
    );
}

#[test]
fn parent_comes_from_flag_then_env_then_artifact() {
    let artifact = fixture("14-run-custom-env-traceparent/run_results.json");
    let artifact = artifact.to_str().unwrap();
    let rx = Receiver::start(Proto::Grpc);

    // The artifact's metadata.env.TRACEPARENT (dbt copies DBT_ENV_CUSTOM_ENV_TRACEPARENT there).
    run(&mut send_cmd(&rx, artifact));
    let root1 = root(&rx.wait_spans(7, WAIT));
    assert_eq!(root1.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(root1.parent_id_hex(), "00f067aa0ba902b7");
    assert_eq!(root1.span.flags & 0x300, 0x300, "remote parent flags");

    // TRACEPARENT in the environment beats the artifact.
    let rx = Receiver::start(Proto::Grpc);
    run(send_cmd(&rx, artifact).env(
        "TRACEPARENT",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ));
    let root2 = root(&rx.wait_spans(7, WAIT));
    assert_eq!(root2.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(root2.parent_id_hex(), "b7ad6b7169203331");
    let spans = rx.spans();
    assert!(spans
        .iter()
        .all(|s| s.trace_id_hex() == "0af7651916cd43dd8448eb211c80319c"));

    // --traceparent beats both, and tracestate travels with it.
    let rx = Receiver::start(Proto::Grpc);
    let out = run(send_cmd(&rx, artifact)
        .env(
            "TRACEPARENT",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .args([
            "--traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
            "--tracestate",
            "vendor=abc",
        ])
        .arg("--print-traceparent"));
    let spans = rx.wait_spans(7, WAIT);
    let root3 = root(&spans);
    assert_eq!(root3.trace_id_hex(), "11111111111111111111111111111111");
    assert_eq!(root3.parent_id_hex(), "2222222222222222");
    assert_eq!(root3.span.trace_state, "vendor=abc");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "00-11111111111111111111111111111111-{}-01",
            root3.span_id_hex()
        )
    );
    // Same run, other parent: other span ids (the trace id is part of the derivation).
    assert_ne!(root3.span_id_hex(), root2.span_id_hex());
}

fn send_cmd(rx: &Receiver, artifact: &str) -> Command {
    let mut cmd = retrace();
    cmd.args([
        "dbt",
        artifact,
        "--endpoint",
        &rx.endpoint(),
        "--protocol",
        rx.proto().flag(),
        "--timeout",
        "5s",
    ]);
    cmd
}

#[test]
fn invalid_trace_context_names_its_source() {
    let artifact = fixture("04-build/run_results.json");
    let out = run(retrace().args([
        "dbt",
        artifact.to_str().unwrap(),
        "--traceparent",
        "00-abc-def-01",
        "--exporter",
        "none",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--traceparent"), "{}", stderr(&out));
    let out = run(retrace()
        .args(["dbt", artifact.to_str().unwrap(), "--exporter", "none"])
        .env(
            "TRACEPARENT",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        ));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("TRACEPARENT"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[test]
fn conversions_are_deterministic() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let dir = fixture("12-build-fail-fast");
    for _ in 0..2 {
        let out = send(&rx, &[dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let spans = rx.wait_spans(82, WAIT);
    assert_eq!(spans.len(), 82);
    let (first, second) = spans.split_at(41);
    let key = |s: &ReceivedSpan| {
        (
            s.span_id_hex(),
            s.trace_id_hex(),
            s.parent_id_hex(),
            s.span.start_time_unix_nano,
            s.span.end_time_unix_nano,
            s.span.name.clone(),
        )
    };
    let a: HashSet<_> = first.iter().map(key).collect();
    let b: HashSet<_> = second.iter().map(key).collect();
    assert_eq!(a.len(), 41);
    assert_eq!(a, b);
    // Fail-fast skips carry no time: derived, inside the run.
    assert_matches_artifact(&dir.join("run_results.json"), first);
}

#[test]
fn output_file_is_otlp_json_lines() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("spans.jsonl");
    let out = run(retrace().args([
        "dbt",
        fixture("04-build").to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
        "--chunk-size",
        "16",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "40 spans in chunks of 16");
    let mut spans = Vec::new();
    let mut per_line = Vec::new();
    for line in &lines {
        // Canonical OTLP/JSON: hex ids, 64-bit integers as strings.
        let raw: Value = serde_json::from_str(line).unwrap();
        let span = &raw["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert!(span["startTimeUnixNano"].is_string());
        assert_eq!(
            span["traceId"].as_str().unwrap(),
            "c8eb10b891ff4a5ea843fa04e6e63990"
        );
        let req: ExportTraceServiceRequest = serde_json::from_str(line).unwrap();
        let before = spans.len();
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        per_line.push(spans.len() - before);
    }
    assert_eq!(per_line, [16, 16, 8]);

    // The same spans as over the wire.
    let rx = Receiver::start(Proto::Grpc);
    send(&rx, &[fixture("04-build").to_str().unwrap()]);
    let mut wire: Vec<_> = rx
        .wait_spans(40, WAIT)
        .into_iter()
        .map(|s| s.span)
        .collect();
    wire.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    spans.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    assert_eq!(wire, spans);
}

#[test]
fn manifest_phases_and_sql_are_opt_in_details() {
    let rx = Receiver::start(Proto::Grpc);
    let out = send(
        &rx,
        &[
            fixture("04-build/run_results.json").to_str().unwrap(),
            "--phase-spans",
            "--include-sql",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(40, WAIT);
    let nodes = by_node(&spans);
    let model = &nodes["model.pedal_share.dim_stations"];
    assert!(model.attr_str("db.query.text").unwrap().contains("select"));
    assert_eq!(model.attr_str("dbt.alias"), Some("stations_dim"));
    let phases: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.attr_str("dbt.phase").is_some()
                && s.attr_str("dbt.node_id") == Some("model.pedal_share.dim_stations")
        })
        .collect();
    assert_eq!(
        phases
            .iter()
            .map(|p| p.span.name.as_str())
            .collect::<Vec<_>>(),
        ["compile", "execute"]
    );
    for p in &phases {
        assert_eq!(p.parent_id_hex(), model.span_id_hex());
        assert!(model.span.start_time_unix_nano <= p.span.start_time_unix_nano);
        assert!(p.span.end_time_unix_nano <= model.span.end_time_unix_nano);
    }
    // 39 nodes, 2 phases for each timed one (37), and the root.
    assert_eq!(spans.len(), 1 + 39 + 37 * 2);
}

#[test]
fn headers_are_sent_and_never_printed() {
    for proto in Proto::all() {
        let rx = Receiver::start(proto);
        let out = run(send_cmd(&rx, fixture("06-snapshot").to_str().unwrap())
            .args(["--header", "x-api-key=canary-${CANARY_SECRET}"])
            .env("CANARY_SECRET", "s3cr3t-value")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "x-team=data%20eng"));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        rx.wait_spans(4, WAIT);
        let headers = &rx.headers()[0];
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-api-key"), Some("canary-s3cr3t-value"), "{proto:?}");
        assert_eq!(get("x-team"), Some("data eng"), "{proto:?}");
        assert!(
            !stderr(&out).contains("s3cr3t")
                && !String::from_utf8_lossy(&out.stdout).contains("s3cr3t")
        );
    }
}

#[test]
fn service_name_and_resource_attributes() {
    let rx = Receiver::start(Proto::HttpJson);
    run(send_cmd(&rx, fixture("06-snapshot").to_str().unwrap())
        .args(["--service-name", "warehouse", "--resource", "team=data"])
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=overridden",
        ));
    let spans = rx.wait_spans(4, WAIT);
    assert_eq!(spans[0].resource_str("service.name"), Some("warehouse"));
    assert_eq!(spans[0].resource_str("team"), Some("data"));
    assert_eq!(
        spans[0].resource_str("deployment.environment"),
        Some("prod")
    );
}

#[test]
fn env_selects_endpoint_and_protocol() {
    let rx = Receiver::start(Proto::HttpJson);
    let base = rx.endpoint().trim_end_matches("/v1/traces").to_owned();
    let out = run(retrace()
        .args(["dbt", fixture("06-snapshot").to_str().unwrap()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rx.wait_spans(4, WAIT).len(), 4);
    assert_eq!(rx.content_types()[0], "application/json");
}

#[test]
fn a_rejected_export_is_exit_3_with_the_endpoint_named() {
    for proto in Proto::all() {
        let rx = Receiver::start_with(proto, Behavior::always(Failure::InvalidArgument));
        let out = send(&rx, &[fixture("06-snapshot").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{proto:?}: {}", stderr(&out));
        let err = stderr(&out);
        let first = err.lines().next().unwrap();
        assert!(
            first.contains(&rx.endpoint()) && first.contains(proto.flag()),
            "{first}"
        );
        assert!(rx.spans().is_empty());
    }
}

#[test]
fn no_collector_is_exit_3_not_a_hang() {
    // Bind then drop: a port on which nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (proto, endpoint) in [
        ("grpc", format!("http://127.0.0.1:{port}")),
        (
            "http/protobuf",
            format!("http://127.0.0.1:{port}/v1/traces"),
        ),
    ] {
        let out = run(retrace().args([
            "dbt",
            fixture("06-snapshot").to_str().unwrap(),
            "--endpoint",
            &endpoint,
            "--protocol",
            proto,
            "--timeout",
            "1s",
        ]));
        assert_eq!(out.status.code(), Some(3), "{proto}: {}", stderr(&out));
        assert!(stderr(&out).contains(&endpoint), "{}", stderr(&out));
    }
}

#[test]
fn bad_inputs_get_one_clear_line_and_the_rest_is_delivered() {
    let good = std::fs::read_to_string(fixture("06-snapshot/run_results.json")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(
                tmp.path(),
                "truncated/run_results.json",
                &good.as_bytes()[..good.len() / 2],
            ),
            "truncated JSON",
        ),
        (
            write(
                tmp.path(),
                "notjson/run_results.json",
                b"<html>502 Bad Gateway</html>",
            ),
            "not valid JSON",
        ),
        (write(tmp.path(), "empty/run_results.json", b""), "empty"),
        (
            write(
                tmp.path(),
                "future/run_results.json",
                good.replace("run-results/v6.json", "run-results/v7.json")
                    .as_bytes(),
            ),
            "unsupported schema version",
        ),
        (
            write(
                tmp.path(),
                "badtime/run_results.json",
                good.replacen("2026-11-21T05:31:59.284254Z", "yesterday at noon", 1)
                    .as_bytes(),
            ),
            "is not an ISO 8601 timestamp",
        ),
        (
            write(
                tmp.path(),
                "wrongtype/run_results.json",
                good.replace("\"results\": [", "\"results\": {\"x\": [")
                    .replace("]}", "]}}")
                    .as_bytes(),
            ),
            "unexpected content",
        ),
        (tmp.path().join("missing/run_results.json"), "no such file"),
    ];
    let rx = Receiver::start(Proto::HttpProtobuf);
    for (path, expected) in &cases {
        let out = send(
            &rx,
            &[
                path.to_str().unwrap(),
                fixture("06-snapshot").to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        let err = stderr(&out);
        let problems: Vec<&str> = err.lines().filter(|l| !l.contains("delivered")).collect();
        assert_eq!(problems.len(), 1, "{err}");
        assert!(problems[0].contains(path.to_str().unwrap()), "{err}");
        assert!(
            problems[0].contains(expected),
            "expected {expected:?} in {err}"
        );
    }
    // Every run, each time, still delivered the good neighbour.
    assert_eq!(rx.wait_spans(4 * cases.len(), WAIT).len(), 4 * cases.len());
}

#[test]
fn dry_run_and_console_send_nothing() {
    let rx = Receiver::start(Proto::Grpc);
    let out = send(&rx, &[fixture("04-build").to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("would send 40 spans of dbt run c8eb10b8-91ff-4a5e-a843-fa04e6e63990"),
        "{stdout}"
    );
    let out = run(retrace().args([
        "dbt",
        fixture("04-build").to_str().unwrap(),
        "--exporter",
        "console",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dbt build  [ERROR: 1 error, 1 fail]"),
        "{stdout}"
    );
    assert!(stdout.contains("model fare_audit_summary  [-]"), "{stdout}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rx.attempts(), 0);
}

#[test]
fn default_path_is_dbt_target_path_then_target() {
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .args(["dbt", "--endpoint", &rx.endpoint(), "--protocol", "grpc"])
        .env("DBT_TARGET_PATH", fixture("06-snapshot")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rx.wait_spans(4, WAIT).len(), 4);
    let tmp = tempfile::tempdir().unwrap();
    let out = run(retrace()
        .args(["dbt", "--exporter", "none"])
        .current_dir(tmp.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("target: no such file or directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fail_fast_skips_come_after_the_failure_that_caused_them() {
    let rx = Receiver::start(Proto::Grpc);
    let manifest = fixture("04-build/manifest.json");
    let out = send(
        &rx,
        &[
            fixture("12-build-fail-fast/run_results.json")
                .to_str()
                .unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(41, WAIT);
    let nodes = by_node(&spans);
    let failure = &nodes["test.pedal_share.assert_no_round_trips"];
    let failed_at = failure.span.end_time_unix_nano;
    let skips: Vec<&ReceivedSpan> = nodes
        .values()
        .filter(|s| s.attr_str("dbt.message") == Some("Skipping due to fail_fast"))
        .collect();
    assert_eq!(skips.len(), 15);
    for skip in skips {
        assert!(
            skip.span.start_time_unix_nano >= failed_at,
            "{} at {} before the failure's end {failed_at}",
            skip.span.name,
            skip.span.start_time_unix_nano
        );
        assert_eq!(skip.attr_str("retrace.time_source"), Some("derived"));
        assert_eq!(skip.attr_str("cicd.pipeline.task.run.result"), Some("skip"));
    }
    // Those whose upstreams all ended before the failure sit exactly at its end.
    assert_eq!(
        nodes["model.pedal_share.fct_rides"]
            .span
            .start_time_unix_nano,
        failed_at
    );
}
