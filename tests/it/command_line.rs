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
