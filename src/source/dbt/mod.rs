//! dbt artifacts: `run_results.json` (schema v1–v6: dbt 0.19 → 1.12 and Fusion),
//! `sources.json` (freshness, v1–v3), enriched from `manifest.json` when it sits beside the
//! artifact or is given with `--manifest`.
//!
//! Time: every dbt timestamp is UTC. Core writes `Z` with 0 or 6 fractional digits, Fusion
//! 0/3/6/9, tz-aware values `+00:00`; the structured log writes naive UTC. All are read
//! exactly to the nanosecond. Node span = earliest `timing[].started_at` → latest
//! `completed_at`; nodes with empty timing (skipped, errored before dbt 1.6) get no time
//! here and are placed by `trace::timeline` (marked derived). Run span =
//! `metadata.invocation_started_at` (dbt ≥ 1.10) else `generated_at − elapsed_time`, to
//! `generated_at`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::record::{
    AttrKey, AttrValue, Attributes, Event, Nanos, Outcome, ParentText, Run, Step, TimeSource,
};
use crate::source::time::{parse_utc, seconds_to_nanos};
use crate::source::{
    check_runs, contains, json_message, json_object, read_file, Source, SourceError, SourceOptions,
};
use crate::trace::ids::uuid_bytes;
use crate::trace::semconv as sc;

pub mod attributes;
pub mod invocation;
pub mod log;

use attributes as attr;

pub struct Dbt;

/// dbt's own options (`retrace dbt --help`).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// An explicit manifest.json instead of the one beside each artifact (`--manifest`).
    pub manifest: Option<PathBuf>,
    /// Export compiled SQL as `db.query.text` (`--include-sql`).
    pub include_sql: bool,
    /// A child span per timing phase, compile and execute (`--phase-spans`).
    pub phase_spans: bool,
    /// Zone of a text log's times of day (`--tz`; None: the conversion's zone, the machine's
    /// unless `backfill --tz` gives one).
    pub zone: Option<crate::source::time::Zone>,
}

impl Options {
    const DEFAULT: Options = Options {
        manifest: None,
        include_sql: false,
        phase_spans: false,
        zone: None,
    };
}

/// The typed parse alone (no records), for `benches/pipeline.rs`: the floor is the
/// parse, so it is measured apart from the conversion. Returns the number of results.
#[doc(hidden)]
pub fn parse_only(bytes: &[u8]) -> serde_json::Result<usize> {
    serde_json::from_slice::<Artifact>(bytes).map(|a| a.results.len())
}

const RUN_RESULTS: &str = "run_results.json";
const SOURCES: &str = "sources.json";
const MANIFEST: &str = "manifest.json";
/// Highest schema major per artifact kind that retrace knows.
const MAX_RUN_RESULTS_VERSION: u32 = 6;
const MAX_SOURCES_VERSION: u32 = 3;

impl Source for Dbt {
    fn name(&self) -> &'static str {
        "dbt"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == RUN_RESULTS || name == SOURCES || log::detect(path, head) {
            return true;
        }
        name.ends_with(".json")
            && (contains(head, b"schemas.getdbt.com/dbt/run-results/")
                || contains(head, b"schemas.getdbt.com/dbt/sources/"))
    }

    fn companion(&self, path: &Path) -> Option<&'static str> {
        (path.file_name()? == MANIFEST)
            .then_some("read with the run_results.json or sources.json beside it")
    }

    /// An artifact, or one log file alone (`parse_each` reads a log with its rotated files
    /// and merges it with its invocation's artifact).
    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        if log::is_log(path) {
            return crate::source::parse_alone(self, path, options);
        }
        self.parse_artifact(path, options)
    }

    /// A log and the artifact of the same invocation are one run, so dbt's files are read
    /// together: artifacts one by one at the end, each log set (a directory's `dbt.log*`) as
    /// the walk completes it, holding only the log runs whose artifact is to come.
    fn merges_files(&self) -> bool {
        true
    }

    fn parse_all(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
    ) -> (Vec<Run>, Vec<SourceError>) {
        crate::source::collect_each(self, paths, options)
    }

    fn parse_each(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
        emit: &mut dyn FnMut(Vec<Run>),
    ) -> Vec<SourceError> {
        crate::source::parse_by_folder(&Dbt, paths, options, emit)
    }

    fn run_folder(&self, path: &Path) -> Option<PathBuf> {
        log::set_of(path)
    }

    fn folder_merge(
        &self,
        shared: &[PathBuf],
        options: &SourceOptions,
    ) -> Option<Box<dyn crate::source::FolderMerge>> {
        Some(Box::new(log::Merge::new(shared, options)))
    }
}

