//! The HTML report opened in headless Chromium: it draws one bar per span, marks exactly the
//! critical path `view --json` computes, and logs nothing (no error, no uncaught exception).
//! Needs a browser, so ignored by a plain `cargo test`; tools/browser-test.sh installs
//! Chromium from the distribution's packages and runs these.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::cli::{retrace, run, stderr};

fn browser() -> String {
    std::env::var("RETRACE_BROWSER").unwrap_or_else(|_| "chromium".to_owned())
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// The page's DOM once its scripts ran, and what the browser logged.
fn open(page: &Path) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1400,1000",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start the browser (tools/browser-test.sh installs Chromium)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The console messages and uncaught exceptions of the page (Chromium's own start-up
/// chatter, about D-Bus or the GPU, is not the page's).
fn page_messages(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect()
}

fn report_of(inputs: &[&Path], dir: &Path) -> PathBuf {
    let page = dir.join("report.html");
    let out = run(retrace().arg("report").args(inputs).arg("-o").arg(&page));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    page
}

fn view(inputs: &[&Path]) -> Value {
    let out = run(retrace().args(["view", "--json"]).args(inputs));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[test]
#[ignore = "needs Chromium: run tools/browser-test.sh"]
fn dbt_build_report_draws_every_span_and_the_critical_path() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = fixture("dbt/04-build");
    let page = report_of(&[&run_dir], tmp.path());
    let (dom, log) = open(&page);
    assert_eq!(page_messages(&log), Vec::<&str>::new(), "the page logged");
    assert_eq!(count(&dom, "data-span-id=\""), 40, "one bar per span");
    let analysis = view(&[&run_dir]);
    let critical = analysis["runs"][0]["critical_path"].as_array().unwrap();
    assert_eq!(count(&dom, "data-critical=\"true\""), critical.len());
    for step in critical {
        let id = step["span_id"].as_str().unwrap();
        let bar = format!("data-span-id=\"{id}\"");
        let at = dom.find(&bar).expect("a bar for each critical step");
        // The bar's element: its attributes up to the tag's end.
        let tag_start = dom[..at].rfind('<').unwrap();
        let tag_end = at + dom[at..].find('>').unwrap();
        assert!(
            dom[tag_start..tag_end].contains("data-critical=\"true\""),
            "{id} is marked critical"
        );
    }
}

#[test]
#[ignore = "needs Chromium: run tools/browser-test.sh"]
fn a_report_of_many_runs_draws_the_selected_one() {
    let tmp = tempfile::tempdir().unwrap();
    // The bundled records and the Dagu fixtures: several runs.
    let records = fixture("records/etl-run.jsonl");
    let dagu = fixture("dagu");
    let page = report_of(&[&records, &dagu], tmp.path());
    let analysis = view(&[&records, &dagu]);
    let runs = analysis["runs"].as_array().unwrap();
    assert!(runs.len() > 1);
    let (dom, log) = open(&page);
    assert_eq!(page_messages(&log), Vec::<&str>::new(), "the page logged");
    // The first run is shown, all its spans and only them.
    let html = std::fs::read_to_string(&page).unwrap();
    let open_tag = r#"<script type="application/json" id="retrace-spans">"#;
    let from = html.find(open_tag).unwrap() + open_tag.len();
    let to = from + html[from..].find("</script>").unwrap();
    let spans: Value = serde_json::from_str(&html[from..to]).unwrap();
    let first = spans["runs"][0]["spans"].as_array().unwrap();
    assert_eq!(count(&dom, "data-span-id=\""), first.len());
    for span in first {
        let id = span["span_id"].as_str().unwrap();
        assert_eq!(count(&dom, &format!("data-span-id=\"{id}\"")), 1);
    }
    assert_eq!(
        count(&dom, "data-critical=\"true\""),
        runs[0]["critical_path"].as_array().unwrap().len()
    );
}
