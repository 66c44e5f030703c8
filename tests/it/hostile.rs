//! Hostile input: a corpus of malformed artifacts of every format retrace reads, generated at
//! test time from the real fixtures (truncated at structural characters, a wrong JSON type in
//! each field, invalid UTF-8, empty and 0-byte files, a 100 MB single line, 100k-deep nesting,
//! duplicate keys, years 0 and 9999, NaN/Infinity, end before start, integers beyond i64, a
//! directory where a file is expected, an unreadable file), run through the real binary.
//!
//! Every bad input must give: no panic, exit 1, and exactly one stderr line naming the file and
//! what is wrong with it. `backfill` over all of them plus good runs still delivers every good
//! span, and non-finite doubles never reach the wire.
//!
//! A case that converts (exit 0) says why where it is made: the input is valid (a duplicate key
//! in a free-form object, a legal time) or convertible by design (a torn last line, a log cut
//! mid-line, an end before its start, which is clamped and marked).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::cli::{retrace, run, stderr};
use crate::common::receiver::{Proto, ReceivedSpan, Receiver};

const WAIT: Duration = Duration::from_secs(20);
/// The issue asks for at least this many distinct malformed inputs.
const MIN_CASES: usize = 100;

// ---- the formats ----

/// One input format: where a case's bad file sits and how it is converted.
struct Format {
    label: &'static str,
    verb: &'static str,
    /// The bad file's path inside its case directory (Airflow reads dag/run/task/try from the
    /// folder names of a task log; a scheduler log is found in a `scheduler` folder).
    file: &'static str,
    /// What the verb is given, relative to the case directory ("" = the bad file itself).
    arg: &'static str,
    /// Good files written beside the bad one: (path in the case directory, fixture).
    companions: &'static [(&'static str, &'static str)],
    /// The fixture the bad file is made from.
    base: &'static str,
}

fn head(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(512)]
}

/// Whether `backfill` takes this file as its format: the format's own `detect` (name and
/// first 512 bytes), which the README documents per format.
fn detected(f: &Format, bytes: &[u8]) -> bool {
    let source = retrace::source::by_name(f.verb).expect("every verb of a format is registered");
    source.detect(Path::new(f.file), head(bytes))
}

const DBT_RUN: Format = Format {
    label: "dbt run_results",
    verb: "dbt",
    file: "run_results.json",
    arg: "",
    companions: &[],
    base: "dbt/02-run/run_results.json",
};
const DBT_SOURCES: Format = Format {
    label: "dbt sources.json",
    verb: "dbt",
    file: "sources.json",
    arg: "",
    companions: &[],
    base: "dbt/07-source-freshness/sources.json",
};
const DBT_MANIFEST: Format = Format {
    label: "dbt manifest beside run_results",
    verb: "dbt",
    file: "manifest.json",
    arg: "run_results.json",
    companions: &[("run_results.json", "dbt/21-build-dbt1.7/run_results.json")],
    base: "dbt/21-build-dbt1.7/manifest.json",
};
const DBT_LOG_JSON: Format = Format {
    label: "dbt JSON log",
    verb: "dbt",
    file: "logs/dbt.log",
    arg: "",
    companions: &[],
    base: "dbt-logs/json/logs/dbt.log",
};
const DBT_LOG_TEXT: Format = Format {
    label: "dbt text log",
    verb: "dbt",
    file: "logs/dbt.log",
    arg: "",
    companions: &[],
    base: "dbt-logs/text/logs/dbt.log",
};
const AIRFLOW_API_RUN: Format = Format {
    label: "airflow API JSON",
    verb: "airflow",
    file: "dagRun_corpus_run_ok.json",
    arg: "",
    companions: &[],
    base: "airflow/3.3.2/api/dagRun_corpus_run_ok.json",
};
const AIRFLOW_API_TIS: Format = Format {
    label: "airflow API JSON",
    verb: "airflow",
    file: "taskInstances_corpus_run_ok.json",
    arg: "",
    companions: &[],
    base: "airflow/3.3.2/api/taskInstances_corpus_run_ok.json",
};
const AIRFLOW_CLI: Format = Format {
    label: "airflow CLI JSON",
    verb: "airflow",
    file: "states-for-dag-run.json",
    arg: "",
    companions: &[],
    base: "airflow/2.10.5/cli/states-for-dag-run_corpus_run_ok.json",
};
const AIRFLOW_CLI_RUNS: Format = Format {
    label: "airflow CLI JSON",
    verb: "airflow",
    file: "list-runs.json",
    arg: "",
    companions: &[],
    base: "airflow/3.3.2/cli/list-runs.json",
};
const AIRFLOW_LOG2: Format = Format {
    label: "airflow 2.x text log",
    verb: "airflow",
    file: "dag_id=otel_corpus_pipeline/run_id=corpus_run_fail/task_id=quality_check/attempt=2.log",
    arg: "",
    companions: &[],
    base: "airflow/2.10.5/logs/dag_id=otel_corpus_pipeline/run_id=corpus_run_fail/task_id=quality_check/attempt=2.log",
};
const AIRFLOW_LOG3: Format = Format {
    label: "airflow 3.x JSON log",
    verb: "airflow",
    file: "dag_id=otel_corpus_pipeline/run_id=corpus_run_fail/task_id=quality_check/attempt=2.log",
    arg: "",
    companions: &[],
    base: "airflow/3.3.2/logs/dag_id=otel_corpus_pipeline/run_id=corpus_run_fail/task_id=quality_check/attempt=2.log",
};
const AIRFLOW_SCHEDULER: Format = Format {
    label: "airflow scheduler log",
    verb: "airflow",
    file: "scheduler/scheduler_stdout.log",
    arg: "",
    companions: &[],
    base: "airflow/2.10.5/scheduler/scheduler_stdout_until_holdout.log",
};
const AIRFLOW_SCHEDULER3: Format = Format {
    label: "airflow scheduler log",
    verb: "airflow",
    file: "scheduler/scheduler_stdout.log",
    arg: "",
    companions: &[],
    base: "airflow/3.3.2/scheduler/scheduler_stdout_phase2_until_holdout.log",
};
const DAGU: Format = Format {
    label: "dagu status.jsonl",
    verb: "dagu",
    file: "status.jsonl",
    arg: "",
    companions: &[],
    base: "dagu/data/dag-runs/etl/dag-runs/2026/05/07/dag-run_20260507_001202Z_r1/attempt_20260507_003015_480Z_d4e5f6/status.jsonl",
};
const DAGU_DAT: Format = Format {
    label: "dagu legacy .dat",
    verb: "dagu",
    file: "nightly.20240102.030405.678Z.9c1e2a4b.dat",
    arg: "",
    companions: &[],
    base: "dagu/data/nightly-5e8a4c/nightly.20240102.030405.678Z.9c1e2a4b-7f3d-4e5a-8b6c-0d1e2f3a4b5c.dat",
};
const DOTFLOW_LOG: Format = Format {
    label: "dotflow log",
    verb: "dotflow",
    file: "flow.log",
    arg: "",
    companions: &[],
    base: "dotflow/run_fail/output_dir_dot_output/flow.log",
};
const DOTFLOW_TEXT_LOG: Format = Format {
    label: "dotflow log",
    verb: "dotflow",
    file: "flow.log",
    arg: "",
    companions: &[],
    base: "dotflow/run_flaky_text/output_dir_dot_output/flow.log",
};
const DOTFLOW_RESULT: Format = Format {
    label: "dotflow result JSON",
    verb: "dotflow",
    file: "workflow_result.json",
    arg: "",
    companions: &[],
    base: "dotflow/run_fail/workflow_result.json",
};
const RECORDS: Format = Format {
    label: "records JSONL",
    verb: "records",
    file: "etl-run.jsonl",
    arg: "",
    companions: &[],
    base: "records/etl-run.jsonl",
};

const SPARK: Format = Format {
    label: "spark event log",
    verb: "spark",
    file: "local-1796090155073",
    arg: "",
    companions: &[],
    base: "spark/b-failures-retries/local-1796090155073",
};
const SPARK_ZSTD: Format = Format {
    label: "spark event log (zstd)",
    verb: "spark",
    file: "local-1796090184327.zstd",
    arg: "",
    companions: &[],
    base: "spark/d1-zstd/local-1796090184327.zstd",
};

fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).unwrap()
}

// ---- cases ----

#[derive(Clone, Debug)]
enum Expect {
    /// Exit 1 and exactly one stderr line, naming the bad file, that contains this text.
    Fails(String),
    /// Exit 0 (the reason is given where the case is made); with `Some`, exactly one warning
    /// line naming the file and containing the text, else no line naming it.
    Converts(Option<String>),
    /// chmod 000: exit 1 "cannot read" — unless we are root, for whom permissions do not apply
    /// (checked by reading the file back); then only "no panic" is asserted.
    Unreadable,
}

fn fails(text: &str) -> Expect {
    Expect::Fails(text.to_owned())
}

const CONVERTS: Expect = Expect::Converts(None);

fn warns(text: &str) -> Expect {
    Expect::Converts(Some(text.to_owned()))
}

struct Case {
    format: &'static str,
    what: String,
    verb: &'static str,
    /// What the verb is given.
    arg: PathBuf,
    /// Extra arguments (e.g. `--manifest DIR`).
    extra: Vec<String>,
    /// The path every problem line must name.
    bad: PathBuf,
    expect: Expect,
    /// Whether `backfill` over the whole corpus must report this file (a bad *file* that
    /// backfill recognises as an artifact).
    in_backfill: bool,
}

struct Corpus {
    root: PathBuf,
    cases: Vec<Case>,
}

impl Corpus {
    fn new(root: &Path) -> Corpus {
        Corpus {
            root: root.to_path_buf(),
            cases: Vec::new(),
        }
    }

