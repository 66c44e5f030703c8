//! JUnit XML test reports (pytest xunit1/xunit2 and xdist, Node's test runner, jest-junit,
//! cargo-nextest, Maven Surefire and the Ant/Gradle schema): a run per report, a span per
//! `<testsuite>` (nested ones nested) and per `<testcase>`, retries as attempts
//! (`rerunFailure`/`rerunError` after the first, `flakyFailure`/`flakyError` before the
//! passing one).
//!
//! Time: exact where the producer records it (nextest: every attempt's `timestamp`, with its
//! offset). Elsewhere the suite's `timestamp` (its offset when written; a zone-less one —
//! jest-junit's UTC, Ant's GMT — in `--tz`, default UTC) starts the suite and its tests are
//! laid out in file order by their durations, marked `retrace.time_source=derived`; when the
//! tests' durations add up to more than the suite's own time they ran in parallel (pytest
//! -n, several files at once) and are laid out in as many lanes as that takes, never stacked
//! into one fake sequence. A report without any timestamp (Surefire, Node) ends at the file's
//! modification time, or starts at `--start`; derived too. Never the clock.
//!
//! Ids: the run id is nextest's run `uuid`, else a digest of the report's bytes, so the same
//! report converts to the same ids. Captured output (`system-out`, `system-err`, failure
//! bodies) is exported only with `--include-output`: it can hold secrets.

use std::path::Path;

use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::Reader;
use sha2::{Digest, Sha256};

use crate::record::{AttrValue, Attributes, Event, Nanos, Outcome, Run, Step, TimeSource};
use crate::source::time::{parse_in_zone, parse_utc, Zone};
use crate::source::{read_file, Source, SourceError, SourceOptions};
use crate::trace::semconv as sc;

/// `retrace junit`'s own options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Export captured output and failure bodies (`--include-output`).
    pub include_output: bool,
    /// The start of a report that records no time (`--start`), instead of the file's
    /// modification time as its end.
    pub start: Option<Nanos>,
    /// The zone of zone-less timestamps (`--tz`); None: UTC, as jest-junit and Ant write them.
    pub zone: Option<Zone>,
}

mod attr {
    pub const TEST_SUITE_NAME: &str = "test.suite.name";
    pub const TEST_SUITE_RUN_STATUS: &str = "test.suite.run.status";
    pub const TEST_CASE_NAME: &str = "test.case.name";
    pub const TEST_CASE_RESULT_STATUS: &str = "test.case.result.status";
    pub const CLASSNAME: &str = "junit.classname";
    pub const CODE_FILE: &str = "code.file.path";
    pub const CODE_LINE: &str = "code.line.number";
    pub const HOSTNAME: &str = "junit.hostname";
    pub const FAILURE_KIND: &str = "junit.result";
    pub const SKIP_TYPE: &str = "junit.skipped.type";
    pub const SYSTEM_OUT: &str = "junit.system_out";
    pub const SYSTEM_ERR: &str = "junit.system_err";
    pub const PROPERTY_PREFIX: &str = "junit.property.";
    pub const LANE: &str = "junit.lane";
    /// How many attempts the test had (nextest's retries), on each of them.
    pub const ATTEMPTS: &str = "junit.attempts";
    pub const TESTS: &str = "junit.tests";
    pub const FAILURES: &str = "junit.failures";
    pub const ERRORS: &str = "junit.errors";
    pub const SKIPPED: &str = "junit.skipped";
    pub const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";
}

pub struct Junit;

impl Source for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let xml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        let head = String::from_utf8_lossy(head);
        xml && (head.contains("<testsuites") || head.contains("<testsuite"))
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        let bytes = read_file(path)?;
        let text = crate::source::utf8(path, &bytes)?;
        let report = read(text).map_err(|e| SourceError::new(path, e))?;
        let own = options.get::<Options>().cloned().unwrap_or_default();
        let anchor = match own.start {
            Some(start) => Anchor::Start(start),
            None => match modified(path) {
                Some(end) => Anchor::End(end),
                None => Anchor::None,
            },
        };
        let run =
            to_run(report, &bytes, path, &own, anchor).map_err(|e| SourceError::new(path, e))?;
        Ok(vec![run])
    }
}

fn modified(path: &Path) -> Option<Nanos> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Nanos::try_from(d.as_nanos()).ok()
}

// ---- the report as written ----

