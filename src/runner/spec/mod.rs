//! Workflow spec for `retrace run`: parses the Dagu-compatible YAML subset and
//! validates it completely before anything runs, so a typo fails up front with
//! `file:line:column` instead of halfway through a pipeline.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sink::config::FileDefaults;

mod dotenv;
mod messages;
mod yaml;

use messages::*;
use yaml::*;

/// A parsed and validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: String,
    /// Resolved against the workflow file's directory (Dagu's rule), made absolute.
    pub working_dir: PathBuf,
    /// Raw values in file order; `$VAR` expansion happens at run time.
    pub env: Vec<(String, String)>,
    /// `params:`, the defaults of its parameters (see `with_params`).
    pub params: Vec<(String, String)>,
    /// Dagu's `otel:` block, values as written (the runner expands `${VAR}`).
    pub otel: Option<FileDefaults>,
    /// File order.
    pub steps: Vec<StepSpec>,
    /// The base configuration it was read over (absolute): the base of its children too, as
    /// Dagu's one base configuration is every DAG's.
    pub base: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    /// Run by `sh -c`; a list form is joined with spaces.
    pub command: String,
    /// Indices into `Workflow::steps`, deduplicated and ascending; includes the
    /// implicit dependency on the previous step for `type: chain`.
    pub depends: Vec<usize>,
    /// `Workflow::working_dir` joined with the step's `dir`.
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub retry_limit: u32,
    pub retry_interval: Duration,
    pub continue_on_failure: bool,
    /// `None` when `timeoutSec` is absent or 0.
    pub timeout: Option<Duration>,
    /// `output: VAR`: the step's trimmed stdout becomes `VAR` for the steps after it.
    pub output: Option<String>,
    /// All must hold for the step to run; else it is skipped with the reason.
    pub preconditions: Vec<Precondition>,
    /// A `handlerOn` step (after the others; Dagu's `onExit`, …): which one.
    pub handler: Option<Handler>,
    /// `run: child.yaml`: the step runs that workflow as its child.
    pub run: Option<ChildRun>,
}

/// A child workflow a step runs (`run:` and `params:`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRun {
    /// Resolved against the calling workflow's file, absolute.
    pub file: PathBuf,
    pub params: Vec<(String, String)>,
}

/// Which `handlerOn` step, named as Dagu names their nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Success,
    Failure,
    Cancel,
    Exit,
}

impl Handler {
    pub fn name(self) -> &'static str {
        match self {
            Handler::Success => "onSuccess",
            Handler::Failure => "onFailure",
            Handler::Cancel => "onCancel",
            Handler::Exit => "onExit",
        }
    }
}

/// A precondition: `condition` run as a command (exit 0 holds), or with `expected`, evaluated
/// as a shell word and compared with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    pub condition: String,
    pub expected: Option<String>,
}

/// Every message is one line that starts with the workflow file's path.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: file not found", .path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not valid UTF-8 (byte {offset})", .path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{}:{line}:{column}: not valid YAML: {message}", .path.display())]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A key, type or value the spec does not accept, at a known position.
    #[error("{}:{line}:{column}: {message}", .path.display())]
    Schema {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A problem found after parsing (names, dependencies, empty values).
    #[error("{}: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Reads and parses the workflow at `path` over a base configuration: `base` (`--base`), else
/// a `base.yaml` beside the workflow when there is one. The base's keys are defaults: maps
/// merge key by key (`otel.resource` of both combine), anything else the workflow gives
/// replaces the base's (lists too). Each file is checked on its own first, so a problem
/// still names its file, line and column.
pub fn load_with_base(path: &Path, base: Option<&Path>) -> Result<Workflow, SpecError> {
    let beside = path.with_file_name("base.yaml");
    let base = match base {
        Some(b) => Some(b.to_path_buf()),
        None => (beside.is_file() && beside.file_name() != path.file_name()).then_some(beside),
    };
    let Some(base) = base else {
        return load(path);
    };
    let base_doc = checked(&read(&base)?, &base)?;
    let doc = checked(&read(path)?, path)?;
    let merged = merge(base_doc, doc);
    let raw: RawWorkflow = yaml_serde::from_value(merged).map_err(|e| SpecError::Invalid {
        path: path.into(),
        message: format!("with the base configuration {}: {e}", base.display()),
    })?;
    let mut workflow = build(raw, path).map_err(|message| SpecError::Invalid {
        path: path.into(),
        message,
    })?;
    workflow.base = Some(std::path::absolute(&base).unwrap_or(base));
    Ok(workflow)
}

impl Workflow {
    /// Its parameters, the defaults replaced by `given` (by name; new names added), put
    /// before everything else in its environment: its `dotenv` and `env` may use them.
    pub fn with_params(mut self, given: &[(String, String)]) -> Self {
        let mut params = std::mem::take(&mut self.params);
        for (key, value) in given {
            match params.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.clone(),
                None => params.push((key.clone(), value.clone())),
            }
        }
        self.env.splice(0..0, params);
        self
    }
}

