#!/usr/bin/env bash
# Seeds each fuzz target's corpus with the real artifacts in fixtures/ (targets that cover
# several file kinds take a leading byte that picks the kind, see src/lib.rs split_name).
set -euo pipefail
cd "$(dirname "$0")"
fx=../fixtures
seed() { # target [prefix-byte] files...
  local target=$1 prefix=$2; shift 2
  mkdir -p "corpus/$target"
  local f
  for f in "$@"; do
    local out
    out="corpus/$target/seed-$(printf '%s' "$f" | sha1sum | cut -c1-16)"
    if [ -n "$prefix" ]; then
      { printf "\\x$prefix"; cat "$f"; } > "$out"
    else
      cp "$f" "$out"
    fi
  done
}
seed dbt_run_results "" $(find $fx/dbt -name run_results.json)
seed dbt_sources "" $(find $fx/dbt -name sources.json)
seed dbt_manifest "" $(find $fx/dbt -name manifest.json -size -2M)
seed airflow 00 $(find $fx/airflow -name 'attempt=*.log')
seed airflow 01 $(find $fx/airflow -name '*.json' -not -path '*/otel/*')
seed airflow 02 $(find $fx/airflow -path '*scheduler*' -type f)
seed dagu 00 $(find $fx/dagu -name status.jsonl)
seed dagu 01 $(find $fx/dagu -name '*.dat')
seed dotflow 00 $(find $fx/dotflow -name flow.log)
seed dotflow 01 $(find $fx/dotflow -name workflow_result.json)
seed records "" $(find $fx/records -name '*.jsonl')
mkdir -p corpus/traceparent corpus/timestamps
printf '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\nrojo=00f067aa0ba902b7,congo=t61rcWkgMzE' > corpus/traceparent/seed-1
printf '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' > corpus/traceparent/seed-2
printf 'cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra' > corpus/traceparent/seed-3
for t in '2024-05-07T00:12:02.120458Z' '2024-05-07T00:12:02.120458+00:00' '2024-05-07 00:12:02,120' \
         '2024-03-10T02:30:00' '2024-11-03T01:30:00.5' '1715040722.120458'; do
  printf '%s' "$t" > "corpus/timestamps/seed-$(printf '%s' "$t" | sha1sum | cut -c1-16)"
done
for d in corpus/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done
