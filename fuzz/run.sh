#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 120) one after another and prints each one's
# executions and findings. Needs a nightly toolchain and cargo-fuzz (see CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-120}
[ -d corpus ] || ./seed.sh
cargo +nightly fuzz build -O
for t in $(cargo +nightly fuzz list); do
  mkdir -p corpus/"$t" artifacts/"$t"
  log=artifacts/$t.log
  set +e
  cargo +nightly fuzz run -O "$t" -- -max_total_time="$secs" -max_len=1048576 \
    -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  found=$(ls artifacts/"$t" 2>/dev/null | wc -l)
  echo "$t: exit $rc, $execs executions, coverage $cov, $found findings"
done