/// `load_with_base`, and every workflow its steps run (`run:`), checked before anything
/// runs: each must load, and no file may run itself through its children.
pub fn load_tree(path: &Path, base: Option<&Path>) -> Result<Workflow, SpecError> {
    let workflow = load_with_base(path, base)?;
    let top = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    check_children(&workflow, path, &mut vec![top])?;
    Ok(workflow)
}

/// How deep workflows may run workflows.
const MAX_NESTING: usize = 32;

fn check_children(
    workflow: &Workflow,
    path: &Path,
    stack: &mut Vec<PathBuf>,
) -> Result<(), SpecError> {
    for step in &workflow.steps {
        let Some(child) = &step.run else { continue };
        let invalid = |message: String| SpecError::Invalid {
            path: path.into(),
            message,
        };
        let file = std::fs::canonicalize(&child.file).map_err(|_| {
            invalid(format!(
                "step {}: run {}: file not found",
                step.name,
                child.file.display()
            ))
        })?;
        if let Some(at) = stack.iter().position(|p| *p == file) {
            let cycle: Vec<String> = stack[at..]
                .iter()
                .chain(std::iter::once(&file))
                .map(|p| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            return Err(invalid(format!("workflow cycle: {}", cycle.join(" -> "))));
        }
        if stack.len() >= MAX_NESTING {
            return Err(invalid(format!(
                "workflows nested deeper than {MAX_NESTING} levels"
            )));
        }
        let nested = load_with_base(&child.file, workflow.base.as_deref())?;
        stack.push(file);
        check_children(&nested, &child.file, stack)?;
        stack.pop();
    }
    Ok(())
}

/// `over` on top of `base`: mappings key by key, anything else replaced.
fn merge(base: yaml_serde::Value, over: yaml_serde::Value) -> yaml_serde::Value {
    use yaml_serde::Value;
    match (base, over) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(b) => merge(b, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Mapping(base)
        }
        (_, over) => over,
    }
}

