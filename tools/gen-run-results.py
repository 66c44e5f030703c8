#!/usr/bin/env python3
"""Scale a real dbt run_results.json to N results, for benchmarks.

  gen-run-results.py SRC_RUN_RESULTS.json N OUT.json [--seed S] [--threads T]

Cycles through the source's worker results (project hooks, thread `main`, stay once at the
start and end), gives each output result a unique unique_id (`_000123` appended to the last
segment, the `type.package.` prefix kept), and lays them out on T worker threads (default 4):
each result goes to the thread that frees up first, keeps its own timing durations (and the gap
between its compile and execute), and follows that thread's previous result after a small
seeded gap. Results are written in completion order, as dbt does, with matching `thread_id`s.
Every other field (compiled_code, adapter_response, message, failures, relation_name, ...) is
kept as the source has it. metadata.generated_at / invocation_started_at (when the source has
it) and elapsed_time are rewritten to cover the new span range, keeping the source's lead-in
(parse) and tail. Output is one line of JSON, like dbt writes. Deterministic for a seed.

Import `prepare` + `scale` (or `scale_run_results`) from here to generate in bulk
(tools/gen-backfill-tree.py does).
"""
import argparse
import heapq
import json
import random
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def parse_us(ts):
    """ISO-8601 ('Z', '+00:00' or naive UTC) -> integer microseconds since the epoch."""
    dt = datetime.fromisoformat(ts)
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return (dt - EPOCH) // _US


def format_us(us):
    """Microseconds since the epoch -> dbt's run_results form (naive isoformat + 'Z')."""
    return (EPOCH + timedelta(microseconds=us)).isoformat() + "Z"


def _is_hook(result):
    return result.get("thread_id") == "main" or result["unique_id"].startswith("operation.")


def prepare(src):
    """Parse the source once: per result, its timing as offsets from its own first start."""
    meta = src["metadata"]
    gen = parse_us(meta["generated_at"])
    elapsed_us = int(round(float(src.get("elapsed_time") or 0) * 1e6))
    entries = []
    first = last = None
    for r in src["results"]:
        timing = r.get("timing") or []
        rel = []
        base = None
        for t in timing:
            s = parse_us(t["started_at"]) if t.get("started_at") else None
            c = parse_us(t["completed_at"]) if t.get("completed_at") else None
            if base is None and s is not None:
                base = s
            rel.append((t, s, c))
        offsets = []
        span = 0
        for t, s, c in rel:
            so = None if s is None else s - base
            co = None if c is None or base is None else c - base
            offsets.append((t, so, co))
            span = max(span, so or 0, co or 0)
        if base is not None:
            first = base if first is None else min(first, base)
            last = max(last if last is not None else base, base + span)
        exec_us = int(round(float(r.get("execution_time") or 0) * 1e6))
        entries.append({"result": r, "offsets": offsets, "timed": base is not None,
                        "span": span, "busy": max(span, exec_us), "hook": _is_hook(r)})
    if first is None:  # nothing timed: pretend the run executed at its end
        first = last = gen
    head, tail = 0, len(entries)
    while head < tail and entries[head]["hook"]:
        head += 1
    while tail > head and entries[tail - 1]["hook"]:
        tail -= 1
    return {
        "src": src,
        "pre": entries[:head],
        "body": entries[head:tail],
        "post": entries[tail:],
        "first_start": first,
        # dbt's elapsed_time starts a little before the first node (on-run-start); keep that lead-in
        "lead": max(0, first - (gen - elapsed_us)),
        # and the bit between the last node's end and generated_at
        "tail": max(0, gen - last),
        # parse time before execution, when dbt records the invocation's own start (1.10+)
        "parse": (max(0, (gen - elapsed_us) - parse_us(meta["invocation_started_at"]))
                  if meta.get("invocation_started_at") else None),
    }


def _place(entry, start, thread_id, uid):
    r = entry["result"]
    out = dict(r)
    out["unique_id"] = uid
    out["thread_id"] = thread_id
    if entry["timed"]:
        timing = []
        for t, so, co in entry["offsets"]:
            nt = dict(t)
            if so is not None:
                nt["started_at"] = format_us(start + so)
            if co is not None:
                nt["completed_at"] = format_us(start + co)
            timing.append(nt)
        out["timing"] = timing
    else:
        out["timing"] = [dict(t) for t in r.get("timing") or []]
    return out


