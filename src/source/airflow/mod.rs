//! Airflow (2.x and 3.x): every record a run leaves — REST API JSON (v1 and v2 dagRuns,
//! taskInstances, tries, listMapped), CLI JSON (`tasks states-for-dag-run`, `dags list-runs`,
//! warning lines before the JSON tolerated), task-log files (2.x text, 3.x JSON lines) and
//! scheduler output (`TaskInstance Finished` / `DagRun Finished`, text and structlog forms).
//!
//! Records of the same run merge into one run, and records of the same task try into one
//! span with the most precise times any record has: API, CLI and scheduler dates carry µs;
//! 2.x `Marking task as` lines carry seconds; log-line timestamps are only where the log
//! started and stopped, so they rank last. Identity of a try: (dag_id, run_id, task_id,
//! map_index, try_number) — Airflow's own spans collide on it, ours don't.
//!
//! Times: every Airflow date carries an offset (`+00:00`, `Z`, `+0000`) except the
//! `Marking task as` dates, which are UTC (`strftime` of a UTC datetime).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::record::{Attributes, Event, Nanos, Outcome, ParentText, Run, Step, TimeSource};
use crate::source::time::parse_utc;
use crate::source::{
    check_run, parse_alone, read_file, run_problems, Source, SourceError, SourceOptions,
};
use crate::trace::semconv as sc;

mod api_json;
pub mod attributes;
mod scheduler;
mod task_log;

use api_json::*;
use attributes as attr;
use scheduler::*;
use task_log::*;

pub struct Airflow;

impl Source for Airflow {
    fn name(&self) -> &'static str {
        "airflow"
    }

    fn detect(&self, path: &Path, head: &[u8]) -> bool {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if is_attempt_log(name) {
            return true;
        }
        let head = String::from_utf8_lossy(head);
        if name.ends_with(".json") {
            // API log responses (`{"content": …}`) hold log lines, and OTLP span files hold
            // Airflow's own spans: neither is a run record.
            return !head.trim_start().starts_with("{\"content\"")
                && !head.contains("\"resourceSpans\"")
                && (head.contains("\"task_instances\"")
                    || head.contains("\"dag_runs\"")
                    || head.contains("\"dag_run_id\"")
                    || (head.contains("\"dag_id\"")
                        && (head.contains("\"task_id\"") || head.contains("\"run_id\""))));
        }
        let in_scheduler_dir = path
            .components()
            .any(|c| c.as_os_str().to_string_lossy().contains("scheduler"));
        (name.ends_with(".log") || name.ends_with(".txt"))
            && (in_scheduler_dir
                || head.contains("TaskInstance Finished:")
                || head.contains("DagRun Finished:"))
    }

    fn parse(&self, path: &Path, options: &SourceOptions) -> Result<Vec<Run>, SourceError> {
        parse_alone(self, path, options)
    }

    fn merges_files(&self) -> bool {
        true
    }

    fn parse_all(&self, paths: &[PathBuf], _: &SourceOptions) -> (Vec<Run>, Vec<SourceError>) {
        let mut records = Records::default();
        let mut errors = Vec::new();
        let files = Files::all(paths);
        read_into(&mut records, files, 0..paths.len(), &mut errors);
        let runs = checked(merged(records, files), files, &mut errors);
        (runs, errors)
    }

    /// Task logs in Airflow's `dag_id=…/run_id=…` folders are converted one run folder at a
    /// time (see `FolderMerge`).
    fn parse_each(
        &self,
        paths: &[PathBuf],
        options: &SourceOptions,
        emit: &mut dyn FnMut(Vec<Run>),
    ) -> Vec<SourceError> {
        crate::source::parse_by_folder(&Airflow, paths, options, emit)
    }

    fn run_folder(&self, path: &Path) -> Option<PathBuf> {
        run_folder(path)
    }

    fn folder_merge(
        &self,
        shared: &[PathBuf],
        _: &SourceOptions,
    ) -> Option<Box<dyn crate::source::FolderMerge>> {
        Some(Box::new(Merge::new(shared)))
    }
}

/// The files records came from, by origin: the files outside run folders first, then one run
/// folder's (or all files, for `parse_all`).
#[derive(Clone, Copy)]
struct Files<'a> {
    shared: &'a [PathBuf],
    folder: &'a [PathBuf],
}

impl<'a> Files<'a> {
    fn all(paths: &'a [PathBuf]) -> Files<'a> {
        Files {
            shared: paths,
            folder: &[],
        }
    }

    fn get(&self, origin: usize) -> Option<&'a Path> {
        match origin.checked_sub(self.shared.len()) {
            None => self.shared.get(origin),
            Some(at) => self.folder.get(at),
        }
        .map(PathBuf::as_path)
    }
}

