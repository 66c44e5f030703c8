//! The attribute names the Airflow format writes: those of Airflow 3.2+'s own task_run
//! spans, plus the task-instance fields they lack. The shared ones are in `trace::semconv`.

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
