//! Secrets never leak: canary values in header flags and variables, in endpoint userinfo, in
//! the workflow's `otel.headers`, in environment variables named like secrets (in retrace's
//! environment and in dbt's `metadata.env`) are driven through every failure path, and none
//! may show in stdout, stderr, span attributes, resources, records, logs, output files, spool
//! contents or spool file names. Every scenario also proves the canaries were in play.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::cli::{retrace, stderr};
use crate::common::receiver::{closed_port, Behavior, Failure, Proto, Receiver};

const HEADER_FLAG: &str = "cnry-hdrflag-5e1f";
const HEADER_ENV: &str = "cnry-hdrenv-77a0";
const HEADER_TRACES_ENV: &str = "cnry-hdrtraces-3b9d";
const HEADER_WORKFLOW: &str = "cnry-hdrwf-c2e4";
const USERINFO: &str = "cnry-userinfo-9d02";
const ENV_TOKEN: &str = "cnry-token-1a6c";
const ENV_SECRET: &str = "cnry-secret-4f88";
const ENV_PASSWORD: &str = "cnry-password-0b3e";
const ENV_KEY: &str = "cnry-key-6d51";
const DBT_ENV_PASSWORD: &str = "cnry-dbtenv-8c27";

/// Every canary shares this prefix, so one search finds any of them.
const PREFIX: &str = "cnry-";