/// Airflow's files as a walk finds them: the records outside run folders (API, CLI,
/// scheduler) are read first; then each run folder's task logs are merged with that run's
/// records among them, converted and released before the next folder, so memory is bounded
/// by the largest run, not by a history. CLI task states name no run (they are matched to
/// runs across everything), and two installations' runs of one id among the shared records
/// must meet every record to be told apart: then everything is converted at once, at the end.
struct Merge {
    shared_paths: Vec<PathBuf>,
    /// The shared records no folder has claimed yet.
    shared: Records,
    errors: Vec<SourceError>,
    /// All at once: the folders' files, collected.
    all_at_once: Option<Vec<PathBuf>>,
    /// Per (dag_id, run_id) sent, its start and first file, to name a clash at the end.
    seen: Seen,
    clashes: BTreeMap<RunKey, Vec<(Option<Nanos>, PathBuf)>>,
}

impl Merge {
    fn new(shared_paths: &[PathBuf]) -> Merge {
        let mut errors = Vec::new();
        let mut shared = Records::default();
        let files = Files::all(shared_paths);
        read_into(&mut shared, files, 0..shared_paths.len(), &mut errors);
        let mut starts: HashMap<(&str, &str), Option<Nanos>> = HashMap::new();
        let clashing = shared.runs.iter().any(|r| {
            let start = r.start.map(|t| t.nanos);
            let known = starts.insert((&r.dag_id, &r.run_id), start);
            known.is_some_and(|k| k.is_some() && start.is_some() && k != start)
        });
        let all_at_once =
            (clashing || shared.tries.iter().any(|t| t.run_id.is_none())).then(Vec::new);
        Merge {
            shared_paths: shared_paths.to_vec(),
            shared,
            errors,
            all_at_once,
            seen: HashMap::new(),
            clashes: BTreeMap::new(),
        }
    }
}

/// Runs sent, by (dag_id, run_id) fingerprint: start and first file.
type Seen = HashMap<u64, (Option<Nanos>, PathBuf)>;

/// Notes a run sent; a second run of the same (dag_id, run_id) is a clash.
fn note_sent(
    seen: &mut Seen,
    clashes: &mut BTreeMap<RunKey, Vec<(Option<Nanos>, PathBuf)>>,
    run: &Run,
    first_file: Option<&Path>,
) {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&run.pipeline_name, &run.run_id).hash(&mut hasher);
    let this = (
        run.start,
        first_file.map(Path::to_path_buf).unwrap_or_default(),
    );
    match seen.entry(hasher.finish()) {
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(this);
        }
        std::collections::hash_map::Entry::Occupied(first) => {
            let key = (run.pipeline_name.clone(), run.run_id.clone());
            let list = clashes
                .entry(key)
                .or_insert_with(|| vec![first.get().clone()]);
            list.push(this);
        }
    }
}

impl crate::source::FolderMerge for Merge {
    fn folder(&mut self, files: Vec<PathBuf>, emit: &mut dyn FnMut(Vec<Run>)) {
        if let Some(all) = &mut self.all_at_once {
            all.extend(files);
            return;
        }
        let origins = Files {
            shared: &self.shared_paths,
            folder: &files,
        };
        let first = self.shared_paths.len();
        let mut records = Records::default();
        read_into(
            &mut records,
            origins,
            first..first + files.len(),
            &mut self.errors,
        );
        let keys: HashSet<RunKey> = records
            .tries
            .iter()
            .filter_map(|t| Some((t.dag_id.clone(), t.run_id.clone()?)))
            .chain(
                records
                    .runs
                    .iter()
                    .map(|r| (r.dag_id.clone(), r.run_id.clone())),
            )
            .collect();
        let is_mine = |dag: &str, run: Option<&String>| {
            run.is_some_and(|r| keys.contains(&(dag.to_owned(), r.clone())))
        };
        let (mine, rest): (Vec<RunRec>, Vec<RunRec>) = std::mem::take(&mut self.shared.runs)
            .into_iter()
            .partition(|r| is_mine(&r.dag_id, Some(&r.run_id)));
        self.shared.runs = rest;
        records.runs.extend(mine);
        let (mine, rest): (Vec<TryRec>, Vec<TryRec>) = std::mem::take(&mut self.shared.tries)
            .into_iter()
            .partition(|t| is_mine(&t.dag_id, t.run_id.as_ref()));
        self.shared.tries = rest;
        records.tries.extend(mine);
        let runs = merged(records, origins);
        for (run, run_origins) in &runs {
            let first_file = run_origins.first().and_then(|&o| origins.get(o));
            note_sent(&mut self.seen, &mut self.clashes, run, first_file);
        }
        let mut errors = std::mem::take(&mut self.errors);
        emit(checked(runs, origins, &mut errors));
        self.errors = errors;
    }

