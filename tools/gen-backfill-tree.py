#!/usr/bin/env python3
"""Write a tree of scaled dbt runs for backfill benchmarks.

  gen-backfill-tree.py SRC_RUN_RESULTS.json OUT_DIR [RUNS [NODES_PER_RUN]] [--seed S] [--threads T]

Writes OUT_DIR/run-00001/run_results.json ... run-RUNS/run_results.json (defaults 1000 runs x
1000 nodes, ~1M spans). Each is the source scaled by tools/gen-run-results.py, with its own seed,
a fresh invocation_id (UUID4 from a seeded RNG) and every time shifted one day further back per
run (run-00001 at the source's date, run-00002 a day earlier, ...), so the runs span months of
history. Deterministic for a seed.
"""
import argparse
import importlib.util
import json
import os
import random
import sys
import uuid

DAY_US = 86_400 * 1_000_000


def _load_gen():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-run-results.py")
    spec = importlib.util.spec_from_file_location("gen_run_results", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description="Write OUT_DIR/run-NNNNN/run_results.json scaled dbt runs.")
    ap.add_argument("src")
    ap.add_argument("out_dir")
    ap.add_argument("runs", nargs="?", type=int, default=1000)
    ap.add_argument("nodes", nargs="?", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    if a.runs < 1 or a.nodes < 1:
        sys.exit("gen-backfill-tree: RUNS and NODES_PER_RUN must be >= 1")
    gen = _load_gen()
    with open(a.src) as fh:
        tpl = gen.prepare(json.load(fh))
    rng = random.Random(a.seed)
    width = max(5, len(str(a.runs)))
    for k in range(1, a.runs + 1):
        invocation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc = gen.scale(tpl, a.nodes, seed=rng.getrandbits(32), threads=a.threads,
                        invocation_id=invocation_id, shift_us=-(k - 1) * DAY_US)
        run_dir = os.path.join(a.out_dir, f"run-{k:0{width}d}")
        os.makedirs(run_dir, exist_ok=True)
        gen.dump(doc, os.path.join(run_dir, "run_results.json"))
    print(f"gen-backfill-tree: {a.runs} runs x {a.nodes} nodes -> {a.out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