impl Dbt {
    /// One run_results.json or sources.json.
    pub fn parse_artifact(
        &self,
        path: &Path,
        options: &SourceOptions,
    ) -> Result<Vec<Run>, SourceError> {
        let options = options.get::<Options>().unwrap_or(&Options::DEFAULT);
        let bytes = read_file(path)?;
        let artifact: Artifact = json_object(path, &bytes)?;
        let manifest_path = options.manifest.clone().or_else(|| beside(path, MANIFEST));
        let manifest = match &manifest_path {
            Some(p) => Some(Manifest::load(p, options.include_sql)?),
            None => None,
        };
        check_runs(
            path,
            vec![convert(path, &artifact, manifest.as_ref(), options)?],
        )
    }
}

fn beside(path: &Path, name: &str) -> Option<PathBuf> {
    let p = path.parent()?.join(name);
    p.is_file().then_some(p)
}

// ---- artifact structs (only what a trace needs; everything else is skipped by serde) ----

#[derive(Deserialize)]
struct Artifact<'a> {
    #[serde(borrow)]
    metadata: Metadata<'a>,
    #[serde(default)]
    elapsed_time: Option<f64>,
    #[serde(default)]
    args: Option<Args>,
    #[serde(borrow)]
    results: Vec<NodeResult<'a>>,
}

/// A JSON string, borrowed from the file unless it has escapes. serde borrows a bare
/// `Cow<str>` but allocates one inside `Option`: 160,000 small strings for a 20,000-node run.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    dbt_schema_version: Cow<'a, str>,
    #[serde(default, borrow)]
    dbt_version: Option<Text<'a>>,
    #[serde(default, borrow)]
    generated_at: Option<Text<'a>>,
    #[serde(default, borrow)]
    invocation_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    invocation_started_at: Option<Text<'a>>,
    #[serde(default)]
    env: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
struct Args {
    #[serde(default)]
    which: Option<String>,
    #[serde(default)]
    invocation_command: Option<String>,
    #[serde(default)]
    select: Option<Value>,
    #[serde(default)]
    exclude: Option<Value>,
    #[serde(default)]
    threads: Option<Value>,
    #[serde(default)]
    target: Option<Value>,
}

#[derive(Deserialize)]
struct NodeResult<'a> {
    #[serde(borrow)]
    unique_id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    timing: Vec<Timing<'a>>,
    #[serde(default, borrow)]
    thread_id: Option<Text<'a>>,
    #[serde(default)]
    execution_time: Option<f64>,
    // The next three stay raw until their node is converted: decoded all at once, the
    // adapter responses of a 20,000-node run held 30 MB of small maps.
    #[serde(default, borrow)]
    adapter_response: Option<&'a RawValue>,
    /// A string, or an int in schema v1.
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    failures: Option<&'a RawValue>,
    /// Only decoded when `--include-sql` asks for it.
    #[serde(default, borrow)]
    compiled_code: Option<&'a RawValue>,
    #[serde(default, borrow)]
    relation_name: Option<Text<'a>>,
    #[serde(default)]
    batch_results: Option<Box<BatchResults>>,
    // sources.json
    #[serde(default, borrow)]
    max_loaded_at: Option<Text<'a>>,
    #[serde(default, borrow)]
    snapshotted_at: Option<Text<'a>>,
    #[serde(default)]
    max_loaded_at_time_ago_in_s: Option<f64>,
    #[serde(default)]
    criteria: Option<Box<Criteria>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Timing<'a> {
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
    #[serde(default, borrow)]
    started_at: Option<Text<'a>>,
    #[serde(default, borrow)]
    completed_at: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct BatchResults {
    #[serde(default)]
    successful: Vec<Value>,
    #[serde(default)]
    failed: Vec<Value>,
}

#[derive(Deserialize)]
struct Criteria {
    #[serde(default)]
    warn_after: Option<Period>,
    #[serde(default)]
    error_after: Option<Period>,
}

#[derive(Deserialize)]
struct Period {
    #[serde(default)]
    count: Option<Value>,
    #[serde(default)]
    period: Option<String>,
}

impl Period {
    fn text(&self) -> Option<String> {
        match (&self.count, &self.period) {
            (Some(c), Some(p)) if !c.is_null() => Some(format!("{c} {p}")),
            _ => None,
        }
    }
}

// ---- manifest ----

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    metadata: ManifestMetadata,
    #[serde(default)]
    nodes: HashMap<String, ManifestNode>,
    #[serde(default)]
    sources: HashMap<String, ManifestNode>,
    #[serde(default)]
    unit_tests: HashMap<String, ManifestNode>,
}

#[derive(Deserialize, Default)]
struct ManifestMetadata {
    #[serde(default)]
    project_name: Option<String>,
    #[serde(default)]
    adapter_type: Option<String>,
}

