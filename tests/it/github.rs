//! `retrace github`: GitHub Actions runs saved with `gh api` and `gh run view`, converted with
//! the ids the Collector's GitHub receiver derives (golden files computed independently from
//! the receiver's source, fixtures/github/README.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/github")
        .join(name)
}

fn convert(files: &[&str], extra: &[&str]) -> Vec<ReceivedSpan> {
    let rx = Receiver::start(Proto::HttpProtobuf);
    let out = run(retrace()
        .arg("github")
        .args(files.iter().map(|f| fixture(f)))
        .args(rx.cli_args())
        .args(extra));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    rx.spans()
}

const REST: &[&str] = &[
    "run.json",
    "run-attempt-1.json",
    "jobs-attempt-1.json",
    "jobs-attempt-2.json",
];

/// The receiver's go-zero time for a step that never ran (retrace places such a step itself).
const GO_ZERO: u64 = 11_651_379_494_838_206_464;

fn check_golden(golden: &str, spans: &[ReceivedSpan]) {
    let golden: Value = serde_json::from_slice(&std::fs::read(fixture(golden)).unwrap()).unwrap();
    let ours: HashMap<(String, String), &ReceivedSpan> = spans
        .iter()
        .map(|s| ((s.trace_id_hex(), s.span_id_hex()), s))
        .collect();
    let mut checked = 0;
    for attempt in golden["attempts"].as_array().unwrap() {
        let trace = attempt["trace_id"].as_str().unwrap();
        let golden_spans = attempt["spans"].as_array().unwrap();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for g in golden_spans {
            *ids.entry(g["span_id"].as_str().unwrap()).or_default() += 1;
        }
        for g in golden_spans {
            let id = g["span_id"].as_str().unwrap();
            let name = g["name"].as_str().unwrap();
            let key = (trace.to_owned(), id.to_owned());
            if ids[id] > 1 {
                // The receiver gives two steps of one name one id; retrace keeps it for the
                // first and gives the later ones (`name-1`) ids of their own, same job.
                let first = ours[&key];
                let this = spans
                    .iter()
                    .find(|s| {
                        s.trace_id_hex() == trace
                            && s.span.name == name
                            && s.parent_id_hex() == g["parent_span_id"].as_str().unwrap()
                    })
                    .unwrap_or_else(|| panic!("no span {name}"));
                if first.span.name == name {
                    assert_eq!(this.span_id_hex(), id);
                } else {
                    assert_ne!(this.span_id_hex(), id, "{name} has an id of its own");
                }
                checked += 1;
                continue;
            }
            let s = ours
                .get(&key)
                .unwrap_or_else(|| panic!("no span {trace}/{id} ({name})"));
            assert_eq!(s.span.name, name);
            assert_eq!(
                s.parent_id_hex(),
                g["parent_span_id"].as_str().unwrap(),
                "{name}"
            );
            let start: u64 = g["start_time_unix_nano"].as_str().unwrap().parse().unwrap();
            let end: u64 = g["end_time_unix_nano"].as_str().unwrap().parse().unwrap();
            if start != GO_ZERO {
                assert_eq!(s.span.start_time_unix_nano, start, "{name}");
                assert_eq!(s.span.end_time_unix_nano, end, "{name}");
            } else {
                assert_eq!(s.attr_str("retrace.time_source"), Some("derived"), "{name}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, spans.len(), "every span is one of the receiver's");
}

#[test]
fn ids_and_times_equal_the_collector_receivers() {
    check_golden("golden-ids-checkrun.golden", &convert(REST, &[]));
}

#[test]
fn the_legacy_id_scheme_on_request() {
    check_golden(
        "golden-ids-legacy.golden",
        &convert(REST, &["--github-ids", "legacy"]),
    );
}

#[test]
fn attributes_statuses_and_queue_times() {
    let spans = convert(REST, &[]);
    let root = |trace: &str| {
        spans
            .iter()
            .find(|s| s.span.parent_span_id.is_empty() && s.trace_id_hex() == trace)
            .unwrap()
    };
    let second = root("27a896176a5cdb5d8e1c11d8e9ff2f6c");
    assert_eq!(second.attr_str("cicd.pipeline.name"), Some("CI"));
    assert_eq!(second.attr_str("cicd.pipeline.run.id"), Some("13812345678"));
    assert_eq!(second.attr_str("cicd.pipeline.result"), Some("failure"));
    assert_eq!(second.attr_i64("github.run_attempt"), Some(2));
    assert_eq!(
        second.attr_str("vcs.ref.head.revision"),
        Some("5f2b9c1d7e3a4b6c8d0e1f2a3b4c5d6e7f8a9b0c")
    );
    assert_eq!(second.attr_str("vcs.ref.head.name"), Some("main"));
    assert!(second
        .attr_str("vcs.repository.url.full")
        .is_some_and(|u| u.ends_with("octo-org/octo-repo")));
    assert_eq!(second.resource_str("service.name"), Some("github"));
    let job = |name: &str| {
        spans
            .iter()
            .find(|s| s.trace_id_hex() == "a9fdd8734c1f29c206ec14c47a6f222f" && s.span.name == name)
            .unwrap()
    };
    let integration = job("integration");
    assert_eq!(
        integration.attr_str("cicd.pipeline.task.run.result"),
        Some("timeout")
    );
    assert_eq!(
        job("test (windows-latest)").attr_str("cicd.pipeline.task.run.result"),
        Some("cancellation")
    );
    assert_eq!(
        job("deploy").attr_str("cicd.pipeline.task.run.result"),
        Some("skip")
    );
    assert!(job("build").attr_str("cicd.worker.name").is_some());
    assert!(job("build")
        .attr_str("cicd.pipeline.task.run.url.full")
        .is_some_and(|u| u.contains("/job/")));
}

#[test]
fn paged_and_slurped_job_lists_and_gh_run_view() {
    // `--paginate` (pages back to back) and `--slurp` give the same jobs.
    let ids = |spans: Vec<ReceivedSpan>| {
        let mut ids: Vec<(String, String, u64)> = spans
            .into_iter()
            .filter(|s| !s.span.parent_span_id.is_empty())
            .map(|s| (s.trace_id_hex(), s.span_id_hex(), s.span.end_time_unix_nano))
            .collect();
        ids.sort();
        ids
    };
    let paged = ids(convert(&["jobs-filter-all.paginate.json"], &[]));
    let slurped = ids(convert(&["jobs-filter-all.slurp.json"], &[]));
    assert!(!paged.is_empty());
    assert_eq!(paged, slurped);
    // `gh run view`: the run and its latest attempt's jobs and steps; jobs start at
    // startedAt (gh has no creation time), and keep the receiver's ids.
    let gh = convert(&["gh-run-view.json"], &[]);
    let build = gh.iter().find(|s| s.span.name == "build").unwrap();
    assert_eq!(build.trace_id_hex(), "27a896176a5cdb5d8e1c11d8e9ff2f6c");
    assert_eq!(build.span_id_hex(), "3cf9b8a22882b240");
    assert!(gh.iter().all(|s| !s.span.name.starts_with("queue-")));
}

#[test]
fn backfill_finds_github_runs_and_a_bad_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    for f in REST {
        std::fs::copy(fixture(f), tmp.path().join(f)).unwrap();
    }
    std::fs::write(
        tmp.path().join("jobs-broken.json"),
        "{\"total_count\": 3, \"jobs\": [",
    )
    .unwrap();
    let rx = Receiver::start(Proto::Grpc);
    let out = run(retrace()
        .arg("backfill")
        .arg(tmp.path())
        .args(rx.cli_args()));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("jobs-broken.json"),
        "{}",
        stderr(&out)
    );
    let roots: Vec<String> = rx
        .spans()
        .into_iter()
        .filter(|s| s.span.parent_span_id.is_empty())
        .map(|s| s.trace_id_hex())
        .collect();
    assert_eq!(roots.len(), 2, "one trace per attempt");
}
