//! Trace context through batch boundaries: `--traceparent-from` reads the carrier forms a
//! message header, S3 object metadata or an XCom holds; `--carrier-out` writes one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::cli::{retrace, stderr};
use crate::common::receiver::{Proto, Receiver};

const WAIT: Duration = Duration::from_secs(10);
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SPAN: &str = "b7ad6b7169203331";
/// 04-build: the root and 39 nodes.
const SPANS: usize = 40;

fn artifact() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbt/04-build/run_results.json")
}

fn carriers() -> Vec<(&'static str, String)> {
    let tp = format!("00-{TRACE}-{SPAN}-01");
    let bytes: Vec<String> = tp.bytes().map(|b| b.to_string()).collect();
    vec![
        (
            "an XCom dict",
            format!(r#"{{"traceparent": "{tp}", "tracestate": "rojo=00f067aa0ba902b7"}}"#),
        ),
        (
            "S3 metadata with the otel- prefix",
            format!(
                r#"{{"otel-traceparent": "{tp}", "otel-tracestate": "rojo=00f067aa0ba902b7"}}"#
            ),
        ),
        (
            "aws s3api head-object output",
            format!(
                r#"{{"ContentType": "application/json", "Metadata": {{"traceparent": "{tp}", "tracestate": "rojo=00f067aa0ba902b7"}}}}"#
            ),
        ),
        (
            "Kafka header pairs",
            format!(
                r#"[["content-type", "application/json"], ["traceparent", [{}]], ["tracestate", "rojo=00f067aa0ba902b7"]]"#,
                bytes.join(", ")
            ),
        ),
    ]
}

/// Converts the fixture under the carrier `arg` (a file, or `-` with `stdin`); returns the root.
fn convert_under(
    rx: &Receiver,
    arg: &Path,
    stdin: Option<&str>,
    extra: &[&str],
) -> crate::common::receiver::ReceivedSpan {
    let mut child = retrace()
        .arg("dbt")
        .arg(artifact())
        .arg("--traceparent-from")
        .arg(arg)
        .args(rx.cli_args())
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let spans = rx.wait_spans(SPANS, WAIT);
    let root = spans
        .iter()
        .find(|s| s.parent_id_hex() == SPAN)
        .unwrap_or_else(|| panic!("no span under the carrier's"))
        .clone();
    assert!(spans.iter().all(|s| s.trace_id_hex() == TRACE));
    root
}

#[test]
fn every_carrier_form_parents_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    for (label, text) in carriers() {
        let rx = Receiver::start(Proto::Grpc);
        let file = tmp.path().join("carrier.json");
        std::fs::write(&file, &text).unwrap();
        let root = convert_under(&rx, &file, None, &[]);
        assert_eq!(root.span.name, "dbt build", "{label}");
        assert_eq!(root.span.trace_state, "rojo=00f067aa0ba902b7", "{label}");

        let rx = Receiver::start(Proto::Grpc);
        let root = convert_under(&rx, Path::new("-"), Some(&text), &[]);
        assert_eq!(
            root.span.trace_state, "rojo=00f067aa0ba902b7",
            "{label} on stdin"
        );
    }
}

#[test]
fn the_root_context_is_written_as_a_carrier() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let file = tmp.path().join("in.json");
    std::fs::write(&file, &carriers()[0].1).unwrap();
    let out_file = tmp.path().join("out.json");
    let root = convert_under(
        &rx,
        &file,
        None,
        &["--carrier-out", out_file.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        format!(
            "{{\"traceparent\":\"00-{TRACE}-{}-01\",\"tracestate\":\"rojo=00f067aa0ba902b7\"}}\n",
            root.span_id_hex()
        )
    );
}

#[test]
fn a_bad_carrier_is_one_line_and_nothing_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Proto::Grpc);
    for (text, problem) in [
        ("TRACEPARENT=00-x", "not a JSON carrier"),
        (r#"{"trace": "x"}"#, "no traceparent in it"),
        (
            r#"{"traceparent": "00-nope"}"#,
            "invalid trace context in the carrier",
        ),
    ] {
        let file = tmp.path().join("bad.json");
        std::fs::write(&file, text).unwrap();
        let out = retrace()
            .args(["dbt"])
            .arg(artifact())
            .arg("--traceparent-from")
            .arg(&file)
            .args(rx.cli_args())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(problem) && err.contains("bad.json"), "{err}");
    }
    let out = retrace()
        .args(["dbt"])
        .arg(artifact())
        .args(["--traceparent-from", tmp.path().to_str().unwrap()])
        .args(rx.cli_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    let out = retrace()
        .args(["dbt"])
        .arg(artifact())
        .args(["--traceparent-from", "-", "--traceparent"])
        .arg(format!("00-{TRACE}-{SPAN}-01"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "the two are exclusive");
    assert!(rx.spans().is_empty());
}