    fn finish(self: Box<Self>, emit: &mut dyn FnMut(Vec<Run>)) -> Vec<SourceError> {
        let Merge {
            mut shared_paths,
            mut shared,
            mut errors,
            all_at_once,
            clashes,
            ..
        } = *self;
        if let Some(folder_files) = all_at_once {
            // The logs join the shared records in file order (a tie between two records goes
            // to the earlier file), and the problems are said in file order.
            let first = shared_paths.len();
            shared_paths.extend(folder_files);
            let files = Files::all(&shared_paths);
            read_into(&mut shared, files, first..shared_paths.len(), &mut errors);
            shared.runs.sort_by_key(|r| r.origins.first().copied());
            shared.tries.sort_by_key(|t| t.origin);
            errors.sort_by_key(|e| shared_paths.iter().position(|p| *p == e.path));
            let runs = checked(merged(shared, files), files, &mut errors);
            emit(runs);
            return errors;
        }
        let files = Files::all(&shared_paths);
        emit(checked(merged(shared, files), files, &mut errors));
        for ((dag, run), instances) in clashes {
            let run_id = run
                .strip_prefix(&format!("{dag}/"))
                .unwrap_or(&run)
                .to_owned();
            report_clash_of(&dag, &run_id, &instances);
        }
        errors
    }
}

/// The `dag_id=…/run_id=…` folder a task log sits in, when it sits in one.
fn run_folder(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    if !is_attempt_log(name) {
        return None;
    }
    path.ancestors()
        .find(|a| {
            a.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("run_id="))
        })
        .map(Path::to_path_buf)
}

/// Reads the files at `origins` into `records`; a file that fails half-way adds nothing.
fn read_into(
    records: &mut Records,
    files: Files,
    origins: impl IntoIterator<Item = usize>,
    errors: &mut Vec<SourceError>,
) {
    for origin in origins {
        let Some(path) = files.get(origin) else {
            continue;
        };
        let mut file = Records::default();
        match read_records(path, origin, &mut file) {
            Ok(()) => {
                for r in &mut file.runs {
                    r.origins.push(origin);
                }
                records.runs.append(&mut file.runs);
                records.tries.append(&mut file.tries);
            }
            Err(e) => errors.push(e),
        }
    }
}

/// The runs of `records`, merged, with the files each came from; a clash of two installations'
/// runs is said as it is found.
fn merged(records: Records, files: Files) -> Vec<(Run, Vec<usize>)> {
    let (merged, clashes) = records.into_runs();
    for (dag, run_id, instances) in clashes {
        let instances: Vec<(Option<Nanos>, PathBuf)> = instances
            .into_iter()
            .map(|(start, origins)| {
                let file = origins.first().and_then(|&o| files.get(o));
                (start, file.map(Path::to_path_buf).unwrap_or_default())
            })
            .collect();
        report_clash_of(&dag, &run_id, &instances);
    }
    merged
}

/// The runs the builder will accept; the others become one problem per file.
fn checked(
    merged: Vec<(Run, Vec<usize>)>,
    paths: Files,
    errors: &mut Vec<SourceError>,
) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut refused = Vec::new();
    for (run, mut origins) in merged {
        match check_run(&run) {
            Ok(()) => runs.push(run),
            Err(problem) => {
                origins.sort_unstable();
                origins.dedup();
                let files: Vec<&Path> = origins.iter().filter_map(|&o| paths.get(o)).collect();
                refused.push((files, problem));
            }
        }
    }
    errors.extend(run_problems(refused));
    runs
}

fn is_attempt_log(name: &str) -> bool {
    name.strip_prefix("attempt=")
        .and_then(|r| r.strip_suffix(".log"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

// ---- the merge model ----

/// A time and how much to trust it: higher rank wins when records disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Time {
    nanos: Nanos,
    rank: u8,
}

/// Ranks: a TI's own dates (API, CLI, scheduler) by their digits; the seconds of `Marking task
/// as` below them; where a log started and stopped last.
const RANK_TI_DATE: u8 = 20;
const RANK_MARKING: u8 = 10;
const RANK_LOG_LINE: u8 = 0;

/// Who said a state: the scheduler's per-try line is the most specific (it says
/// `up_for_retry` where the tries endpoint says `failed`).
const STATE_SCHEDULER: u8 = 4;
const STATE_API: u8 = 3;
const STATE_CLI: u8 = 2;
const STATE_LOG: u8 = 1;

/// Something said with more or less authority: a time's precision, a state's source.
trait Ranked {
    fn rank(&self) -> u8;
}

impl Ranked for Time {
    fn rank(&self) -> u8 {
        self.rank
    }
}

/// A state and who said it.
impl Ranked for (String, u8) {
    fn rank(&self) -> u8 {
        self.1
    }
}

/// The higher-ranked of two values; on a tie, the first.
fn better<T: Ranked>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) if y.rank() > x.rank() => Some(y),
        (Some(x), _) => Some(x),
        (None, y) => y,
    }
}

