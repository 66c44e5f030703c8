//! The listener events retrace reads, as Spark's `JsonProtocol` writes them (core events with
//! "Title Case" keys, SQL events in camelCase). Only the fields a trace needs are named; the
//! rest (RDD infos, accumulables, plans) is skipped by serde without being kept.

use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

/// Epoch milliseconds.
pub type Millis = i64;

/// The last millisecond whose nanoseconds fit in an i64 (2262-04-11).
const MAX_MILLIS: Millis = i64::MAX / 1_000_000;

/// A time beyond what a span can hold is refused, not dropped: a dropped time would silently
/// fall back to another one. Zero and negative times are Spark's "not set" and stay readable.
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
    checked(i64::deserialize(d)?)
}

fn millis_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
    Option::<i64>::deserialize(d)?.map(checked).transpose()
}

fn checked<E: serde::de::Error>(t: Millis) -> Result<Millis, E> {
    if t > MAX_MILLIS {
        return Err(E::custom(format!(
            "{t} ms is outside the representable range (1970–2262)"
        )));
    }
    Ok(t)
}

#[derive(Deserialize)]
pub struct LogStart {
    #[serde(rename = "Spark Version")]
    pub version: Option<String>,
}

#[derive(Deserialize)]
pub struct AppStart {
    #[serde(rename = "App Name")]
    pub name: Option<String>,
    #[serde(rename = "App ID")]
    pub id: Option<String>,
    #[serde(rename = "App Attempt ID")]
    pub attempt: Option<String>,
    #[serde(rename = "Timestamp")]
    #[serde(deserialize_with = "millis")]
    pub time: Millis,
    #[serde(rename = "User")]
    pub user: Option<String>,
}

#[derive(Deserialize)]
pub struct AppEnd {
    #[serde(rename = "Timestamp")]
    #[serde(deserialize_with = "millis")]
    pub time: Millis,
    #[serde(rename = "ExitCode")]
    pub exit_code: Option<i64>,
}

#[derive(Deserialize)]
pub struct EnvironmentUpdate {
    #[serde(rename = "Spark Properties", default)]
    pub spark: HashMap<String, String>,
}

#[derive(Deserialize)]
pub struct JobStart {
    #[serde(rename = "Job ID")]
    pub id: i64,
    #[serde(rename = "Submission Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub time: Option<Millis>,
    #[serde(rename = "Stage IDs", default)]
    pub stage_ids: Vec<i64>,
    #[serde(rename = "Properties", default)]
    pub properties: HashMap<String, String>,
}

#[derive(Deserialize)]
pub struct JobEnd {
    #[serde(rename = "Job ID")]
    pub id: i64,
    #[serde(rename = "Completion Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub time: Option<Millis>,
    #[serde(rename = "Job Result")]
    pub result: Option<JobResult>,
}

#[derive(Deserialize)]
pub struct JobResult {
    #[serde(rename = "Result")]
    pub result: String,
    #[serde(rename = "Exception")]
    pub exception: Option<JobException>,
}

#[derive(Deserialize)]
pub struct JobException {
    #[serde(rename = "Message")]
    pub message: Option<String>,
}

/// `SparkListenerStageSubmitted` and `SparkListenerStageCompleted`.
#[derive(Deserialize)]
pub struct StageEvent {
    #[serde(rename = "Stage Info")]
    pub info: StageInfo,
}

#[derive(Deserialize)]
pub struct StageInfo {
    #[serde(rename = "Stage ID")]
    pub id: i64,
    #[serde(rename = "Stage Attempt ID", default)]
    pub attempt: i64,
    #[serde(rename = "Stage Name")]
    pub name: Option<String>,
    #[serde(rename = "Number of Tasks")]
    pub num_tasks: Option<i64>,
    #[serde(rename = "Parent IDs", default)]
    pub parent_ids: Vec<i64>,
    #[serde(rename = "Submission Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub submitted: Option<Millis>,
    #[serde(rename = "Completion Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub completed: Option<Millis>,
    #[serde(rename = "Failure Reason")]
    pub failure: Option<String>,
}

#[derive(Deserialize)]
pub struct TaskStart {
    #[serde(rename = "Stage ID")]
    pub stage: i64,
    #[serde(rename = "Stage Attempt ID", default)]
    pub stage_attempt: i64,
    #[serde(rename = "Task Info")]
    pub info: TaskInfo,
}

#[derive(Deserialize)]
pub struct TaskEnd {
    #[serde(rename = "Stage ID")]
    pub stage: i64,
    #[serde(rename = "Stage Attempt ID", default)]
    pub stage_attempt: i64,
    #[serde(rename = "Task Type")]
    pub task_type: Option<String>,
    #[serde(rename = "Task End Reason")]
    pub reason: Option<EndReason>,
    #[serde(rename = "Task Info")]
    pub info: TaskInfo,
    #[serde(rename = "Task Metrics")]
    pub metrics: Option<TaskMetrics>,
}