#[derive(Deserialize, Default)]
struct ManifestNode {
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    relation_name: Option<String>,
    #[serde(default)]
    package_name: Option<String>,
    #[serde(default)]
    original_file_path: Option<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default)]
    config: Option<NodeConfig>,
    #[serde(default)]
    depends_on: Option<DependsOn>,
    /// Kept as raw JSON; decoded only with `--include-sql`.
    #[serde(default)]
    compiled_code: Option<Box<RawValue>>,
    #[serde(default)]
    compiled_sql: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
struct NodeConfig {
    #[serde(default)]
    materialized: Option<String>,
    #[serde(default)]
    severity: Option<String>,
}

#[derive(Deserialize, Default)]
struct DependsOn {
    #[serde(default)]
    nodes: Vec<String>,
}

impl Manifest {
    fn load(path: &Path, include_sql: bool) -> Result<Manifest, SourceError> {
        let bytes = read_file(path)?;
        let mut m: Manifest = json_object(path, &bytes)?;
        if !include_sql {
            for n in m.nodes.values_mut() {
                n.compiled_code = None;
                n.compiled_sql = None;
            }
        }
        Ok(m)
    }

    fn node(&self, unique_id: &str) -> Option<&ManifestNode> {
        self.nodes
            .get(unique_id)
            .or_else(|| self.sources.get(unique_id))
            .or_else(|| self.unit_tests.get(unique_id))
    }
}

// ---- conversion ----

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    RunResults,
    Sources,
}

/// `https://schemas.getdbt.com/dbt/run-results/v6.json` → (kind, 6).
fn schema_of(url: &str) -> Option<(Kind, u32)> {
    let rest = url.trim_end_matches(".json");
    let (kind, version) = rest.rsplit_once('/')?;
    let kind = match kind.rsplit('/').next()? {
        "run-results" => Kind::RunResults,
        "sources" => Kind::Sources,
        _ => return None,
    };
    let version = version.strip_prefix('v')?.parse().ok()?;
    Some((kind, version))
}