#[derive(Clone, Debug, Default)]
struct RunRec {
    dag_id: String,
    /// The merge key: Airflow's run id, made unique when records of two different runs with
    /// the same (dag_id, run_id) meet (two Airflow installations in one backfill).
    run_id: String,
    /// Airflow's own run id.
    airflow_run_id: String,
    state: Option<(String, u8)>,
    start: Option<Time>,
    end: Option<Time>,
    queued_at: Option<String>,
    run_type: Option<String>,
    logical_date: Option<String>,
    data_interval_start: Option<String>,
    data_interval_end: Option<String>,
    triggered_by: Option<String>,
    parent: Option<ParentText>,
    /// The files (indexes) its records came from.
    origins: Vec<usize>,
}

impl RunRec {
    fn merge(&mut self, o: RunRec) {
        self.state = better(self.state.take(), o.state);
        self.start = better(self.start, o.start);
        self.end = better(self.end, o.end);
        self.queued_at = self.queued_at.take().or(o.queued_at);
        self.run_type = self.run_type.take().or(o.run_type);
        self.logical_date = self.logical_date.take().or(o.logical_date);
        self.data_interval_start = self.data_interval_start.take().or(o.data_interval_start);
        self.data_interval_end = self.data_interval_end.take().or(o.data_interval_end);
        self.triggered_by = self.triggered_by.take().or(o.triggered_by);
        self.parent = self.parent.take().or(o.parent);
        self.origins.extend(o.origins);
    }
}

#[derive(Clone, Debug, Default)]
struct TryRec {
    dag_id: String,
    /// None: CLI `states-for-dag-run` output does not say which run (matched later).
    run_id: Option<String>,
    task_id: String,
    map_index: i64,
    /// None: the record does not say (CLI states) — it is the task's latest try.
    try_number: Option<u32>,
    state: Option<(String, u8)>,
    start: Option<Time>,
    end: Option<Time>,
    queued_when: Option<String>,
    duration: Option<f64>,
    operator: Option<String>,
    hostname: Option<String>,
    pool: Option<String>,
    queue: Option<String>,
    executor: Option<String>,
    ti_id: Option<String>,
    pid: Option<i64>,
    priority_weight: Option<i64>,
    max_tries: Option<i64>,
    exit_code: Option<i64>,
    logical_date: Option<String>,
    /// (time, type, message) of raised exceptions.
    exceptions: Vec<(Nanos, String, String)>,
    /// Which input file said it (to group CLI states without a run id).
    origin: usize,
}

impl TryRec {
    fn merge(&mut self, o: TryRec) {
        self.state = better(self.state.take(), o.state);
        self.start = better(self.start, o.start);
        self.end = better(self.end, o.end);
        self.queued_when = self.queued_when.take().or(o.queued_when);
        self.duration = self.duration.or(o.duration);
        self.operator = self.operator.take().or(o.operator);
        self.hostname = self.hostname.take().or(o.hostname);
        self.pool = self.pool.take().or(o.pool);
        self.queue = self.queue.take().or(o.queue);
        self.executor = self.executor.take().or(o.executor);
        self.ti_id = self.ti_id.take().or(o.ti_id);
        self.pid = self.pid.or(o.pid);
        self.priority_weight = self.priority_weight.or(o.priority_weight);
        self.max_tries = self.max_tries.or(o.max_tries);
        self.exit_code = self.exit_code.or(o.exit_code);
        self.logical_date = self.logical_date.take().or(o.logical_date);
        for e in o.exceptions {
            if !self.exceptions.contains(&e) {
                self.exceptions.push(e);
            }
        }
    }

    fn step_id(&self) -> String {
        if self.map_index >= 0 {
            format!("{}[{}]", self.task_id, self.map_index)
        } else {
            self.task_id.clone()
        }
    }
}

#[derive(Default)]
struct Records {
    runs: Vec<RunRec>,
    tries: Vec<TryRec>,
}

type RunKey = (String, String);
type TryKey = (String, String, String, i64, u32);

/// Runs of two installations that share a DAG and a run id: (dag_id, run_id, and per run its
/// recorded start and the files its records came from).
type Clash = (String, String, Instances);

/// Per run sharing a (dag_id, run_id): its recorded start and the files its records came from.
type Instances = Vec<(Option<Nanos>, Vec<usize>)>;

/// One warning per clash, naming both sources and how to keep them apart in a backend: per
/// run, its recorded start and the first file its records came from.
fn report_clash_of(dag: &str, run_id: &str, instances: &[(Option<Nanos>, PathBuf)]) {
    let sources: Vec<String> = instances
        .iter()
        .map(|(start, file)| {
            let when = start.map_or_else(
                || "start unknown".to_owned(),
                |s| {
                    chrono::DateTime::from_timestamp_nanos(s)
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                },
            );
            let file = if file.as_os_str().is_empty() {
                "?".to_owned()
            } else {
                file.display().to_string()
            };
            format!("one started {when} ({file})")
        })
        .collect();
    crate::report::report(format!(
        "warning: airflow: DAG {dag} has {} runs with run id {run_id:?}, from different installations: {}. \
         They are converted apart but share their ids, as a backend would merge them; give each \
         installation its own --namespace (or --namespace-from-path when each has a folder)",
        instances.len(),
        sources.join("; ")
    ));
}

