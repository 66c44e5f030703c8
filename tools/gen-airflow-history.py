#!/usr/bin/env python3
"""A history of N Airflow runs from one real run's task logs, for the memory benchmark
(benches/README.md): each copy gets its own run id, in its folder name and in its lines.

usage: tools/gen-airflow-history.py RUN_LOG_DIR OUT N
  RUN_LOG_DIR  a .../dag_id=<dag>/run_id=<run> folder of task logs
  OUT          written as OUT/dag_id=<dag>/run_id=<run>-<i>/...
"""
import os
import sys


def main() -> None:
    src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    src = src.rstrip("/")
    run_dir = os.path.basename(src)
    dag_dir = os.path.basename(os.path.dirname(src))
    run_id = run_dir.split("=", 1)[1]
    files = []
    for root, _, names in os.walk(src):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "r", encoding="utf-8") as f:
                files.append((os.path.relpath(path, src), f.read()))
    for i in range(n):
        new_id = f"{run_id}-{i:05d}"
        base = os.path.join(out, dag_dir, f"run_id={new_id}")
        for rel, text in files:
            path = os.path.join(base, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(run_id, new_id))
    print(f"gen-airflow-history: {n} runs of {len(files)} logs -> {out}")


if __name__ == "__main__":
    main()
