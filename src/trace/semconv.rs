//! The shared vocabulary: attribute names more than one format (or the builder, or the runner)
//! writes — OpenTelemetry conventions, `pipeline.*` and `retrace.*`. A format's own names
//! live with the format (`source/<format>`); the README's attribute tables mirror both.

// CI/CD semantic conventions (https://opentelemetry.io/docs/specs/semconv/cicd/).
pub const CICD_PIPELINE_NAME: &str = "cicd.pipeline.name";
pub const CICD_PIPELINE_RUN_ID: &str = "cicd.pipeline.run.id";
pub const CICD_PIPELINE_RESULT: &str = "cicd.pipeline.result";
pub const CICD_TASK_NAME: &str = "cicd.pipeline.task.name";
pub const CICD_TASK_RUN_ID: &str = "cicd.pipeline.task.run.id";
pub const CICD_TASK_RUN_RESULT: &str = "cicd.pipeline.task.run.result";
pub const ERROR_TYPE: &str = "error.type";

// General conventions.
pub const DB_QUERY_TEXT: &str = "db.query.text";

// Data volume (no official convention yet; shared by every source).
pub const PIPELINE_RECORDS_WRITTEN: &str = "pipeline.records.written";
pub const PIPELINE_BYTES_PROCESSED: &str = "pipeline.bytes.processed";

// retrace's own.
pub const RETRACE_TIME_SOURCE: &str = "retrace.time_source";
pub const RETRACE_TIME_ADJUSTED: &str = "retrace.time.adjusted";
/// Attempts a runner step made (only on steps with a retry policy).
pub const RETRACE_STEP_ATTEMPTS: &str = "retrace.step.attempts";

// General conventions used by several sources.
pub const EXCEPTION_EVENT: &str = "exception";
pub const EXCEPTION_TYPE: &str = "exception.type";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
pub const PROCESS_EXIT_CODE: &str = "process.exit.code";
pub const PROCESS_EXECUTABLE_NAME: &str = "process.executable.name";
pub const PROCESS_PID: &str = "process.pid";
pub const LOG_FILE_PATH: &str = "log.file.path";

// The names of Dagu's own live spans (`DAG: <name>`, `Step: <name>`), which the Dagu format
// and retrace's Dagu-compatible runner both write.
pub const DAG_NAME: &str = "dag.name";
pub const DAG_RUN_ID: &str = "dag.run_id";
pub const DAG_PARENT_RUN_ID: &str = "dag.parent_run_id";
pub const DAG_PARENT_NAME: &str = "dag.parent_name";
pub const DAG_STATUS: &str = "dag.status";
pub const STEP_NAME: &str = "step.name";
pub const STEP_STATUS: &str = "step.status";
pub const STEP_EXIT_CODE: &str = "step.exit_code";