#[derive(Debug, Default)]
struct Report {
    name: Option<String>,
    timestamp: Option<String>,
    uuid: Option<String>,
    time: Option<f64>,
    /// Node's `<!-- duration_ms 3214.6 -->`.
    comment_duration: Option<f64>,
    suites: Vec<Suite>,
    /// Test cases right under `<testsuites>` (Node's top-level tests).
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct Suite {
    name: String,
    timestamp: Option<String>,
    time: Option<f64>,
    hostname: Option<String>,
    file: Option<String>,
    counts: Vec<(&'static str, i64)>,
    properties: Vec<(String, String)>,
    system_out: Option<String>,
    system_err: Option<String>,
    suites: Vec<Suite>,
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct Case {
    name: String,
    classname: Option<String>,
    file: Option<String>,
    line: Option<i64>,
    time: Option<f64>,
    timestamp: Option<String>,
    result: Option<Finding>,
    /// Failed attempts after this one (`rerun*`) and before it (`flaky*`), in file order.
    reruns: Vec<Retry>,
    flaky: Vec<Retry>,
    properties: Vec<(String, String)>,
    system_out: Option<String>,
    system_err: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Failure,
    Error,
    Skipped,
}

/// A `<failure>`, `<error>` or `<skipped>`.
#[derive(Debug)]
struct Finding {
    kind: Kind,
    message: Option<String>,
    error_type: Option<String>,
    body: String,
}

/// A failed attempt of a retried test (nextest).
#[derive(Debug)]
struct Retry {
    timestamp: Option<String>,
    time: Option<f64>,
    finding: Finding,
}

/// An element being read.
enum Open {
    Suite(Suite),
    Case(Case),
    Finding(Finding),
    Retry(Retry, bool),
    Property(String, String),
    SystemOut(String),
    SystemErr(String),
    Other,
}

/// How deep elements may nest (suites in suites: Node nests describe blocks a few levels);
/// the conversion walks nested suites recursively.
const MAX_DEPTH: usize = 256;

/// Reads a report; the first problem (with its line) ends it.
fn read(text: &str) -> Result<Report, String> {
    let mut reader = Reader::from_str(text);
    let mut report = Report::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut saw_element = false;
    let line_at = |pos: u64| {
        let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
        text.as_bytes()[..pos]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "line {}: not well-formed XML: {e}",
                line_at(reader.error_position())
            )
        })?;
        match event {
            XmlEvent::Start(e) => {
                saw_element = true;
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "line {}: elements nested deeper than {MAX_DEPTH}; a test report needs a few",
                        line_at(reader.buffer_position())
                    ));
                }
                let open = open(&e, &stack, &mut report)?;
                stack.push(open);
            }
            XmlEvent::Empty(e) => {
                saw_element = true;
                let open = open(&e, &stack, &mut report)?;
                close(open, &mut stack, &mut report);
            }
            XmlEvent::End(_) => {
                if let Some(open) = stack.pop() {
                    close(open, &mut stack, &mut report);
                }
            }
            XmlEvent::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("line {}: {e}", line_at(reader.buffer_position())))?;
                add_text(&mut stack, &text);
            }
            XmlEvent::CData(t) => {
                let text = String::from_utf8_lossy(&t.into_inner()).into_owned();
                add_text(&mut stack, &text);
            }
            XmlEvent::Comment(c) => {
                let c = String::from_utf8_lossy(&c.into_inner()).into_owned();
                if let Some(ms) = c.trim().strip_prefix("duration_ms ") {
                    report.comment_duration = seconds(Some(ms.to_owned())).map(|ms| ms / 1000.0);
                }
            }
            // Entities are never expanded (a billion laughs stays a few bytes): a reference to
            // one is an error when its text is read.
            XmlEvent::DocType(_) => {}
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    if !saw_element {
        return Err("no XML element: not a JUnit report".into());
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element (truncated)".into());
    }
    if report.suites.is_empty() && report.cases.is_empty() {
        return Err("no <testsuite> or <testcase>: not a JUnit report".into());
    }
    Ok(report)
}

fn attrs(e: &BytesStart) -> Result<Vec<(String, String)>, String> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|e| format!("bad attribute: {e}"))?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map_err(|e| format!("attribute {key}: {e}"))?
                .into_owned();
            Ok((key, value))
        })
        .collect()
}

