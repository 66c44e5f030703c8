//! The dbt post-step against a REAL dbt: `retrace dbt --run -- dbt build` on examples/dbt
//! (DuckDB), to an in-process OTLP receiver. Needs dbt, so it is ignored by a plain
//! `cargo test`; `tools/dbt-e2e.sh` installs the pinned dbt and runs it (and `.ci/run` runs
//! that script). RETRACE_DBT names the dbt executable.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::common::cli::{retrace, stderr};
use crate::common::receiver::{Proto, Receiver};

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
#[ignore = "needs a real dbt: run tools/dbt-e2e.sh"]
fn dbt_build_under_the_wrapper_span() {
    let dbt = std::env::var("RETRACE_DBT").expect("RETRACE_DBT: the dbt executable");
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dbt");
    // Everything dbt writes goes to a scratch directory, not into the source tree.
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target");
    let rx = Receiver::start(Proto::Grpc);
    let out = retrace()
        .env("DBT_DUCKDB_PATH", tmp.path().join("bakery.duckdb"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
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
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(&target)
        .arg("--log-path")
        .arg(tmp.path().join("logs"))
        .output()
        .unwrap();
    // dbt's own exit code: a model and a test fail on purpose.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("run_results.json")).unwrap()).unwrap();
    let results = results["results"].as_array().unwrap().clone();
    assert!(results.len() >= 15, "{}", results.len());
    let spans = rx.wait_spans(results.len() + 2, Duration::from_secs(20));
    assert_eq!(spans.len(), results.len() + 2, "{}", stderr(&out));

    let wrapper = spans.iter().find(|s| s.span.name == "dbt").unwrap();
    assert_eq!(wrapper.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(wrapper.parent_id_hex(), "00f067aa0ba902b7");
    assert_eq!(wrapper.attr_i64("process.exit.code"), Some(1));
    let root = spans.iter().find(|s| s.span.name == "dbt build").unwrap();
    assert_eq!(root.parent_id_hex(), wrapper.span_id_hex());
    let within = |s: &crate::common::receiver::ReceivedSpan| {
        s.span.start_time_unix_nano >= wrapper.span.start_time_unix_nano
            && s.span.end_time_unix_nano <= wrapper.span.end_time_unix_nano
    };
    assert!(within(root));

    // dbt recorded the wrapper's context itself (DBT_ENV_CUSTOM_ENV_TRACEPARENT).
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(target.join("run_results.json")).unwrap()).unwrap();
    assert_eq!(
        written["metadata"]["env"]["TRACEPARENT"].as_str(),
        Some(format!("00-{}-{}-01", wrapper.trace_id_hex(), wrapper.span_id_hex()).as_str())
    );

    let by_node: HashMap<&str, &crate::common::receiver::ReceivedSpan> = spans
        .iter()
        .filter_map(|s| Some((s.attr_str("dbt.node_id")?, s)))
        .collect();
    let mut seen = HashMap::new();
    for result in &results {
        let id = result["unique_id"].as_str().unwrap();
        let status = result["status"].as_str().unwrap();
        let span = by_node
            .get(id)
            .unwrap_or_else(|| panic!("no span for {id}"));
        assert_eq!(span.trace_id_hex(), wrapper.trace_id_hex(), "{id}");
        assert_eq!(span.parent_id_hex(), root.span_id_hex(), "{id}");
        assert!(within(span), "{id} outside the wrapper span");
        assert_eq!(span.attr_str("dbt.status"), Some(status), "{id}");
        let code = span.span.status.as_ref().map_or(0, |s| s.code);
        let expected = match status {
            "success" | "pass" => 1,
            "error" | "fail" => 2,
            _ => 0,
        };
        assert_eq!(code, expected, "{id}: {status}");
        *seen.entry(status.to_owned()).or_insert(0) += 1;
    }
    // The project's deliberate failures are there, as dbt reported them.
    assert_eq!(seen.get("error"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("fail"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("skipped"), Some(&2), "{seen:?}");
}
