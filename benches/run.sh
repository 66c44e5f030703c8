#!/usr/bin/env bash
# Whole-process benchmarks P1–P5 (benches/README.md), against the Python reference where it
# applies, all delivering over OTLP/gRPC to the same counting receiver on 127.0.0.1.
#
#   benches/run.sh            # everything (about 10 minutes on 2 cores)
#   benches/run.sh P1 P3      # some of it
#   benches/run.sh P5         # the Spark event log alone (1 GB generated; no Python reference)
#
# Needs hyperfine and GNU time (/usr/bin/time). Generated inputs go to target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
PORT=${PORT:-24317}
work=target/bench
mkdir -p "$work"
parts=("$@")
has() { [ ${#parts[@]} -eq 0 ] || [[ " ${parts[*]} " == *" $1 "* ]]; }

cargo build --release --locked --quiet
cargo build --release --locked --quiet --example otlp_count
benches/reference/install.sh > /dev/null
bin=target/release/retrace
py=target/bench-venv/bin/python
ref="$py benches/reference/convert_run_results.py"
src=fixtures/dbt/04-build/run_results.json
endpoint=(--endpoint "http://127.0.0.1:$PORT" --protocol grpc)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/Mem:/ {print $2}') GiB; $($bin --version); $($py --version)"

count=$work/count.txt
target/release/examples/otlp_count "127.0.0.1:$PORT" "$count" &
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT
sleep 0.3
spans() { cut -d' ' -f1 "$count"; }
# Checks that the receiver got exactly $1 more spans than $2.
delivered() {
  local got=$(( $(spans) - $2 ))
  [ "$got" -eq "$1" ] || { echo "!! expected $1 spans delivered, got $got" >&2; exit 1; }
}

if has P1; then
  [ -f $work/rr-20k.json ] || python3 tools/gen-run-results.py $src 20000 $work/rr-20k.json
  echo; echo "== P1: 20,000-node run_results.json ($(du -h $work/rr-20k.json | cut -f1)) delivered over gRPC"
  before=$(spans)
  $bin dbt $work/rr-20k.json -q "${endpoint[@]}"
  delivered 20001 "$before"
  before=$(spans)
  $ref $work/rr-20k.json --endpoint "127.0.0.1:$PORT" 2>/dev/null
  delivered 20001 "$before"
  hyperfine -N --warmup 2 --runs "$RUNS" --export-markdown $work/p1.md \
    -n "retrace dbt (gRPC)" "$bin dbt $work/rr-20k.json -q ${endpoint[*]}" \
    -n "retrace dbt --exporter none (parse+build)" "$bin dbt $work/rr-20k.json -q --exporter none" \
    -n "python json.load" "$py -c 'import json,sys; json.load(open(sys.argv[1]))' $work/rr-20k.json" \
    -n "reference (Python OTel SDK, gRPC)" "$ref $work/rr-20k.json --endpoint 127.0.0.1:$PORT"
fi

if has P2; then
  echo; echo "== P2: backfill of R runs x 1,000 nodes (1,001 spans each) over gRPC"
  for runs in 100 1000; do
    tree=$work/tree-$runs
    [ -d "$tree" ] || python3 tools/gen-backfill-tree.py $src "$tree" "$runs" 1000
    before=$(spans)
    /usr/bin/time -f "  $runs runs: %e s wall, %U s user, %S s sys, peak RSS %M KB" \
      $bin backfill "$tree" -q "${endpoint[@]}"
    delivered $(( runs * 1001 )) "$before"
  done
fi

if has P3; then
  echo; echo "== P3: post-step, 04-build (40 spans) delivered over gRPC"
  hyperfine -N --warmup 5 --runs $(( RUNS * 5 )) --export-markdown $work/p3.md \
    -n "retrace dbt (gRPC)" "$bin dbt $src -q ${endpoint[*]}" \
    -n "reference (Python OTel SDK, gRPC)" "$ref $src --endpoint 127.0.0.1:$PORT"
fi

if has P4; then
  echo; echo "== P4: runner, 200 chained steps running 'true', spans delivered live"
  flow=$work/flow-200.yaml
  { echo "name: bench-200"; echo "type: chain"; echo "steps:"
    for i in $(seq 1 200); do echo "  - name: s$i"; echo "    command: \"true\""; done; } > "$flow"
  hyperfine -N --warmup 2 --runs "$RUNS" --export-markdown $work/p4.md \
    --prepare "rm -rf $work/p4" \
    -n "retrace run (200 steps)" "$bin run $flow -q --records $work/p4/run.jsonl --log-dir $work/p4/logs ${endpoint[*]}" \
    -n "shell loop (200 x sh -c true)" "sh -c 'for i in \$(seq 1 200); do sh -c true; done'"
fi

if has P5; then
  echo; echo "== P5: Spark, a 1 GB event log (a real log scaled: 210 copies of its jobs, 20x the tasks)"
  log=$work/spark/local-1796090155073
  [ -f "$log" ] || { mkdir -p $work/spark
    python3 tools/gen-spark-log.py fixtures/spark/b-failures-retries/local-1796090155073 "$log" 1000 20; }
  [ -f "$log.zstd" ] || zstd -q -3 "$log" -o "$log.zstd"
  before=$(spans)
  $bin spark "$log" -q "${endpoint[@]}"
  delivered 6091 "$before"
  mb=$(( $(stat -c %s "$log") / 1000000 ))
  for input in "$log" "$log.zstd"; do
    for _ in 1 2 3; do
      /usr/bin/time -f "%e s wall, %M KB peak RSS" $bin spark "$input" --exporter none -q
    done 2>&1 | sort -n | head -1 | sed "s|^|$(basename "$input") ($mb MB decompressed): best of 3: |"
  done
fi
