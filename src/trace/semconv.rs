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
/// Attempts a runner step made (only on steps with a retry policy).
pub const RETRACE_STEP_ATTEMPTS: &str = "retrace.step.attempts";

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

// General conventions used by several sources.
pub const EXCEPTION_EVENT: &str = "exception";
pub const EXCEPTION_TYPE: &str = "exception.type";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
pub const PROCESS_EXIT_CODE: &str = "process.exit.code";
pub const PROCESS_EXECUTABLE_NAME: &str = "process.executable.name";
pub const PROCESS_PID: &str = "process.pid";
pub const LOG_FILE_PATH: &str = "log.file.path";

// Airflow (names of Airflow 3.2+'s own task_run spans, plus the TI fields they lack).
pub const AIRFLOW_DAG_ID: &str = "airflow.dag_id";
pub const AIRFLOW_TASK_ID: &str = "airflow.task_id";
pub const AIRFLOW_DAG_RUN_ID: &str = "airflow.dag_run.run_id";
pub const AIRFLOW_DAG_RUN_STATE: &str = "airflow.dag_run.state";
pub const AIRFLOW_DAG_RUN_TYPE: &str = "airflow.dag_run.run_type";
pub const AIRFLOW_DAG_RUN_LOGICAL_DATE: &str = "airflow.dag_run.logical_date";
pub const AIRFLOW_DAG_RUN_QUEUED_AT: &str = "airflow.dag_run.queued_at";
pub const AIRFLOW_DAG_RUN_DATA_INTERVAL_START: &str = "airflow.dag_run.data_interval_start";
pub const AIRFLOW_DAG_RUN_DATA_INTERVAL_END: &str = "airflow.dag_run.data_interval_end";
pub const AIRFLOW_DAG_RUN_TRIGGERED_BY: &str = "airflow.dag_run.triggered_by";
pub const AIRFLOW_TI_TRY_NUMBER: &str = "airflow.task_instance.try_number";
pub const AIRFLOW_TI_MAP_INDEX: &str = "airflow.task_instance.map_index";
pub const AIRFLOW_TI_STATE: &str = "airflow.task_instance.state";
pub const AIRFLOW_TI_ID: &str = "airflow.task_instance.id";
pub const AIRFLOW_TI_OPERATOR: &str = "airflow.task_instance.operator";
pub const AIRFLOW_TI_HOSTNAME: &str = "airflow.task_instance.hostname";
pub const AIRFLOW_TI_POOL: &str = "airflow.task_instance.pool";
pub const AIRFLOW_TI_QUEUE: &str = "airflow.task_instance.queue";
pub const AIRFLOW_TI_EXECUTOR: &str = "airflow.task_instance.executor";
pub const AIRFLOW_TI_QUEUED_WHEN: &str = "airflow.task_instance.queued_when";
pub const AIRFLOW_TI_DURATION: &str = "airflow.task_instance.duration";
pub const AIRFLOW_TI_PID: &str = "airflow.task_instance.pid";
pub const AIRFLOW_TI_PRIORITY_WEIGHT: &str = "airflow.task_instance.priority_weight";
pub const AIRFLOW_TI_MAX_TRIES: &str = "airflow.task_instance.max_tries";

// Dagu. `dag.*` / `step.*` are the names of Dagu's own live spans (`DAG: <name>`,
// `Step: <name>`); `dagu.*` are what retrace adds from the status file.
pub const DAG_NAME: &str = "dag.name";
pub const DAG_RUN_ID: &str = "dag.run_id";
pub const DAG_PARENT_RUN_ID: &str = "dag.parent_run_id";
pub const DAG_PARENT_NAME: &str = "dag.parent_name";
pub const DAG_STATUS: &str = "dag.status";
pub const STEP_NAME: &str = "step.name";
pub const STEP_STATUS: &str = "step.status";
pub const STEP_EXIT_CODE: &str = "step.exit_code";
pub const DAGU_ATTEMPT_ID: &str = "dagu.attempt_id";
pub const DAGU_TRIGGER_TYPE: &str = "dagu.trigger_type";
pub const DAGU_AUTO_RETRY_COUNT: &str = "dagu.auto_retry_count";
pub const DAGU_LABELS: &str = "dagu.labels";
pub const DAGU_DAG_ERROR: &str = "dagu.dag.error";
pub const DAGU_STEP_ERROR: &str = "dagu.step.error";
pub const DAGU_STEP_HANDLER: &str = "dagu.step.handler";
pub const DAGU_STEP_RETRY_COUNT: &str = "dagu.step.retry_count";
pub const DAGU_STEP_DONE_COUNT: &str = "dagu.step.done_count";
pub const DAGU_STEP_SKIPPED_BY_RETRY: &str = "dagu.step.skipped_by_retry";
pub const DAGU_STEP_CHILD_RUN_IDS: &str = "dagu.step.child_run_ids";
pub const DAGU_STEP_RETRY_EVENT: &str = "dagu.step.retry";

// dotflow (the names of dotflow's own TracerOpenTelemetry spans).
pub const DOTFLOW_WORKFLOW_ID: &str = "dotflow.workflow_id";
pub const DOTFLOW_TASKS_COUNT: &str = "dotflow.tasks_count";
pub const DOTFLOW_TASK_ID: &str = "dotflow.task_id";
pub const DOTFLOW_TASK_STATUS: &str = "dotflow.task.status";
pub const DOTFLOW_TASK_DURATION: &str = "dotflow.task.duration";
pub const DOTFLOW_TASK_RETRY_COUNT: &str = "dotflow.task.retry_count";
/// retrace's own: one event per retried attempt, at the time of its `Retry` log line.
pub const DOTFLOW_RETRY_EVENT: &str = "dotflow.task.retry";