#[derive(Deserialize)]
pub struct TaskInfo {
    #[serde(rename = "Task ID")]
    pub id: i64,
    #[serde(rename = "Index", default)]
    pub index: i64,
    #[serde(rename = "Attempt", default)]
    pub attempt: i64,
    #[serde(rename = "Partition ID")]
    pub partition: Option<i64>,
    #[serde(rename = "Launch Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub launch: Option<Millis>,
    #[serde(rename = "Finish Time")]
    #[serde(default, deserialize_with = "millis_opt")]
    pub finish: Option<Millis>,
    #[serde(rename = "Executor ID")]
    pub executor: Option<String>,
    #[serde(rename = "Host")]
    pub host: Option<String>,
    #[serde(rename = "Locality")]
    pub locality: Option<String>,
    #[serde(rename = "Speculative", default)]
    pub speculative: bool,
    #[serde(rename = "Failed", default)]
    pub failed: bool,
    #[serde(rename = "Killed", default)]
    pub killed: bool,
}

#[derive(Deserialize)]
pub struct EndReason {
    #[serde(rename = "Reason")]
    pub reason: String,
    #[serde(rename = "Class Name")]
    pub class_name: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "Kill Reason")]
    pub kill_reason: Option<String>,
    /// FetchFailed's.
    #[serde(rename = "Message")]
    pub message: Option<String>,
    /// ExecutorLostFailure's.
    #[serde(rename = "Loss Reason")]
    pub loss_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TaskMetrics {
    #[serde(rename = "Executor Run Time")]
    pub run_time_ms: i64,
    /// Nanoseconds.
    #[serde(rename = "Executor CPU Time")]
    pub cpu_time_ns: i64,
    #[serde(rename = "JVM GC Time")]
    pub gc_time_ms: i64,
    #[serde(rename = "Memory Bytes Spilled")]
    pub memory_spilled: i64,
    #[serde(rename = "Disk Bytes Spilled")]
    pub disk_spilled: i64,
    #[serde(rename = "Input Metrics")]
    pub input: Io,
    #[serde(rename = "Output Metrics")]
    pub output: OutputIo,
    #[serde(rename = "Shuffle Read Metrics")]
    pub shuffle_read: ShuffleRead,
    #[serde(rename = "Shuffle Write Metrics")]
    pub shuffle_write: ShuffleWrite,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Io {
    #[serde(rename = "Bytes Read")]
    pub bytes: i64,
    #[serde(rename = "Records Read")]
    pub records: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OutputIo {
    #[serde(rename = "Bytes Written")]
    pub bytes: i64,
    #[serde(rename = "Records Written")]
    pub records: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ShuffleRead {
    #[serde(rename = "Remote Bytes Read")]
    pub remote_bytes: i64,
    #[serde(rename = "Local Bytes Read")]
    pub local_bytes: i64,
    #[serde(rename = "Total Records Read")]
    pub records: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ShuffleWrite {
    #[serde(rename = "Shuffle Bytes Written")]
    pub bytes: i64,
    #[serde(rename = "Shuffle Records Written")]
    pub records: i64,
}

#[derive(Deserialize)]
pub struct SqlStart {
    #[serde(rename = "executionId")]
    pub id: i64,
    #[serde(rename = "rootExecutionId")]
    pub root: Option<i64>,
    pub description: Option<String>,
    #[serde(deserialize_with = "millis")]
    pub time: Millis,
    #[serde(rename = "queryId")]
    pub query_id: Option<String>,
}

#[derive(Deserialize)]
pub struct SqlEnd {
    #[serde(rename = "executionId")]
    pub id: i64,
    #[serde(deserialize_with = "millis")]
    pub time: Millis,
    #[serde(rename = "errorMessage")]
    pub error: Option<String>,
}

/// The event types read, by their `Event` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    LogStart,
    AppStart,
    AppEnd,
    Environment,
    JobStart,
    JobEnd,
    StageSubmitted,
    StageCompleted,
    TaskStart,
    TaskEnd,
    SqlStart,
    SqlEnd,
}

impl Kind {
    pub fn of(event: &str) -> Option<Kind> {
        Some(match event {
            "SparkListenerLogStart" => Kind::LogStart,
            "SparkListenerApplicationStart" => Kind::AppStart,
            "SparkListenerApplicationEnd" => Kind::AppEnd,
            "SparkListenerEnvironmentUpdate" => Kind::Environment,
            "SparkListenerJobStart" => Kind::JobStart,
            "SparkListenerJobEnd" => Kind::JobEnd,
            "SparkListenerStageSubmitted" => Kind::StageSubmitted,
            "SparkListenerStageCompleted" => Kind::StageCompleted,
            "SparkListenerTaskStart" => Kind::TaskStart,
            "SparkListenerTaskEnd" => Kind::TaskEnd,
            "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart" => Kind::SqlStart,
            "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionEnd" => Kind::SqlEnd,
            _ => return None,
        })
    }
}

/// The `Event` of a line. Spark writes it first (`{"Event":"…",`), so it is read without
/// parsing the line; anything else is parsed for it.
pub fn event_name(line: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    const PREFIX: &[u8] = b"{\"Event\":\"";
    if let Some(rest) = line.strip_prefix(PREFIX) {
        if let Some(end) = rest.iter().position(|&b| b == b'"' || b == b'\\') {
            if rest[end] == b'"' {
                return std::str::from_utf8(&rest[..end]).ok().map(Into::into);
            }
        }
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "Event")]
        event: String,
    }
    serde_json::from_slice::<Head>(line)
        .ok()
        .map(|h| h.event.into())
}