fn get(list: &[(String, String)], key: &str) -> Option<String> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// A duration in seconds as the producers write it (`0.001`, `1,234.5` from old Ant).
fn seconds(text: Option<String>) -> Option<f64> {
    text?
        .trim()
        .replace(',', "")
        .parse::<f64>()
        .ok()
        .filter(|t| t.is_finite() && *t >= 0.0)
}

fn finding(kind: Kind, list: &[(String, String)]) -> Finding {
    Finding {
        kind,
        message: get(list, "message").filter(|m| !m.is_empty()),
        error_type: get(list, "type").filter(|t| !t.is_empty()),
        body: String::new(),
    }
}

fn open(e: &BytesStart, stack: &[Open], report: &mut Report) -> Result<Open, String> {
    let list = attrs(e)?;
    let in_case = matches!(stack.last(), Some(Open::Case(_)));
    Ok(match e.name().as_ref() {
        b"testsuites" => {
            report.name = get(&list, "name").filter(|n| !n.is_empty());
            report.timestamp = get(&list, "timestamp");
            report.uuid = get(&list, "uuid");
            report.time = seconds(get(&list, "time"));
            Open::Other
        }
        b"testsuite" => {
            let mut counts = Vec::new();
            for (key, label) in [
                ("tests", attr::TESTS),
                ("failures", attr::FAILURES),
                ("errors", attr::ERRORS),
                ("skipped", attr::SKIPPED),
            ] {
                if let Some(n) = get(&list, key).and_then(|v| v.trim().parse::<i64>().ok()) {
                    counts.push((label, n));
                }
            }
            Open::Suite(Suite {
                name: get(&list, "name").unwrap_or_default(),
                timestamp: get(&list, "timestamp"),
                time: seconds(get(&list, "time")),
                hostname: get(&list, "hostname"),
                file: get(&list, "file"),
                counts,
                ..Suite::default()
            })
        }
        b"testcase" => Open::Case(Case {
            name: get(&list, "name").unwrap_or_default(),
            classname: get(&list, "classname").filter(|c| !c.is_empty()),
            file: get(&list, "file"),
            line: get(&list, "line").and_then(|l| l.trim().parse().ok()),
            time: seconds(get(&list, "time")),
            timestamp: get(&list, "timestamp"),
            ..Case::default()
        }),
        b"failure" if in_case => Open::Finding(finding(Kind::Failure, &list)),
        b"error" if in_case => Open::Finding(finding(Kind::Error, &list)),
        b"skipped" if in_case => Open::Finding(finding(Kind::Skipped, &list)),
        name @ (b"rerunFailure" | b"rerunError" | b"flakyFailure" | b"flakyError") if in_case => {
            let kind = if name.ends_with(b"Error") {
                Kind::Error
            } else {
                Kind::Failure
            };
            Open::Retry(
                Retry {
                    timestamp: get(&list, "timestamp"),
                    time: seconds(get(&list, "time")),
                    finding: finding(kind, &list),
                },
                name.starts_with(b"flaky"),
            )
        }
        b"property" => match (get(&list, "name"), get(&list, "value")) {
            (Some(k), Some(v)) => Open::Property(k, v),
            _ => Open::Other,
        },
        b"system-out" => Open::SystemOut(String::new()),
        b"system-err" => Open::SystemErr(String::new()),
        _ => Open::Other,
    })
}

fn add_text(stack: &mut [Open], text: &str) {
    match stack.last_mut() {
        Some(Open::Finding(f)) => f.body.push_str(text),
        Some(Open::Retry(r, _)) => r.finding.body.push_str(text),
        Some(Open::SystemOut(s) | Open::SystemErr(s)) => s.push_str(text),
        _ => {}
    }
}

/// The case or suite an element inside belongs to (through `<properties>` and the like).
fn owner(stack: &mut [Open]) -> Option<&mut Open> {
    stack
        .iter_mut()
        .rev()
        .find(|o| matches!(o, Open::Case(_) | Open::Suite(_)))
}