    fn case_dir(&self) -> PathBuf {
        let dir = self.root.join(format!("case{:03}", self.cases.len()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_companions(f: &Format, dir: &Path) {
        for (rel, fix) in f.companions {
            std::fs::write(dir.join(rel), fixture(fix)).unwrap();
        }
    }

    /// A case whose bad file (at `f.file`) holds `bytes`.
    fn add(&mut self, f: &Format, what: impl Into<String>, bytes: &[u8], expect: Expect) {
        let dir = self.case_dir();
        Self::write_companions(f, &dir);
        let bad = dir.join(f.file);
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, bytes).unwrap();
        let arg = if f.arg.is_empty() {
            bad.clone()
        } else {
            dir.join(f.arg)
        };
        let in_backfill = matches!(expect, Expect::Fails(_)) && detected(f, bytes);
        self.cases.push(Case {
            format: f.label,
            what: what.into(),
            verb: f.verb,
            arg,
            extra: Vec::new(),
            bad,
            expect,
            in_backfill,
        });
    }

    /// A case whose JSON document is the format's fixture changed by `edit`.
    fn json(
        &mut self,
        f: &Format,
        what: impl Into<String>,
        edit: impl FnOnce(&mut Value),
        expect: Expect,
    ) {
        let mut doc = fixture_json(f.base);
        edit(&mut doc);
        self.add(f, what, &serde_json::to_vec(&doc).unwrap(), expect);
    }

    /// A case whose text is the format's fixture with `from` replaced by `to` (once; `from`
    /// must occur).
    fn replace(
        &mut self,
        f: &Format,
        what: impl Into<String>,
        from: &str,
        to: &str,
        expect: Expect,
    ) {
        let text = String::from_utf8(fixture(f.base)).unwrap();
        assert!(
            text.contains(from),
            "{}: {from:?} not in {}",
            f.label,
            f.base
        );
        self.add(f, what, text.replacen(from, to, 1).as_bytes(), expect);
    }
}

/// Sets the value at a JSON pointer (its parent must exist).
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match doc.pointer_mut(parent) {
        Some(Value::Object(o)) => {
            o.insert(key.to_owned(), value);
        }
        Some(Value::Array(a)) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("no parent for {pointer}"),
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no parent for {pointer}"))
        .remove(key);
}

/// Positions to cut a JSON text at: for each structural character, `per_class` of its
/// occurrences spread over the file (never the last byte, so nothing complete is left).
fn structural_cuts(bytes: &[u8], per_class: usize) -> Vec<(char, usize)> {
    let mut cuts = Vec::new();
    for c in ['{', '[', ',', ':', '"', '}', ']'] {
        let at: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(i, b)| **b == c as u8 && *i + 1 < bytes.trim_ascii_end().len())
            .map(|(i, _)| i)
            .collect();
        if at.is_empty() {
            continue;
        }
        let mut picked: Vec<usize> = (0..per_class)
            .map(|k| at[k * (at.len() - 1) / per_class])
            .collect();
        picked.dedup();
        cuts.extend(picked.into_iter().map(|i| (c, i)));
    }
    cuts
}

/// A JSON type's name and a value of it.
type Kind = (&'static str, fn() -> Value);

/// The six JSON types, as a wrong value for a field.
const KINDS: [Kind; 6] = [
    ("null", || Value::Null),
    ("a boolean", || json!(true)),
    ("a number", || json!(42)),
    ("a string", || json!("hostile")),
    ("an array", || json!([1])),
    ("an object", || json!({"k": 1})),
];

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every other JSON type in the field at `pointer`: types named in `converts` convert (the
/// caller says why), every other one fails with `message`.
fn wrong_types(c: &mut Corpus, f: &Format, pointer: &str, converts: &[&str], message: &str) {
    let doc = fixture_json(f.base);
    let original = kind_of(doc.pointer(pointer).unwrap_or_else(|| panic!("{pointer}")));
    for (kind, value) in KINDS {
        if kind == original {
            continue;
        }
        let expect = if converts.contains(&kind) {
            CONVERTS
        } else {
            fails(message)
        };
        c.json(
            f,
            format!("{pointer} is {kind}"),
            |d| set(d, pointer, value()),
            expect,
        );
    }
}

/// Structural truncations of the format's fixture.
fn truncations(c: &mut Corpus, f: &Format, per_class: usize, message: &str) {
    let bytes = fixture(f.base);
    for (ch, i) in structural_cuts(&bytes, per_class) {
        c.add(
            f,
            format!("cut after {ch:?} at byte {i}"),
            &bytes[..=i],
            fails(message),
        );
    }
}

/// A text log cut at a third and at half its length (on a character boundary): converts.
fn cuts_convert(c: &mut Corpus, f: &Format, text: &str) {
    for at in [text.len() / 3, text.len() / 2] {
        let at = (at..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap();
        c.add(
            f,
            format!("cut at byte {at}"),
            &text.as_bytes()[..at],
            CONVERTS,
        );
    }
}

/// Cases every format gets: 0-byte, blank, invalid UTF-8 (when `utf8` says what it gives), a
/// directory in its place, mode 000.
fn generic(c: &mut Corpus, f: &Format, utf8: Option<Expect>) {
    c.add(f, "0-byte file", b"", fails("file is empty"));
    c.add(f, "only blank lines", b"\n  \n\t\n", fails("file is empty"));
    let base = fixture(f.base);
    // An invalid byte inside the text (after a quote or a space near the middle of the file).
    let mid = base.len() / 2;
    let at = (mid..base.len())
        .find(|&i| base[i] == b'"' || base[i] == b' ')
        .unwrap()
        + 1;
    if let Some(utf8) = utf8 {
        let mut bad = base.clone();
        bad.splice(at..at, [0xff, 0xfe]);
        c.add(
            f,
            format!("bytes ff fe inserted at byte {at}"),
            &bad,
            utf8.clone(),
        );
        let mut bad = base.clone();
        // A 3-byte UTF-8 sequence cut after its first byte.
        bad.splice(at..at, [0xe2, b'x']);
        c.add(
            f,
            format!("a broken UTF-8 sequence at byte {at}"),
            &bad,
            utf8,
        );
    }

    // A directory where the file is expected.
    let dir = c.case_dir();
    Corpus::write_companions(f, &dir);
    let bad = dir.join(f.file);
    std::fs::create_dir_all(&bad).unwrap();
    let (arg, expect) = if f.arg.is_empty() {
        (
            bad.clone(),
            fails(&format!("no {} artifacts found in this directory", f.verb)),
        )
    } else {
        // A directory named manifest.json beside the run is not a manifest: the run converts
        // without enrichment (the manifest is optional).
        (dir.join(f.arg), CONVERTS)
    };
    c.cases.push(Case {
        format: f.label,
        what: "a directory where the file is expected".into(),
        verb: f.verb,
        arg,
        extra: Vec::new(),
        bad,
        expect,
        in_backfill: false,
    });

    // Mode 000.
    let dir = c.case_dir();
    Corpus::write_companions(f, &dir);
    let bad = dir.join(f.file);
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, &base).unwrap();
    set_mode(&bad, 0o000);
    let arg = if f.arg.is_empty() {
        bad.clone()
    } else {
        dir.join(f.arg)
    };
    let unreadable = std::fs::read(&bad).is_err();
    c.cases.push(Case {
        format: f.label,
        what: "unreadable (mode 000)".into(),
        verb: f.verb,
        arg,
        extra: Vec::new(),
        bad,
        expect: Expect::Unreadable,
        // Found by name even when it cannot be read; a format found by its first bytes
        // cannot recognise a file it cannot read.
        in_backfill: unreadable && detected(f, b""),
    });
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `[[[[…]]]]` nested `depth` deep.
fn deep_array(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

/// `{"a":{"a":…}}` nested `depth` deep.
fn deep_object(depth: usize) -> String {
    "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth)
}

const DEEP: usize = 100_000;

// ---- the corpus, format by format ----

fn dbt_run_results(c: &mut Corpus) {
    let f = &DBT_RUN;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    truncations(c, f, 3, "truncated JSON (input ends at line 1 column");
    let invalid = "unexpected content: invalid type";
    // Optional fields (null = absent): a run without generated_at ends with its last node.
    wrong_types(c, f, "/metadata", &[], invalid);
    wrong_types(c, f, "/metadata/dbt_schema_version", &[], invalid);
    wrong_types(c, f, "/metadata/generated_at", &["null"], invalid);
    wrong_types(c, f, "/metadata/env", &["null"], invalid);
    wrong_types(c, f, "/elapsed_time", &["null"], invalid);
    wrong_types(c, f, "/args", &["null"], invalid);
    wrong_types(c, f, "/results", &[], invalid);
    wrong_types(c, f, "/results/0/unique_id", &[], invalid);
    wrong_types(c, f, "/results/0/status", &[], invalid);
    wrong_types(c, f, "/results/0/timing", &[], invalid);
    wrong_types(c, f, "/results/0/timing/0/started_at", &["null"], invalid);
    wrong_types(c, f, "/results/0/execution_time", &["null"], invalid);
    wrong_types(c, f, "/results/0/adapter_response", &["null"], invalid);
    // `message` is a string, or an int in schema v1; other types carry no message.
    wrong_types(
        c,
        f,
        "/results/0/message",
        &["null", "a boolean", "a number", "an array", "an object"],
        invalid,
    );
    c.json(
        f,
        "metadata.invocation_id is null",
        |d| set(d, "/metadata/invocation_id", Value::Null),
        fails("metadata.invocation_id is missing"),
    );
    c.json(
        f,
        "metadata missing",
        |d| remove(d, "/metadata"),
        fails("unexpected content: missing field `metadata`"),
    );
    c.json(
        f,
        "schema v99",
        |d| {
            set(
                d,
                "/metadata/dbt_schema_version",
                json!("https://schemas.getdbt.com/dbt/run-results/v99.json"),
            )
        },
        fails("unsupported schema version"),
    );
    c.json(
        f,
        "a manifest's schema",
        |d| {
            set(
                d,
                "/metadata/dbt_schema_version",
                json!("https://schemas.getdbt.com/dbt/manifest/v12.json"),
            )
        },
        fails("is not a run-results or sources schema"),
    );
    // Times.
    for (what, value, expect) in [
        (
            "year 0",
            "0000-01-01T00:00:00Z",
            fails("outside the representable range"),
        ),
        (
            "year 9999",
            "9999-12-31T23:59:59Z",
            fails("outside the representable range"),
        ),
        (
            "year 1900",
            "1900-01-01T00:00:00Z",
            fails("\"1900-01-01T00:00:00Z\" is outside the representable range (1970–2262)"),
        ),
        (
            "month 13",
            "2026-13-01T00:00:00Z",
            fails("is not an ISO 8601 timestamp"),
        ),
        (
            "not a time",
            "yesterday",
            fails("is not an ISO 8601 timestamp"),
        ),
        ("empty", "", fails("empty timestamp")),
    ] {
        c.json(
            f,
            format!("results[0].timing[0].started_at {what}"),
            |d| set(d, "/results/0/timing/0/started_at", json!(value)),
            expect,
        );
    }
    c.json(
        f,
        "metadata.generated_at year 9999",
        |d| set(d, "/metadata/generated_at", json!("9999-12-31T23:59:59.999999Z")),
        fails("metadata.generated_at: \"9999-12-31T23:59:59.999999Z\" is outside the representable range"),
    );
    // generated_at − elapsed_time would lie before the representable range (an overflow).
    c.json(
        f,
        "generated_at − elapsed_time before 1970",
        |d| {
            remove(d, "/metadata/invocation_started_at");
            set(d, "/metadata/generated_at", json!("1970-01-01T00:00:01Z"));
            set(d, "/elapsed_time", json!(99_999_999.0));
        },
                fails("run c9a3faa1-508e-4685-9cf2-d50f2680c0be: a time lies before 1970, which OTLP cannot carry"),
    );
    // End before start: clamped to a zero-length span and marked retrace.time.adjusted.
    c.json(
        f,
        "a node ends before it starts",
        |d| {
            set(
                d,
                "/results/0/timing/0/started_at",
                json!("2026-11-21T05:31:40Z"),
            );
            set(
                d,
                "/results/0/timing/0/completed_at",
                json!("2026-11-21T05:31:30Z"),
            );
            set(
                d,
                "/results/0/timing/1/started_at",
                json!("2026-11-21T05:31:40Z"),
            );
            set(
                d,
                "/results/0/timing/1/completed_at",
                json!("2026-11-21T05:31:30Z"),
            );
        },
        CONVERTS,
    );
    c.json(
        f,
        "the run ends before it starts",
        |d| {
            set(
                d,
                "/metadata/invocation_started_at",
                json!("2026-11-22T00:00:00Z"),
            )
        },
        CONVERTS,
    );
    // Numbers JSON cannot hold, and integers beyond i64.
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let number = "\"execution_time\": 0.027214";
    for (what, to, expect) in [
        ("NaN", "NaN", fails("not valid JSON: expected value")),
        (
            "Infinity",
            "Infinity",
            fails("not valid JSON: expected value"),
        ),
        (
            "-Infinity",
            "-Infinity",
            fails("not valid JSON: invalid number"),
        ),
        (
            "1e400",
            "1e400",
            fails("not valid JSON: number out of range"),
        ),
        (
            "-1e400",
            "-1e400",
            fails("not valid JSON: number out of range"),
        ),
        // A finite double: kept as is.
        ("1.7976931348623157e308", "1.7976931348623157e308", CONVERTS),
        // Beyond i64 but a valid double: the seconds are kept as a double attribute.
        ("2^64", "18446744073709551616", CONVERTS),
    ] {
        c.add(
            f,
            format!("execution_time {what}"),
            text.replacen(number, &format!("\"execution_time\": {to}"), 1)
                .as_bytes(),
            expect,
        );
    }
    // `failures` beyond i64: not a count retrace can carry, dropped (the node still converts).
    c.replace(
        f,
        "failures beyond i64",
        "\"failures\": 0",
        "\"failures\": 9223372036854775808",
        CONVERTS,
    );
    // Duplicate keys: a struct field twice is refused by serde; in a free-form map (env) the
    // last one wins, as in every JSON reader.
    c.add(
        f,
        "duplicate key elapsed_time",
        text.replacen(
            "{\"metadata\": ",
            "{\"elapsed_time\": 1.5, \"metadata\": ",
            1,
        )
        .as_bytes(),
        fails("unexpected content: duplicate field `elapsed_time`"),
    );
    c.replace(
        f,
        "duplicate key status",
        "\"status\": \"success\"",
        "\"status\": \"success\", \"status\": \"error\"",
        fails("unexpected content: duplicate field `status`"),
    );
    c.replace(
        f,
        "duplicate key in metadata.env",
        "\"env\": {}",
        "\"env\": {\"A\": \"1\", \"A\": \"2\"}",
        CONVERTS,
    );
    c.add(
        f,
        "trailing garbage",
        format!("{}}}]", text.trim_end()).as_bytes(),
        fails("not valid JSON: trailing characters"),
    );
    c.add(
        f,
        "an HTML error page",
        b"<html>502 Bad Gateway</html>",
        fails("not valid JSON: expected value at line 1 column 1"),
    );
    c.add(
        f,
        "a JSON array",
        b"[]",
        fails("not a JSON object (the document is a list)"),
    );
    c.add(
        f,
        "a JSON string",
        b"\"run_results\"",
        fails("not a JSON object (the document is a string)"),
    );
    c.add(
        f,
        "100k-deep array",
        deep_array(DEEP).as_bytes(),
        fails("not a JSON object (the document is a list)"),
    );
    // Deep nesting inside a field read as free-form JSON: serde_json's recursion limit.
    c.add(
        f,
        "100k-deep array in metadata.env",
        text.replacen(
            "\"env\": {}",
            &format!("\"env\": {{\"A\": {}}}", deep_array(DEEP)),
            1,
        )
        .as_bytes(),
        fails("recursion limit exceeded"),
    );
    c.add(
        f,
        "100k-deep object in adapter_response",
        text.replacen(
            "\"adapter_response\": {}",
            &format!("\"adapter_response\": {{\"x\": {}}}", deep_object(DEEP)),
            1,
        )
        .as_bytes(),
        fails("recursion limit exceeded"),
    );
    // Two timing entries with one name: with --phase-spans, each is its own phase span.
    c.json(
        f,
        "a phase name twice (--phase-spans)",
        |d| set(d, "/results/0/timing/1/name", json!("compile")),
        CONVERTS,
    );
    c.cases.last_mut().unwrap().extra = vec!["--phase-spans".into()];
    c.json(
        f,
        "no results and no times",
        |d| {
            set(d, "/results", json!([]));
            remove(d, "/metadata/generated_at");
            remove(d, "/metadata/invocation_started_at");
        },
        fails("no timestamps recorded anywhere"),
    );
}

fn dbt_sources(c: &mut Corpus) {
    let f = &DBT_SOURCES;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    truncations(c, f, 2, "truncated JSON");
    let invalid = "unexpected content: invalid type";
    // Optional fields: null is "absent".
    wrong_types(c, f, "/results/0/max_loaded_at", &["null"], invalid);
    wrong_types(
        c,
        f,
        "/results/0/max_loaded_at_time_ago_in_s",
        &["null"],
        invalid,
    );
    wrong_types(c, f, "/results/0/criteria", &["null"], invalid);
    c.replace(
        f,
        "max_loaded_at_time_ago_in_s 1e400",
        "\"max_loaded_at_time_ago_in_s\": 0.056072",
        "\"max_loaded_at_time_ago_in_s\": 1e400",
        fails("not valid JSON: number out of range"),
    );
    c.replace(
        f,
        "schema v4",
        "dbt/sources/v3.json",
        "dbt/sources/v4.json",
        fails("unsupported schema version"),
    );
    // The freshness snapshot time is an attribute, not a span time: text is kept verbatim.
    c.replace(
        f,
        "max_loaded_at in year 0",
        "\"max_loaded_at\": \"2026-11-21T05:32:03.707266+00:00\"",
        "\"max_loaded_at\": \"0000-01-01T00:00:00+00:00\"",
        CONVERTS,
    );
    c.replace(
        f,
        "timing in year 9999",
        "\"started_at\": \"2026-11-21T05:32:03.758259Z\"",
        "\"started_at\": \"9999-01-01T00:00:00Z\"",
        fails("results[0].timing[0].started_at: \"9999-01-01T00:00:00Z\" is outside the representable range"),
    );
}

fn dbt_manifest(c: &mut Corpus) {
    let f = &DBT_MANIFEST;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    truncations(c, f, 2, "truncated JSON");
    let invalid = "unexpected content: invalid type";
    wrong_types(c, f, "/nodes", &[], invalid);
    wrong_types(c, f, "/metadata", &[], invalid);
    // A node's free-form fields: tags may be a string or a list; other types carry none.
    let node = "/nodes/model.pedal_share.stg_rides";
    wrong_types(
        c,
        f,
        &format!("{node}/tags"),
        &["null", "a boolean", "a number", "a string", "an object"],
        invalid,
    );
    wrong_types(c, f, &format!("{node}/depends_on"), &["null"], invalid);
    c.add(
        f,
        "100k-deep array",
        deep_array(DEEP).as_bytes(),
        fails("not a JSON object (the document is a list)"),
    );
    // Duplicate keys in the nodes map: the last one wins, as in every JSON reader.
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "a node listed twice (duplicate key in the nodes map)",
        text.replacen(
            "\"nodes\": {",
            "\"nodes\": {\"model.pedal_share.stg_rides\": {}, ",
            1,
        )
        .as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "duplicate key metadata",
        text.replacen("{\"metadata\": ", "{\"metadata\": {}, \"metadata\": ", 1)
            .as_bytes(),
        fails("unexpected content: duplicate field `metadata`"),
    );
    // `--manifest DIR`: a directory given where the manifest file is expected.
    let dir = c.case_dir();
    Corpus::write_companions(f, &dir);
    let bad = dir.join("manifest-dir");
    std::fs::create_dir_all(&bad).unwrap();
    c.cases.push(Case {
        format: f.label,
        what: "--manifest is a directory".into(),
        verb: f.verb,
        arg: dir.join("run_results.json"),
        extra: vec!["--manifest".into(), bad.display().to_string()],
        bad,
        expect: fails("is a directory, expected a file"),
        in_backfill: false,
    });
}

/// dbt's own log: a file named `dbt.log` is dbt's, so one with no dbt record in it is an
/// error; a line that is not dbt's (torn, another tool's, a bad timestamp) is skipped with one
/// note naming the file; a log cut anywhere converts what it holds (its last invocation marked
/// incomplete). Bytes that are not UTF-8 are read as U+FFFD: a log line quotes what the
/// database said, and one odd byte does not make the rest of the log unreadable.
fn dbt_logs(c: &mut Corpus) {
    let skipped = |n: usize, line: usize| {
        warns(&format!(
            "skipped {n} line{} that {} not dbt's (first: line {line}:",
            if n == 1 { "" } else { "s" },
            if n == 1 { "is" } else { "are" }
        ))
    };
    let f = &DBT_LOG_JSON;
    // The generic cases insert the bytes after the quote that ends a key: the line is no
    // longer JSON, and skipped.
    generic(c, f, Some(skipped(1, 306)));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    // A crash tears the last line: skipped; what came before converts.
    let torn = format!("{}\n{}", lines[..n - 1].join("\n"), &lines[n - 1][..40]);
    c.add(f, "torn last line", torn.as_bytes(), skipped(1, n));
    for at in [text.len() / 3, text.len() / 2] {
        let line = text[..at].matches('\n').count() + 1;
        let expect = if text.as_bytes()[at - 1] == b'\n' {
            CONVERTS
        } else {
            skipped(1, line)
        };
        c.add(
            f,
            format!("cut at byte {at}"),
            &text.as_bytes()[..at],
            expect,
        );
    }
    let mut mid = lines.clone();
    mid[5] = &lines[5][..60];
    c.add(
        f,
        "a torn line in the middle",
        mid.join("\n").as_bytes(),
        skipped(1, 6),
    );
    c.add(
        f,
        "only a torn line",
        &lines[0].as_bytes()[..50],
        fails("no dbt log records in this file (line 1: not a dbt JSON log record"),
    );
    c.add(
        f,
        "a 100k-deep array alone",
        deep_array(DEEP).as_bytes(),
        fails("no dbt log records in this file (line 1: not a dbt log record"),
    );
    c.add(
        f,
        "100k-deep object before the records",
        format!("{}\n{}\n", deep_object(DEEP), lines[..n].join("\n")).as_bytes(),
        skipped(1, 1),
    );
    c.add(
        f,
        "a JSON list line after a record",
        format!("{}\n[1]\n{}\n", lines[0], lines[1..].join("\n")).as_bytes(),
        skipped(1, 2),
    );
    c.add(
        f,
        "no dbt records at all",
        b"{\"level\": \"info\", \"msg\": \"not dbt\"}\n{\"a\": 1}\n",
        fails("no dbt log records in this file (line 1: not a dbt JSON log record: missing field `info`"),
    );
    c.replace(
        f,
        "info.ts in year 9999",
        "\"ts\": \"2026-12-01T01:39:59.622525Z\"",
        "\"ts\": \"9999-12-01T01:39:59.622525Z\"",
        skipped(1, 1),
    );
    c.replace(
        f,
        "info.ts is a number",
        "\"ts\": \"2026-12-01T01:39:59.622525Z\"",
        "\"ts\": 1796089199.622525",
        skipped(1, 1),
    );
    c.replace(
        f,
        "info.invocation_id is empty",
        "\"invocation_id\": \"706d2aef-1266-429a-bdd3-d9520f2702cd\"",
        "\"invocation_id\": \"\"",
        skipped(1, 1),
    );
    c.replace(
        f,
        "a NodeFinished timing in year 0",
        "\"completed_at\": \"2026-12-01T01:40:03.",
        "\"completed_at\": \"0000-12-01T01:40:03.",
        skipped(
            1,
            lines
                .iter()
                .position(|l| l.contains("\"completed_at\": \"2026-12-01T01:40:03."))
                .unwrap()
                + 1,
        ),
    );
    c.replace(
        f,
        "a NodeStart without node_info",
        "{\"data\": {\"node_info\": {\"materialized\": \"\"",
        "{\"data\": {\"other\": {\"materialized\": \"\"",
        skipped(
            1,
            lines
                .iter()
                .position(|l| l.starts_with("{\"data\": {\"node_info\": {\"materialized\": \"\""))
                .unwrap()
                + 1,
        ),
    );
    // NaN is not JSON: the hook's end line is skipped (the hook ends where the run's last
    // recorded time is, marked derived).
    c.replace(
        f,
        "execution_time NaN",
        "\"execution_time\": 0.",
        "\"execution_time\": NaN, \"x\": 0.",
        skipped(
            1,
            lines
                .iter()
                .position(|l| l.contains("\"execution_time\": 0."))
                .unwrap()
                + 1,
        ),
    );

    let f = &DBT_LOG_TEXT;
    generic(c, f, Some(CONVERTS));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    // A text log cut anywhere converts what it holds: its last invocation is incomplete.
    cuts_convert(c, f, &text);
    c.add(
        f,
        "cut inside the first header",
        &text.as_bytes()[..40],
        fails("no dbt log records in this file (line 3: not a dbt log record)"),
    );
    c.replace(
        f,
        "a header at 25 o'clock",
        "============================== 01:37:02.710861 |",
        "============================== 25:37:02.710861 |",
        skipped(1, 3),
    );
    c.replace(
        f,
        "a record at minute 61",
        "\x1b[0m01:37:02.714688 [debug]",
        "\x1b[0m01:61:02.714688 [debug]",
        skipped(1, 5),
    );
    c.add(
        f,
        "100k-deep brackets",
        deep_array(DEEP).as_bytes(),
        fails("no dbt log records in this file (line 1: not a dbt log record)"),
    );
    c.add(
        f,
        "another tool's log",
        b"2026-12-01 01:37:02,710 INFO something else\nTraceback (most recent call last):\n",
        fails("no dbt log records in this file (line 1: not a dbt log record)"),
    );
    c.add(
        f,
        "binary garbage",
        &(0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
        fails("no dbt log records in this file"),
    );
    // Lines of another tool before the first header: skipped, counted once.
    c.add(
        f,
        "another tool's lines before the first header",
        format!("pip install dbt-core\nCollecting dbt-core\n{text}").as_bytes(),
        skipped(2, 1),
    );
    // Records whose invocation header was rotated away, and no artifact to name it.
    let headerless = text.splitn(4, '\n').nth(3).unwrap();
    c.add(
        f,
        "no header (rotated away)",
        headerless.as_bytes(),
        CONVERTS,
    );
}

fn airflow_api(c: &mut Corpus) {
    for f in [&AIRFLOW_API_RUN, &AIRFLOW_API_TIS] {
        generic(c, f, Some(fails("not UTF-8 text (byte")));
        truncations(c, f, 2, "truncated JSON");
        c.add(
            f,
            "100k-deep array",
            deep_array(DEEP).as_bytes(),
            fails("not valid JSON: recursion limit exceeded"),
        );
    }
    let f = &AIRFLOW_API_RUN;
    // Dates must be text (or null: not recorded).
    for key in ["start_date", "end_date"] {
        wrong_types(
            c,
            f,
            &format!("/{key}"),
            &["null"],
            &format!("{key}: expected a date"),
        );
    }
    c.json(
        f,
        "dag_id is a list",
        |d| set(d, "/dag_id", json!(["x"])),
        fails("a record's dag_id is a list, expected text"),
    );
    c.json(
        f,
        "dag_id missing",
        |d| remove(d, "/dag_id"),
        fails("a record has no dag_id"),
    );
    for (what, value, expect) in [
        (
            "year 0",
            "0000-01-01T00:00:00Z",
            fails("start_date: \"0000-01-01T00:00:00Z\" is outside the representable range"),
        ),
        (
            "year 9999",
            "9999-12-31T23:59:59.999999Z",
            fails("start_date: \"9999-12-31T23:59:59.999999Z\" is outside the representable range"),
        ),
        ("year 1969", "1969-12-31T23:59:59Z", fails("start_date: \"1969-12-31T23:59:59Z\" is outside the representable range (1970–2262)")),
        (
            "without zone",
            "2026-11-21T05:39:15.987398",
            fails("has no time zone"),
        ),
        // A run that ends before it starts: the run's start is dropped (its tries place
        // it), as Airflow's own `dags test` runs need.
        ("after its end", "2026-11-22T00:00:00Z", CONVERTS),
    ] {
        c.json(
            f,
            format!("start_date {what}"),
            |d| set(d, "/start_date", json!(value)),
            expect,
        );
    }
    c.json(
        f,
        "a queued run: no dates at all",
        |d| {
            set(d, "/dag_id", json!("hostile_no_dates"));
            set(d, "/start_date", Value::Null);
            set(d, "/end_date", Value::Null);
        },
        fails("no timestamps recorded anywhere"),
    );
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "duration 1e400",
        text.replacen("\"duration\":116.762679", "\"duration\":1e400", 1)
            .as_bytes(),
        fails("not valid JSON: number out of range"),
    );
    c.add(
        f,
        "duration NaN",
        text.replacen("\"duration\":116.762679", "\"duration\":NaN", 1)
            .as_bytes(),
        fails("not valid JSON"),
    );
    // Free-form JSON: a duplicate key is read as every JSON reader does (the last one wins).
    c.add(
        f,
        "duplicate key state",
        text.replacen("{", "{\"state\":\"failed\",", 1).as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "trailing garbage",
        format!("{}}}", text.trim_end()).as_bytes(),
        fails("not valid JSON: trailing characters"),
    );
    c.add(
        f,
        "a JSON string",
        b"\"dag_run_id\"",
        fails("no Airflow record found"),
    );
    c.add(
        f,
        "a JSON number list",
        b"[1, 2]",
        fails("CLI output: expected a list of objects"),
    );

    let f = &AIRFLOW_API_TIS;
    c.json(
        f,
        "task_instances is an object",
        |d| set(d, "/task_instances", json!({})),
        fails("task_instances is not a list"),
    );
    c.json(
        f,
        "a task instance is a number",
        |d| set(d, "/task_instances/3", json!(3)),
        fails("a task instance is not an object"),
    );
    c.json(
        f,
        "a task instance's task_id is null",
        |d| set(d, "/task_instances/3/task_id", Value::Null),
        fails("task_id"),
    );
    // Dates must be text (or null: not recorded).
    wrong_types(
        c,
        f,
        "/task_instances/0/start_date",
        &["null"],
        "start_date: expected a date",
    );
    // try_number beyond u32 (and i64): not a try number; the try is numbered as when absent.
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "try_number beyond i64",
        text.replacen("\"try_number\":1", "\"try_number\":99999999999999999999", 1)
            .as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "end before start",
        text.replacen(
            "\"end_date\":\"2026-11-21T05:39:22.767457Z\"",
            "\"end_date\":\"2026-11-21T05:39:00Z\"",
            1,
        )
        .as_bytes(),
        CONVERTS,
    );
}

fn airflow_cli(c: &mut Corpus) {
    for f in [&AIRFLOW_CLI, &AIRFLOW_CLI_RUNS] {
        generic(c, f, Some(fails("not UTF-8 text (byte")));
        truncations(c, f, 2, "truncated JSON");
    }
    let f = &AIRFLOW_CLI;
    c.json(
        f,
        "an entry is a string",
        |d| set(d, "/2", json!("extract")),
        fails("CLI output: expected a list of objects"),
    );
    c.json(
        f,
        "an entry has neither task_id nor run_id",
        |d| set(d, "/2", json!({"dag_id": "otel_corpus_pipeline"})),
        fails("CLI output: entries have neither task_id nor run_id"),
    );
    // Dates must be text (or null: not recorded).
    wrong_types(
        c,
        f,
        "/0/start_date",
        &["null"],
        "start_date: expected a date",
    );
    c.json(
        f,
        "start_date year 9999",
        |d| set(d, "/0/start_date", json!("9999-12-31T23:59:59+00:00")),
        fails("start_date: \"9999-12-31T23:59:59+00:00\" is outside the representable range"),
    );
    c.add(
        f,
        "a log line then a truncated list",
        b"[2026-11-21T05:31:20.000+0000] {cli.py:1} WARNING - deprecated\n[{\"dag_id\": \"d\", \"task_id\"",
        fails("truncated JSON"),
    );
    c.add(
        f,
        "100k-deep array after a warning line",
        format!("WARNING: noise\n{}", deep_array(DEEP)).as_bytes(),
        fails("recursion limit exceeded"),
    );
}

fn airflow_logs(c: &mut Corpus) {
    let f = &AIRFLOW_LOG2;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    // A log cut mid-line is the log of a try that was killed or is still running: every
    // complete line still dates the try.
    cuts_convert(c, f, &text);
    c.add(
        f,
        "cut inside the first timestamp",
        &text.as_bytes()[..12],
        fails("no Airflow log lines in this file"),
    );
    c.replace(
        f,
        "a line's timestamp in year 0",
        "[2026-11-21T05:3",
        "[0000-11-21T05:3",
        fails("log line timestamp: \"0000-11-21T05:3"),
    );
    c.replace(
        f,
        "a line's timestamp in year 9999",
        "[2026-11-21T05:3",
        "[9999-11-21T05:3",
        fails("outside the representable range"),
    );
    c.replace(
        f,
        "a line's timestamp is garbage",
        "[2026-11-21T05:3",
        "[2026-99-21T05:3",
        fails("log line timestamp"),
    );
    c.replace(
        f,
        "Marking task line with a bad end_date",
        "end_date=20261121T",
        "end_date=99999999T",
        fails("Marking task line: end_date"),
    );
    // A try number beyond u32: not a try number; the folder's attempt=2 gives it.
    c.replace(
        f,
        "Starting attempt beyond u32",
        "Starting attempt 2",
        "Starting attempt 99999999999999999999",
        CONVERTS,
    );
    c.add(
        f,
        "100k-deep brackets",
        deep_array(DEEP).as_bytes(),
        fails("no Airflow log lines in this file"),
    );
    c.add(
        f,
        "no log lines",
        b"nothing here\nat all\n",
        fails("no Airflow log lines in this file"),
    );

    let f = &AIRFLOW_LOG3;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A torn last line is what a crash leaves: skipped.
    let torn = format!(
        "{}\n{}",
        lines[..lines.len() - 1].join("\n"),
        &lines[lines.len() - 1][..40]
    );
    c.add(f, "torn last line", torn.as_bytes(), CONVERTS);
    let torn = format!(
        "{}\n{}\n{}",
        lines[0],
        &lines[1][..60],
        lines[2..].join("\n")
    );
    c.add(
        f,
        "a torn line in the middle",
        torn.as_bytes(),
        fails("line 2: not a JSON log record"),
    );
    c.add(
        f,
        "only a torn line",
        &lines[0].as_bytes()[..50],
        fails("no JSON log records in this file"),
    );
    c.replace(
        f,
        "timestamp in year 9999",
        "{\"timestamp\":\"2026-11-21T05:",
        "{\"timestamp\":\"9999-11-21T05:",
        fails("line 1: timestamp: \"9999-11-21T05:"),
    );
    c.replace(
        f,
        "timestamp is a number",
        "{\"timestamp\":\"2026-11-21T05:41:17.899295Z\"",
        "{\"timestamp\":1795239677.899295",
        fails("line 1: timestamp: \"1795239677.899295\" is not an ISO 8601 timestamp"),
    );
    c.add(
        f,
        "100k-deep array on the first of two lines",
        format!("{}\n{}\n", deep_array(DEEP), lines[0]).as_bytes(),
        // A first line that is no JSON object makes it a text log, which has no lines.
        fails("no Airflow log lines in this file"),
    );
    c.add(
        f,
        "a JSON list line",
        format!("[1]\n{}\n", lines[0]).as_bytes(),
        fails("no Airflow log lines in this file"),
    );
    c.add(
        f,
        "a JSON list line after a record",
        format!("{}\n[1]\n{}\n", lines[0], lines[1]).as_bytes(),
        fails("line 2: not a JSON log record"),
    );
}

fn airflow_scheduler(c: &mut Corpus) {
    let f = &AIRFLOW_SCHEDULER;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    // Cut inside a TaskInstance Finished line: the line lacks run_id.
    let line =
        "TaskInstance Finished: dag_id=otel_corpus_pipeline, task_id=extract, run_id=corpus_run_ok";
    let at = text.find(line).unwrap() + line.len() - "run_id=corpus_run_ok".len();
    c.add(
        f,
        "cut before run_id of a finished task",
        &text.as_bytes()[..at],
        fails("TaskInstance Finished without dag_id/task_id/run_id"),
    );
    // Cut inside a date: an incomplete date is not a date.
    let at = text.find("run_start_date=2026-11-21 05:31:28").unwrap()
        + "run_start_date=2026-11-21 05:3".len();
    c.add(
        f,
        "cut inside run_start_date",
        &text.as_bytes()[..at],
        fails("run_start_date: \"2026-11-21 05:3\" is not an ISO 8601 timestamp"),
    );
    c.replace(
        f,
        "run_start_date in year 0",
        "run_start_date=2026-11-21 05:31:28.915163+00:00",
        "run_start_date=0000-11-21 05:31:28.915163+00:00",
        fails("run_start_date: \"0000-11-21 05:31:28.915163+00:00\" is outside the representable range"),
    );
    c.replace(
        f,
        "run_end_date in year 9999",
        "run_end_date=2026-11-21 05:31:30.554961+00:00",
        "run_end_date=9999-11-21 05:31:30.554961+00:00",
        fails("outside the representable range"),
    );
    // Ends before it starts: clamped and marked.
    c.replace(
        f,
        "a task ends before it starts",
        "run_end_date=2026-11-21 05:31:30.554961+00:00",
        "run_end_date=2026-11-21 05:31:00+00:00",
        CONVERTS,
    );
    // Non-finite run_duration text: kept off the wire (test `non_finite_doubles_never_reach_the_wire`).
    c.replace(
        f,
        "run_duration NaN",
        "run_duration=1.639798",
        "run_duration=NaN",
        CONVERTS,
    );
    c.replace(
        f,
        "run_duration inf",
        "run_duration=1.639798",
        "run_duration=inf",
        CONVERTS,
    );
    c.replace(
        f,
        "run_duration 1e400",
        "run_duration=1.639798",
        "run_duration=1e400",
        CONVERTS,
    );
    // Numbers beyond i64 in descriptive fields: not numbers retrace can carry, dropped.
    c.replace(
        f,
        "pid beyond i64",
        "pid=19907",
        "pid=99999999999999999999",
        CONVERTS,
    );
    c.replace(
        f,
        "try_number beyond u32",
        "try_number=1, max_tries=0, job_id=2",
        "try_number=4294967296, max_tries=0, job_id=2",
        CONVERTS,
    );
    let start = text.find("DagRun Finished: ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let without_run_id = format!(
        "{}{}{}",
        &text[..start],
        text[start..end].replace("run_id=", "runid="),
        &text[end..]
    );
    c.add(
        f,
        "a DagRun Finished line without run_id",
        without_run_id.as_bytes(),
        fails("DagRun Finished without dag_id/run_id"),
    );

    let f = &AIRFLOW_SCHEDULER3;
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let at = text.find("DagRun Finished: dag_id=").unwrap() + "DagRun Finished: dag_id=".len();
    c.add(
        f,
        "cut after DagRun Finished: dag_id=",
        &text.as_bytes()[..at],
        fails("DagRun Finished without dag_id/run_id"),
    );
    c.add(
        f,
        "100 k '=' on a TaskInstance Finished line",
        format!("TaskInstance Finished: {}\n", "=".repeat(DEEP)).as_bytes(),
        fails("TaskInstance Finished without dag_id/task_id/run_id"),
    );
}

fn dagu(c: &mut Corpus) {
    let f = &DAGU;
    generic(c, f, Some(fails("line 1: not UTF-8 text (column")));
    truncations(c, f, 2, "line 1: truncated JSON");
    let invalid = "line 1: not a Dagu status: invalid type";
    wrong_types(c, f, "/name", &[], invalid);
    wrong_types(c, f, "/dagRunId", &[], invalid);
    wrong_types(c, f, "/status", &[], invalid);
    // Dagu writes nil slices and structs as null: read as empty.
    wrong_types(c, f, "/nodes", &["null"], invalid);
    wrong_types(c, f, "/nodes/1/startedAt", &["null"], invalid);
    wrong_types(c, f, "/createdAt", &["null"], invalid);
    c.json(
        f,
        "name is empty",
        |d| set(d, "/name", json!(" ")),
        fails("name is empty"),
    );
    for (what, value, expect) in [
        ("year 0", "0000-05-07T09:12:06+09:00", fails("nodes[1] (load).startedAt: \"0000-05-07T09:12:06+09:00\" is outside the representable range")),
        ("year 9999", "9999-05-07T09:12:06+09:00", fails("is outside the representable range")),
        // Go's zero time means "not recorded": the span is placed and marked derived.
        ("Go's zero time", "0001-01-01T00:00:00Z", CONVERTS),
        ("garbage", "May 7", fails("is not an ISO 8601 timestamp")),
    ] {
        c.json(f, format!("a step's startedAt {what}"), |d| set(d, "/nodes/1/startedAt", json!(value)), expect);
    }
    c.json(
        f,
        "a step ends before it starts",
        |d| set(d, "/nodes/1/finishedAt", json!("2026-05-07T09:00:00+09:00")),
        CONVERTS,
    );
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "status beyond i64",
        text.replacen("\"status\":4", "\"status\":9223372036854775808", 1)
            .as_bytes(),
        fails(
            "line 1: not a Dagu status: invalid value: integer `9223372036854775808`, expected i64",
        ),
    );
    c.add(
        f,
        "createdAt 1e400",
        text.replacen("\"createdAt\":1778113815480", "\"createdAt\":1e400", 1)
            .as_bytes(),
        fails("line 1: not valid JSON: number out of range"),
    );
    c.add(
        f,
        "status NaN",
        text.replacen("\"status\":4", "\"status\":NaN", 1)
            .as_bytes(),
        fails("line 1: not valid JSON: expected value"),
    );
    c.add(
        f,
        "duplicate key name",
        text.replacen("{", "{\"name\":\"x\",", 1).as_bytes(),
        fails("line 1: not a Dagu status: duplicate field `name`"),
    );
    // A torn last line of a multi-line status (a crash mid-write): the previous line is used.
    let line = text.trim_end();
    c.add(
        f,
        "torn last line after a valid one",
        format!("{line}\n{}", &line[..line.len() / 2]).as_bytes(),
        warns("last line 2 is not a valid status (truncated JSON); using line 1"),
    );
    c.add(
        f,
        "two torn lines",
        format!("{}\n{}", &line[..100], &line[..200]).as_bytes(),
        fails("none of its 2 lines is a valid status; the last (line 2): truncated JSON"),
    );
    c.add(
        f,
        "100k-deep array in nodes",
        text.replacen(
            "\"nodes\":[",
            &format!("\"nodes\":[{},", deep_array(DEEP)),
            1,
        )
        .as_bytes(),
        fails("line 1: not a Dagu status: invalid type"),
    );
    // Nesting in a key Dagu's reader does not use: skipped without recursion, as any JSON
    // reader skips unknown keys; the status itself is valid.
    c.add(
        f,
        "100k-deep array in an unused key",
        text.replacen("{", &format!("{{\"x\":{},", deep_array(DEEP)), 1)
            .as_bytes(),
        CONVERTS,
    );
    c.json(
        f,
        "a run with no time at all",
        |d| {
            set(d, "/dagRunId", json!("hostile-no-times"));
            for key in ["/startedAt", "/finishedAt", "/createdAt"] {
                remove(d, key);
            }
            set(d, "/nodes", json!([]));
            remove(d, "/onExit");
        },
        fails("no timestamps recorded anywhere"),
    );

    // Legacy .dat: two snapshots, the last valid one wins; zone-less local times (`--tz UTC`).
    let f = &DAGU_DAT;
    generic(c, f, None);
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let second = text.trim_end().rfind('\n').unwrap() + 1;
    for (ch, i) in structural_cuts(&text.as_bytes()[..second - 1], 1) {
        c.add(
            f,
            format!("cut in line 1 after {ch:?} at byte {i}"),
            &text.as_bytes()[..=i],
            fails("line 1: truncated JSON"),
        );
    }
    // A torn last snapshot (a crash mid-write): the previous one is used, with a warning.
    c.add(
        f,
        "cut in the last line",
        &text.as_bytes()[..second + 100],
        warns("last line 2 is not a valid status (truncated JSON); using line 1"),
    );
    let in_last = |from: &str, to: &str| -> Vec<u8> {
        let at = text.rfind(from).unwrap();
        assert!(at >= second, "{from} is in the last line");
        [
            &text.as_bytes()[..at],
            to.as_bytes(),
            &text.as_bytes()[at + from.len()..],
        ]
        .concat()
    };
    c.add(
        f,
        "the last snapshot's Status is text",
        &in_last("\"Status\":2,\"StatusText\":\"failed\",\"Pid\"", "\"Status\":\"x\",\"StatusText\":\"failed\",\"Pid\""),
        warns("last line 2 is not a valid status (not a Dagu status: invalid type: string \"x\", expected i64); using line 1"),
    );
    c.add(
        f,
        "StartedAt in year 9999",
        &in_last(
            "\"StartedAt\":\"2024-01-02 12:04:05\"",
            "\"StartedAt\":\"9999-01-02 12:04:05\"",
        ),
        fails("StartedAt: 9999-01-02 12:04:05 is outside the representable range (1970–2262)"),
    );
    c.add(
        f,
        "StartedAt is garbage",
        &in_last(
            "\"StartedAt\":\"2024-01-02 12:04:05\"",
            "\"StartedAt\":\"Jan 2\"",
        ),
        fails("StartedAt: \"Jan 2\" is not an ISO 8601 timestamp"),
    );
}

fn dotflow(c: &mut Corpus) {
    let f = &DOTFLOW_RESULT;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    truncations(c, f, 2, "truncated JSON");
    let invalid = "unexpected content: invalid type";
    wrong_types(c, f, "/tasks", &[], invalid);
    // Optional fields: null is "absent" (a null workflow_id falls back to dotflow's `id`).
    wrong_types(c, f, "/workflow_id", &["null"], invalid);
    wrong_types(c, f, "/tasks/0/status", &["null"], invalid);
    wrong_types(c, f, "/tasks/0/started_at", &["null"], invalid);
    wrong_types(c, f, "/tasks/0/duration", &["null"], invalid);
    wrong_types(c, f, "/tasks/0/retry_count", &["null"], invalid);
    c.json(
        f,
        "tasks is empty",
        |d| set(d, "/tasks", json!([])),
        fails("tasks is empty: nothing to trace"),
    );
    c.json(
        f,
        "a task_id twice",
        |d| {
            let first = d["tasks"][0]["task_id"].clone();
            set(d, "/tasks/1/task_id", first);
        },
        fails("tasks[1].task_id 01M7Y9H59VEKBC3140XJPATN68 appears twice"),
    );
    for (what, value, expect) in [
        ("year 0", "0000-11-21T05:33:40.539476", fails("tasks[0].started_at: 0000-11-21 05:33:40.539476 is outside the representable range")),
        ("year 9999", "9999-11-21T05:33:40.539476", fails("is outside the representable range")),
        ("year 1900", "1900-11-21T05:33:40.539476", fails("tasks[0].started_at: 1900-11-21 05:33:40.539476 is outside the representable range (1970–2262)")),
    ] {
        c.json(f, format!("started_at {what}"), |d| set(d, "/tasks/0/started_at", json!(value)), expect);
    }
    c.json(
        f,
        "a task ends before it starts",
        |d| set(d, "/tasks/0/finished_at", json!("2026-11-21T05:00:00")),
        CONVERTS,
    );
    c.json(
        f,
        "no task has a time",
        |d| {
            set(d, "/workflow_id", json!("hostile-no-times"));
            for t in d["tasks"].as_array_mut().unwrap() {
                for k in ["created_at", "started_at", "finished_at"] {
                    t.as_object_mut().unwrap().remove(k);
                }
            }
        },
        fails("no timestamps recorded anywhere"),
    );
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "duration Infinity",
        text.replacen("\"duration\": 0.200761", "\"duration\": Infinity", 1)
            .as_bytes(),
        fails("not valid JSON: expected value"),
    );
    c.add(
        f,
        "retry_count beyond i64",
        text.replacen(
            "\"retry_count\": 0",
            "\"retry_count\": 9223372036854775808",
            1,
        )
        .as_bytes(),
        fails("unexpected content: invalid value: integer `9223372036854775808`, expected i64"),
    );
    c.add(
        f,
        "duplicate key tasks",
        text.replacen("{", "{\"tasks\": [],", 1).as_bytes(),
        fails("unexpected content: duplicate field `tasks`"),
    );
    c.add(
        f,
        "100k-deep object in tasks",
        text.replacen(
            "\"tasks\": [",
            &format!("\"tasks\": [{},", deep_object(DEEP)),
            1,
        )
        .as_bytes(),
        // The object's unknown key is skipped (without recursion): a task without an id.
        fails("tasks[0].task_id is missing"),
    );

    for f in [&DOTFLOW_LOG, &DOTFLOW_TEXT_LOG] {
        generic(c, f, None);
    }
    // Python's logging writes in the locale's encoding: a log is decoded leniently (an
    // invalid byte becomes U+FFFD) rather than refused; what must be read exactly still is.
    let f = &DOTFLOW_LOG;
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let with_bytes = |from: &str, to: &[u8]| -> Vec<u8> {
        let at = text.find(from).unwrap();
        [
            &text.as_bytes()[..at],
            to,
            &text.as_bytes()[at + from.len()..],
        ]
        .concat()
    };
    c.add(
        f,
        "invalid UTF-8 in a level name",
        &with_bytes("\"level\":\"INFO\"", b"\"level\":\"IN\xff\xfeFO\""),
        CONVERTS,
    );
    c.add(
        f,
        "invalid UTF-8 in a time",
        &with_bytes(
            "2026-11-21 05:33:40,539 - INFO",
            b"2026-11-21 \xe205:33:40,539 - INFO",
        ),
        fails("line 1: \"2026-11-21 \u{fffd}05:33:40,539\" is not a Python logging time"),
    );
    let f = &DOTFLOW_TEXT_LOG;
    let text = String::from_utf8(fixture(f.base)).unwrap();
    c.add(
        f,
        "a line of other output in Latin-1",
        &[text.as_bytes(), b"caf\xe9 cr\xe8me\n"].concat(),
        CONVERTS,
    );
    let at = text.find("01M7Y9H8S7PQ5CKNH32EAQN956 - Completed").unwrap()
        + "01M7Y9H8S7PQ5CKNH32EAQN956 - Compl".len();
    c.add(
        f,
        "invalid UTF-8 in a status",
        &[&text.as_bytes()[..at], b"\xff", &text.as_bytes()[at..]].concat(),
        // An unknown status (`Compl\u{fffd}eted`): the task's span is kept, without a result.
        CONVERTS,
    );
    let f = &DOTFLOW_LOG;
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A log cut at a line's end is a run that died or is still running: it converts.
    c.add(
        f,
        "cut after line 5",
        (lines[..5].join("\n") + "\n").as_bytes(),
        CONVERTS,
    );
    let torn = format!(
        "{}\n{}",
        lines[..4].join("\n"),
        &lines[4][..lines[4].len() - 20]
    );
    c.add(
        f,
        "a torn JSON record",
        torn.as_bytes(),
        fails("line 5: truncated JSON record"),
    );
    c.replace(
        f,
        "status is a number",
        "\"status\":\"Not started\"",
        "\"status\":5",
        fails("line 1: unexpected content in JSON record: invalid type: integer `5`, expected a string"),
    );
    c.replace(
        f,
        "timestamp in year 9999",
        "\"timestamp\":\"2026-11-21T05:33:40.539228+00:00\"",
        "\"timestamp\":\"9999-11-21T05:33:40.539228+00:00\"",
        fails("line 1: timestamp: \"9999-11-21T05:33:40.539228+00:00\" is outside the representable range"),
    );
    c.replace(
        f,
        "asctime in year 0",
        "2026-11-21 05:33:40,539 - INFO",
        "0000-11-21 05:33:40,539 - INFO",
        fails("line 1: \"0000-11-21 05:33:40,539\" is not a Python logging time"),
    );
    c.replace(
        f,
        "duration 1e400",
        "\"status\":\"Completed\"",
        "\"status\":\"Completed\",\"duration\":1e400",
        fails("not a valid JSON record: number out of range"),
    );
    c.replace(
        f,
        "retry_count beyond i64",
        "\"status\":\"Completed\"",
        "\"status\":\"Completed\",\"retry_count\":18446744073709551616",
        fails("unexpected content in JSON record: invalid type: floating point"),
    );
    c.add(
        f,
        "a dotflow line without any task record",
        b"2026-11-21 05:33:40,539 - INFO [dotflow.1]: workflow started\n",
        fails("no task status"),
    );
    c.add(
        f,
        "100k-deep array as a record",
        format!(
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: {}\n",
            deep_array(DEEP)
        )
        .as_bytes(),
        fails("no task status"),
    );
    c.add(
        f,
        "100k-deep object as a record",
        format!(
            "2026-11-21 05:33:40,539 - INFO [dotflow.1]: {}\n",
            deep_object(DEEP)
        )
        .as_bytes(),
        // The unknown key is skipped (without recursion); no task record is left.
        fails("no task status"),
    );
    let f = &DOTFLOW_TEXT_LOG;
    c.replace(
        f,
        "a status line without its status",
        " - 01M7Y9H8S7PQ5CKNH32EAQN954 - Not started",
        " - 01M7Y9H8S7PQ5CKNH32EAQN954",
        fails("line 1: expected `ID <workflow_id> - <task_id> - <status>`"),
    );
    c.replace(
        f,
        "asctime with a dot",
        "2026-11-21 05:33:44,103",
        "2026-11-21 05:33:44.103",
        fails("line 1: \"2026-11-21 05:33:44.103\" is not a Python logging time"),
    );
}

fn records(c: &mut Corpus) {
    let f = &RECORDS;
    generic(c, f, Some(fails("not UTF-8 text (byte")));
    let bytes = fixture(f.base);
    let first_line_end = bytes.iter().position(|b| *b == b'\n').unwrap();
    for (ch, i) in structural_cuts(&bytes, 2) {
        // The writer flushes whole lines, so a crash tears only the last one: skipped with a
        // note when a run line precedes it. A file whose run line is torn has nothing.
        let expect = if i < first_line_end {
            fails("no complete run line in this file (line 1 is incomplete)")
        } else if bytes.get(i + 1) == Some(&b'\n') {
            CONVERTS
        } else {
            let line = bytes[..i].iter().filter(|b| **b == b'\n').count() + 1;
            warns(&format!(
                "line {line} is incomplete (the writer stopped mid-line); ignored"
            ))
        };
        c.add(
            f,
            format!("cut after {ch:?} at byte {i}"),
            &bytes[..=i],
            expect,
        );
    }
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let doc = |i: usize| -> Value { serde_json::from_str(&lines[i]).unwrap() };
    let with_line = |i: usize, v: &Value| -> String {
        let mut out = lines.clone();
        out[i] = serde_json::to_string(v).unwrap();
        out.join("\n") + "\n"
    };
    let invalid = "unexpected content: ";
    // Optional fields (start, end, exit_code, message): null is "not recorded".
    for (line, pointer, converts) in [
        (0, "/run_id", &[][..]),
        (0, "/start", &["null"][..]),
        (0, "/attributes", &[][..]),
        (1, "/attempt", &[][..]),
        (1, "/end", &["null"][..]),
        (1, "/outcome", &[][..]),
        (1, "/exit_code", &["null"][..]),
        (1, "/message", &["null"][..]),
        (3, "/end", &["null"][..]),
    ] {
        let original = kind_of(doc(line).pointer(pointer).unwrap());
        for (kind, value) in KINDS {
            if kind == original {
                continue;
            }
            let mut d = doc(line);
            set(&mut d, pointer, value());
            let expect = if converts.contains(&kind) {
                CONVERTS
            } else {
                fails(&format!("line {}: {invalid}", line + 1))
            };
            c.add(
                f,
                format!("line {} {pointer} is {kind}", line + 1),
                with_line(line, &d).as_bytes(),
                expect,
            );
        }
    }
    let edit = |line: usize, e: &dyn Fn(&mut Value)| -> String {
        let mut d = doc(line);
        e(&mut d);
        with_line(line, &d)
    };
    c.add(f, "start beyond i64", edit(0, &|d| set(d, "/start", json!(u64::MAX))).as_bytes(), fails("line 1: unexpected content: invalid value: integer `18446744073709551615`, expected i64"));
    c.add(
        f,
        "a step starts before 1970",
        edit(1, &|d| set(d, "/start", json!(-5))).as_bytes(),
        fails("run run-42: a time lies before 1970, which OTLP cannot carry"),
    );
    c.add(
        f,
        "an event before 1970",
        edit(1, &|d| {
            set(d, "/events", json!([{"time": -1, "name": "retry"}]))
        })
        .as_bytes(),
        fails("run run-42: a time lies before 1970"),
    );
    c.add(
        f,
        "an attribute 1e400",
        text.replacen("\"step.exit_code\":1", "\"step.exit_code\":1e400", 1)
            .as_bytes(),
        fails("line 2: unexpected content: number out of range"),
    );
    c.add(
        f,
        "an attribute NaN",
        text.replacen("\"step.exit_code\":1", "\"step.exit_code\":NaN", 1)
            .as_bytes(),
        fails("line 2: not valid JSON: expected value"),
    );
    c.add(
        f,
        "an attribute is an object",
        edit(1, &|d| set(d, "/attributes/x", json!({"k": 1}))).as_bytes(),
        fails("line 2: unexpected content"),
    );
    c.add(
        f,
        "a step ends before it starts",
        edit(1, &|d| set(d, "/end", json!(1_795_239_100_000_000_000i64))).as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "a step's parent is not in the run",
        edit(1, &|d| set(d, "/parent", json!("nowhere"))).as_bytes(),
        fails("step \"extract\" names parent \"nowhere\", which is not in the run"),
    );
    // The latest attempt of `extract` under itself (an earlier attempt under the latest is
    // how attempts nest, and converts).
    c.add(
        f,
        "a step is its own parent",
        edit(2, &|d| set(d, "/parent", json!("extract"))).as_bytes(),
        fails("run run-42: step \"extract\" is its own ancestor"),
    );
    c.add(
        f,
        "an attempt under the latest attempt",
        edit(1, &|d| set(d, "/parent", json!("extract"))).as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "the same step attempt twice",
        edit(2, &|d| set(d, "/attempt", json!(1))).as_bytes(),
        fails("step \"extract\" attempt 1 appears twice in the run"),
    );
    c.add(
        f,
        "a step of another run",
        edit(1, &|d| set(d, "/run_id", json!("run-7"))).as_bytes(),
        fails("line 2: belongs to run \"run-7\", but the open run is \"run-42\""),
    );
    c.add(
        f,
        "schema v2",
        text.replacen("records/v1", "records/v2", 1).as_bytes(),
        fails("line 1: unsupported schema \"retrace.records/v2\""),
    );
    c.add(
        f,
        "type unknown",
        text.replacen("\"type\":\"run\"", "\"type\":\"walk\"", 1)
            .as_bytes(),
        fails("line 1: unexpected content: unknown variant `walk`"),
    );
    c.add(
        f,
        "duplicate key run_id",
        text.replacen(
            "{\"type\":\"run\",",
            "{\"type\":\"run\",\"run_id\":\"x\",",
            1,
        )
        .as_bytes(),
        fails("line 1: unexpected content: duplicate field `run_id`"),
    );
    // A duplicate attribute key: the attribute map reads both entries in document order.
    c.add(
        f,
        "duplicate attribute key",
        text.replacen(
            "\"dag.name\":\"etl\"",
            "\"dag.name\":\"etl\",\"dag.name\":\"etl2\"",
            1,
        )
        .as_bytes(),
        CONVERTS,
    );
    c.add(
        f,
        "a run line without any time",
        format!(
            "{}\n",
            edit(0, &|d| {
                remove(d, "/start");
                set(d, "/run_id", json!("r0"));
            })
            .lines()
            .next()
            .unwrap()
        )
        .as_bytes(),
        fails("no timestamps recorded anywhere"),
    );
    c.add(
        f,
        "100k-deep array in attributes",
        text.replacen(
            "\"dag.name\":\"etl\"",
            &format!("\"dag.name\":{}", deep_array(DEEP)),
            1,
        )
        .as_bytes(),
        fails("line 1: unexpected content: recursion limit exceeded"),
    );
    c.add(
        f,
        "100k-deep object as line 1",
        format!("{}\n{text}", deep_object(DEEP)).as_bytes(),
        fails("line 1: not a retrace record"),
    );
}

fn spark(c: &mut Corpus) {
    let f = &SPARK;
    // The bytes land in a physical plan, which retrace never reads (plans are not exported).
    generic(c, f, Some(CONVERTS));
    let text = String::from_utf8(fixture(f.base)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let line_of = |needle: &str| 1 + lines.iter().position(|l| l.contains(needle)).unwrap();
    c.add(
        f,
        "not JSON from the first line",
        b"spark-submit --master local[2] job.py\nINFO SparkContext: Running Spark version 4.3.0\n",
        fails("not a Spark event log (its first line is not a JSON event)"),
    );
    c.add(
        f,
        "a JSON document that is not an event log",
        br#"{"name": "not spark", "version": 1}"#,
        fails("not a Spark event log (its first line is not a JSON event)"),
    );
    let torn = &text[..text.len() - 40];
    c.add(
        f,
        "cut inside its last event (a log still written)",
        torn.as_bytes(),
        warns("ends inside an event (the log was cut while written): that event is left out"),
    );
    let mid = lines.len() / 2;
    let mut garbage = lines.clone();
    garbage.insert(
        mid,
        "\u{1b}[31mWARN something printed into the log\u{1b}[0m",
    );
    c.add(
        f,
        "a line that is not an event in the middle",
        (garbage.join("\n") + "\n").as_bytes(),
        warns(&format!(
            "1 line(s) that are not Spark events skipped (the first: local-1796090155073 line {})",
            mid + 1
        )),
    );
    let start = line_of("SparkListenerApplicationStart");
    let without_start: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| i + 1 != start)
        .map(|(_, l)| *l)
        .collect();
    c.add(
        f,
        "no SparkListenerApplicationStart",
        (without_start.join("\n") + "\n").as_bytes(),
        fails("no SparkListenerApplicationStart: not a complete Spark event log"),
    );
    c.replace(
        f,
        "Stage ID a string",
        r#""Event":"SparkListenerStageCompleted","Stage Info":{"Stage ID":0,"#,
        r#""Event":"SparkListenerStageCompleted","Stage Info":{"Stage ID":"zero","#,
        fails("line 22: SparkListenerStageCompleted: invalid type: string \"zero\", expected i64"),
    );
    c.replace(
        f,
        "Job ID beyond i64",
        r#""Event":"SparkListenerJobStart","Job ID":0,"#,
        r#""Event":"SparkListenerJobStart","Job ID":9223372036854775808,"#,
        fails("line 10: SparkListenerJobStart: invalid value: integer `9223372036854775808`, expected i64"),
    );
    c.replace(
        f,
        "application start in year 9999",
        r#""Timestamp":1796090153753,"User":"root""#,
        r#""Timestamp":253402300799000,"User":"root""#,
        fails("SparkListenerApplicationStart: 253402300799000 ms is outside the representable range (1970–2262)"),
    );
    c.replace(
        f,
        "a negative job submission time",
        r#""Event":"SparkListenerJobStart","Job ID":0,"Submission Time":1796090161139"#,
        r#""Event":"SparkListenerJobStart","Job ID":0,"Submission Time":-5"#,
        CONVERTS,
    );
    c.replace(
        f,
        "a stage completed before it was submitted",
        r#""Submission Time":1796090161166,"Completion Time":1796090163602"#,
        r#""Submission Time":1796090161166,"Completion Time":1796090000000"#,
        CONVERTS,
    );
    c.replace(
        f,
        "an unknown Spark version",
        r#"{"Event":"SparkListenerLogStart","Spark Version":"4.3.0"}"#,
        r#"{"Event":"SparkListenerLogStart","Spark Version":"99.1.0-future"}"#,
        CONVERTS,
    );

    let z = &SPARK_ZSTD;
    let compressed = fixture(z.base);
    c.add(z, "0-byte file", b"", fails("file is empty"));
    c.add(
        z,
        "not zstd at all",
        &text.as_bytes()[..4096],
        fails("cannot read zstd data after line 0"),
    );
    c.add(
        z,
        "cut inside a zstd frame",
        &compressed[..compressed.len() / 2],
        warns("ends inside an event"),
    );
    let mut flipped = compressed.clone();
    let at = flipped.len() / 3;
    for b in &mut flipped[at..at + 64] {
        *b ^= 0x5a;
    }
    c.add(
        z,
        "64 corrupt bytes inside a zstd frame",
        &flipped,
        fails("cannot read zstd data after line"),
    );
}

fn build_corpus(root: &Path) -> Corpus {
    let mut c = Corpus::new(root);
    dbt_run_results(&mut c);
    dbt_sources(&mut c);
    dbt_manifest(&mut c);
    dbt_logs(&mut c);
    airflow_api(&mut c);
    airflow_cli(&mut c);
    airflow_logs(&mut c);
    airflow_scheduler(&mut c);
    dagu(&mut c);
    dotflow(&mut c);
    records(&mut c);
    spark(&mut c);
    c
}

// ---- running and judging ----

fn convert(case: &Case, extra: &[&str]) -> Output {
    let mut cmd = retrace();
    cmd.arg(case.verb)
        .arg(&case.arg)
        .args(&case.extra)
        .args(extra);
    // Only the formats with zone-less times take --tz.
    if matches!(case.verb, "dagu" | "dotflow") {
        cmd.args(["--tz", "UTC"]);
    }
    cmd.output().expect("run retrace")
}

/// What is wrong with one case's outcome, if anything.
fn judge(case: &Case, out: &Output) -> Option<String> {
    let err = stderr(out);
    let code = out.status.code();
    if err.contains("panicked") {
        return Some(format!("panicked:\n{err}"));
    }
    if let Some(line) = err.lines().find(|l| !l.starts_with("retrace: ")) {
        return Some(format!(
            "a stderr line without `retrace: `: {line:?}\n{err}"
        ));
    }
    let bad = case.bad.display().to_string();
    let naming: Vec<&str> = err.lines().filter(|l| l.contains(&bad)).collect();
    let others: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains(&bad) && !l.starts_with("retrace: delivered "))
        .collect();
    if !others.is_empty() {
        return Some(format!("lines that do not name the file: {others:?}"));
    }
    let expect_line = |text: &str, want_code: i32| -> Option<String> {
        if code != Some(want_code) {
            return Some(format!("exit {code:?}, expected {want_code}:\n{err}"));
        }
        match naming.as_slice() {
            [line] if line.contains(text) => None,
            [line] => Some(format!("expected {text:?} in\n{line}")),
            lines => Some(format!(
                "expected exactly one line naming the file, got {}:\n{err}",
                lines.len()
            )),
        }
    };
    match &case.expect {
        Expect::Fails(text) => expect_line(text, 1),
        Expect::Converts(Some(text)) => expect_line(text, 0),
        Expect::Converts(None) => {
            if code != Some(0) || !naming.is_empty() {
                Some(format!(
                    "expected exit 0 and no line naming the file, got {code:?}:\n{err}"
                ))
            } else {
                None
            }
        }
        Expect::Unreadable => {
            if std::fs::read(&case.bad).is_ok() {
                // Root: permissions do not apply.
                None
            } else {
                expect_line("cannot read: Permission denied", 1)
            }
        }
    }
}

