//! The command line as its users' other tools behave: completions and manual pages from the
//! same definitions as --help, and verbs offering only the flags they honour.

use crate::common::cli::{retrace, stderr};

fn stdout_of(args: &[&str]) -> String {
    let out = retrace().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

const VERBS: &[&str] = &[
    "dbt",
    "airflow",
    "dagu",
    "dotflow",
    "records",
    "backfill",
    "run",
    "exec",
    "send",
    "completions",
    "man",
];

#[test]
fn completions_know_every_verb_and_flag() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        for verb in VERBS {
            assert!(script.contains(verb), "{shell}: no {verb}");
        }
        for flag in ["traceparent", "include-sql", "max-parallel", "config"] {
            assert!(script.contains(flag), "{shell}: no --{flag}");
        }
    }
    assert!(stdout_of(&["completions", "bash"]).starts_with("_retrace() {"));
    let out = retrace().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn manual_pages_for_retrace_and_each_verb() {
    let main = stdout_of(&["man"]);
    assert!(main.contains(".TH retrace 1"), "{main}");
    for verb in VERBS {
        assert!(
            main.contains(&format!("retrace\\-{verb}")),
            "no {verb} in the main page"
        );
        let page = stdout_of(&["man", verb]);
        assert!(
            page.contains(&format!(".TH retrace-{verb} 1")),
            "{verb}: {}",
            &page[..page.len().min(300)]
        );
    }
    assert!(stdout_of(&["man", "dbt"]).contains("\\-\\-manifest"));
    let out = retrace().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "retrace: man \"nope\": no such verb (see retrace --help)\n"
    );
}

#[test]
fn a_verb_offers_only_the_flags_it_uses() {
    for (verb, flag) in [
        ("airflow", "--tz"),
        ("records", "--tz"),
        ("send", "--service-name"),
        ("send", "--traceparent"),
        ("send", "--exporter"),
    ] {
        let out = retrace().args([verb, "x", flag, "v"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{verb} {flag}");
        assert!(
            stderr(&out).contains(&format!("unexpected argument '{flag}'")),
            "{verb} {flag}: {}",
            stderr(&out)
        );
    }
}

fn fixture(path: &str) -> String {
    format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_console_tree_says_warn_why_a_source_is_stale_and_which_run_and_try() {
    let tree = stdout_of(&[
        "dbt",
        &fixture("dbt/07-source-freshness"),
        "--exporter",
        "console",
    ]);
    assert_eq!(
        tree,
        "trace 8e1cdd998b42422d90719e048a36f50a  service dbt  4 spans  traceparent \
         00-8e1cdd998b42422d90719e048a36f50a-7760c6b6725459fd-01\n\
         dbt source freshness  [ERROR: 1 error]  2026-11-21T05:32:02.138484Z  1.68s  \
         (run 8e1cdd99-8b42-422d-9071-9e048a36f50a)\n\
         ├─ source raw.ingest_heartbeat  [ok]  +1.62s  9ms\n\
         ├─ source raw.ride_events  [warn: loaded 534d15h ago, warn after 1 day]  +1.63s  11ms\n\
         └─ source raw.stations  [ERROR: loaded 629d21h ago, error after 2 hour]  +1.65s  7ms\n"
    );
    let tree = stdout_of(&[
        "airflow",
        &fixture("airflow/3.1.8"),
        "--exporter",
        "console",
    ]);
    assert!(tree.contains("(run corpus_run_fail)"), "{tree}");
    assert!(
        tree.contains(
            "├─ task_run.quality_check  [ERROR: ValueError: quality check failed on try 2]  \
             +21.56s  83ms  (try 2)\n"
        ),
        "{tree}"
    );
}

#[test]
fn a_live_run_is_one_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let workflow = tmp.path().join("wf.yaml");
    std::fs::write(
        &workflow,
        "steps:\n  - name: a\n    command: \"true\"\n  - name: b\n    command: \"true\"\n    depends: a\n",
    )
    .unwrap();
    let out = retrace()
        .current_dir(tmp.path())
        .args(["run", "wf.yaml", "--exporter", "console", "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tree = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = tree.lines().collect();
    assert_eq!(lines.len(), 4, "{tree}");
    assert!(
        lines[0].starts_with("trace ") && lines[0].contains("3 spans"),
        "{tree}"
    );
    assert!(lines[1].starts_with("DAG: wf  [ok]"), "{tree}");
    assert!(lines[2].starts_with("├─ Step: a  [ok]  +"), "{tree}");
    assert!(lines[3].starts_with("└─ Step: b  [ok]  +"), "{tree}");
}

#[test]
fn verbose_walks_say_what_they_read_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::copy(
        fixture("dbt/04-build/run_results.json"),
        root.join("run_results.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture("dbt/04-build/manifest.json"),
        root.join("manifest.json"),
    )
    .unwrap();
    std::fs::write(root.join("notes.txt"), "not an artifact\n").unwrap();
    let out = retrace()
        .args(["backfill", "-v", "--exporter", "none", "-q"])
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = root.display();
    assert_eq!(
        stderr(&out),
        format!(
            "retrace: {r}/.git: skipped: a .git directory never holds artifacts\n\
             retrace: {r}/manifest.json: not converted itself: read with the run_results.json or sources.json beside it\n\
             retrace: {r}/notes.txt: skipped: not a known artifact (by its name and first bytes)\n\
             retrace: {r}/run_results.json: read as dbt\n"
        )
    );
}