fn close(open: Open, stack: &mut [Open], report: &mut Report) {
    match open {
        Open::Suite(suite) => match owner(stack) {
            Some(Open::Suite(parent)) => parent.suites.push(suite),
            _ => report.suites.push(suite),
        },
        Open::Case(case) => match owner(stack) {
            Some(Open::Suite(parent)) => parent.cases.push(case),
            _ => report.cases.push(case),
        },
        Open::Finding(f) => {
            if let Some(Open::Case(case)) = stack.last_mut() {
                // pytest writes an error after a failure for a failing teardown: the worse
                // one stands.
                let worse = case.result.as_ref().is_none_or(|r| r.kind == Kind::Skipped);
                if worse || f.kind == Kind::Error {
                    case.result = Some(f);
                }
            }
        }
        Open::Retry(r, flaky) => {
            if let Some(Open::Case(case)) = stack.last_mut() {
                if flaky {
                    case.flaky.push(r);
                } else {
                    case.reruns.push(r);
                }
            }
        }
        Open::Property(k, v) => match owner(stack) {
            Some(Open::Case(c)) => c.properties.push((k, v)),
            Some(Open::Suite(s)) => s.properties.push((k, v)),
            _ => {}
        },
        Open::SystemOut(text) => match owner(stack) {
            Some(Open::Case(c)) => c.system_out = Some(text),
            Some(Open::Suite(s)) => s.system_out = Some(text),
            _ => {}
        },
        Open::SystemErr(text) => match owner(stack) {
            Some(Open::Case(c)) => c.system_err = Some(text),
            Some(Open::Suite(s)) => s.system_err = Some(text),
            _ => {}
        },
        Open::Other => {}
    }
}

// ---- report → run ----

/// Where a report without timestamps is placed.
#[derive(Clone, Copy)]
enum Anchor {
    Start(Nanos),
    End(Nanos),
    None,
}

const NANOS_PER_SECOND: f64 = 1e9;

/// Durations beyond this (115 days) are not a test's: capped, so that time arithmetic stays in
/// range.
const MAX_SECONDS: f64 = 1e7;

fn nanos_of(seconds: f64) -> Nanos {
    (seconds.min(MAX_SECONDS) * NANOS_PER_SECOND).round() as Nanos
}

/// Building a run: the steps so far, the ids taken, and whether some time was laid out.
struct Builder<'a> {
    /// pytest's `line` attributes count from 0.
    zero_based_lines: bool,
    steps: Vec<Step>,
    taken: std::collections::HashMap<String, u32>,
    options: &'a Options,
    derived: bool,
}

