#!/usr/bin/env python3
"""Scales a real Spark event log into a big one, for benchmarks (benches/README.md "Spark").

    tools/gen-spark-log.py SOURCE_LOG OUT_FILE TARGET_MB [TASK_COPIES]

The source's application header is written once; its body (SQL executions, jobs, stages and
tasks) is repeated, each copy with fresh job, stage, task and SQL execution ids and its times
moved after the previous copy's, and every task of a stage is there TASK_COPIES times (default
20) under fresh task ids, as a stage with more partitions would have. Lines stay Spark's own
(re-serialised compactly, as Spark writes them). Stops after the copy that reaches TARGET_MB.
"""
import json
import sys

HEADER = {
    "SparkListenerLogStart", "SparkListenerResourceProfileAdded", "SparkListenerExecutorAdded",
    "SparkListenerBlockManagerAdded", "SparkListenerEnvironmentUpdate",
    "SparkListenerApplicationStart",
}
TIME_KEYS = ("Timestamp", "Submission Time", "Completion Time", "time")
TASK_TIME_KEYS = ("Launch Time", "Finish Time", "Getting Result Time")


def main():
    source, out, target_mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
    copies = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    header, body, end = [], [], None
    for line in open(source, encoding="utf-8"):
        event = json.loads(line)
        name = event["Event"]
        if name == "SparkListenerApplicationEnd":
            end = event
        elif name in HEADER and not body:
            header.append(event)
        else:
            body.append(event)
    times = [t for e in body for t in all_times(e)]
    first, last = min(times), max(times)
    span = last - first + 1000
    counts = {"job": 1 + max_of(body, "Job ID"), "stage": 1 + max_of_stage(body),
              "sql": 1 + max_of(body, "executionId")}
    dump = lambda e: json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n"
    written = 0
    next_task = 0
    with open(out, "w", encoding="utf-8") as f:
        for e in header:
            f.write(dump(e))
        r = 0
        while written < target_mb * 1e6:
            shift = r * span
            task_ids = {}
            for e in body:
                name = e["Event"]
                if name in ("SparkListenerTaskStart", "SparkListenerTaskEnd",
                            "SparkListenerTaskGettingResult"):
                    for k in range(copies):
                        key = (e["Task Info"]["Task ID"], k)
                        if key not in task_ids:
                            task_ids[key] = next_task
                            next_task += 1
                        c = renumber(e, r, counts, shift, copies)
                        c["Task Info"]["Task ID"] = task_ids[key]
                        c["Task Info"]["Index"] = c["Task Info"]["Index"] * copies + k
                        line = dump(c)
                        f.write(line)
                        written += len(line)
                else:
                    line = dump(renumber(e, r, counts, shift, copies))
                    f.write(line)
                    written += len(line)
            r += 1
        if end is not None:
            end = dict(end)
            end["Timestamp"] = end["Timestamp"] + (r - 1) * span
            f.write(dump(end))
    print(f"{out}: {r} copies of the body, {next_task} tasks, {written / 1e6:.0f} MB")


def all_times(e):
    for k in TIME_KEYS:
        if isinstance(e.get(k), int):
            yield e[k]
    info = e.get("Task Info") or {}
    for k in TASK_TIME_KEYS:
        if info.get(k):
            yield info[k]


def max_of(body, key):
    return max((e[key] for e in body if isinstance(e.get(key), int)), default=0)


def max_of_stage(body):
    ids = [e["Stage ID"] for e in body if "Stage ID" in e]
    ids += [e["Stage Info"]["Stage ID"] for e in body if "Stage Info" in e]
    return max(ids, default=0)


def renumber(e, r, counts, shift, copies):
    e = json.loads(json.dumps(e))  # a deep copy
    job, stage, sql = r * counts["job"], r * counts["stage"], r * counts["sql"]
    for k in TIME_KEYS:
        if isinstance(e.get(k), int) and e[k] > 0:
            e[k] += shift
    if "Job ID" in e:
        e["Job ID"] += job
    if "Stage IDs" in e:
        e["Stage IDs"] = [s + stage for s in e["Stage IDs"]]
    for info in e.get("Stage Infos", []) + ([e["Stage Info"]] if "Stage Info" in e else []):
        info["Stage ID"] += stage
        info["Parent IDs"] = [p + stage for p in info.get("Parent IDs", [])]
        # The stage has `copies` times the partitions: its tasks' indexes stay in range.
        if isinstance(info.get("Number of Tasks"), int):
            info["Number of Tasks"] *= copies
        for k in ("Submission Time", "Completion Time"):
            if info.get(k):
                info[k] += shift
    if "Stage ID" in e:
        e["Stage ID"] += stage
    info = e.get("Task Info")
    if info:
        for k in TASK_TIME_KEYS:
            if info.get(k):
                info[k] += shift
    props = e.get("Properties") or {}
    for k in ("spark.sql.execution.id", "spark.sql.execution.root.id"):
        if k in props:
            props[k] = str(int(props[k]) + sql)
    for k in ("executionId", "rootExecutionId"):
        if isinstance(e.get(k), int):
            e[k] += sql
    return e


if __name__ == "__main__":
    main()