fn read(path: &Path) -> Result<String, SpecError> {
    if path.exists() && !crate::source::is_regular(path) {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: crate::source::not_regular(path),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SpecError::NotFound { path: path.into() },
        _ => SpecError::Read {
            path: path.into(),
            source,
        },
    })?;
    String::from_utf8(bytes).map_err(|e| SpecError::NotUtf8 {
        path: path.into(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads and parses the workflow file at `path`.
pub fn load(path: &Path) -> Result<Workflow, SpecError> {
    parse(&read(path)?, path)
}

/// How deep `[`/`{` may nest. The YAML parser takes time quadratic in the nesting of flow
/// collections (a 200 KB file of them did not finish in 20 s); real workflows nest two or three.
const MAX_DEPTH: usize = 64;

/// Where flow collections first nest deeper than `MAX_DEPTH` (line, column), found by one scan
/// that skips quoted text and comments, before the parser sees the text.
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (number, line) in text.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for (column, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if previous == ' ' || column == 0 => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((number + 1, column + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    None
}

/// A file's YAML, checked as a workflow's keys (with positions in messages); `steps` may be
/// missing (a base configuration).
fn checked(text: &str, path: &Path) -> Result<yaml_serde::Value, SpecError> {
    if let Some((line, column)) = too_deep(text) {
        return Err(SpecError::Yaml {
            path: path.into(),
            line,
            column,
            message: format!("flow collections nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let doc: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        let (line, column, message) = describe(&e, None);
        SpecError::Yaml {
            path: path.into(),
            line,
            column,
            message,
        }
    })?;
    if !matches!(doc, yaml_serde::Value::Mapping(_) | yaml_serde::Value::Null) {
        return Err(SpecError::Invalid {
            path: path.into(),
            message: "top level must be a mapping of workflow keys".into(),
        });
    }
    yaml_serde::from_str::<RawWorkflow>(text).map_err(|e| {
        let (line, column, message) = describe(&e, Some(&doc));
        SpecError::Schema {
            path: path.into(),
            line,
            column,
            message,
        }
    })?;
    Ok(match doc {
        yaml_serde::Value::Null => yaml_serde::Value::Mapping(Default::default()),
        doc => doc,
    })
}

/// Parses workflow YAML; `path` names the file in messages and anchors relative dirs.
pub fn parse(text: &str, path: &Path) -> Result<Workflow, SpecError> {
    if let Some((line, column)) = too_deep(text) {
        return Err(SpecError::Yaml {
            path: path.into(),
            line,
            column,
            message: format!(
                "flow collections ([ ], {{ }}) nested deeper than {MAX_DEPTH} levels; a workflow needs a few"
            ),
        });
    }
    // A generic parse first: it separates "not YAML" from "YAML we don't accept",
    // and gives step names for messages when the typed pass fails.
    let doc: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        let (line, column, message) = describe(&e, None);
        SpecError::Yaml {
            path: path.into(),
            line,
            column,
            message,
        }
    })?;
    let invalid = |message: String| SpecError::Invalid {
        path: path.into(),
        message,
    };
    let found = match &doc {
        yaml_serde::Value::Mapping(_) => None,
        yaml_serde::Value::Null => Some("nothing"),
        yaml_serde::Value::Sequence(_) => Some("a list"),
        yaml_serde::Value::Tagged(_) => Some("a tagged value"),
        _ => Some("a single value"),
    };
    if let Some(found) = found {
        return Err(invalid(format!(
            "top level must be a mapping of workflow keys, found {found}"
        )));
    }
    let raw: RawWorkflow = yaml_serde::from_str(text).map_err(|e| {
        let (line, column, message) = describe(&e, Some(&doc));
        SpecError::Schema {
            path: path.into(),
            line,
            column,
            message,
        }
    })?;
    build(raw, path).map_err(invalid)
}

fn build(raw: RawWorkflow, path: &Path) -> Result<Workflow, String> {
    let raw_steps = raw.steps.unwrap_or_default();
    if raw_steps.is_empty() {
        return Err("no steps: \"steps\" must list at least one step".into());
    }

    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, step) in raw_steps.iter().enumerate() {
        let name = step.name.0.as_str();
        if name.trim().is_empty() {
            return Err(format!("steps[{i}]: name is empty"));
        }
        match (&step.command, &step.run) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{}: command and run: a step runs one or the other",
                    label(i, name)
                ))
            }
            (None, None) => {
                return Err(format!(
                    "{}: missing key \"command\" (or \"run\", a workflow to run)",
                    label(i, name)
                ))
            }
            (Some(c), None) if c.0.trim().is_empty() => {
                return Err(format!("{}: command is empty", label(i, name)))
            }
            (None, Some(r)) if r.trim().is_empty() => {
                return Err(format!("{}: run names no workflow file", label(i, name)))
            }
            _ => {}
        }
        if step.params.is_some() && step.run.is_none() {
            return Err(format!(
                "{}: params are for a step that runs a workflow (run:)",
                label(i, name)
            ));
        }
        if let Some(var) = &step.output {
            let var = var.strip_prefix('$').unwrap_or(var);
            let valid = var
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "{}: output {var:?} is not a variable name",
                    label(i, name)
                ));
            }
        }
        for p in step.preconditions.iter().flatten() {
            if let RawPrecondition::Compare {
                expected: Some(e), ..
            } = p
            {
                if e.starts_with("re:") {
                    return Err(format!(
                        "{}: precondition expected {e:?}: `re:` patterns are not supported; compare with the exact text",
                        label(i, name)
                    ));
                }
            }
        }
        if let Some(first) = index.insert(name, i) {
            return Err(format!(
                "{}: duplicate step name, already used by steps[{first}]",
                label(i, name)
            ));
        }
    }

    let chain = matches!(raw.kind, Some(Kind::Chain));
    let mut depends = Vec::with_capacity(raw_steps.len());
    for (i, step) in raw_steps.iter().enumerate() {
        let mut deps: Vec<usize> = Vec::new();
        if chain && i > 0 {
            deps.push(i - 1);
        }
        for dep in step.depends.iter().flat_map(|d| &d.0) {
            match index.get(dep.as_str()) {
                Some(&j) if j == i => {
                    return Err(format!("{}: depends on itself", label(i, &step.name.0)));
                }
                Some(&j) => deps.push(j),
                None => {
                    return Err(format!(
                        "{}: depends on \"{dep}\", which is not a step",
                        label(i, &step.name.0)
                    ));
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        depends.push(deps);
    }
    if let Some(cycle) = find_cycle(&depends) {
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| raw_steps[i].name.0.as_str())
            .collect();
        return Err(format!("dependency cycle: {}", names.join(" -> ")));
    }

    // Dagu resolves a relative workingDir against the file's own directory, so a
    // workflow behaves the same wherever `retrace run` is started from.
    let file_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_dir = std::path::absolute(file_dir).unwrap_or_else(|_| file_dir.to_path_buf());
    let working_dir = match &raw.working_dir {
        Some(dir) if !dir.is_empty() => file_dir.join(dir),
        _ => file_dir.clone(),
    };
    // `dotenv` files, relative to the workflow file, load before `env` (which may use them).
    let mut env = Vec::new();
    for file in raw.dotenv.iter().flat_map(|d| &d.0) {
        env.extend(dotenv::load(&file_dir.join(file))?);
    }
    env.extend(raw.env.map(|e| e.0).unwrap_or_default());

    let steps = raw_steps
        .into_iter()
        .zip(depends)
        .map(|(step, depends)| {
            let retry = step.retry_policy.unwrap_or_default();
            StepSpec {
                name: step.name.0,
                command: step.command.map(|c| c.0).unwrap_or_default(),
                run: step.run.map(|file| ChildRun {
                    file: file_dir.join(file),
                    params: step.params.map(|p| p.0).unwrap_or_default(),
                }),
                depends,
                dir: match &step.dir {
                    Some(dir) if !dir.is_empty() => working_dir.join(dir),
                    _ => working_dir.clone(),
                },
                env: step.env.map(|e| e.0).unwrap_or_default(),
                retry_limit: retry.limit.unwrap_or(0),
                retry_interval: Duration::from_secs(retry.interval_sec.unwrap_or(0)),
                continue_on_failure: step.continue_on.and_then(|c| c.failure).unwrap_or(false),
                timeout: step.timeout_sec.filter(|&s| s > 0).map(Duration::from_secs),
                output: step
                    .output
                    .map(|v| v.strip_prefix('$').map(str::to_owned).unwrap_or(v)),
                preconditions: step
                    .preconditions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| match p {
                        RawPrecondition::Command(condition) => Precondition {
                            condition,
                            expected: None,
                        },
                        RawPrecondition::Compare {
                            condition,
                            expected,
                        } => Precondition {
                            condition,
                            expected,
                        },
                    })
                    .collect(),
                handler: None,
            }
        })
        .collect();

    let mut steps: Vec<StepSpec> = steps;
    if let Some(h) = raw.handler_on {
        let cancel = match (h.cancel, h.abort) {
            (Some(_), Some(_)) => {
                return Err("handlerOn: cancel and abort are the same handler; give one".into())
            }
            (c, a) => c.or(a),
        };
        for (kind, handler) in [
            (Handler::Success, h.success),
            (Handler::Failure, h.failure),
            (Handler::Cancel, cancel),
            (Handler::Exit, h.exit),
        ] {
            let Some(handler) = handler else { continue };
            let name = handler
                .name
                .map(|n| n.0)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| kind.name().to_owned());
            if handler.command.0.trim().is_empty() {
                return Err(format!("handlerOn.{}: command is empty", kind.name()));
            }
            if steps.iter().any(|s| s.name == name) {
                return Err(format!(
                    "handlerOn.{}: the name {name:?} is already a step's",
                    kind.name()
                ));
            }
            steps.push(StepSpec {
                name,
                command: handler.command.0,
                depends: Vec::new(),
                dir: match &handler.dir {
                    Some(dir) if !dir.is_empty() => working_dir.join(dir),
                    _ => working_dir.clone(),
                },
                env: handler.env.map(|e| e.0).unwrap_or_default(),
                retry_limit: 0,
                retry_interval: Duration::ZERO,
                continue_on_failure: false,
                timeout: handler
                    .timeout_sec
                    .filter(|&s| s > 0)
                    .map(Duration::from_secs),
                output: None,
                preconditions: Vec::new(),
                handler: Some(kind),
                run: None,
            });
        }
    }

    Ok(Workflow {
        name: raw.name.map(|n| n.0).unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "workflow".into(), |s| s.to_string_lossy().into_owned())
        }),
        working_dir,
        env,
        params: raw.params.map(|p| p.0).unwrap_or_default(),
        otel: raw.otel.map(|o| FileDefaults {
            origin: format!("{} otel", path.display()),
            enabled: o.enabled,
            endpoint: o.endpoint,
            headers: o.headers.map(|m| m.0).unwrap_or_default(),
            insecure: o.insecure,
            timeout: o.timeout,
            resource: o.resource.map(|m| m.0).unwrap_or_default(),
            ..Default::default()
        }),
        steps,
        base: None,
    })
}