impl Builder<'_> {
    fn timestamp(&self, text: &Option<String>) -> Result<Option<Nanos>, String> {
        // jest-junit's "suite failed to run" suites carry the epoch: no time, in any zone.
        let Some(text) = text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.starts_with("1970-01-01T00:00:00"))
        else {
            return Ok(None);
        };
        let nanos = match parse_utc(text, false) {
            Ok(n) => n,
            Err(_) => match self.options.zone {
                Some(zone) => parse_in_zone(text, zone)?,
                None => parse_utc(text, true)?,
            },
        };
        Ok(Some(nanos))
    }

    /// A step id unique in the run (pytest writes a test that fails and errors in teardown
    /// as two testcases of one name).
    fn unique(&mut self, id: String) -> String {
        let mut candidate = id.clone();
        let mut n = 1;
        // `#2` may itself be a test's name: the next free one.
        while self.taken.contains_key(&candidate) {
            n += 1;
            candidate = format!("{id}#{n}");
        }
        self.taken.insert(candidate.clone(), 1);
        candidate
    }

    /// The suite's span and its contents' from `start` (when known); returns its end.
    fn suite(
        &mut self,
        suite: Suite,
        parent: Option<&str>,
        index: usize,
        start: Option<Nanos>,
    ) -> Result<Option<Nanos>, String> {
        let own = self.timestamp(&suite.timestamp)?;
        let start = own.or(start);
        let name = if suite.name.is_empty() {
            format!("suite {}", index + 1)
        } else {
            suite.name.clone()
        };
        let id = self.unique(match parent {
            Some(p) => format!("{p}/{name}"),
            None => name.clone(),
        });
        let mut step = Step::new(id.clone(), name.clone());
        step.parent = parent.map(str::to_owned);
        let a = &mut step.attributes;
        a.put(attr::TEST_SUITE_NAME, name.clone());
        a.put_opt(attr::HOSTNAME, suite.hostname.clone());
        a.put_opt(attr::CODE_FILE, suite.file.clone());
        for (label, n) in &suite.counts {
            a.put(*label, *n);
        }
        for (k, v) in &suite.properties {
            if is_machine_property(k) {
                continue;
            }
            a.put(format!("{}{k}", attr::PROPERTY_PREFIX), v.clone());
        }
        if self.options.include_output {
            a.put_opt(attr::SYSTEM_OUT, suite.system_out.clone());
            a.put_opt(attr::SYSTEM_ERR, suite.system_err.clone());
        }
        let at = self.steps.len();
        self.steps.push(step);
        let cases_end = self.cases(suite.cases, &id, start, suite.time)?;
        let mut end = cases_end;
        let mut cursor = cases_end.or(start);
        for (i, child) in suite.suites.into_iter().enumerate() {
            let child_end = self.suite(child, Some(&id), i, cursor)?;
            cursor = child_end.or(cursor);
            end = end.max(child_end);
        }
        // A suite without its own timestamp whose tests have theirs (nextest) spans them; its
        // tests may have run beside other suites'.
        let recorded_children = own.is_none()
            && self.steps[at + 1..]
                .iter()
                .all(|s| s.time_source == TimeSource::Recorded && s.start.is_some());
        let mut start = start;
        if recorded_children && self.steps.len() > at + 1 {
            start = self.steps[at + 1..].iter().filter_map(|s| s.start).min();
            end = self.steps[at + 1..].iter().filter_map(|s| s.end).max();
        }
        // The suite's own duration, when it says more than its contents.
        if let (Some(s), Some(t)) = (start, suite.time) {
            end = end.max(Some(s.saturating_add(nanos_of(t))));
        }
        let failed = ends_failed(&self.steps[at + 1..], Some(&id));
        let step = &mut self.steps[at];
        step.start = start;
        step.end = end;
        step.outcome = if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        step.attributes.put(
            attr::TEST_SUITE_RUN_STATUS,
            if failed { "failure" } else { "success" },
        );
        if !recorded_children && own.is_none()
            || self.steps[at + 1..]
                .iter()
                .any(|s| s.time_source == TimeSource::Derived)
        {
            self.steps[at].time_source = TimeSource::Derived;
        }
        Ok(end)
    }

    /// A suite's cases: at their own timestamps, or laid out from `start` in file order by
    /// their durations, in parallel lanes when their durations add up to more than the
    /// suite's `time`. Returns the end of the last.
    fn cases(
        &mut self,
        cases: Vec<Case>,
        suite: &str,
        start: Option<Nanos>,
        suite_time: Option<f64>,
    ) -> Result<Option<Nanos>, String> {
        let total: f64 = cases.iter().filter_map(|c| c.time).sum();
        let lanes = match suite_time {
            // Never more lanes than tests (a suite `time` of 1e-300 must not ask for more).
            Some(t) if t > 0.0 && total > t * 1.05 => {
                ((total / t).ceil().max(1.0) as usize).min(cases.len().max(1))
            }
            _ => 1,
        };
        let mut free: Vec<Nanos> = vec![start.unwrap_or(0); lanes];
        let mut end: Option<Nanos> = None;
        for case in cases {
            let own = self.timestamp(&case.timestamp)?;
            let duration = nanos_of(case.time.unwrap_or(0.0));
            let (case_start, lane) = match (own, start) {
                (Some(t), _) => (Some(t), None),
                (None, Some(_)) => {
                    let lane = (0..lanes).min_by_key(|&l| (free[l], l)).unwrap_or(0);
                    let at = free[lane];
                    free[lane] = at.saturating_add(duration);
                    (Some(at), (lanes > 1).then_some(lane))
                }
                (None, None) => (None, None),
            };
            let case_end = self.case(case, suite, case_start, own.is_none(), lane)?;
            end = end.max(case_end);
        }
        Ok(end)
    }

    /// A case's span (its last attempt) and its other attempts'; returns its end.
    fn case(
        &mut self,
        case: Case,
        suite: &str,
        start: Option<Nanos>,
        laid_out: bool,
        lane: Option<usize>,
    ) -> Result<Option<Nanos>, String> {
        let full_name = match &case.classname {
            // Node writes "test" for every class; jest repeats the name.
            Some(c) if c != "test" && !case.name.starts_with(c.as_str()) => {
                format!("{c}.{}", case.name)
            }
            _ => case.name.clone(),
        };
        let id = self.unique(format!("{suite}/{full_name}"));
        let duration = nanos_of(case.time.unwrap_or(0.0));
        // Attempts before this one (flaky: failed, then this one passed) and after (reruns).
        let mut attempts: Vec<(Option<Nanos>, Nanos, Option<Finding>)> = Vec::new();
        for r in case.flaky {
            let at = self.timestamp(&r.timestamp)?;
            attempts.push((at, nanos_of(r.time.unwrap_or(0.0)), Some(r.finding)));
        }
        let this = attempts.len();
        attempts.push((start, duration, case.result));
        for r in case.reruns {
            let at = self.timestamp(&r.timestamp)?;
            attempts.push((at, nanos_of(r.time.unwrap_or(0.0)), Some(r.finding)));
        }
        let total = attempts.len() as u32;
        let mut end = None;
        for (n, (at, duration, finding)) in attempts.into_iter().enumerate() {
            let attempt = n as u32 + 1;
            let mut step = Step::new(id.clone(), full_name.clone());
            step.parent = Some(suite.to_owned());
            step.attempt = attempt;
            step.start = at;
            step.end = at.map(|t| t.saturating_add(duration));
            end = end.max(step.end);
            if n == this && laid_out || at.is_none() {
                step.time_source = TimeSource::Derived;
                self.derived = true;
            }
            let a = &mut step.attributes;
            a.put(attr::TEST_CASE_NAME, full_name.clone());
            a.put(sc::CICD_TASK_NAME, id.clone());
            a.put_opt(attr::CLASSNAME, case.classname.clone());
            a.put_opt(attr::CODE_FILE, case.file.clone());
            // pytest writes the 0-based line of the `def`.
            let line = case
                .line
                .map(|l| l.saturating_add(i64::from(self.zero_based_lines)));
            a.put_opt(attr::CODE_LINE, line);
            if let Some(lane) = lane {
                a.put(attr::LANE, lane as i64 + 1);
            }
            if n == this {
                for (k, v) in &case.properties {
                    a.put(format!("{}{k}", attr::PROPERTY_PREFIX), v.clone());
                }
                if self.options.include_output {
                    a.put_opt(attr::SYSTEM_OUT, case.system_out.clone());
                    a.put_opt(attr::SYSTEM_ERR, case.system_err.clone());
                }
            }
            if total > 1 {
                a.put(attr::ATTEMPTS, i64::from(total));
            }
            apply(&mut step, finding, self.options.include_output);
            self.steps.push(step);
        }
        Ok(end)
    }
}