def scale(tpl, n, seed=0, threads=4, invocation_id=None, shift_us=0):
    """A new run_results document with n results laid out from the prepared template `tpl`.

    shift_us moves every time (node timings and metadata) by that many microseconds;
    invocation_id replaces metadata.invocation_id when given."""
    rng = random.Random(seed)
    src = tpl["src"]
    pre, body, post = tpl["pre"], tpl["body"], tpl["post"]
    if not body or n < len(pre) + len(post) + 1:  # too small to keep hooks apart: plain cycle
        pre, body, post = [], pre + body + post, []
    n_body = n - len(pre) - len(post)
    width = max(6, len(str(n - 1)))

    def uid(entry, i):
        return f"{entry['result']['unique_id']}_{i:0{width}d}"

    start = tpl["first_start"] + shift_us
    clock = start
    out = []
    idx = 0
    for e in pre:  # on-run-start hooks, serially on the main thread
        out.append(_place(e, clock, e["result"].get("thread_id") or "main", uid(e, idx)))
        clock += e["busy"] + rng.randint(200, 1500)
        idx += 1

    # worker pool: each result goes to the thread that frees up first
    free = [(clock + rng.randint(0, 500), k) for k in range(1, threads + 1)]
    heapq.heapify(free)
    placed = []  # (completion time, order, result)
    nb = len(body)
    for j in range(n_body):
        e = body[j % nb]
        t_free, k = heapq.heappop(free)
        node_start = t_free + rng.randint(100, 1000)
        res = _place(e, node_start, f"Thread-{k} (worker)", uid(e, idx))
        if e["timed"]:  # listed by its last completed_at; the thread is busy for execution_time
            placed.append((node_start + e["span"], idx, res))
            heapq.heappush(free, (node_start + e["busy"], k))
        else:  # skipped: no time of its own, reported when the thread picks it up
            placed.append((node_start, idx, res))
            heapq.heappush(free, (node_start, k))
        idx += 1
    placed.sort(key=lambda p: (p[0], p[1]))
    out.extend(p[2] for p in placed)
    clock = max([t for t, _ in free] + [clock])  # every worker is done

    for e in post:  # on-run-end hooks
        clock += rng.randint(200, 1500)
        out.append(_place(e, clock, e["result"].get("thread_id") or "main", uid(e, idx)))
        clock += e["busy"]
        idx += 1

    gen = clock + tpl["tail"]  # clock = the latest completion of any placed result
    exec_start = start - tpl["lead"]
    doc = dict(src)
    meta = dict(src["metadata"])
    meta["generated_at"] = format_us(gen)
    if tpl["parse"] is not None:
        meta["invocation_started_at"] = format_us(exec_start - tpl["parse"])
    if invocation_id is not None:
        meta["invocation_id"] = invocation_id
    doc["metadata"] = meta
    doc["results"] = out
    doc["elapsed_time"] = (gen - exec_start) / 1e6
    if isinstance(src.get("args"), dict) and "threads" in src["args"]:
        doc["args"] = dict(src["args"], threads=threads)
    return doc


def scale_run_results(src, n, seed=0, threads=4, invocation_id=None, shift_us=0):
    return scale(prepare(src), n, seed=seed, threads=threads, invocation_id=invocation_id, shift_us=shift_us)


def dump(doc, path):
    """One line, default separators: the way dbt writes its artifacts."""
    with open(path, "w") as fh:
        fh.write(json.dumps(doc))


def main():
    ap = argparse.ArgumentParser(description="Scale a dbt run_results.json to N results.")
    ap.add_argument("src")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    if a.n < 1 or a.threads < 1:
        sys.exit("gen-run-results: N and --threads must be >= 1")
    with open(a.src) as fh:
        src = json.load(fh)
    if not src.get("results"):
        sys.exit("gen-run-results: source has no results")
    dump(scale_run_results(src, a.n, seed=a.seed, threads=a.threads), a.out)


if __name__ == "__main__":
    main()
