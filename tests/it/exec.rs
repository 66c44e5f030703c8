//! `retrace exec` and the dbt wrapper (`retrace dbt --run`, here with a stand-in for dbt that
//! writes a real run_results.json), through the real binary to an in-process OTLP receiver.
//! The wrapper with a real dbt is tests/it/dbt_e2e.rs.

use std::path::Path;
use std::time::Duration;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{closed_port, Proto, Receiver};

const WAIT: Duration = Duration::from_secs(10);
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn exec_returns_the_exit_code_and_sends_one_span() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .current_dir(tmp.path())
        .args([
            "exec",
            "--traceparent",
            PARENT,
            "--endpoint",
            &rx.endpoint(),
        ])
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$TRACEPARENT\" > tp; echo hi; exit 7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    let spans = rx.wait_spans(1, WAIT);
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    // Named after the script's command, not after the shell that runs it.
    assert_eq!(span.span.name, "echo");
    assert_eq!(span.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.parent_id_hex(), "00f067aa0ba902b7");
    let tp = std::fs::read_to_string(tmp.path().join("tp")).unwrap();
    assert_eq!(
        tp.trim(),
        format!("00-{}-{}-01", span.trace_id_hex(), span.span_id_hex())
    );
    let status = span.span.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "exit status 7"));
    assert_eq!(span.attr_i64("process.exit.code"), Some(7));
    assert_eq!(span.attr_str("process.executable.name"), Some("sh"));
    assert!(span.attr_i64("process.pid").unwrap() > 0);
    assert!(span.span.end_time_unix_nano > span.span.start_time_unix_nano);

    let ok = retrace()
        .args(["exec", "--endpoint", &rx.endpoint(), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let spans = rx.wait_spans(2, WAIT);
    assert_eq!(spans[1].span.status.as_ref().unwrap().code, 1);
    assert_eq!(spans[1].parent_id_hex(), "");
}

#[test]
fn exec_takes_otel_clis_name_kind_attributes_and_status_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let carrier = tmp.path().join("carrier.json");
    let out = retrace()
        .args(["exec", "--name", "unit tests", "--kind", "client"])
        .args(["--attr", "team=data", "--attr", "ci.stage=test=1"])
        .args(["--status-from-exit", "false", "--print-traceparent"])
        .arg("--carrier-out")
        .arg(&carrier)
        .args(["--traceparent", PARENT, "--tracestate", "congo=t61"])
        .args(["--endpoint", &rx.endpoint(), "--protocol", "grpc"])
        .args(["--", "sh", "-c", "echo out; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // stdout is the command's alone; the traceparent goes to stderr.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let span = rx.wait_spans(1, WAIT).remove(0);
    let traceparent = format!(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
        span.span_id_hex()
    );
    assert_eq!(
        stderr(&out),
        format!(
            "{traceparent}\nretrace: delivered 1 of 1 spans from 1 run(s) to {} (grpc)\n",
            rx.endpoint()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&carrier).unwrap(),
        format!("{{\"traceparent\":\"{traceparent}\",\"tracestate\":\"congo=t61\"}}\n")
    );
    assert_eq!(span.span.name, "unit tests");
    assert_eq!(span.span.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(span.attr_str("team"), Some("data"));
    assert_eq!(span.attr_str("ci.stage"), Some("test=1"));
    assert_eq!(span.attr_i64("process.exit.code"), Some(3));
    let status = span.span.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (0, ""), "unset");
    assert_eq!(span.attr_str("cicd.pipeline.result"), None);

    let out = retrace()
        .args(["exec", "--kind", "sideways", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("expected server, client, internal, producer or consumer"));
}

#[test]
fn exec_keeps_the_exit_code_when_export_fails_or_the_command_is_missing() {
    let out = retrace()
        .args(["exec", "--endpoint", &closed_port(), "--timeout", "1s"])
        .args(["--", "sh", "-c", "exit 5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("exit code 5 is returned as is"),
        "{}",
        stderr(&out)
    );

    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = retrace()
        .args(["exec", "--endpoint", &rx.endpoint()])
        .args(["--", "no-such-command-here", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("cannot run no-such-command-here"));
    let spans = rx.wait_spans(1, WAIT);
    assert_eq!(spans[0].span.status.as_ref().unwrap().code, 2);

    // Unusable export settings never stop the command either.
    let out = retrace()
        .args([
            "exec",
            "--protocol",
            "carrier-pigeon",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("running the command without tracing"));
}

/// A stand-in for dbt: records the environment it was given, writes a real run_results.json
/// (dbt 1.12's `04-build`, generated_at set to now as dbt would) into `<project>/target/`
/// and exits 1 as that run did.
fn fake_dbt(dir: &Path) -> std::path::PathBuf {
    let results =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/04-build/run_results.json");
    let script = dir.join("dbt");
    let body = r#"#!/bin/sh
echo "$DBT_ENV_CUSTOM_ENV_TRACEPARENT" > "$3/env.tp"
now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
if [ "$WRITE" = 1 ]; then
  mkdir -p "$3/target"
  sed -E "s/\"generated_at\": \"[^\"]+\"/\"generated_at\": \"$now\"/" 'RESULTS' > "$3/target/run_results.json"
fi
exit 1
"#;
    std::fs::write(
        &script,
        body.replace("RESULTS", &results.display().to_string()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn the_dbt_wrapper_sends_this_invocations_run_under_its_span() {
    let tmp = tempfile::tempdir().unwrap();
    let dbt = fake_dbt(tmp.path());
    let project = tmp.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .env("WRITE", "1")
        .args([
            "dbt",
            "--run",
            "--traceparent",
            PARENT,
            "--endpoint",
            &rx.endpoint(),
        ])
        .arg("--")
        .arg(&dbt)
        .arg("build")
        .arg("--project-dir")
        .arg(&project)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // wrapper + dbt root + 39 nodes
    let spans = rx.wait_spans(41, WAIT);
    assert_eq!(spans.len(), 41, "{}", stderr(&out));
    let wrapper = spans.iter().find(|s| s.span.name == "dbt").unwrap();
    assert_eq!(wrapper.parent_id_hex(), "00f067aa0ba902b7");
    assert_eq!(wrapper.attr_i64("process.exit.code"), Some(1));
    let tp = std::fs::read_to_string(project.join("env.tp")).unwrap();
    assert_eq!(
        tp.trim(),
        format!("00-{}-{}-01", wrapper.trace_id_hex(), wrapper.span_id_hex())
    );
    let root = spans.iter().find(|s| s.span.name == "dbt build").unwrap();
    assert_eq!(root.parent_id_hex(), wrapper.span_id_hex());
    for span in &spans {
        assert_eq!(span.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        if span.span.name != "dbt" && span.span.name != "dbt build" {
            assert_eq!(
                span.parent_id_hex(),
                root.span_id_hex(),
                "{}",
                span.span.name
            );
        }
    }
    assert_eq!(root.resource_str("service.name"), Some("dbt"));
}

#[test]
fn the_dbt_wrapper_leaves_an_older_run_results_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dbt = fake_dbt(tmp.path());
    let project = tmp.path().join("proj");
    let target = project.join("target");
    std::fs::create_dir_all(&target).unwrap();
    let stale = target.join("run_results.json");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/02-run/run_results.json"),
        &stale,
    )
    .unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .env("WRITE", "0")
        .args(["dbt", "--run", "--endpoint", &rx.endpoint(), "--"])
        .arg(&dbt)
        .arg("run")
        .arg("--project-dir")
        .arg(&project)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("run_results.json: not written by this dbt invocation"),
        "{err}"
    );
    let spans = rx.wait_spans(1, WAIT);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.name, "dbt");
}

/// `exec`'s command reports through `$RETRACE_SPAN` as a runner step does.
#[test]
fn the_command_reports_its_own_numbers() {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = run(retrace().arg("exec").args(rx.cli_args()).args([
        "--",
        "sh",
        "-c",
        "echo 'attr pipeline.bytes.processed=52428800' >> \"$RETRACE_SPAN\"; \
             echo 'event done' >> \"$RETRACE_SPAN\"; echo 'attr' >> \"$RETRACE_SPAN\"",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sh: RETRACE_SPAN line 3"),
        "{}",
        stderr(&out)
    );
    let spans = rx.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].attr_i64("pipeline.bytes.processed"),
        Some(52_428_800)
    );
    let event = &spans[0].span.events[0];
    assert_eq!(event.name, "done");
    // No time given: the command's end, marked as derived.
    assert_eq!(event.time_unix_nano, spans[0].span.end_time_unix_nano);
}

/// `--convert`: what the command wrote is converted under its span; what was there before it
/// started is left alone.
#[test]
fn convert_sends_what_the_command_wrote_under_its_span() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/junit/nextest/junit.xml");
    let old = tmp.path().join("old.xml");
    std::fs::copy(&fixture, &old).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .unwrap();
    let report = tmp.path().join("report.xml");
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("exec")
        .args(rx.cli_args())
        .arg("--convert")
        .arg(&report)
        .arg("--convert")
        .arg(&old)
        .args(["--", "cp"])
        .arg(&fixture)
        .arg(&report));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("old.xml: not written by this cp invocation"),
        "{}",
        stderr(&out)
    );
    let spans = rx.spans();
    let exec = spans
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .expect("the command's span");
    assert_eq!(exec.span.name, "cp");
    let junit_root = spans
        .iter()
        .find(|s| s.attr_str("junit.report").is_some())
        .expect("the report's run");
    assert_eq!(junit_root.trace_id_hex(), exec.trace_id_hex());
    assert_eq!(junit_root.parent_id_hex(), exec.span_id_hex());
    // The nextest report: root, 2 suites, 9 cases, 5 retries; nothing of old.xml.
    assert_eq!(spans.len(), 1 + 17);
}