/// A finding's outcome, message, status and exception event on its attempt's step.
fn apply(step: &mut Step, finding: Option<Finding>, include_output: bool) {
    let Some(f) = finding else {
        step.outcome = Outcome::Success;
        step.attributes.put(attr::TEST_CASE_RESULT_STATUS, "pass");
        return;
    };
    let first_line = f
        .body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned);
    let message = f.message.clone().or(first_line).or(f.error_type.clone());
    match f.kind {
        Kind::Skipped => {
            step.outcome = Outcome::Skip;
            step.message = message;
            step.attributes.put_opt(attr::SKIP_TYPE, f.error_type);
            return;
        }
        Kind::Failure => step.outcome = Outcome::Failure,
        Kind::Error => step.outcome = Outcome::Error,
    }
    let kind = if f.kind == Kind::Failure {
        "failure"
    } else {
        "error"
    };
    step.attributes.put(attr::TEST_CASE_RESULT_STATUS, "fail");
    step.attributes.put(attr::FAILURE_KIND, kind);
    step.error_type = Some(f.error_type.clone().unwrap_or_else(|| kind.to_owned()));
    step.message = message.clone();
    let mut exception = Attributes::default();
    exception.put(
        sc::EXCEPTION_TYPE,
        f.error_type.unwrap_or_else(|| kind.to_owned()),
    );
    exception.put_opt(sc::EXCEPTION_MESSAGE, message);
    if include_output && !f.body.trim().is_empty() {
        exception.put(attr::EXCEPTION_STACKTRACE, AttrValue::Str(f.body));
    }
    if let Some(time) = step.end {
        step.events.push(Event {
            time,
            name: sc::EXCEPTION_EVENT.into(),
            attributes: exception,
        });
    }
}

/// Surefire's ~50 JVM system properties: not the test's, and they may name paths and users.
fn is_machine_property(key: &str) -> bool {
    [
        "java.", "sun.", "os.", "user.", "file.", "line.", "path.", "jdk.", "awt.", "maven.",
    ]
    .iter()
    .any(|p| key.starts_with(p))
        || matches!(
            key,
            "basedir" | "localRepository" | "surefire.test.class.path"
        )
}

