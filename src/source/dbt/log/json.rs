//! dbt's JSON file log (`--log-format-file json`): one JSON object per line, every line with
//! `info.invocation_id` and `info.ts` (UTC, µs). Node times are read from the events'
//! `node_info` and `run_result.timing_info`, which are the values run_results.json holds.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{Event, Finish, Line};
use crate::record::Nanos;
use crate::source::time::parse_utc;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    info: Info<'a>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Info<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    invocation_id: Cow<'a, str>,
    #[serde(default, borrow)]
    thread: Option<Cow<'a, str>>,
    #[serde(default)]
    extra: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize, Default)]
struct Data {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    args: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    num_threads: Option<i64>,
    #[serde(default)]
    target_name: Option<String>,
    #[serde(default)]
    node_info: Option<NodeInfo>,
    #[serde(default)]
    run_result: Option<RunResult>,
    #[serde(default)]
    batch_index: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    execution_time: Option<f64>,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    command: Option<String>,
}

#[derive(Deserialize)]
struct NodeInfo {
    unique_id: String,
    #[serde(default)]
    node_started_at: Option<String>,
    #[serde(default)]
    node_finished_at: Option<String>,
    #[serde(default)]
    materialized: Option<String>,
    #[serde(default)]
    node_relation: Option<Relation>,
}

#[derive(Deserialize)]
struct Relation {
    #[serde(default)]
    relation_name: Option<String>,
}

#[derive(Deserialize)]
struct RunResult {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    execution_time: Option<f64>,
    #[serde(default)]
    num_failures: Option<Value>,
    #[serde(default)]
    thread: Option<String>,
    #[serde(default)]
    adapter_response: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    timing_info: Vec<Timing>,
}

#[derive(Deserialize)]
struct Timing {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

/// Whether a line is meant to be JSON (a text log's records never start with `{`).
pub fn looks_like(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

/// One JSON line → what it says. Err: why the line is not one of dbt's records.
pub fn read(line: &str) -> Result<Line, String> {
    let record: Record = serde_json::from_str(line).map_err(|e| {
        format!(
            "not a dbt JSON log record: {}",
            crate::source::json_message(&e)
        )
    })?;
    let info = &record.info;
    if info.invocation_id.is_empty() {
        return Err("info.invocation_id is empty".into());
    }
    let at = parse_utc(&info.ts, true).map_err(|e| format!("info.ts: {e}"))?;
    let wanted = matches!(
        info.name.as_ref(),
        "MainReportVersion"
            | "MainReportArgs"
            | "ConcurrencyLine"
            | "NodeStart"
            | "NodeFinished"
            | "LogStartBatch"
            | "LogHookStartLine"
            | "LogHookEndLine"
            | "CommandCompleted"
    );
    let data: Data = match (wanted, record.data) {
        (true, Some(raw)) => serde_json::from_str(raw.get())
            .map_err(|e| format!("{} data: {}", info.name, crate::source::json_message(&e)))?,
        _ => Data::default(),
    };
    let thread = info.thread.as_deref().unwrap_or_default().to_owned();
    let naive = |field: &str, v: &Option<String>| -> Result<Option<Nanos>, String> {
        match v.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => parse_utc(s, true)
                .map(Some)
                .map_err(|e| format!("{}: {field}: {e}", info.name)),
            None => Ok(None),
        }
    };
    let event = match info.name.as_ref() {
        "MainReportVersion" => Event::Begin {
            version: data.version.map(|v| v.trim_start_matches('=').to_owned()),
        },
        "MainReportArgs" => {
            let args = data.args.unwrap_or_default();
            Event::Args {
                invocation_command: args
                    .get("invocation_command")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
        "ConcurrencyLine" => Event::Concurrency {
            threads: data.num_threads,
            target: data.target_name,
        },
        "NodeStart" | "LogHookStartLine" => {
            let Some(node) = data.node_info else {
                return Err(format!("{}: data.node_info is missing", info.name));
            };
            let started = naive("node_info.node_started_at", &node.node_started_at)?;
            Event::NodeStart {
                key: key(&node),
                uid: node.unique_id,
                thread,
                started,
                hook: info.name == "LogHookStartLine",
                materialized: node.materialized.filter(|m| !m.is_empty()),
                relation: node
                    .node_relation
                    .and_then(|r| r.relation_name)
                    .filter(|r| !r.is_empty()),
            }
        }
        "LogStartBatch" => {
            let Some(node) = data.node_info else {
                return Err("LogStartBatch: data.node_info is missing".into());
            };
            Event::Batch {
                key: Some(key(&node)),
                thread,
                index: data.batch_index.unwrap_or(0),
                description: data.description,
            }
        }
        "NodeFinished" | "LogHookEndLine" => {
            let Some(node) = data.node_info else {
                return Err(format!("{}: data.node_info is missing", info.name));
            };
            let finished = naive("node_info.node_finished_at", &node.node_finished_at)?;
            let mut finish = Finish {
                finished,
                thread: Some(thread),
                ..Finish::default()
            };
            if let Some(r) = data.run_result {
                for (j, t) in r.timing_info.iter().enumerate() {
                    let start = naive(&format!("timing_info[{j}].started_at"), &t.started_at)?;
                    let end = naive(&format!("timing_info[{j}].completed_at"), &t.completed_at)?;
                    finish.timing.push((
                        t.name.clone().unwrap_or_else(|| "timing".into()),
                        start,
                        end,
                    ));
                }
                finish.status = r.status;
                finish.message = match r.message {
                    Some(Value::String(s)) => Some(s),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                finish.execution_time = r.execution_time;
                finish.failures = r.num_failures.as_ref().and_then(super::super::int_of);
                finish.thread = r.thread.filter(|t| !t.is_empty()).or(finish.thread);
                finish.adapter_response = r.adapter_response;
            } else {
                finish.status = data.status;
                finish.execution_time = data.execution_time;
            }
            Event::NodeFinish {
                key: key(&node),
                finish,
            }
        }
        "CommandCompleted" => Event::End {
            at: naive("data.completed_at", &data.completed_at)?,
            success: data.success,
            command: data.command,
        },
        _ => Event::Other,
    };
    let env = info
        .extra
        .as_ref()
        .map(|extra| {
            extra
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Line {
        at,
        invocation: Some(info.invocation_id.to_string()),
        event,
        env,
    })
}

/// A node's NodeStart and NodeFinished share `(unique_id, node_started_at)` (FIELDS.md §3).
fn key(node: &NodeInfo) -> String {
    format!(
        "{}|{}",
        node.unique_id,
        node.node_started_at.as_deref().unwrap_or_default()
    )
}