/// Runs every case on two threads; returns the failures and the count of cases per format.
fn run_all(cases: &[Case]) -> Vec<String> {
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let out = convert(case, &["--exporter", "none"]);
                if std::env::var_os("HOSTILE_SHOW").is_some() {
                    eprintln!(
                        "[{i}] {} / {} -> {:?}\n{}",
                        case.format,
                        case.what,
                        out.status.code(),
                        stderr(&out)
                    );
                }
                if let Some(problem) = judge(case, &out) {
                    failures.lock().unwrap().push(format!(
                        "[{i}] {} / {} ({}): {problem}",
                        case.format,
                        case.what,
                        case.bad.display()
                    ));
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

fn per_format(cases: &[Case]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for c in cases {
        *counts.entry(c.format).or_default() += 1;
    }
    counts
}

#[test]
fn every_malformed_input_is_one_clear_line() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let corpus = build_corpus(tmp.path());
    let counts = per_format(&corpus.cases);
    let distinct: std::collections::HashSet<&Path> =
        corpus.cases.iter().map(|c| c.bad.as_path()).collect();
    assert_eq!(
        distinct.len(),
        corpus.cases.len(),
        "every case is its own input"
    );
    assert!(
        corpus.cases.len() >= MIN_CASES,
        "{} cases: {counts:?}",
        corpus.cases.len()
    );
    // Every format of the issue is covered with a real share of cases.
    for label in [
        "dbt run_results",
        "dbt sources.json",
        "dbt manifest beside run_results",
        "dbt JSON log",
        "dbt text log",
        "airflow API JSON",
        "airflow CLI JSON",
        "airflow 2.x text log",
        "airflow 3.x JSON log",
        "airflow scheduler log",
        "dagu status.jsonl",
        "dotflow log",
        "dotflow result JSON",
        "records JSONL",
    ] {
        assert!(
            counts.get(label).copied().unwrap_or(0) >= 10,
            "{label}: {counts:?}"
        );
    }
    let failures = run_all(&corpus.cases);
    for c in &corpus.cases {
        // Leave the tempdir removable.
        if matches!(c.expect, Expect::Unreadable) {
            set_mode(&c.bad, 0o644);
        }
    }
    let mut summary = String::new();
    for (label, n) in &counts {
        let _ = write!(summary, "{label}: {n}, ");
    }
    eprintln!(
        "{} hostile inputs ({summary}) in {:.1}s",
        corpus.cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        corpus.cases.len(),
        failures.join("\n\n")
    );
}

// ---- 100 MB on one line ----

/// A file of `prefix`, then `fill` repeated to 100 MB on the same line, then `suffix`,
/// written in pieces (never held in memory by the test).
fn write_huge(path: &Path, prefix: &str, fill: u8, suffix: &str) {
    const SIZE: usize = 100 * 1024 * 1024;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(prefix.as_bytes()).unwrap();
    let chunk = vec![fill; 1024 * 1024];
    for _ in 0..SIZE / chunk.len() {
        out.write_all(&chunk).unwrap();
    }
    out.write_all(suffix.as_bytes()).unwrap();
    out.flush().unwrap();
}

#[test]
fn a_100_mb_line_is_one_short_clear_line() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    #[rustfmt::skip]
    let cases: [(&Format, &str, u8, &str, &str); 14] = [
        (&DBT_RUN, "{\"metadata\": {\"dbt_schema_version\": \"https://schemas.getdbt.com/dbt/run-results/v6.json\", \"invocation_id\": \"", b'x', "", "truncated JSON (input ends at line 1 column 1048577"),
        (&DBT_SOURCES, "{\"results\": [], \"note\": \"", b'x', "\"}", "unexpected content: missing field `metadata`"),
        (&DBT_MANIFEST, "{\"nodes\": {\"model.pedal_share.stg_rides\": \"", b'x', "\"}}", "unexpected content: invalid type: string \"xxxx"),
        (&DBT_LOG_JSON, "{\"info\": {\"name\": \"", b'x', "\"}}\n", "no dbt log records in this file (line 1: longer than 8 MiB)"),
        (&DBT_LOG_TEXT, "\x1b[0m01:37:02.714688 [debug] [MainThread]: ", b'x', "\n", "no dbt log records in this file (line 1: longer than 8 MiB)"),
        (&AIRFLOW_API_RUN, "{\"dag_run_id\": \"r\", \"dag_id\": \"d\", \"start_date\": \"2026-11-21T05:39:15.", b'x', "Z\"}", "start_date: \"2026-11-21T05:39:15.xxxx"),
        (&AIRFLOW_CLI, "[{\"dag_id\": \"d\", \"task_id\": \"t\", \"state\": \"", b'x', "", "truncated JSON"),
        (&AIRFLOW_LOG2, "[2026-11-21T05:34:28.", b'x', "+0000] {x.py:1} INFO - x\n", "log line timestamp: \"2026-11-21T05:34:28.xxxx"),
        (&AIRFLOW_LOG3, "{\"timestamp\": \"", b'x', "", "no JSON log records in this file"),
        (&AIRFLOW_SCHEDULER, "TaskInstance Finished: dag_id=", b'x', "\n", "line 1: TaskInstance Finished without dag_id/task_id/run_id"),
        (&DAGU, "{\"dagRunId\": \"r\", \"name\": \"", b'x', "\"}\n", "run r: no timestamps recorded anywhere"),
        (&DOTFLOW_LOG, "2026-11-21 05:33:40,539 - INFO [dotflow.1]: ", b'x', "\n", "no task status in its dotflow lines"),
        (&DOTFLOW_RESULT, "{\"workflow_id\": \"w\", \"tasks\": [{\"task_id\": \"", b'x', "\", \"started_at\": \"yesterday\"}]}", "tasks[0].started_at: \"yesterday\" is not an ISO 8601 timestamp"),
        (&RECORDS, "{\"schema\":\"retrace.records/v1\",\"type\":\"run\",\"system\":\"s\",\"name\":\"n\",\"pipeline_name\":\"p\",\"run_id\":\"", b'x', "\"}\n", "no timestamps recorded anywhere"),
    ];
    let mut failures = Vec::new();
    for (i, (f, prefix, fill, suffix, message)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("huge{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        Corpus::write_companions(f, &dir);
        let bad = dir.join(f.file);
        write_huge(&bad, prefix, fill, suffix);
        let case = Case {
            format: f.label,
            what: "a 100 MB line".into(),
            verb: f.verb,
            arg: if f.arg.is_empty() {
                bad.clone()
            } else {
                dir.join(f.arg)
            },
            extra: Vec::new(),
            bad: bad.clone(),
            expect: fails(message),
            in_backfill: true,
        };
        let out = convert(&case, &["--exporter", "none"]);
        std::fs::remove_file(&bad).unwrap();
        if let Some(problem) = judge(&case, &out) {
            failures.push(format!("{}: {problem}", f.label));
        }
        // What the file holds is quoted, never whole: the line stays readable.
        let longest = stderr(&out).lines().map(str::len).max().unwrap_or(0);
        if longest > 1000 {
            failures.push(format!("{}: a stderr line of {longest} bytes", f.label));
        }
    }
    eprintln!(
        "14 files of 100 MB in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- backfill: every bad file one line, every good span delivered ----

/// `retrace: delivered N of M spans …` → N.
fn delivered(err: &str) -> usize {
    err.lines()
        .find_map(|l| l.strip_prefix("retrace: delivered "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn backfill(rx: &Receiver, tree: &Path) -> Output {
    run(retrace()
        .args(["backfill"])
        .arg(tree)
        .args(rx.cli_args())
        .args(["--timeout", "10s", "--tz", "UTC"]))
}

/// The good runs: a dbt run, a records file, a Dagu run.
fn good_runs(dir: &Path) {
    for (fix, to) in [
        ("dbt/02-run/run_results.json", "dbt/run_results.json"),
        ("records/etl-run.jsonl", "records/etl-run.jsonl"),
        (DAGU.base, "dagu/status.jsonl"),
    ] {
        let to = dir.join(to);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, fixture(fix)).unwrap();
    }
}

fn span_keys(spans: &[ReceivedSpan]) -> BTreeSet<(String, String, String)> {
    spans
        .iter()
        .map(|s| (s.trace_id_hex(), s.span_id_hex(), s.span.name.clone()))
        .collect()
}

#[test]
fn backfill_reports_each_bad_file_once_and_delivers_everything_else() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();

    // What the good runs are alone.
    let alone = tmp.path().join("alone");
    good_runs(&alone);
    let rx = Receiver::start(Proto::Grpc);
    let out = backfill(&rx, &alone);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = delivered(&stderr(&out));
    assert!(expected > 0, "{}", stderr(&out));
    let good = span_keys(&rx.wait_spans(expected, WAIT));
    assert_eq!(good.len(), expected);
    drop(rx);

    // The same runs among every bad file backfill recognises.
    let tree = tmp.path().join("tree");
    good_runs(&tree.join("good"));
    let corpus = build_corpus(&tree.join("bad"));
    let mut bad = Vec::new();
    for (i, case) in corpus.cases.iter().enumerate() {
        let dir = corpus.root.join(format!("case{i:03}"));
        if case.in_backfill {
            bad.push(case.bad.display().to_string());
        } else {
            // Not a bad file backfill can see (a case that converts, a directory, an
            // unreadable file found only by its first bytes): left out.
            if matches!(case.expect, Expect::Unreadable) {
                set_mode(&case.bad, 0o644);
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    // One 100 MB line among them (12 are converted one by one above).
    let huge = tree.join("bad/huge/run_results.json");
    write_huge(&huge, "{\"results\": [\"", b'x', "");
    bad.push(huge.display().to_string());

    let rx = Receiver::start(Proto::Grpc);
    let out = backfill(&rx, &tree);
    let err = stderr(&out);
    let spans = rx.wait_spans(expected, WAIT);
    for c in &corpus.cases {
        if matches!(c.expect, Expect::Unreadable) && c.bad.exists() {
            set_mode(&c.bad, 0o644);
        }
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    if let Some(line) = err.lines().find(|l| !l.starts_with("retrace: ")) {
        panic!("a stderr line without `retrace: `: {line:?}");
    }
    let mut problems = Vec::new();
    for path in &bad {
        let n = err.lines().filter(|l| l.contains(path.as_str())).count();
        if n != 1 {
            problems.push(format!("{path}: {n} lines"));
        }
    }
    let unexplained: Vec<&str> = err
        .lines()
        .filter(|l| !bad.iter().any(|p| l.contains(p.as_str())))
        .filter(|l| !l.starts_with("retrace: delivered ") && !l.starts_with("retrace: backfill: "))
        .collect();
    assert!(
        problems.is_empty() && unexplained.is_empty(),
        "{} bad files, wrong line counts: {problems:#?}\nunexplained lines: {unexplained:#?}",
        bad.len()
    );
    assert!(
        err.contains(&format!(", {} failed,", bad.len())),
        "the summary counts every bad file:\n{}",
        err.lines()
            .filter(|l| l.contains("backfill:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(delivered(&err), expected, "{err}");
    assert_eq!(spans.len(), expected);
    assert_eq!(
        span_keys(&spans),
        good,
        "exactly the good runs' spans arrived"
    );
    eprintln!(
        "backfill: {} bad files, {expected} good spans, {:.1}s",
        bad.len(),
        started.elapsed().as_secs_f64()
    );
}

// ---- non-finite doubles ----

/// Every double in an attribute list, at any depth.
fn doubles(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], out: &mut Vec<f64>) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    fn walk(v: &V, out: &mut Vec<f64>) {
        match v {
            V::DoubleValue(d) => out.push(*d),
            V::ArrayValue(a) => a
                .values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .for_each(|v| walk(v, out)),
            V::KvlistValue(kv) => kv
                .values
                .iter()
                .filter_map(|kv| kv.value.as_ref()?.value.as_ref())
                .for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    for kv in attrs {
        if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            walk(v, out);
        }
    }
}

#[test]
fn non_finite_doubles_never_reach_the_wire() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let text = |rel: &str| String::from_utf8(fixture(rel)).unwrap();
    // Text that parses to NaN and infinities: the scheduler's run_duration.
    // The first six `TaskInstance Finished` lines (six different tries) get one each.
    let mut values = ["NaN", "inf", "-inf", "1e400", "-1e400", "infinity"].into_iter();
    let sched: String = text(AIRFLOW_SCHEDULER.base)
        .split_inclusive('\n')
        .map(|line| match line.find("run_duration=") {
            Some(at) if line.contains("TaskInstance Finished: ") => match values.next() {
                Some(v) => {
                    let at = at + "run_duration=".len();
                    let end = at + line[at..].find(',').unwrap();
                    format!("{}{v}{}", &line[..at], &line[end..])
                }
                None => line.to_owned(),
            },
            _ => line.to_owned(),
        })
        .collect();
    assert_eq!(values.next(), None);
    std::fs::create_dir_all(d.join("scheduler")).unwrap();
    std::fs::write(d.join("scheduler/scheduler_stdout.log"), sched).unwrap();
    // The largest finite doubles and numbers beyond i64 where JSON allows them.
    let mut rr = fixture_json(DBT_RUN.base);
    set(&mut rr, "/elapsed_time", json!(f64::MAX));
    set(&mut rr, "/results/0/execution_time", json!(f64::MAX));
    set(
        &mut rr,
        "/results/0/adapter_response",
        json!({"huge": f64::MAX, "tiny": -f64::MAX, "subnormal": 5e-324, "big": 18446744073709551615u64}),
    );
    std::fs::create_dir_all(d.join("dbt")).unwrap();
    std::fs::write(
        d.join("dbt/run_results.json"),
        serde_json::to_vec(&rr).unwrap(),
    )
    .unwrap();
    let mut tis = fixture_json(AIRFLOW_API_TIS.base);
    set(&mut tis, "/task_instances/0/duration", json!(f64::MAX));
    std::fs::write(
        d.join("taskInstances.json"),
        serde_json::to_vec(&tis).unwrap(),
    )
    .unwrap();
    let mut result = fixture_json(DOTFLOW_RESULT.base);
    set(&mut result, "/tasks/0/duration", json!(-f64::MAX));
    std::fs::write(
        d.join("workflow_result.json"),
        serde_json::to_vec(&result).unwrap(),
    )
    .unwrap();
    let records = text(RECORDS.base).replacen(
        "\"dag.name\":\"etl\"",
        "\"dag.name\":\"etl\",\"x.max\":1.7976931348623157e308,\"x.min\":-1.7976931348623157e308",
        1,
    );
    std::fs::write(d.join("etl-run.jsonl"), records).unwrap();

    let inputs: [(&str, PathBuf); 5] = [
        ("airflow", d.join("scheduler/scheduler_stdout.log")),
        ("dbt", d.join("dbt/run_results.json")),
        ("airflow", d.join("taskInstances.json")),
        ("dotflow", d.join("workflow_result.json")),
        ("records", d.join("etl-run.jsonl")),
    ];
    let mut seen = 0;
    for proto in [Proto::HttpJson, Proto::Grpc] {
        for (verb, path) in &inputs {
            let rx = Receiver::start(proto);
            let out = retrace()
                .arg(verb)
                .arg(path)
                .args([
                    "--endpoint",
                    &rx.endpoint(),
                    "--protocol",
                    proto.flag(),
                    "--timeout",
                    "10s",
                ])
                .args(if matches!(*verb, "dagu" | "dotflow") {
                    &["--tz", "UTC"][..]
                } else {
                    &[][..]
                })
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{verb} {}: {err}",
                path.display()
            );
            let n = delivered(&err);
            assert!(n > 0, "{err}");
            let spans = rx.wait_spans(n, WAIT);
            assert_eq!(spans.len(), n, "{err}");
            let mut all = Vec::new();
            for s in &spans {
                doubles(&s.resource, &mut all);
                doubles(&s.span.attributes, &mut all);
                for e in &s.span.events {
                    doubles(&e.attributes, &mut all);
                }
                for l in &s.span.links {
                    doubles(&l.attributes, &mut all);
                }
            }
            assert!(
                all.iter().all(|f| f.is_finite()),
                "{verb} over {proto:?}: {all:?}"
            );
            seen += all.len();
            if *verb == "airflow" && path.ends_with("scheduler_stdout.log") {
                // The six non-finite durations are left out, not sent as text either.
                let durations = spans
                    .iter()
                    .filter(|s| s.attr("airflow.task_instance.duration").is_some())
                    .count();
                let tries = spans
                    .iter()
                    .filter(|s| s.span.name.starts_with("task_run."))
                    .count();
                assert_eq!(durations, tries - 6, "{proto:?}");
            }
        }
    }
    // The extremes arrived as doubles: the test saw what it is about.
    assert!(seen >= 2 * 8, "{seen} doubles");
}