fn convert(
    path: &Path,
    a: &Artifact,
    manifest: Option<&Manifest>,
    options: &Options,
) -> Result<Run, SourceError> {
    let url = &a.metadata.dbt_schema_version;
    let (kind, version) = schema_of(url).ok_or_else(|| {
        SourceError::new(
            path,
            format!("metadata.dbt_schema_version {url:?} is not a run-results or sources schema"),
        )
    })?;
    let max = if kind == Kind::RunResults {
        MAX_RUN_RESULTS_VERSION
    } else {
        MAX_SOURCES_VERSION
    };
    if version == 0 || version > max {
        return Err(SourceError::new(
            path,
            format!(
                "unsupported schema version {url:?} (retrace reads v1–v{max}); upgrade retrace"
            ),
        ));
    }
    let invocation_id = a
        .metadata
        .invocation_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SourceError::new(path, "metadata.invocation_id is missing"))?;
    let time = |field: &str, value: &str| {
        parse_utc(value, true).map_err(|e| SourceError::new(path, format!("{field}: {e}")))
    };
    let generated_at = a
        .metadata
        .generated_at
        .as_deref()
        .map(|v| time("metadata.generated_at", v))
        .transpose()?;
    let started_at = match a.metadata.invocation_started_at.as_deref() {
        Some(v) => Some(time("metadata.invocation_started_at", v)?),
        None => match (generated_at, a.elapsed_time.and_then(seconds_to_nanos)) {
            // Checked: the difference may lie before 1677 (then it is not a time).
            (Some(end), Some(elapsed)) => end.checked_sub(elapsed),
            _ => None,
        },
    };

    let args = a.args.as_ref();
    let command = command_of(kind, args);
    let name = format!("dbt {command}");

    let mut steps = Vec::with_capacity(a.results.len() * if options.phase_spans { 3 } else { 1 });
    // A node listed twice (not seen in real artifacts, but nothing forbids it) is a second
    // attempt of that node rather than a reason to drop the run.
    let mut seen: HashMap<&str, u32> =
        HashMap::with_capacity_and_hasher(a.results.len(), Default::default());
    for (i, r) in a.results.iter().enumerate() {
        let attempt = {
            let n = seen.entry(r.unique_id.as_ref()).or_insert(0);
            *n += 1;
            *n
        };
        // The field's name is only spelled out for an error.
        let timing_time = |j: usize, field: &str, value: &str| {
            parse_utc(value, true).map_err(|e| {
                SourceError::new(path, format!("results[{i}].timing[{j}].{field}: {e}"))
            })
        };
        let mut timings = Vec::with_capacity(r.timing.len());
        for (j, t) in r.timing.iter().enumerate() {
            let start = t
                .started_at
                .as_deref()
                .map(|v| timing_time(j, "started_at", v))
                .transpose()?;
            let end = t
                .completed_at
                .as_deref()
                .map(|v| timing_time(j, "completed_at", v))
                .transpose()?;
            timings.push((t.name.as_deref().unwrap_or("timing"), start, end));
        }
        let node = manifest.and_then(|m| m.node(&r.unique_id));
        let raw =
            Decoded::of(r).map_err(|e| SourceError::new(path, format!("results[{i}].{e}")))?;
        let mut step = node_step(r, raw, node, &timings, options, kind);
        step.attempt = attempt;
        if options.phase_spans {
            // A phase name listed twice in one node (or two nameless ones) gets its position
            // in the id, so the ids stay unique.
            let mut named: Vec<&str> = Vec::with_capacity(timings.len());
            let phases: Vec<Step> = timings
                .iter()
                .enumerate()
                .filter(|(_, (_, s, e))| s.is_some() || e.is_some())
                .map(|(j, (phase, start, end))| {
                    let id = if named.contains(phase) {
                        format!("{}#{phase}#{j}", r.unique_id)
                    } else {
                        format!("{}#{phase}", r.unique_id)
                    };
                    named.push(phase);
                    let mut p = Step::new(id, phase.to_string());
                    p.parent = Some(r.unique_id.to_string());
                    p.attempt = attempt;
                    p.start = *start;
                    p.end = *end;
                    p.outcome = Outcome::Unknown;
                    p.attributes.put(attr::DBT_NODE_ID, r.unique_id.as_ref());
                    p.attributes.put(attr::DBT_PHASE, *phase);
                    p
                })
                .collect();
            steps.push(step);
            steps.extend(phases);
        } else {
            steps.push(step);
        }
    }

    place_fail_fast_skips(&mut steps);

    let outcome = worst_outcome(&steps);
    let message = outcome.is_error().then(|| summary(&a.results));

    let mut attributes = Attributes::default();
    attributes.put(attr::DBT_INVOCATION_ID, invocation_id);
    attributes.put(attr::DBT_COMMAND, command.clone());
    attributes.put_opt(attr::DBT_VERSION, a.metadata.dbt_version.as_deref());
    attributes.put(attr::DBT_SCHEMA_VERSION, url.as_ref());
    attributes.put_opt(
        attr::DBT_ELAPSED_TIME,
        a.elapsed_time.filter(|f| f.is_finite()),
    );
    if let Some(args) = args {
        attributes.put_opt(
            attr::DBT_INVOCATION_COMMAND,
            args.invocation_command.clone(),
        );
        attributes.put_opt(attr::DBT_TARGET, args.target.as_ref().and_then(scalar_text));
        attributes.put_opt(attr::DBT_SELECT, args.select.as_ref().and_then(text_list));
        attributes.put_opt(attr::DBT_EXCLUDE, args.exclude.as_ref().and_then(text_list));
        attributes.put_opt(
            attr::DBT_THREADS,
            args.threads.as_ref().and_then(Value::as_i64),
        );
    }
    if let Some(m) = manifest {
        attributes.put_opt(attr::DBT_PROJECT_NAME, m.metadata.project_name.clone());
        attributes.put_opt("dbt.adapter_type", m.metadata.adapter_type.clone());
    }
    let parent = a.metadata.env.as_ref().and_then(|env| {
        env_attributes(
            env.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
            format!("{}: metadata.env.TRACEPARENT", path.display()),
            &mut attributes,
        )
    });

    Ok(Run {
        system: "dbt".into(),
        run_id: invocation_id.to_owned(),
        name: name.clone(),
        pipeline_name: name,
        start: started_at,
        end: generated_at,
        outcome,
        message,
        parent,
        native_trace_id: uuid_bytes(invocation_id),
        native_span_id: None,
        resource: Vec::new(),
        events: Vec::new(),
        attributes,
        steps,
    })
}

/// A run's outcome: the worst of its nodes' (phases and batches aside), success when none
/// is bad.
fn worst_outcome(steps: &[Step]) -> Outcome {
    steps
        .iter()
        .filter(|s| s.parent.is_none())
        .map(|s| s.outcome)
        .max_by_key(|o| o.severity())
        .filter(|o| o.severity() > 0)
        .unwrap_or(Outcome::Success)
}

/// dbt's `DBT_ENV_CUSTOM_ENV_*` variables (prefix removed) as `dbt.env.<NAME>` attributes,
/// except credentials; TRACEPARENT (with TRACESTATE) is the parent found at `origin`.
fn env_attributes<'a>(
    env: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    origin: String,
    attributes: &mut Attributes,
) -> Option<ParentText> {
    let mut parent = None;
    for (k, v) in env.clone() {
        match k {
            "TRACEPARENT" => {
                parent = Some(ParentText {
                    traceparent: v.to_owned(),
                    tracestate: env
                        .clone()
                        .find(|(k, _)| *k == "TRACESTATE")
                        .map(|(_, v)| v.to_owned()),
                    origin: origin.clone(),
                })
            }
            "TRACESTATE" => {}
            _ if is_secret_name(k) => {}
            _ => attributes.put(AttrKey::Owned(format!("{}{k}", attr::DBT_ENV_PREFIX)), v),
        }
    }
    parent
}

