//! Every attribute name retrace writes, once. Sources and the trace builder use these
//! constants; the README's attribute table mirrors this file.

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

// dbt.
pub const DBT_INVOCATION_ID: &str = "dbt.invocation_id";
pub const DBT_VERSION: &str = "dbt.version";
pub const DBT_COMMAND: &str = "dbt.command";
pub const DBT_INVOCATION_COMMAND: &str = "dbt.invocation_command";
pub const DBT_SCHEMA_VERSION: &str = "dbt.schema_version";
pub const DBT_ELAPSED_TIME: &str = "dbt.elapsed_time";
pub const DBT_PROJECT_NAME: &str = "dbt.project_name";
pub const DBT_TARGET: &str = "dbt.target";
pub const DBT_SELECT: &str = "dbt.select";
pub const DBT_EXCLUDE: &str = "dbt.exclude";
pub const DBT_THREADS: &str = "dbt.threads";
pub const DBT_ENV_PREFIX: &str = "dbt.env.";
pub const DBT_NODE_ID: &str = "dbt.node_id";
pub const DBT_NODE_NAME: &str = "dbt.node_name";
pub const DBT_RESOURCE_TYPE: &str = "dbt.resource_type";
pub const DBT_STATUS: &str = "dbt.status";
pub const DBT_MESSAGE: &str = "dbt.message";
pub const DBT_THREAD_ID: &str = "dbt.thread_id";
pub const DBT_EXECUTION_TIME: &str = "dbt.execution_time";
pub const DBT_FAILURES: &str = "dbt.failures";
pub const DBT_PHASE: &str = "dbt.phase";
pub const DBT_MATERIALIZED: &str = "dbt.materialized";
pub const DBT_DATABASE: &str = "dbt.database";
pub const DBT_SCHEMA: &str = "dbt.schema";
pub const DBT_ALIAS: &str = "dbt.alias";
pub const DBT_RELATION_NAME: &str = "dbt.relation_name";
pub const DBT_PACKAGE_NAME: &str = "dbt.package_name";
pub const DBT_ORIGINAL_FILE_PATH: &str = "dbt.original_file_path";
pub const DBT_TAGS: &str = "dbt.tags";
pub const DBT_TEST_SEVERITY: &str = "dbt.test.severity";
pub const DBT_ADAPTER_CODE: &str = "dbt.adapter_response.code";
pub const DBT_ADAPTER_MESSAGE: &str = "dbt.adapter_response.message";
pub const DBT_ADAPTER_QUERY_ID: &str = "dbt.adapter_response.query_id";
pub const DBT_ADAPTER_ROWS_AFFECTED: &str = "dbt.adapter_response.rows_affected";
pub const DBT_BATCHES_SUCCESSFUL: &str = "dbt.microbatch.batches.successful";
pub const DBT_BATCHES_FAILED: &str = "dbt.microbatch.batches.failed";
pub const DBT_BATCHES_FAILED_WINDOWS: &str = "dbt.microbatch.failed_windows";
pub const DBT_FRESHNESS_MAX_LOADED_AT: &str = "dbt.freshness.max_loaded_at";
pub const DBT_FRESHNESS_SNAPSHOTTED_AT: &str = "dbt.freshness.snapshotted_at";
pub const DBT_FRESHNESS_AGE_S: &str = "dbt.freshness.max_loaded_at_time_ago_in_s";
pub const DBT_FRESHNESS_WARN_AFTER: &str = "dbt.freshness.warn_after";
pub const DBT_FRESHNESS_ERROR_AFTER: &str = "dbt.freshness.error_after";
pub const DBT_WARNING_EVENT: &str = "dbt.warning";