fn label(i: usize, name: &str) -> String {
    if name.is_empty() {
        format!("steps[{i}]")
    } else {
        format!("steps[{i}] ({name})")
    }
}

/// First dependency cycle found, in "depends on" order, starting and ending at
/// its earliest step in file order (e.g. `[a, b, c, a]`).
fn find_cycle(depends: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; depends.len()];
    for root in 0..depends.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge to follow); `stack` is the open path.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let Some(&next) = depends[node].get(top.1) else {
                mark[node] = Mark::Done;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match mark[next] {
                Mark::New => {
                    mark[next] = Mark::Open;
                    stack.push((next, 0));
                }
                Mark::Open => {
                    let from = stack.iter().position(|&(n, _)| n == next)?;
                    let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                    let start = (0..cycle.len()).min_by_key(|&k| cycle[k])?;
                    cycle.rotate_left(start);
                    cycle.push(cycle[0]);
                    return Some(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_at(text: &str) -> Result<Workflow, SpecError> {
        parse(text, Path::new("/flows/etl.yaml"))
    }

    fn err(text: &str) -> String {
        parse_at(text).unwrap_err().to_string()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const FULL: &str = r#"
name: nightly
description: Nightly load
type: graph
workingDir: work
env:
  - DATA_DIR=/data
  - RETRIES: 3
  - DEBUG: true
  - URL=http://x/?a=b
otel:
  enabled: true
  endpoint: http://collector:4318
  headers:
    Authorization: Bearer abc
  insecure: false
  timeout: 10s
  resource:
    service.name: etl
    replicas: 2
steps:
  - name: extract
    description: pull data
    command: python extract.py --date "$RUN_DATE"
    dir: jobs
    env:
      RUN_DATE: "2024-01-01"
      LIMIT: 100
    retryPolicy:
      limit: 2
      intervalSec: 5
    timeoutSec: 60
  - name: transform
    command: [dbt, run, --threads, 4]
    depends: extract
    dir: /opt/dbt
    continueOn:
      failure: true
      skipped: true
  - name: load
    command: ./load.sh
    depends:
      - transform
      - extract
      - transform
    timeoutSec: 0
"#;

    #[test]
    fn full_example() {
        let wf = parse_at(FULL).unwrap();
        assert_eq!(wf.name, "nightly");
        assert_eq!(wf.working_dir, PathBuf::from("/flows/work"));
        assert_eq!(
            wf.env,
            pairs(&[
                ("DATA_DIR", "/data"),
                ("RETRIES", "3"),
                ("DEBUG", "true"),
                ("URL", "http://x/?a=b"),
            ])
        );
        let otel = wf.otel.unwrap();
        assert_eq!(otel.enabled, Some(true));
        assert_eq!(otel.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(otel.headers, pairs(&[("Authorization", "Bearer abc")]));
        assert_eq!(otel.insecure, Some(false));
        assert_eq!(otel.timeout.as_deref(), Some("10s"));
        assert_eq!(
            otel.resource,
            pairs(&[("service.name", "etl"), ("replicas", "2")])
        );

        let names: Vec<&str> = wf.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["extract", "transform", "load"]);
        let [extract, transform, load] = &wf.steps[..] else {
            panic!("three steps")
        };
        assert_eq!(extract.command, r#"python extract.py --date "$RUN_DATE""#);
        assert_eq!(extract.depends, Vec::<usize>::new());
        assert_eq!(extract.dir, PathBuf::from("/flows/work/jobs"));
        assert_eq!(
            extract.env,
            pairs(&[("RUN_DATE", "2024-01-01"), ("LIMIT", "100")])
        );
        assert_eq!(extract.retry_limit, 2);
        assert_eq!(extract.retry_interval, Duration::from_secs(5));
        assert!(!extract.continue_on_failure);
        assert_eq!(extract.timeout, Some(Duration::from_secs(60)));

        assert_eq!(transform.command, "dbt run --threads 4");
        assert_eq!(transform.depends, [0]);
        assert_eq!(transform.dir, PathBuf::from("/opt/dbt"));
        assert!(transform.env.is_empty());
        assert_eq!(transform.retry_limit, 0);
        assert_eq!(transform.retry_interval, Duration::ZERO);
        assert!(transform.continue_on_failure);
        assert_eq!(transform.timeout, None);

        assert_eq!(load.depends, [0, 1]);
        assert_eq!(load.dir, PathBuf::from("/flows/work"));
        assert_eq!(load.timeout, None);
    }

    #[test]
    fn defaults_come_from_the_file() {
        let wf = parse(
            "steps:\n  - name: hi\n    command: echo hi\n",
            Path::new("/srv/flows/hello.yaml"),
        )
        .unwrap();
        assert_eq!(wf.name, "hello");
        assert_eq!(wf.working_dir, PathBuf::from("/srv/flows"));
        assert!(wf.env.is_empty());
        assert!(wf.otel.is_none());
        assert_eq!(wf.steps[0].dir, PathBuf::from("/srv/flows"));
        assert!(wf.steps[0].depends.is_empty());
    }

    #[test]
    fn absolute_working_dir_and_env_map() {
        let wf = parse_at(
            "workingDir: /tmp/run\nenv:\n  B: 2\n  A: x=y\nsteps:\n  - name: s\n    command: \"true\"\n    dir: sub\n",
        )
        .unwrap();
        assert_eq!(wf.working_dir, PathBuf::from("/tmp/run"));
        assert_eq!(wf.env, pairs(&[("B", "2"), ("A", "x=y")]));
        assert_eq!(wf.steps[0].dir, PathBuf::from("/tmp/run/sub"));
    }

    #[test]
    fn chain_adds_the_previous_step() {
        let wf = parse_at(
            "type: chain\nsteps:\n  - name: a\n    command: x\n  - name: b\n    command: x\n  - name: c\n    command: x\n    depends: a\n",
        )
        .unwrap();
        let deps: Vec<Vec<usize>> = wf.steps.iter().map(|s| s.depends.clone()).collect();
        assert_eq!(deps, [vec![], vec![0], vec![0, 1]]);
    }

    #[test]
    fn unknown_key_at_top_level() {
        assert_eq!(
            err("stepz: []\n"),
            "/flows/etl.yaml:1:1: top level: unknown key \"stepz\""
        );
        assert_eq!(
            err("steps: []\nworking_dir: x\n"),
            "/flows/etl.yaml:2:1: top level: unknown key \"working_dir\" (did you mean \"workingDir\"?)"
        );
    }

    #[test]
    fn unknown_key_in_step() {
        assert_eq!(
            err("steps:\n  - name: a\n    command: x\n  - name: load\n    command: y\n    retry_policy:\n      limit: 1\n"),
            "/flows/etl.yaml:6:5: steps[1] (load): unknown key \"retry_policy\" (did you mean \"retryPolicy\"?)"
        );
    }

    #[test]
    fn unknown_key_in_retry_policy() {
        assert_eq!(
            err("steps:\n  - name: load\n    command: y\n    retryPolicy:\n      limt: 1\n"),
            "/flows/etl.yaml:5:7: steps[0] (load).retryPolicy: unknown key \"limt\""
        );
    }

    #[test]
    fn wrong_types_and_values() {
        assert_eq!(
            err("steps:\n  - name: load\n    command: y\n    retryPolicy:\n      limit: often\n"),
            "/flows/etl.yaml:5:14: steps[0] (load).retryPolicy.limit: invalid type: string \"often\", expected u32"
        );
        assert_eq!(
            err("type: dag\nsteps:\n  - name: a\n    command: x\n"),
            "/flows/etl.yaml:1:7: type: unknown value \"dag\", expected \"graph\" or \"chain\""
        );
        assert_eq!(
            err("steps:\n  - name: a\n"),
            "/flows/etl.yaml: steps[0] (a): missing key \"command\" (or \"run\", a workflow to run)"
        );
    }

    #[test]
    fn params_defaults_are_replaced_by_name() {
        let wf =
            parse_at("params: 'A=1 B=2'\nenv:\n  C: ${A}\nsteps:\n  - name: s\n    command: x\n")
                .unwrap()
                .with_params(&pairs(&[("B", "two"), ("D", "4")]));
        assert_eq!(
            wf.env,
            pairs(&[("A", "1"), ("B", "two"), ("D", "4"), ("C", "${A}")])
        );
    }

    #[test]
    fn child_runs_and_their_params() {
        let wf = parse_at(
            "steps:\n  - name: s\n    run: sub/child.yaml\n    params: 'A=1 B=\"two words\" C='\n  - name: m\n    run: c.yaml\n    params:\n      X: 1\n      Y: yes\n  - name: l\n    run: c.yaml\n    params: [P=1, {Q: 2}]\n",
        )
        .unwrap();
        let child = wf.steps[0].run.as_ref().unwrap();
        assert_eq!(child.file, PathBuf::from("/flows/sub/child.yaml"));
        assert_eq!(
            child.params,
            pairs(&[("A", "1"), ("B", "two words"), ("C", "")])
        );
        assert_eq!(
            wf.steps[1].run.as_ref().unwrap().params,
            pairs(&[("X", "1"), ("Y", "yes")])
        );
        assert_eq!(
            wf.steps[2].run.as_ref().unwrap().params,
            pairs(&[("P", "1"), ("Q", "2")])
        );
        assert_eq!(
            err("steps:\n  - name: s\n    command: x\n    run: c.yaml\n"),
            "/flows/etl.yaml: steps[0] (s): command and run: a step runs one or the other"
        );
        assert_eq!(
            err("steps:\n  - name: s\n    command: x\n    params: A=1\n"),
            "/flows/etl.yaml: steps[0] (s): params are for a step that runs a workflow (run:)"
        );
        assert!(
            err("steps:\n  - name: s\n    run: c.yaml\n    params: 'A=\"1'\n")
                .contains("a quote is not closed")
        );
    }

    #[test]
    fn duplicate_name() {
        assert_eq!(
            err("steps:\n  - name: a\n    command: x\n  - name: b\n    command: x\n  - name: a\n    command: x\n"),
            "/flows/etl.yaml: steps[2] (a): duplicate step name, already used by steps[0]"
        );
    }

    #[test]
    fn missing_dependency() {
        assert_eq!(
            err("steps:\n  - name: extract\n    command: x\n  - name: load\n    command: x\n    depends: [extrct]\n"),
            "/flows/etl.yaml: steps[1] (load): depends on \"extrct\", which is not a step"
        );
    }

    #[test]
    fn self_dependency() {
        assert_eq!(
            err("steps:\n  - name: a\n    command: x\n  - name: b\n    command: x\n    depends: b\n"),
            "/flows/etl.yaml: steps[1] (b): depends on itself"
        );
    }

    #[test]
    fn three_step_cycle() {
        assert_eq!(
            err("steps:\n  - name: a\n    command: x\n    depends: b\n  - name: b\n    command: x\n    depends: c\n  - name: c\n    command: x\n    depends: a\n"),
            "/flows/etl.yaml: dependency cycle: a -> b -> c -> a"
        );
        // Found from a later root, still reported from its earliest step.
        assert_eq!(
            err("steps:\n  - name: z\n    command: x\n  - name: c\n    command: x\n    depends: [z, a]\n  - name: a\n    command: x\n    depends: c\n"),
            "/flows/etl.yaml: dependency cycle: c -> a -> c"
        );
    }

    #[test]
    fn chain_with_forward_dependency_is_a_cycle() {
        assert_eq!(
            err("type: chain\nsteps:\n  - name: a\n    command: x\n    depends: b\n  - name: b\n    command: x\n"),
            "/flows/etl.yaml: dependency cycle: a -> b -> a"
        );
    }

    #[test]
    fn empty_steps() {
        let want = "/flows/etl.yaml: no steps: \"steps\" must list at least one step";
        assert_eq!(err("steps: []\n"), want);
        assert_eq!(err("name: x\n"), want);
    }

    #[test]
    fn empty_name_and_command() {
        assert_eq!(
            err("steps:\n  - name: \"\"\n    command: x\n"),
            "/flows/etl.yaml: steps[0]: name is empty"
        );
        assert_eq!(
            err("steps:\n  - name: a\n    command: []\n"),
            "/flows/etl.yaml: steps[0] (a): command is empty"
        );
    }

    #[test]
    fn env_entry_without_equals() {
        assert_eq!(
            err("env:\n  - A=1\n  - DEBUG\nsteps:\n  - name: a\n    command: x\n"),
            "/flows/etl.yaml:3:5: env[1]: entry \"DEBUG\" has no \"=\" (expected KEY=value)"
        );
        assert_eq!(
            err("steps:\n  - name: a\n    command: x\n    env: [\"=1\"]\n"),
            "/flows/etl.yaml:4:11: steps[0] (a).env[0]: entry \"=1\" has an empty name (expected KEY=value)"
        );
    }

    #[test]
    fn top_level_not_a_mapping() {
        assert_eq!(
            err("- name: a\n"),
            "/flows/etl.yaml: top level must be a mapping of workflow keys, found a list"
        );
        assert_eq!(
            err(""),
            "/flows/etl.yaml: top level must be a mapping of workflow keys, found nothing"
        );
    }

    #[test]
    fn not_yaml() {
        assert_eq!(
            err("steps: [\n"),
            "/flows/etl.yaml:2:1: not valid YAML: did not find expected node content, while parsing a flow node"
        );
    }

    #[test]
    fn load_reports_file_problems() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        assert_eq!(
            load(&missing).unwrap_err().to_string(),
            format!("{}: file not found", missing.display())
        );
        let latin1 = dir.path().join("latin1.yaml");
        std::fs::write(&latin1, b"name: caf\xe9\n").unwrap();
        assert_eq!(
            load(&latin1).unwrap_err().to_string(),
            format!("{}: not valid UTF-8 (byte 9)", latin1.display())
        );
        let good = dir.path().join("ok.yaml");
        std::fs::write(&good, "steps:\n  - name: a\n    command: x\n").unwrap();
        let wf = load(&good).unwrap();
        assert_eq!(wf.name, "ok");
        assert_eq!(wf.working_dir, dir.path());
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        let deep = format!(
            "steps:\n  - name: a\n    command: x\nenv: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = parse(&deep, Path::new("deep.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested deeper than 64 levels"), "{e}");
        assert!(e.starts_with("deep.yaml:4:"), "{e}");
        // Quoted brackets and comments are text, not nesting.
        let fine = format!(
            "steps:\n  - name: a\n    command: \"echo {}\" # {}\n",
            "[".repeat(100),
            "{".repeat(100)
        );
        assert!(parse(&fine, Path::new("ok.yaml")).is_ok());
    }
}