/// The binary with every canary in its environment.
fn canaried() -> Command {
    let mut cmd = retrace();
    cmd.env(
        "OTEL_EXPORTER_OTLP_HEADERS",
        format!("x-api-key={HEADER_ENV}"),
    )
    .env("MY_API_TOKEN", ENV_TOKEN)
    .env("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    .env("DB_PASSWORD", ENV_PASSWORD)
    .env("SIGNING_KEY", ENV_KEY)
    .env("DBT_ENV_CUSTOM_ENV_WAREHOUSE_PASSWORD", DBT_ENV_PASSWORD);
    cmd
}

fn header_flag() -> [String; 2] {
    [
        "--header".into(),
        format!("authorization=Bearer {HEADER_FLAG}"),
    ]
}

/// `http://user:<canary>@host:port` for a receiver or any endpoint.
fn with_userinfo(endpoint: &str) -> String {
    endpoint.replacen("http://", &format!("http://retrace:{USERINFO}@"), 1)
}

/// A copy of 04-build whose `metadata.env` carries a secret-named variable (as dbt writes
/// `DBT_ENV_CUSTOM_ENV_*`) next to a harmless one.
fn dbt_artifact(dir: &Path) -> PathBuf {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/04-build/run_results.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    doc["metadata"]["env"] = serde_json::json!({
        "WAREHOUSE_PASSWORD": DBT_ENV_PASSWORD,
        "TEAM": "data-platform",
    });
    let path = dir.join("run_results.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

/// Fails the test if any canary is in `text`.
fn assert_clean(text: &str, place: &str) {
    assert!(
        !text.contains(PREFIX),
        "a secret leaked into {place}:\n{text}"
    );
}

fn assert_output_clean(out: &Output, scenario: &str) {
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{scenario}: {text}");
    assert_clean(&text, &format!("{scenario}: stderr"));
    assert_clean(
        &String::from_utf8_lossy(&out.stdout),
        &format!("{scenario}: stdout"),
    );
}

/// Names and contents of every file under `dir`.
fn assert_tree_clean(dir: &Path, scenario: &str) {
    for entry in walk(dir) {
        assert_clean(
            &entry.display().to_string(),
            &format!("{scenario}: a file name"),
        );
        if entry.is_file() {
            let bytes = std::fs::read(&entry).unwrap();
            assert_clean(
                &String::from_utf8_lossy(&bytes),
                &format!("{scenario}: {}", entry.display()),
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Everything the receiver got apart from the headers (where the secrets belong).
fn assert_received_clean(receiver: &Receiver, scenario: &str) {
    for request in receiver.requests() {
        assert_clean(&format!("{request:?}"), &format!("{scenario}: the spans"));
    }
}

/// The header canaries reached the collector, so they were in play.
fn assert_headers_sent(receiver: &Receiver, scenario: &str) {
    let headers = receiver.headers();
    let all: Vec<&(String, String)> = headers.iter().flatten().collect();
    for canary in [HEADER_FLAG, HEADER_ENV] {
        assert!(
            all.iter().any(|(_, v)| v.contains(canary)),
            "{scenario}: {canary} was not sent: {all:?}"
        );
    }
}

#[test]
fn delivered_spans_carry_no_secret_and_the_headers_do_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dbt_artifact(dir.path());
    for proto in Proto::all() {
        let receiver = Receiver::start(proto);
        let out = canaried()
            .arg("dbt")
            .arg(&artifact)
            .args(["--endpoint", &with_userinfo(&receiver.endpoint())])
            .args(["--protocol", proto.flag()])
            .args(header_flag())
            .output()
            .unwrap();
        let scenario = format!("delivered over {proto:?}");
        assert_eq!(out.status.code(), Some(0), "{scenario}: {}", stderr(&out));
        assert_output_clean(&out, &scenario);
        assert_received_clean(&receiver, &scenario);
        assert_headers_sent(&receiver, &scenario);
        // The harmless variable is exported, so the filter is a filter, not an off switch.
        let root = receiver
            .spans()
            .into_iter()
            .find(|s| s.span.parent_span_id.is_empty())
            .unwrap();
        assert_eq!(root.attr_str("dbt.env.TEAM"), Some("data-platform"));
    }
}

#[test]
fn no_failure_path_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dbt_artifact(dir.path());
    let refused = closed_port();
    let permanent = Receiver::start_with(
        Proto::HttpProtobuf,
        Behavior::always(Failure::InvalidArgument),
    );
    let unavailable = Receiver::start_with(Proto::Grpc, Behavior::always(Failure::Unavailable));
    let plaintext = Receiver::start(Proto::HttpProtobuf);
    let scenarios: Vec<(&str, Vec<String>)> = vec![
        (
            "connection refused, gRPC",
            vec![
                "--endpoint".into(),
                with_userinfo(&refused),
                "--protocol".into(),
                "grpc".into(),
            ],
        ),
        (
            "connection refused, HTTP",
            vec![
                "--endpoint".into(),
                with_userinfo(&format!("{refused}/v1/traces")),
                "--protocol".into(),
                "http/json".into(),
            ],
        ),
        (
            "HTTP 400",
            vec!["--endpoint".into(), with_userinfo(&permanent.endpoint())],
        ),
        (
            "gRPC UNAVAILABLE until the timeout",
            vec![
                "--endpoint".into(),
                with_userinfo(&unavailable.endpoint()),
                "--protocol".into(),
                "grpc".into(),
            ],
        ),
        (
            "TLS to a plaintext port (the doctor speaks)",
            vec![
                "--endpoint".into(),
                with_userinfo(&plaintext.endpoint()).replacen("http://", "https://", 1),
            ],
        ),
        (
            "an HTTP path without /v1/traces (the doctor speaks)",
            vec![
                "--endpoint".into(),
                with_userinfo(&format!("http://{}/otlp", plaintext.addr())),
                "--protocol".into(),
                "http/protobuf".into(),
            ],
        ),
    ];
    for (scenario, args) in scenarios {
        let spool = tempfile::tempdir().unwrap();
        let out = canaried()
            .arg("dbt")
            .arg(&artifact)
            .args(["--timeout", "1s", "--spool"])
            .arg(spool.path())
            .args(header_flag())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{scenario}: {}", stderr(&out));
        assert_output_clean(&out, scenario);
        // The spool was written (so it was searched), and holds nothing secret.
        assert!(!walk(spool.path()).is_empty(), "{scenario}: no spool");
        assert_tree_clean(spool.path(), scenario);

        // Replaying that spool to a collector that is still down.
        let out = canaried()
            .arg("send")
            .arg("--spool")
            .arg(spool.path())
            .args(["--timeout", "1s"])
            .args(header_flag())
            .args(&args)
            .output()
            .unwrap();
        // A request refused for good was set aside, not spooled: nothing is left to send.
        let expected = if scenario == "HTTP 400" { 0 } else { 3 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "send, {scenario}: {}",
            stderr(&out)
        );
        assert_output_clean(&out, &format!("send, {scenario}"));
    }
    assert_received_clean(&permanent, "HTTP 400");
    assert_headers_sent(&permanent, "HTTP 400");
}

#[test]
fn switching_to_the_transport_the_endpoint_speaks_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dbt_artifact(dir.path());
    let http = Receiver::start(Proto::HttpProtobuf);
    let out = canaried()
        .arg("dbt")
        .arg(&artifact)
        .args(["--timeout", "5s", "--no-spool", "--protocol", "grpc"])
        .args(header_flag())
        .arg("--endpoint")
        .arg(with_userinfo(&format!("http://{}", http.addr())))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sending with http/protobuf instead"),
        "{}",
        stderr(&out)
    );
    assert_output_clean(&out, "a switched transport");
    assert_received_clean(&http, "a switched transport");
    assert_headers_sent(&http, "a switched transport");
}

#[test]
fn configuration_errors_do_not_echo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dbt_artifact(dir.path());
    let receiver = Receiver::start(Proto::HttpProtobuf);
    /// What it shows, extra environment, extra flags.
    type Case = (&'static str, Vec<(&'static str, String)>, Vec<String>);
    let cases: Vec<Case> = vec![
        (
            "a header written as Name: value with base64 padding",
            vec![],
            vec![
                "--header".into(),
                format!("Authorization: Basic {HEADER_FLAG}=="),
            ],
        ),
        (
            "a header value with a control character",
            vec![],
            vec![
                "--header".into(),
                format!("authorization=\u{1}{HEADER_FLAG}"),
            ],
        ),
        (
            "a header flag without =",
            vec![],
            vec!["--header".into(), HEADER_FLAG.to_owned()],
        ),
        (
            "OTEL_EXPORTER_OTLP_HEADERS entry without =",
            vec![("OTEL_EXPORTER_OTLP_HEADERS", format!("a=b,{HEADER_ENV}"))],
            vec![],
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS entry without =",
            vec![(
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                format!("{HEADER_TRACES_ENV},x=y"),
            )],
            vec![],
        ),
        (
            "an endpoint with a scheme retrace cannot use",
            vec![],
            vec![
                "--endpoint".into(),
                format!("ftp://retrace:{USERINFO}@127.0.0.1:1/v1/traces"),
            ],
        ),
        (
            "an endpoint that is not a URL",
            vec![],
            vec![
                "--endpoint".into(),
                format!("http://retrace:{USERINFO}@[::1/v1/traces"),
                "--protocol".into(),
                "grpc".into(),
            ],
        ),
    ];
    for (scenario, env, args) in cases {
        let mut cmd = canaried();
        cmd.arg("dbt")
            .arg(&artifact)
            .args(["--timeout", "1s", "--no-spool"]);
        if !args.iter().any(|a| a == "--endpoint") {
            cmd.args(["--endpoint", &receiver.endpoint()]);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(&args).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{scenario}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{scenario}: no message");
        assert_output_clean(&out, scenario);
    }
    assert_received_clean(&receiver, "configuration errors");
}

#[test]
fn local_outputs_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dbt_artifact(dir.path());
    let file = dir.path().join("out").join("spans.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    for (scenario, args) in [
        (
            "console",
            vec!["--exporter".to_owned(), "console".to_owned()],
        ),
        ("dry run", vec!["--dry-run".to_owned()]),
        (
            "file",
            vec!["--output".to_owned(), file.display().to_string()],
        ),
    ] {
        let out = canaried()
            .arg("dbt")
            .arg(&artifact)
            .args(header_flag())
            .args(["--endpoint", &with_userinfo("http://127.0.0.1:4317")])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{scenario}: {}", stderr(&out));
        assert_output_clean(&out, scenario);
    }
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    assert_tree_clean(&dir.path().join("out"), "file");
}

#[test]
fn the_runner_and_exec_keep_secrets_out_of_spans_records_logs_and_spool() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("flow.yaml");
    // A step that fails, a dependent that is skipped; otel headers from the file; the
    // endpoint is down, so everything is spooled.
    std::fs::write(
        &workflow,
        format!(
            "name: secretive\n\
             otel:\n  headers:\n    authorization: Bearer {HEADER_WORKFLOW}\n\
             steps:\n  - name: load\n    command: echo loading; exit 4\n\
             \x20 - name: report\n    depends: load\n    command: echo never\n"
        ),
    )
    .unwrap();
    let spool = dir.path().join("spool");
    let records = dir.path().join("records").join("run.jsonl");
    let logs = dir.path().join("logs");
    let endpoint = with_userinfo(&closed_port());
    let out = canaried()
        .arg("run")
        .arg(&workflow)
        .arg("--records")
        .arg(&records)
        .arg("--log-dir")
        .arg(&logs)
        .arg("--spool")
        .arg(&spool)
        .args([
            "--endpoint",
            &endpoint,
            "--protocol",
            "grpc",
            "--timeout",
            "1s",
        ])
        .args(header_flag())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_output_clean(&out, "run");
    assert!(!walk(&spool).is_empty(), "run: no spool");
    assert_tree_clean(&spool, "run: spool");
    assert_tree_clean(records.parent().unwrap(), "run: records");
    assert_tree_clean(&logs, "run: logs");

    let out = canaried()
        .args(["exec", "--timeout", "1s", "--endpoint", &endpoint])
        .arg("--spool")
        .arg(&spool)
        .args(header_flag())
        .args(["--", "sh", "-c", "exit 5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_output_clean(&out, "exec");
    assert_tree_clean(&spool, "exec: spool");
}
