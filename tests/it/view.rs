//! `view`, `report` and `compare`: the analysis of why a run took as long as it did. The dbt
//! critical path is checked against a reference computed here, separately, from
//! run_results.json and manifest.json; the figures of hand-made runs against values worked
//! out by hand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, Receiver};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn view_json(args: &[&str]) -> Value {
    let out = run(retrace().arg("view").arg("--json").args(args));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn nanos(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// A node as the reference sees it: straight from run_results.json and manifest.json.
struct Node {
    id: String,
    start: i64,
    end: i64,
    deps: Vec<usize>,
}

/// The critical path by the rule the README states, written independently of retrace's code:
/// from the node that finished last, back each time through the dependency that finished
/// last; a node without dependencies goes on through the node that finished last at or before
/// its start. Ties: the later start, then the earlier node in run_results.
fn reference_path(dir: &Path) -> Vec<(String, i64, i64)> {
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("run_results.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut nodes: Vec<Node> = Vec::new();
    let mut deps_by_id: Vec<Vec<String>> = Vec::new();
    for r in results["results"].as_array().unwrap() {
        let timing = r["timing"].as_array().unwrap();
        let starts: Vec<i64> = timing
            .iter()
            .filter_map(|t| t["started_at"].as_str())
            .map(nanos)
            .collect();
        let ends: Vec<i64> = timing
            .iter()
            .filter_map(|t| t["completed_at"].as_str())
            .map(nanos)
            .collect();
        let (Some(&start), Some(&end)) = (starts.iter().min(), ends.iter().max()) else {
            continue; // never ran: no recorded time
        };
        let id = r["unique_id"].as_str().unwrap().to_owned();
        let deps = manifest["nodes"][&id]["depends_on"]["nodes"]
            .as_array()
            .map(|d| d.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        deps_by_id.push(deps);
        nodes.push(Node {
            id,
            start,
            end,
            deps: Vec::new(),
        });
    }
    let at: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    for (i, deps) in deps_by_id.iter().enumerate() {
        nodes[i].deps = deps.iter().filter_map(|d| at.get(d).copied()).collect();
    }
    let latest = |candidates: Vec<usize>| -> Option<usize> {
        let mut best: Option<usize> = None;
        for c in candidates {
            let better = match best {
                None => true,
                Some(b) => (nodes[c].end, nodes[c].start) > (nodes[b].end, nodes[b].start),
            };
            if better {
                best = Some(c);
            }
        }
        best
    };
    let mut taken = vec![false; nodes.len()];
    let mut chain = Vec::new();
    let mut at = latest((0..nodes.len()).collect());
    while let Some(i) = at {
        taken[i] = true;
        chain.push(i);
        let mut candidates: Vec<usize> = if nodes[i].deps.is_empty() {
            (0..nodes.len())
                .filter(|&j| !taken[j] && nodes[j].end <= nodes[i].start)
                .collect()
        } else {
            nodes[i].deps.clone()
        };
        candidates.sort_unstable();
        at = latest(candidates);
    }
    chain.reverse();
    chain
        .into_iter()
        .map(|i| (nodes[i].id.clone(), nodes[i].start, nodes[i].end))
        .collect()
}

#[test]
fn dbt_critical_path_equals_the_reference_computed_from_run_results_and_manifest() {
    for run_dir in ["04-build", "20-build-dbt1.8", "21-build-dbt1.7"] {
        let dir = fixture(&format!("dbt/{run_dir}"));
        let expected = reference_path(&dir);
        assert!(expected.len() >= 3, "{run_dir}: a real chain");
        let json = view_json(&[dir.to_str().unwrap()]);
        let analysis = &json["runs"][0];
        assert_eq!(json["schema"], "retrace.view/v1");
        assert_eq!(analysis["method"], "dependencies", "{run_dir}");
        let path = analysis["critical_path"].as_array().unwrap();
        let got: Vec<(String, i64, i64)> = path
            .iter()
            .map(|p| {
                (
                    p["step_id"].as_str().unwrap().to_owned(),
                    p["start_ns"].as_i64().unwrap(),
                    p["end_ns"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{run_dir}");
        // The wait before each: from the previous critical node's end (the first: the run's).
        let mut previous_end = analysis["start_ns"].as_i64().unwrap();
        for (p, (_, start, end)) in path.iter().zip(&expected) {
            assert_eq!(
                p["wait_before_ns"].as_i64().unwrap(),
                (start - previous_end).max(0)
            );
            assert_eq!(p["duration_ns"].as_i64().unwrap(), end - start);
            previous_end = *end;
        }
        let waits: i64 = path
            .iter()
            .map(|p| p["wait_before_ns"].as_i64().unwrap())
            .sum();
        assert_eq!(analysis["critical_wait_ns"].as_i64().unwrap(), waits);
    }
}

#[test]
fn dbt_build_names_its_chain_and_its_thread_lanes() {
    let json = view_json(&[fixture("dbt/04-build").to_str().unwrap()]);
    let a = &json["runs"][0];
    let ids: Vec<&str> = a["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "operation.pedal_share.pedal_share-on-run-start-0",
            "model.pedal_share.stg_rides",
            "model.pedal_share.stg_stations",
            "model.pedal_share.dim_stations",
            "model.pedal_share.fct_rides",
            "model.pedal_share.agg_daily_rides",
            "test.pedal_share.unique_agg_daily_rides_ride_date.560aa60d08",
            "operation.pedal_share.pedal_share-on-run-end-0",
        ]
    );
    assert_eq!(a["trace_id"], "c8eb10b891ff4a5ea843fa04e6e63990");
    assert_eq!(a["status"], "error");
    // Every critical step is flagged in the step list, and only they.
    let flagged: Vec<&str> = a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["critical"] == true)
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    let mut flagged_sorted = flagged.clone();
    flagged_sorted.sort_unstable();
    assert_eq!(flagged_sorted, sorted_ids);
    // The two skipped nodes never ran: listed, derived, outside every figure.
    let derived: Vec<&Value> = a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["time_source"] == "derived")
        .collect();
    assert_eq!(derived.len(), 2);
    assert!(derived
        .iter()
        .all(|s| s["slack_ns"].is_null() && s["wait_ns"].is_null()));
    // dbt ran one worker thread; the hooks ran on the main thread.
    let lanes: Vec<&str> = a["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["thread"].as_str().unwrap())
        .collect();
    assert_eq!(lanes, ["Thread-1 (worker)", "main"]);
    let worker = &a["lanes"][0];
    assert_eq!(worker["nodes"], 35);
    let busy: i64 = a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["thread"] == "Thread-1 (worker)" && s["time_source"] == "recorded")
        .map(|s| s["duration_ns"].as_i64().unwrap())
        .sum();
    assert_eq!(
        worker["busy_ns"].as_i64().unwrap(),
        busy,
        "one thread runs one node at a time"
    );
    assert_eq!(a["concurrency"]["peak"], 1);
}

/// A run of the runner's records, times in whole seconds from 1,000,000 s after the epoch:
/// a 0–10, c 10–15 (needs a), b 12–20 (needs a), d 20–30 (needs b and c); the run 0–31.
fn diamond(dir: &Path, name: &str, run_id: &str, d_seconds: i64) -> PathBuf {
    let t = |s: i64| (1_000_000 + s) * 1_000_000_000;
    let step = |id: &str, start: i64, end: i64, deps: &[&str]| {
        serde_json::json!({
            "type": "step", "schema": "retrace.records/v1", "run_id": run_id, "id": id,
            "name": format!("Step: {id}"), "attempt": 1, "start": t(start), "end": t(end),
            "outcome": "success", "links": deps,
        })
        .to_string()
    };
    let lines = [
        serde_json::json!({"type": "run", "schema": "retrace.records/v1", "system": "retrace",
            "run_id": run_id, "name": "DAG: diamond", "pipeline_name": "diamond", "start": t(0)})
        .to_string(),
        step("a", 0, 10, &[]),
        step("c", 10, 15, &["a"]),
        step("b", 12, 20, &["a"]),
        step("d", 20, 20 + d_seconds, &["b", "c"]),
        serde_json::json!({"type": "run_end", "schema": "retrace.records/v1", "run_id": run_id,
            "end": t(21 + d_seconds), "outcome": "success"})
        .to_string(),
    ];
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn waits_slack_and_concurrency_of_a_diamond_are_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let file = diamond(tmp.path(), "run.jsonl", "r1", 10);
    let json = view_json(&[file.to_str().unwrap()]);
    let a = &json["runs"][0];
    const S: i64 = 1_000_000_000;
    assert_eq!(a["wall_time_ns"].as_i64().unwrap(), 31 * S);
    let path: Vec<(&str, i64)> = a["critical_path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["step_id"].as_str().unwrap(),
                p["wait_before_ns"].as_i64().unwrap(),
            )
        })
        .collect();
    // b waited 2 s after a (another thread or slot was busy).
    assert_eq!(path, [("a", 0), ("b", 2 * S), ("d", 0)]);
    assert_eq!(a["critical_wait_ns"].as_i64().unwrap(), 2 * S);
    let figure = |id: &str, key: &str| {
        a["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step_id"] == id)
            .unwrap()[key]
            .as_i64()
            .unwrap()
    };
    // d may end 1 s later (the run ends at 31); b and c then as late as d may start (21).
    assert_eq!(figure("d", "slack_ns"), S);
    assert_eq!(figure("b", "slack_ns"), S);
    assert_eq!(figure("c", "slack_ns"), 6 * S);
    // a: b may start at 13 at the latest, c at 16.
    assert_eq!(figure("a", "slack_ns"), 3 * S);
    assert_eq!(figure("b", "wait_ns"), 2 * S);
    assert_eq!(figure("c", "wait_ns"), 0);
    assert_eq!(a["concurrency"]["peak"], 2);
    // (10 + 5 + 8 + 10) / 31
    assert_eq!(a["concurrency"]["average"].as_f64().unwrap(), 1.06);
    assert!(a["lanes"].as_array().unwrap().is_empty());
}

#[test]
fn without_dependencies_the_span_tree_decides() {
    let json = view_json(&[fixture("records/etl-run.jsonl").to_str().unwrap()]);
    let a = &json["runs"][0];
    assert_eq!(a["method"], "span-tree");
    let path = a["critical_path"].as_array().unwrap();
    // Two attempts of extract, one after the other: 0.1–0.2 s and 1.0–1.5 s of a 2 s run.
    let got: Vec<(i64, i64)> = path
        .iter()
        .map(|p| {
            (
                p["duration_ns"].as_i64().unwrap(),
                p["wait_before_ns"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(100_000_001, 100_000_000), (500_000_000, 799_999_999)]
    );
    assert!(a["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["wait_ns"].is_null()));
}

#[test]
fn view_reads_what_retrace_sent_with_the_same_ids() {
    let receiver = Receiver::start(Proto::Grpc);
    let tmp = tempfile::tempdir().unwrap();
    let lines = tmp.path().join("spans.jsonl");
    let fixture_dir = fixture("dbt/04-build");
    let out = run(retrace()
        .args(["dbt", fixture_dir.to_str().unwrap(), "--output"])
        .arg(&lines)
        .args(["--exporter", "otlp,file"])
        .args(receiver.cli_args()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_artifacts = view_json(&[fixture_dir.to_str().unwrap()]);
    let from_lines = view_json(&[lines.to_str().unwrap()]);
    let a = &from_lines["runs"][0];
    // Same analysis whichever way the run comes in, but the resource's name.
    let mut expected = from_artifacts["runs"][0].clone();
    expected["system"] = a["system"].clone();
    assert_eq!(a, &expected);
    // The span ids are the ones delivered over the socket.
    let received: std::collections::HashSet<String> =
        receiver.spans().iter().map(|s| s.span_id_hex()).collect();
    for p in a["critical_path"].as_array().unwrap() {
        assert!(received.contains(p["span_id"].as_str().unwrap()));
    }
    assert!(received.contains(a["span_id"].as_str().unwrap()));
}

#[test]
fn the_picture_marks_the_chain_and_colours_only_when_asked() {
    let dir = fixture("dbt/04-build");
    let out = run(retrace()
        .args(["view", dir.to_str().unwrap(), "--width", "100"])
        .env_remove("NO_COLOR"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "not a terminal: no colour");
    let critical: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(critical.len(), 8);
    assert!(critical[0].contains("operation pedal_share-on-run-start-0"));
    assert_eq!(text.lines().filter(|l| l.starts_with(" ~")).count(), 2);
    assert!(text.contains("Thread-1 (worker)  busy"));
    let bars = text.lines().filter(|l| l.contains(['█', '░', '|']));
    assert!(
        bars.into_iter().all(|l| l.chars().count() <= 100),
        "fits the width"
    );
    let out = run(retrace().args(["view", dir.to_str().unwrap(), "--color", "always"]));
    assert!(String::from_utf8(out.stdout).unwrap().contains("\x1b[31"));
}

#[test]
fn run_selection_and_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    diamond(tmp.path(), "r1.jsonl", "r1", 10);
    diamond(tmp.path(), "r2.jsonl", "r2", 20);
    std::fs::write(
        tmp.path().join("bad.jsonl"),
        "{\"resourceSpans\": []}\n{\"resourceSpans\": [tru}\n",
    )
    .unwrap();
    let out = run(retrace()
        .args(["view", "--json", "--run", "r2"])
        .arg(tmp.path()));
    assert_eq!(out.status.code(), Some(1), "a bad file is exit 1");
    let err = stderr(&out);
    assert!(
        err.contains("bad.jsonl: line 2: not an OTLP/JSON trace request"),
        "{err}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], "r2");
    let out = run(retrace()
        .args(["view", "--run", "nope"])
        .arg(tmp.path().join("r1.jsonl")));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no runs found"));
}

#[test]
fn compare_explains_the_change_and_gates_on_it() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history");
    std::fs::create_dir(&history).unwrap();
    diamond(&history, "r1.jsonl", "r1", 10);
    diamond(&history, "r2.jsonl", "r2", 12);
    diamond(&history, "r3.jsonl", "r3", 11);
    let candidate = diamond(tmp.path(), "r4.jsonl", "r4", 40);
    let out = run(retrace()
        .args(["compare", "--json"])
        .arg(&history)
        .arg(&candidate));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    const S: i64 = 1_000_000_000;
    assert_eq!(c["baseline"]["runs"], 3);
    // Median wall: 21 + 11 = 32 s; the candidate 61 s.
    assert_eq!(c["wall_time"]["before"].as_i64().unwrap(), 32 * S);
    assert_eq!(c["wall_time"]["after"].as_i64().unwrap(), 61 * S);
    assert_eq!(c["wall_time"]["change_percent"].as_f64().unwrap(), 90.6);
    let d = &c["steps"][0];
    assert_eq!(d["step_id"], "d");
    assert_eq!(d["before_ns"].as_i64().unwrap(), 11 * S);
    assert_eq!(d["change_ns"].as_i64().unwrap(), 29 * S);
    assert_eq!(d["critical_before"], true);
    assert_eq!(
        c["summary"],
        "+29.00s (+90.6%): d +29.00s (on the critical path)"
    );
    let gate = run(retrace()
        .args(["compare", "--fail-over", "50"])
        .arg(&history)
        .arg(&candidate));
    assert_eq!(gate.status.code(), Some(1));
    assert!(stderr(&gate).contains("regressed beyond --fail-over 50%"));
    let pass = run(retrace()
        .args(["compare", "--fail-over", "95"])
        .arg(&history)
        .arg(&candidate));
    assert_eq!(pass.status.code(), Some(0));
    assert!(String::from_utf8(pass.stdout)
        .unwrap()
        .contains("median of 3 runs"));
}

#[test]
fn report_embeds_the_view_analysis_and_every_span() {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("report.html");
    let dir = fixture("dbt/04-build");
    let out = run(retrace()
        .args(["report", dir.to_str().unwrap(), "-o"])
        .arg(&html));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    let embedded = |id: &str| -> Value {
        let open = format!(r#"<script type="application/json" id="{id}">"#);
        let from = page.find(&open).unwrap() + open.len();
        let to = from + page[from..].find("</script>").unwrap();
        serde_json::from_str(&page[from..to]).unwrap()
    };
    // The analysis of `view --json`, each step cut to its figures (its names are on its span).
    let mut analysis = embedded("retrace-analysis");
    let mut viewed = view_json(&[dir.to_str().unwrap()]);
    let steps = analysis["runs"][0]["steps"].take();
    let full_steps = viewed["runs"][0]["steps"].take();
    assert_eq!(analysis, viewed);
    let full_steps = full_steps.as_array().unwrap();
    assert_eq!(steps.as_array().unwrap().len(), full_steps.len());
    for (cut, full) in steps.as_array().unwrap().iter().zip(full_steps) {
        assert_eq!(cut["span_id"], full["span_id"]);
        assert_eq!(
            cut.get("slack_ns"),
            full.get("slack_ns").filter(|v| !v.is_null())
        );
        assert_eq!(
            cut.get("wait_ns"),
            full.get("wait_ns").filter(|v| !v.is_null())
        );
    }
    let spans = embedded("retrace-spans");
    let run = &spans["runs"][0];
    assert_eq!(run["spans"].as_array().unwrap().len(), 40);
    // Attributes as indexes into the run's strings: the root's pipeline name is there.
    let strings = run["strings"].as_array().unwrap();
    let root_attributes: Vec<&str> = run["spans"][0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| strings[i.as_u64().unwrap() as usize].as_str().unwrap())
        .collect();
    let at = root_attributes
        .iter()
        .position(|k| *k == "cicd.pipeline.name")
        .unwrap();
    assert_eq!(root_attributes[at + 1], viewed["runs"][0]["pipeline"]);
    assert_eq!(run["spans"][0]["start"], 0);
    for fetches in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "fetch(",
        "XMLHttpRequest",
        "@import",
    ] {
        assert!(!page.contains(fetches), "nothing fetched: {fetches}");
    }
}