/// Names that usually hold credentials: their values are never exported.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// The dbt sub-command: from `invocation_command` (so `dbt retry` stays `retry`, where
/// `args.which` says `run`), else `args.which`; sources.json is always freshness.
fn command_of(kind: Kind, args: Option<&Args>) -> String {
    if kind == Kind::Sources {
        return "source freshness".into();
    }
    if let Some(cmd) = args.and_then(|a| a.invocation_command.as_deref()) {
        let mut words = cmd
            .split_whitespace()
            .skip_while(|w| !w.ends_with("dbt"))
            .skip(1)
            .filter(|w| !w.starts_with('-'));
        if let Some(first) = words.next() {
            return match (first, words.next()) {
                ("source", Some(second)) | ("docs", Some(second)) if !second.starts_with('-') => {
                    format!("{first} {second}")
                }
                _ => first.to_owned(),
            };
        }
    }
    match args.and_then(|a| a.which.as_deref()) {
        Some("source-freshness") | Some("source") => "source freshness".into(),
        Some(which) if !which.is_empty() => which.to_owned(),
        _ => "invocation".into(),
    }
}

/// dbt status (verbatim, case-insensitive: dbt 2.x writes `Pass`) → CI/CD outcome.
fn outcome_of(kind: Kind, status: &str) -> Outcome {
    match status.to_ascii_lowercase().as_str() {
        "success" | "pass" | "warn" => Outcome::Success,
        "error" if kind == Kind::Sources => Outcome::Failure,
        "error" | "runtime error" => Outcome::Error,
        "fail" | "partial success" => Outcome::Failure,
        "skipped" | "no-op" | "reused" => Outcome::Skip,
        _ => Outcome::Unknown,
    }
}