fn to_run(
    report: Report,
    bytes: &[u8],
    path: &Path,
    options: &Options,
    anchor: Anchor,
) -> Result<Run, String> {
    let stem = path
        .file_stem()
        .map_or_else(|| "junit".into(), |s| s.to_string_lossy().into_owned());
    let run_id = report.uuid.clone().unwrap_or_else(|| {
        let digest = Sha256::digest(bytes);
        crate::trace::context::hex(&digest[..16])
    });
    let name = report
        .name
        .clone()
        .or_else(|| (report.suites.len() == 1).then(|| report.suites[0].name.clone()))
        .filter(|n| !n.is_empty())
        .unwrap_or(stem);
    let mut builder = Builder {
        zero_based_lines: report.name.as_deref() == Some("pytest tests"),
        steps: Vec::new(),
        taken: std::collections::HashMap::new(),
        options,
        derived: false,
    };
    let report_start = builder.timestamp(&report.timestamp)?;
    let recorded = report_start.is_some() || any_timestamp(&report);
    // A report without any time is laid out from 0 and moved to its anchor afterwards.
    let start = report_start.or(if recorded { None } else { Some(0) });
    let mut cursor = start;
    let mut end = None;
    let cases_end = builder.cases(report.cases, "", cursor, report.time)?;
    end = end.max(cases_end);
    cursor = cases_end.or(cursor);
    for (i, suite) in report.suites.into_iter().enumerate() {
        let suite_end = builder.suite(suite, None, i, cursor)?;
        end = end.max(suite_end);
        // Suites of one report without their own timestamps ran one after another.
        cursor = suite_end.or(cursor);
    }
    let mut steps = builder.steps;
    // Top-level cases (Node) sit under the root, not under a suite named "".
    for s in &mut steps {
        if s.parent.as_deref() == Some("") {
            s.parent = None;
        }
    }
    let total = report
        .time
        .or(report.comment_duration)
        .map(nanos_of)
        .unwrap_or(0);
    let mut run_start = start.or_else(|| steps.iter().filter_map(|s| s.start).min());
    let mut run_end = end
        .max(run_start.map(|s| s.saturating_add(total)))
        .or_else(|| steps.iter().filter_map(|s| s.end).max());
    if !recorded {
        let length = run_end.unwrap_or(0) - run_start.unwrap_or(0);
        let offset = match anchor {
            Anchor::Start(t) => t,
            Anchor::End(t) => t - length,
            Anchor::None => {
                return Err(
                    "records no time and its modification time is unknown: give --start".into(),
                )
            }
        };
        for s in &mut steps {
            s.start = s.start.map(|t| t + offset);
            s.end = s.end.map(|t| t + offset);
            for e in &mut s.events {
                e.time += offset;
            }
            s.time_source = TimeSource::Derived;
        }
        run_start = run_start.map(|t| t + offset);
        run_end = run_end.map(|t| t + offset);
    }
    let failed = ends_failed(&steps, None);
    let mut attributes = Attributes::default();
    attributes.put("junit.report", name.clone());
    if builder.derived || !recorded {
        attributes.put(sc::RETRACE_TIME_SOURCE, "derived");
    }
    Ok(Run {
        system: "junit".into(),
        run_id,
        name: name.clone(),
        pipeline_name: name,
        start: run_start,
        end: run_end,
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        message: None,
        parent: None,
        native_trace_id: None,
        native_span_id: None,
        resource: Vec::new(),
        events: Vec::new(),
        attributes,
        steps,
    })
}

/// Whether a child of `parent` (None: any step) failed in its last attempt: a flaky test that
/// passed on retry does not fail its suite.
fn ends_failed(steps: &[Step], parent: Option<&str>) -> bool {
    let mut last: std::collections::HashMap<&str, &Step> = std::collections::HashMap::new();
    for s in steps
        .iter()
        .filter(|s| parent.is_none() || s.parent.as_deref() == parent)
    {
        match last.get(s.id.as_str()) {
            Some(seen) if seen.attempt > s.attempt => {}
            _ => {
                last.insert(&s.id, s);
            }
        }
    }
    last.values().any(|s| s.outcome.is_error())
}

fn any_timestamp(report: &Report) -> bool {
    fn suite_has(s: &Suite) -> bool {
        s.timestamp.is_some()
            || s.cases.iter().any(|c| c.timestamp.is_some())
            || s.suites.iter().any(suite_has)
    }
    report.suites.iter().any(suite_has) || report.cases.iter().any(|c| c.timestamp.is_some())
}
