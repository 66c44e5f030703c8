//! The attribute names of Spark spans (README "Spark"). Shared vocabulary (`pipeline.*`,
//! `cicd.*`) comes from `trace::semconv`.

pub const APP_ID: &str = "spark.app.id";
pub const APP_NAME: &str = "spark.app.name";
pub const APP_ATTEMPT_ID: &str = "spark.app.attempt_id";
pub const APP_USER: &str = "spark.app.user";
pub const APP_EXIT_CODE: &str = "spark.app.exit_code";
pub const VERSION: &str = "spark.version";
pub const MASTER: &str = "spark.master";
pub const DEPLOY_MODE: &str = "spark.submit.deploy_mode";
/// The log ended before the application did (`.inprogress`, a killed driver): spans still
/// open there end at the log's last event, their times marked derived.
pub const INCOMPLETE: &str = "retrace.run.incomplete";
/// The log is still named in progress (`.inprogress`, or a rolling folder's appstatus): the
/// application was running when it was read, or its driver died; Spark cannot tell which.
pub const APP_IN_PROGRESS: &str = "spark.app.in_progress";
pub const OPEN_AT_END: &str = "spark.open_at_log_end";

pub const SQL_EXECUTION_ID: &str = "spark.sql.execution.id";
pub const SQL_ROOT_EXECUTION_ID: &str = "spark.sql.execution.root_id";
pub const SQL_DESCRIPTION: &str = "spark.sql.execution.description";
pub const SQL_QUERY_ID: &str = "spark.sql.query.id";

pub const JOB_ID: &str = "spark.job.id";
pub const JOB_RESULT: &str = "spark.job.result";
pub const JOB_GROUP: &str = "spark.job.group";
pub const JOB_DESCRIPTION: &str = "spark.job.description";
pub const JOB_CALL_SITE: &str = "spark.job.call_site";
pub const JOB_STAGE_IDS: &str = "spark.job.stage_ids";
pub const JOB_POOL: &str = "spark.scheduler.pool";
pub const STREAMING_QUERY_ID: &str = "spark.streaming.query.id";
pub const STREAMING_BATCH_ID: &str = "spark.streaming.batch_id";

pub const STAGE_ID: &str = "spark.stage.id";
pub const STAGE_ATTEMPT_ID: &str = "spark.stage.attempt_id";
pub const STAGE_NAME: &str = "spark.stage.name";
pub const STAGE_NUM_TASKS: &str = "spark.stage.num_tasks";
pub const STAGE_PARENT_IDS: &str = "spark.stage.parent_ids";
pub const STAGE_TASKS: &str = "spark.stage.tasks";
pub const STAGE_TASKS_FAILED: &str = "spark.stage.tasks.failed";
pub const STAGE_TASKS_KILLED: &str = "spark.stage.tasks.killed";
pub const STAGE_TASKS_SPECULATIVE: &str = "spark.stage.tasks.speculative";
pub const STAGE_TASKS_RUNNING_AT_END: &str = "spark.stage.tasks.running_at_log_end";
pub const STAGE_TASK_FAILURES_NOT_SHOWN: &str = "spark.stage.task_failures_not_shown";
pub const STAGE_RUN_TIME: &str = "spark.stage.executor_run_time_ms";
pub const STAGE_CPU_TIME: &str = "spark.stage.executor_cpu_time_ms";
pub const STAGE_GC_TIME: &str = "spark.stage.jvm_gc_time_ms";
pub const STAGE_INPUT_BYTES: &str = "spark.stage.input.bytes";
pub const STAGE_OUTPUT_BYTES: &str = "spark.stage.output.bytes";
pub const STAGE_SHUFFLE_READ_BYTES: &str = "spark.stage.shuffle.read.bytes";
pub const STAGE_SHUFFLE_READ_RECORDS: &str = "spark.stage.shuffle.read.records";
pub const STAGE_SHUFFLE_WRITE_BYTES: &str = "spark.stage.shuffle.write.bytes";
pub const STAGE_SHUFFLE_WRITE_RECORDS: &str = "spark.stage.shuffle.write.records";
pub const STAGE_MEMORY_SPILLED: &str = "spark.stage.memory_spilled_bytes";
pub const STAGE_DISK_SPILLED: &str = "spark.stage.disk_spilled_bytes";
pub const STAGE_TASK_P50: &str = "spark.stage.task_duration_ms.p50";
pub const STAGE_TASK_P95: &str = "spark.stage.task_duration_ms.p95";
pub const STAGE_TASK_MAX: &str = "spark.stage.task_duration_ms.max";
pub const PIPELINE_RECORDS_READ: &str = "pipeline.records.read";

pub const TASK_ID: &str = "spark.task.id";
pub const TASK_INDEX: &str = "spark.task.index";
pub const TASK_ATTEMPT: &str = "spark.task.attempt";
pub const TASK_PARTITION: &str = "spark.task.partition_id";
pub const TASK_RUN_TIME: &str = "spark.task.executor_run_time_ms";
pub const TASK_TYPE: &str = "spark.task.type";
pub const TASK_LOCALITY: &str = "spark.task.locality";
pub const TASK_SPECULATIVE: &str = "spark.task.speculative";
pub const TASK_END_REASON: &str = "spark.task.end_reason";
pub const EXECUTOR_ID: &str = "spark.executor.id";
pub const HOST_NAME: &str = "host.name";

/// The event on a stage for each task attempt that failed.
pub const TASK_FAILED_EVENT: &str = "spark.task.failed";
/// The event on a stage for each task attempt that was killed (a speculative attempt that
/// lost, a cancelled stage, a lost executor's attempts that Spark killed).
pub const TASK_KILLED_EVENT: &str = "spark.task.killed";