fn node_step(
    r: &NodeResult,
    raw: Decoded,
    node: Option<&ManifestNode>,
    timings: &[(&str, Option<Nanos>, Option<Nanos>)],
    options: &Options,
    kind: Kind,
) -> Step {
    let uid = r.unique_id.as_ref();
    let resource_type = node
        .and_then(|n| n.resource_type.clone())
        .unwrap_or_else(|| uid.split('.').next().unwrap_or(uid).to_owned());
    let node_name = match node {
        Some(ManifestNode {
            source_name: Some(src),
            name: Some(n),
            ..
        }) if resource_type == "source" => format!("{src}.{n}"),
        Some(ManifestNode { name: Some(n), .. }) => n.clone(),
        _ => name_from_unique_id(uid),
    };
    let mut step = Step::new(uid, format!("{resource_type} {node_name}"));
    step.start = timings.iter().filter_map(|t| t.1).min();
    step.end = timings.iter().filter_map(|t| t.2).max();
    if step.start.is_none() && step.end.is_none() {
        step.time_source = TimeSource::Derived;
    }
    step.outcome = outcome_of(kind, &r.status);
    let message = match raw.message {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
    .or_else(|| r.error.clone())
    .filter(|m| !m.is_empty())
    .or_else(|| (kind == Kind::Sources).then(|| stale_reason(r)).flatten());
    if step.outcome.is_error() {
        step.error_type = Some(error_type(message.as_deref(), &r.status));
        step.message = message.clone();
    }

    let a = &mut step.attributes;
    a.put(attr::DBT_NODE_ID, uid);
    a.put(attr::DBT_NODE_NAME, node_name);
    a.put(attr::DBT_RESOURCE_TYPE, resource_type);
    a.put(attr::DBT_STATUS, r.status.as_ref());
    a.put_opt(attr::DBT_MESSAGE, message.clone());
    a.put_opt(
        attr::DBT_THREAD_ID,
        r.thread_id.as_deref().filter(|t| !t.is_empty()),
    );
    a.put_opt(
        attr::DBT_EXECUTION_TIME,
        r.execution_time.filter(|f| f.is_finite()),
    );
    a.put_opt(attr::DBT_FAILURES, raw.failures.as_ref().and_then(int_of));
    if let Some(ar) = &raw.adapter_response {
        adapter_attributes(a, ar);
    }
    if let Some(b) = &r.batch_results {
        a.put(attr::DBT_BATCHES_SUCCESSFUL, b.successful.len() as i64);
        a.put(attr::DBT_BATCHES_FAILED, b.failed.len() as i64);
        if !b.failed.is_empty() {
            a.put(
                attr::DBT_BATCHES_FAILED_WINDOWS,
                b.failed.iter().map(window_text).collect::<Vec<_>>(),
            );
        }
    }
    let relation = r
        .relation_name
        .as_deref()
        .map(str::to_owned)
        .or_else(|| node.and_then(|n| n.relation_name.clone()));
    if let Some(n) = node {
        a.put_opt(
            attr::DBT_MATERIALIZED,
            n.config.as_ref().and_then(|c| c.materialized.clone()),
        );
        a.put_opt(attr::DBT_DATABASE, n.database.clone());
        a.put_opt(attr::DBT_SCHEMA, n.schema.clone());
        a.put_opt(attr::DBT_ALIAS, n.alias.clone());
        a.put_opt(attr::DBT_PACKAGE_NAME, n.package_name.clone());
        a.put_opt(attr::DBT_ORIGINAL_FILE_PATH, n.original_file_path.clone());
        let tags = n
            .tags
            .as_ref()
            .and_then(text_list)
            .filter(|t| !t.is_empty());
        a.put_opt(attr::DBT_TAGS, tags);
        if n.resource_type.as_deref() == Some("test") {
            a.put_opt(
                attr::DBT_TEST_SEVERITY,
                n.config.as_ref().and_then(|c| c.severity.clone()),
            );
        }
        if let Some(d) = &n.depends_on {
            step.links = d.nodes.clone();
        }
    }
    let a = &mut step.attributes;
    a.put_opt(attr::DBT_RELATION_NAME, relation);
    if kind == Kind::Sources {
        a.put_opt(
            attr::DBT_FRESHNESS_MAX_LOADED_AT,
            r.max_loaded_at.as_deref(),
        );
        a.put_opt(
            attr::DBT_FRESHNESS_SNAPSHOTTED_AT,
            r.snapshotted_at.as_deref(),
        );
        a.put_opt(
            attr::DBT_FRESHNESS_AGE_S,
            r.max_loaded_at_time_ago_in_s.filter(|f| f.is_finite()),
        );
        if let Some(c) = &r.criteria {
            a.put_opt(
                attr::DBT_FRESHNESS_WARN_AFTER,
                c.warn_after.as_ref().and_then(Period::text),
            );
            a.put_opt(
                attr::DBT_FRESHNESS_ERROR_AFTER,
                c.error_after.as_ref().and_then(Period::text),
            );
        }
    }
    if options.include_sql {
        let sql = r.compiled_code.and_then(raw_text).or_else(|| {
            node.and_then(|n| n.compiled_code.as_deref().or(n.compiled_sql.as_deref()))
                .and_then(raw_text)
        });
        a.put_opt(sc::DB_QUERY_TEXT, sql);
    }
    if r.status.eq_ignore_ascii_case("warn") {
        if let Some(end) = step.end {
            let mut attrs = Attributes::default();
            attrs.put_opt("message", message);
            step.events.push(Event {
                time: end,
                name: attr::DBT_WARNING_EVENT.into(),
                attributes: attrs,
            });
        }
    }
    step
}

/// dbt's `--fail-fast` skips every node not yet started when the first failure ends ("Skipping
/// due to fail_fast"), with no timing. Placed by their upstreams alone they would sit before
/// the failure that caused them; they are placed at that failure's end, or after their latest
/// upstream when it ended later (marked derived, as every untimed node).
fn place_fail_fast_skips(steps: &mut [Step]) {
    let is_skip = |s: &Step| {
        s.parent.is_none()
            && s.start.is_none()
            && s.end.is_none()
            && matches!(s.attributes.get(attr::DBT_MESSAGE), Some(AttrValue::Str(m)) if m.contains("fail_fast"))
    };
    let Some(failure_end) = steps
        .iter()
        .filter(|s| s.parent.is_none() && s.outcome.is_error())
        .filter_map(|s| s.end)
        .min()
    else {
        return;
    };
    let skipped: Vec<usize> = (0..steps.len()).filter(|&i| is_skip(&steps[i])).collect();
    let mut ends: HashMap<String, Nanos> = steps
        .iter()
        .filter_map(|s| Some((s.id.clone(), s.end?)))
        .collect();
    // Skips may hang on skips: repeat until every one is at or after all of its upstreams.
    for _ in 0..=skipped.len() {
        let mut moved = false;
        for &i in &skipped {
            let at = steps[i]
                .links
                .iter()
                .filter_map(|l| ends.get(l).copied())
                .fold(failure_end, Nanos::max);
            if ends.get(&steps[i].id) != Some(&at) {
                ends.insert(steps[i].id.clone(), at);
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    for i in skipped {
        let at = ends.get(&steps[i].id).copied();
        steps[i].start = at;
        steps[i].end = at;
        steps[i].time_source = TimeSource::Derived;
    }
}

/// Why a source's freshness is warn or error, which sources.json says only in numbers:
/// `loaded 26h03m ago, error after 24 hour`.
fn stale_reason(r: &NodeResult) -> Option<String> {
    let limit = match r.status.to_ascii_lowercase().as_str() {
        "warn" => r
            .criteria
            .as_ref()?
            .warn_after
            .as_ref()?
            .text()
            .map(|t| format!("warn after {t}")),
        "error" => r
            .criteria
            .as_ref()?
            .error_after
            .as_ref()?
            .text()
            .map(|t| format!("error after {t}")),
        _ => None,
    }?;
    let age = r
        .max_loaded_at_time_ago_in_s
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    let age = crate::source::time::seconds_to_nanos(age)?;
    Some(format!(
        "loaded {} ago, {limit}",
        readable_age(std::time::Duration::from_nanos(age as u64))
    ))
}

/// `42s`, `14m05s`, `26h03m`, `534d15h`.
fn readable_age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m{:02}s", s / 60, s % 60),
        3_600..=172_799 => format!("{}h{:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// `Runtime Error in model x (path)\n  …` → `Runtime Error`; otherwise the status verbatim.
fn error_type(message: Option<&str>, status: &str) -> String {
    let first_line = message.and_then(|m| m.lines().next()).unwrap_or_default();
    match first_line.split_once(" in ") {
        Some((kind, _))
            if kind.ends_with("Error")
                && kind.len() <= 40
                && kind.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') =>
        {
            kind.to_owned()
        }
        _ => status.to_owned(),
    }
}

/// The node name when no manifest says it: `model.pkg.name` → `name`,
/// `test.pkg.name.0123456789` → `name`, `source.pkg.src.table` → `src.table`,
/// `unit_test.pkg.model.test` → `test`.
fn name_from_unique_id(uid: &str) -> String {
    let parts: Vec<&str> = uid.split('.').collect();
    if parts.len() < 3 {
        return uid.to_owned();
    }
    let rest = &parts[2..];
    match parts[0] {
        "test" if rest.len() >= 2 && is_test_hash(rest[rest.len() - 1]) => {
            rest[..rest.len() - 1].join(".")
        }
        "unit_test" if rest.len() >= 2 => rest[1..].join("."),
        _ => rest.join("."),
    }
}

fn is_test_hash(s: &str) -> bool {
    s.len() == 10 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn adapter_attributes(a: &mut Attributes, ar: &serde_json::Map<String, Value>) {
    for (k, v) in ar {
        match k.as_str() {
            "rows_affected" => {
                if let Some(n) = int_of(v) {
                    a.put(attr::DBT_ADAPTER_ROWS_AFFECTED, n);
                    if n >= 0 {
                        a.put(sc::PIPELINE_RECORDS_WRITTEN, n);
                    }
                }
            }
            // BigQuery; a formatted string in dry runs, which is not a count.
            "bytes_processed" => {
                a.put_opt(sc::PIPELINE_BYTES_PROCESSED, v.as_i64().filter(|n| *n >= 0))
            }
            "_message" => a.put_opt(attr::DBT_ADAPTER_MESSAGE, v.as_str()),
            "code" => a.put_opt(attr::DBT_ADAPTER_CODE, scalar_text(v)),
            "query_id" => a.put_opt(attr::DBT_ADAPTER_QUERY_ID, scalar_text(v)),
            _ => match v {
                Value::Number(n) => match n.as_i64() {
                    Some(i) => a.put(AttrKey::Owned(format!("dbt.adapter_response.{k}")), i),
                    None => a.put_opt(
                        AttrKey::Owned(format!("dbt.adapter_response.{k}")),
                        n.as_f64().filter(|f| f.is_finite()),
                    ),
                },
                Value::String(s) => a.put(
                    AttrKey::Owned(format!("dbt.adapter_response.{k}")),
                    s.as_str(),
                ),
                Value::Bool(b) => a.put(AttrKey::Owned(format!("dbt.adapter_response.{k}")), *b),
                _ => {}
            },
        }
    }
}

/// An integer, also from a numeric string (BigQuery has sent `'-1'`).
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string or a list of strings (dbt args and tags come in both shapes).
fn text_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(items.iter().filter_map(scalar_text).collect()),
        _ => None,
    }
}

/// A microbatch window `[start, end]` as `start/end` (ISO 8601 interval notation).
fn window_text(v: &Value) -> String {
    match v {
        Value::Array(pair) => pair
            .iter()
            .filter_map(scalar_text)
            .collect::<Vec<_>>()
            .join("/"),
        other => scalar_text(other).unwrap_or_default(),
    }
}

/// A raw field decoded when its node is converted.
fn decoded<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> serde_json::Result<Option<T>> {
    raw.map(|raw| serde_json::from_str(raw.get())).transpose()
}

/// The fields of a result kept raw while the file is parsed, decoded for its node alone.
struct Decoded {
    message: Option<Value>,
    failures: Option<Value>,
    adapter_response: Option<serde_json::Map<String, Value>>,
}

impl Decoded {
    fn of(r: &NodeResult) -> Result<Decoded, String> {
        let field = |name: &'static str| {
            move |e: serde_json::Error| format!("{name}: unexpected content: {}", json_message(&e))
        };
        Ok(Decoded {
            message: decoded(r.message).map_err(field("message"))?,
            failures: decoded(r.failures).map_err(field("failures"))?,
            adapter_response: decoded(r.adapter_response).map_err(field("adapter_response"))?,
        })
    }
}

fn raw_text(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<Option<String>>(raw.get())
        .ok()
        .flatten()
        .filter(|s| !s.is_empty())
}

/// `"1 error, 1 fail"`: what went wrong in a run, for the root span's status message.
fn summary(results: &[NodeResult]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        let s = r.status.to_ascii_lowercase();
        if matches!(
            s.as_str(),
            "error" | "runtime error" | "fail" | "partial success"
        ) {
            *counts.entry(s).or_default() += 1;
        }
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_urls() {
        assert!(matches!(
            schema_of("https://schemas.getdbt.com/dbt/run-results/v6.json"),
            Some((Kind::RunResults, 6))
        ));
        assert!(matches!(
            schema_of("https://schemas.getdbt.com/dbt/sources/v3.json"),
            Some((Kind::Sources, 3))
        ));
        assert!(schema_of("https://schemas.getdbt.com/dbt/manifest/v12.json").is_none());
        assert!(schema_of("garbage").is_none());
    }

    #[test]
    fn names_from_unique_ids() {
        assert_eq!(
            name_from_unique_id("model.pedal_share.fct_rides"),
            "fct_rides"
        );
        assert_eq!(
            name_from_unique_id("test.pedal_share.not_null_stg_members_email.317bbb3408"),
            "not_null_stg_members_email"
        );
        assert_eq!(
            name_from_unique_id("test.pedal_share.assert_no_round_trips"),
            "assert_no_round_trips"
        );
        assert_eq!(
            name_from_unique_id("source.pedal_share.raw.stations"),
            "raw.stations"
        );
        assert_eq!(
            name_from_unique_id("unit_test.pedal_share.dim_stations.hub_flag_threshold"),
            "hub_flag_threshold"
        );
        assert_eq!(
            name_from_unique_id("operation.pedal_share.pedal_share-on-run-start-0"),
            "pedal_share-on-run-start-0"
        );
        assert_eq!(name_from_unique_id("odd"), "odd");
    }

    #[test]
    fn commands() {
        let args = |cmd: &str, which: &str| Args {
            invocation_command: (!cmd.is_empty()).then(|| cmd.to_owned()),
            which: Some(which.to_owned()),
            ..Default::default()
        };
        assert_eq!(
            command_of(Kind::RunResults, Some(&args("dbt retry", "run"))),
            "retry"
        );
        assert_eq!(
            command_of(
                Kind::RunResults,
                Some(&args("dbt --debug build --select x", "build"))
            ),
            "build"
        );
        assert_eq!(
            command_of(
                Kind::RunResults,
                Some(&args("dbt run-operation audit_counts", "run-operation"))
            ),
            "run-operation"
        );
        assert_eq!(
            command_of(
                Kind::RunResults,
                Some(&args("/venv/bin/dbt docs generate", "generate"))
            ),
            "docs generate"
        );
        assert_eq!(
            command_of(Kind::RunResults, Some(&args("", "seed"))),
            "seed"
        );
        assert_eq!(command_of(Kind::RunResults, None), "invocation");
        assert_eq!(command_of(Kind::Sources, None), "source freshness");
    }

    #[test]
    fn statuses() {
        for (s, o) in [
            ("success", Outcome::Success),
            ("Pass", Outcome::Success),
            ("warn", Outcome::Success),
            ("error", Outcome::Error),
            ("runtime error", Outcome::Error),
            ("fail", Outcome::Failure),
            ("partial success", Outcome::Failure),
            ("skipped", Outcome::Skip),
            ("no-op", Outcome::Skip),
            ("reused", Outcome::Skip),
            ("brand-new", Outcome::Unknown),
        ] {
            assert_eq!(outcome_of(Kind::RunResults, s), o, "{s}");
        }
        assert_eq!(outcome_of(Kind::Sources, "error"), Outcome::Failure);
    }

    #[test]
    fn error_types() {
        assert_eq!(
            error_type(
                Some("Runtime Error in model fare_audit (models/marts/fare_audit.sql)\n  x"),
                "error"
            ),
            "Runtime Error"
        );
        assert_eq!(
            error_type(Some("Got 4 results, configured to fail if != 0"), "fail"),
            "fail"
        );
        assert_eq!(error_type(None, "error"), "error");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("SNOWFLAKE_PASSWORD"));
        assert!(is_secret_name("api_token"));
        assert!(!is_secret_name("PIPELINE_RUN_ID"));
    }
}