impl Records {
    fn into_runs(self) -> (Vec<(Run, Vec<usize>)>, Vec<Clash>) {
        let (runs, instances) = merge_runs(self.runs);
        let mut clashes: Vec<Clash> = Vec::new();
        for r in &runs {
            if instances.contains_key(&(r.dag_id.clone(), r.airflow_run_id.clone())) {
                let entry = (r.start.map(|t| t.nanos), r.origins.clone());
                match clashes
                    .iter_mut()
                    .find(|c| c.0 == r.dag_id && c.1 == r.airflow_run_id)
                {
                    Some(c) => c.2.push(entry),
                    None => clashes.push((r.dag_id.clone(), r.airflow_run_id.clone(), vec![entry])),
                }
            }
        }
        let mut runs: BTreeMap<RunKey, RunRec> = runs
            .into_iter()
            .map(|r| ((r.dag_id.clone(), r.run_id.clone()), r))
            .collect();
        let mut tries = self.tries;
        for t in &mut tries {
            let Some(run_id) = &t.run_id else { continue };
            if let Some(list) = instances.get(&(t.dag_id.clone(), run_id.clone())) {
                t.run_id = Some(pick_instance(list, &runs, t));
            }
        }
        let (known, unknown): (Vec<TryRec>, Vec<TryRec>) =
            tries.into_iter().partition(|t| t.run_id.is_some());
        let unknown = assign_runs(unknown, &known, &runs);

        // Latest known try per task, for records that do not say which try they describe.
        let mut latest: HashMap<(String, String, String, i64), u32> = HashMap::new();
        for t in known.iter().chain(unknown.iter()) {
            if let (Some(run), Some(n)) = (&t.run_id, t.try_number) {
                let slot = latest
                    .entry((
                        t.dag_id.clone(),
                        run.clone(),
                        t.task_id.clone(),
                        t.map_index,
                    ))
                    .or_insert(n);
                *slot = (*slot).max(n);
            }
        }
        let mut tries: BTreeMap<TryKey, TryRec> = BTreeMap::new();
        let mut origins: HashMap<RunKey, Vec<usize>> = HashMap::new();
        for mut t in known.into_iter().chain(unknown) {
            let run = t.run_id.clone().unwrap_or_default();
            let n = t.try_number.unwrap_or_else(|| {
                latest
                    .get(&(
                        t.dag_id.clone(),
                        run.clone(),
                        t.task_id.clone(),
                        t.map_index,
                    ))
                    .copied()
                    // A try that never started (skipped, upstream_failed) is try 0, as the API says.
                    .unwrap_or(u32::from(t.start.is_some()))
            });
            t.try_number = Some(n);
            origins
                .entry((t.dag_id.clone(), run.clone()))
                .or_default()
                .push(t.origin);
            let key = (t.dag_id.clone(), run, t.task_id.clone(), t.map_index, n);
            match tries.get_mut(&key) {
                Some(existing) => existing.merge(t),
                None => {
                    tries.insert(key, t);
                }
            }
        }
        // The tries endpoint reports every earlier try as `failed`, but a try followed by
        // another one was `up_for_retry` (what the scheduler and Airflow's own spans say).
        let keys: Vec<TryKey> = tries.keys().cloned().collect();
        for (i, key) in keys.iter().enumerate() {
            let retried = keys.get(i + 1).is_some_and(|next| {
                next.0 == key.0 && next.1 == key.1 && next.2 == key.2 && next.3 == key.3
            });
            if let Some(t) = tries.get_mut(key).filter(|_| retried) {
                if let Some(state) = t.state.as_mut().filter(|s| s.0 == "failed") {
                    state.0 = "up_for_retry".into();
                }
            }
        }
        for (dag, run, ..) in tries.keys() {
            runs.entry((dag.clone(), run.clone()))
                .or_insert_with(|| RunRec {
                    dag_id: dag.clone(),
                    run_id: run.clone(),
                    ..Default::default()
                });
        }
        let mut by_run: BTreeMap<RunKey, Vec<TryRec>> = BTreeMap::new();
        for ((dag, run, ..), t) in tries {
            by_run.entry((dag, run)).or_default().push(t);
        }
        let runs = runs
            .into_iter()
            .map(|(key, mut r)| {
                let tries = by_run.remove(&key).unwrap_or_default();
                let mut from = std::mem::take(&mut r.origins);
                from.extend(origins.remove(&key).unwrap_or_default());
                (to_run(r, tries), from)
            })
            .collect();
        (runs, clashes)
    }
}

