//! Airflow scheduler output: `TaskInstance Finished` / `DagRun Finished` lines, in text and
//! structlog forms.

use super::*;

pub(super) fn scheduler_log(
    path: &Path,
    text: &str,
    origin: usize,
    out: &mut Records,
) -> Result<(), SourceError> {
    let value = |kv: &HashMap<String, String>, k: &str| {
        kv.get(k).filter(|v| !v.is_empty() && *v != "None").cloned()
    };
    let date =
        |kv: &HashMap<String, String>, k: &str, n: usize| -> Result<Option<Time>, SourceError> {
            value(kv, k)
                .map(|v| {
                    timestamp(&v, RANK_TI_DATE)
                        .map_err(|e| SourceError::new(path, format!("line {n}: {k}: {e}")))
                })
                .transpose()
        };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some((_, rest)) = line.split_once("TaskInstance Finished: ") {
            let kv = key_values(rest);
            let (Some(dag_id), Some(task_id), Some(run_id)) = (
                value(&kv, "dag_id"),
                value(&kv, "task_id"),
                value(&kv, "run_id"),
            ) else {
                return Err(SourceError::new(
                    path,
                    format!("line {n}: TaskInstance Finished without dag_id/task_id/run_id"),
                ));
            };
            out.tries.push(TryRec {
                dag_id,
                run_id: Some(run_id),
                task_id,
                map_index: value(&kv, "map_index")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(-1),
                try_number: value(&kv, "try_number").and_then(|m| m.parse().ok()),
                state: value(&kv, "state").map(|s| (s, STATE_SCHEDULER)),
                start: date(&kv, "run_start_date", n)?,
                end: date(&kv, "run_end_date", n)?,
                queued_when: value(&kv, "queued_dttm"),
                duration: value(&kv, "run_duration").and_then(|d| d.parse().ok()),
                operator: value(&kv, "operator"),
                pool: value(&kv, "pool"),
                queue: value(&kv, "queue"),
                executor: value(&kv, "executor"),
                ti_id: value(&kv, "ti_id"),
                pid: value(&kv, "pid").and_then(|p| p.parse().ok()),
                priority_weight: value(&kv, "priority_weight").and_then(|p| p.parse().ok()),
                max_tries: value(&kv, "max_tries").and_then(|p| p.parse().ok()),
                origin,
                ..Default::default()
            });
        } else if let Some((_, rest)) = line.split_once("DagRun Finished: ") {
            let kv = key_values(rest);
            let (Some(dag_id), Some(run_id)) = (value(&kv, "dag_id"), value(&kv, "run_id")) else {
                return Err(SourceError::new(
                    path,
                    format!("line {n}: DagRun Finished without dag_id/run_id"),
                ));
            };
            out.runs.push(RunRec {
                dag_id,
                run_id,
                state: value(&kv, "state").map(|s| (s, STATE_SCHEDULER)),
                start: date(&kv, "run_start_date", n)?,
                end: date(&kv, "run_end_date", n)?,
                run_type: value(&kv, "run_type"),
                logical_date: value(&kv, "logical_date").or_else(|| value(&kv, "execution_date")),
                data_interval_start: value(&kv, "data_interval_start"),
                data_interval_end: value(&kv, "data_interval_end"),
                ..Default::default()
            });
        }
    }
    Ok(())
}