/// Records of one run agree on its start; two records with the same (dag_id, run_id) but
/// different recorded starts are different runs (from different installations). Returns the
/// merged runs and, per (dag_id, run_id), the merge keys of its instances when there are
/// several.
fn merge_runs(records: Vec<RunRec>) -> (Vec<RunRec>, HashMap<RunKey, Vec<String>>) {
    let start_of = |r: &RunRec| r.start.filter(|t| t.rank >= RANK_TI_DATE).map(|t| t.nanos);
    let mut merged: Vec<RunRec> = Vec::new();
    for mut r in records {
        r.airflow_run_id = r.run_id.clone();
        let same = merged.iter_mut().find(|m| {
            m.dag_id == r.dag_id
                && m.airflow_run_id == r.airflow_run_id
                && (start_of(m).is_none() || start_of(&r).is_none() || start_of(m) == start_of(&r))
        });
        match same {
            Some(m) => m.merge(r),
            None => merged.push(r),
        }
    }
    let mut instances: HashMap<RunKey, Vec<String>> = HashMap::new();
    for r in &merged {
        instances
            .entry((r.dag_id.clone(), r.airflow_run_id.clone()))
            .or_default()
            .push(String::new());
    }
    for r in &mut merged {
        if instances[&(r.dag_id.clone(), r.airflow_run_id.clone())].len() > 1 {
            let start = r.start.map_or(0, |t| t.nanos);
            r.run_id = format!(
                "{}@{}",
                r.airflow_run_id,
                chrono::DateTime::from_timestamp_nanos(start)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }
    }
    instances.clear();
    for r in &merged {
        instances
            .entry((r.dag_id.clone(), r.airflow_run_id.clone()))
            .or_default()
            .push(r.run_id.clone());
    }
    instances.retain(|_, v| v.len() > 1);
    (merged, instances)
}

/// Of several runs sharing a run id, the one whose time span holds the try.
fn pick_instance(keys: &[String], runs: &BTreeMap<RunKey, RunRec>, t: &TryRec) -> String {
    let at = t.start.or(t.end).map(|x| x.nanos);
    keys.iter()
        .find(|k| {
            let Some(r) = runs.get(&(t.dag_id.clone(), (*k).clone())) else {
                return false;
            };
            match (at, r.start, r.end) {
                (Some(at), Some(s), Some(e)) => s.nanos <= at && at <= e.nanos,
                (Some(at), Some(s), None) => s.nanos <= at,
                _ => false,
            }
        })
        .unwrap_or(&keys[0])
        .clone()
}

/// CLI `states-for-dag-run` output names no run: a try with the same task, map index and
/// start as one of a known run belongs to it; else one with the same logical date; else the
/// file's tries form a run of their own, named after the DAG and its earliest start.
fn assign_runs(
    unknown: Vec<TryRec>,
    known: &[TryRec],
    runs: &BTreeMap<RunKey, RunRec>,
) -> Vec<TryRec> {
    let mut by_origin: BTreeMap<usize, Vec<TryRec>> = BTreeMap::new();
    for t in unknown {
        by_origin.entry(t.origin).or_default().push(t);
    }
    let mut out = Vec::new();
    for (_, mut group) in by_origin {
        let matched = group.iter().find_map(|t| {
            let start = t.start?.nanos;
            known
                .iter()
                .find(|k| {
                    k.dag_id == t.dag_id
                        && k.task_id == t.task_id
                        && k.map_index == t.map_index
                        && k.start.is_some_and(|s| same_start(s, start))
                })
                .and_then(|k| k.run_id.clone())
        });
        let matched = matched.or_else(|| {
            let logical = group.iter().find_map(|t| {
                t.logical_date
                    .as_deref()
                    .and_then(|d| parse_utc(d, false).ok())
            })?;
            runs.values()
                .find(|r| {
                    r.dag_id == group[0].dag_id
                        && r.logical_date
                            .as_deref()
                            .and_then(|d| parse_utc(d, false).ok())
                            == Some(logical)
                })
                .map(|r| r.run_id.clone())
        });
        let run_id = matched.unwrap_or_else(|| {
            let earliest = group
                .iter()
                .filter_map(|t| t.start.map(|s| s.nanos))
                .min()
                .unwrap_or(0);
            format!(
                "unnamed@{}",
                chrono::DateTime::from_timestamp_nanos(earliest)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )
        });
        for t in &mut group {
            t.run_id = Some(run_id.clone());
        }
        out.extend(group);
    }
    out
}

/// Whether a try's start `known` from another record is the CLI's `start` (µs): the same
/// instant when both are Airflow dates; within the second when the known one comes from a
/// task log (its lines carry milliseconds, its Marking line seconds).
fn same_start(known: Time, start: Nanos) -> bool {
    if known.rank >= RANK_TI_DATE {
        known.nanos == start
    } else {
        (known.nanos - start).abs() < 1_000_000_000
    }
}

fn state_outcome(state: &str) -> Outcome {
    match state {
        "success" => Outcome::Success,
        "failed" | "up_for_retry" => Outcome::Failure,
        "skipped" | "upstream_failed" | "removed" => Outcome::Skip,
        _ => Outcome::Unknown,
    }
}

fn to_run(mut r: RunRec, tries: Vec<TryRec>) -> Run {
    if r.airflow_run_id.is_empty() {
        // A run known only from its tries.
        r.airflow_run_id = r.run_id.clone();
    }
    let mut steps: Vec<Step> = tries.iter().map(|t| to_step(&r, t)).collect();
    // `airflow dags test` records the logical date as the run's start_date, which can lie
    // after everything the run did (even after its end): that is not a start.
    let latest = steps
        .iter()
        .filter_map(|s| s.end.or(s.start))
        .chain(r.end.map(|e| e.nanos))
        .max();
    if let (Some(start), Some(latest)) = (r.start, latest) {
        if start.nanos > latest {
            r.start = None;
        }
    }
    steps.sort_by_key(|s| (s.start.unwrap_or(i64::MAX), s.id.clone(), s.attempt));
    let state = r.state.as_ref().map(|s| s.0.as_str());
    let outcome = match state {
        Some("success") => Outcome::Success,
        Some("failed") => Outcome::Failure,
        Some(_) => Outcome::Unknown,
        // No run record: the worst final state of its latest tries.
        None => latest_tries(&steps)
            .map(|s| s.outcome)
            .max_by_key(|o| o.severity())
            .filter(|o| o.severity() > 0)
            .unwrap_or(Outcome::Unknown),
    };
    let mut a = Attributes::default();
    a.put(sc::CICD_PIPELINE_RUN_ID, r.airflow_run_id.clone());
    a.put(attr::AIRFLOW_DAG_ID, r.dag_id.clone());
    a.put(attr::AIRFLOW_DAG_RUN_ID, r.airflow_run_id.clone());
    a.put_opt(attr::AIRFLOW_DAG_RUN_STATE, state);
    a.put_opt(attr::AIRFLOW_DAG_RUN_TYPE, r.run_type.clone());
    a.put_opt(attr::AIRFLOW_DAG_RUN_LOGICAL_DATE, r.logical_date.clone());
    a.put_opt(attr::AIRFLOW_DAG_RUN_QUEUED_AT, r.queued_at.clone());
    a.put_opt(
        attr::AIRFLOW_DAG_RUN_DATA_INTERVAL_START,
        r.data_interval_start.clone(),
    );
    a.put_opt(
        attr::AIRFLOW_DAG_RUN_DATA_INTERVAL_END,
        r.data_interval_end.clone(),
    );
    a.put_opt(attr::AIRFLOW_DAG_RUN_TRIGGERED_BY, r.triggered_by.clone());
    Run {
        system: "airflow".into(),
        // Run ids are unique per DAG only. Identity is Airflow's own run id, never the merge
        // key: the ids of a run do not depend on which other records are converted with it.
        run_id: format!("{}/{}", r.dag_id, r.airflow_run_id),
        name: format!("dag_run.{}", r.dag_id),
        pipeline_name: r.dag_id.clone(),
        start: r.start.map(|t| t.nanos),
        end: r.end.map(|t| t.nanos),
        outcome,
        message: outcome
            .is_error()
            .then(|| format!("dag run {}", state.unwrap_or("failed"))),
        parent: r.parent,
        native_trace_id: None,
        native_span_id: None,
        resource: Vec::new(),
        events: Vec::new(),
        attributes: a,
        steps,
    }
}

/// The last try of each task: what a run's result depends on (an earlier failed try that was
/// retried successfully does not fail the run).
fn latest_tries(steps: &[Step]) -> impl Iterator<Item = &Step> {
    steps
        .iter()
        .filter(|s| !steps.iter().any(|o| o.id == s.id && o.attempt > s.attempt))
}

fn to_step(run: &RunRec, t: &TryRec) -> Step {
    let id = t.step_id();
    let mut step = Step::new(id.clone(), format!("task_run.{id}"));
    let try_number = t.try_number.unwrap_or(0);
    step.attempt = try_number;
    // Where a log started and stopped only stands in when no record gave the try's own dates:
    // beside them it would be mixing two clocks (a log file may even hold a later re-run).
    let authoritative = [t.start, t.end]
        .iter()
        .flatten()
        .any(|x| x.rank > RANK_LOG_LINE);
    let keep = |x: Option<Time>| {
        x.filter(|x| !authoritative || x.rank > RANK_LOG_LINE)
            .map(|x| x.nanos)
    };
    step.start = keep(t.start);
    step.end = keep(t.end);
    if step.start.is_none() && step.end.is_none() {
        step.time_source = TimeSource::Derived;
    }
    let state = t.state.as_ref().map(|s| s.0.as_str());
    step.outcome = state.map_or(Outcome::Unknown, state_outcome);
    step.exit_code = t.exit_code;
    let last_exception = t.exceptions.last();
    if step.outcome.is_error() {
        step.error_type = last_exception.map(|e| e.1.clone());
        step.message = Some(match last_exception {
            Some((_, kind, msg)) => format!("{kind}: {msg}"),
            None => format!("task {}", state.unwrap_or("failed")),
        });
    }
    for (time, kind, message) in &t.exceptions {
        let mut attrs = Attributes::default();
        attrs.put(sc::EXCEPTION_TYPE, kind.clone());
        attrs.put(sc::EXCEPTION_MESSAGE, message.clone());
        step.events.push(Event {
            time: *time,
            name: sc::EXCEPTION_EVENT.into(),
            attributes: attrs,
        });
    }
    let a = &mut step.attributes;
    a.put(sc::CICD_TASK_NAME, t.task_id.clone());
    a.put(attr::AIRFLOW_DAG_ID, t.dag_id.clone());
    a.put(attr::AIRFLOW_TASK_ID, t.task_id.clone());
    a.put(attr::AIRFLOW_DAG_RUN_ID, run.airflow_run_id.clone());
    a.put(attr::AIRFLOW_TI_TRY_NUMBER, i64::from(try_number));
    a.put(attr::AIRFLOW_TI_MAP_INDEX, t.map_index);
    a.put_opt(attr::AIRFLOW_TI_STATE, state);
    a.put_opt(attr::AIRFLOW_TI_ID, t.ti_id.clone());
    a.put_opt(attr::AIRFLOW_TI_OPERATOR, t.operator.clone());
    a.put_opt(attr::AIRFLOW_TI_HOSTNAME, t.hostname.clone());
    a.put_opt(attr::AIRFLOW_TI_POOL, t.pool.clone());
    a.put_opt(attr::AIRFLOW_TI_QUEUE, t.queue.clone());
    a.put_opt(attr::AIRFLOW_TI_EXECUTOR, t.executor.clone());
    a.put_opt(attr::AIRFLOW_TI_QUEUED_WHEN, t.queued_when.clone());
    a.put_opt(
        attr::AIRFLOW_TI_DURATION,
        t.duration.filter(|d| d.is_finite()),
    );
    a.put_opt(attr::AIRFLOW_TI_PID, t.pid);
    a.put_opt(attr::AIRFLOW_TI_PRIORITY_WEIGHT, t.priority_weight);
    a.put_opt(attr::AIRFLOW_TI_MAX_TRIES, t.max_tries);
    a.put_opt(sc::PROCESS_EXIT_CODE, t.exit_code);
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_only_before_keys() {
        let kv = key_values("dag_id=d, task_id=t, executor=SequentialExecutor(parallelism=32), executor_state=success, state=up_for_retry, scheduled_dttm=2026-11-21 05:41:07.758237+00:00,queued_by_job_id=3, pid=16812 [airflow.jobs.scheduler_job_runner.SchedulerJobRunner] loc=scheduler_job_runner.py:1439");
        assert_eq!(kv["executor"], "SequentialExecutor(parallelism=32)");
        assert_eq!(kv["state"], "up_for_retry");
        assert_eq!(kv["executor_state"], "success");
        assert_eq!(kv["scheduled_dttm"], "2026-11-21 05:41:07.758237+00:00");
        assert_eq!(kv["queued_by_job_id"], "3");
        assert_eq!(kv["pid"], "16812");
        let kv = key_values("dag_id=d, task_id=t, run_id=r, execution_date=20261121T053120, start_date=, end_date=20261121T053337");
        assert_eq!(kv["start_date"], "");
        assert_eq!(kv["end_date"], "20261121T053337");
    }

    #[test]
    fn attempt_log_names() {
        assert!(is_attempt_log("attempt=1.log"));
        assert!(is_attempt_log("attempt=12.log"));
        assert!(!is_attempt_log("attempt=.log"));
        assert!(!is_attempt_log("attempt=1.txt"));
    }

    #[test]
    fn more_precise_times_win() {
        let s = Some(Time {
            nanos: 1,
            rank: RANK_MARKING,
        });
        let us = Some(Time {
            nanos: 2,
            rank: RANK_TI_DATE + 6,
        });
        assert_eq!(better(s, us), us);
        assert_eq!(better(us, s), us);
        assert_eq!(better(None, s), s);
    }

    #[test]
    fn log_lines() {
        assert_eq!(
            split_log_line("[2026-11-21T05:28:47.185+0000] {taskinstance.py:2867} INFO - Starting attempt 1 of 2"),
            Some(("2026-11-21T05:28:47.185+0000", "Starting attempt 1 of 2"))
        );
        assert_eq!(split_log_line("Traceback (most recent call last):"), None);
    }
}
