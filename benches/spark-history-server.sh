#!/usr/bin/env bash
# Times Spark's own History Server on the P5 log (benches/README.md "Spark"), for the ratio to
# `retrace spark`: the listing, then the replay that rebuilds the application's UI, which the
# first REST call for its jobs waits for. Installs pyspark (it ships the History Server) into
# target/bench-spark-venv; needs Java 17+, curl, and the log from `benches/run.sh P5`.
#
#   benches/spark-history-server.sh
set -euo pipefail
cd "$(dirname "$0")/.."
app=local-1796090155073
log=target/bench/spark/$app
[ -f "$log" ] || { echo "run benches/run.sh P5 first (it generates $log)" >&2; exit 2; }
venv=target/bench-spark-venv
[ -x $venv/bin/python ] || { python3 -m venv $venv && $venv/bin/pip install -q 'pyspark==4.3.0'; }
export SPARK_HOME=$($venv/bin/python -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir "$dir/logs" && ln -s "$PWD/$log" "$dir/logs/$app"
port=${PORT:-18080}
# No spark.history.store.path: the UI store is in memory, so nothing is cached between runs.
export SPARK_DAEMON_MEMORY=4g
export SPARK_HISTORY_OPTS="-Dspark.history.fs.logDirectory=file:$dir/logs -Dspark.history.ui.port=$port -Dspark.history.fs.update.interval=1s"
t0=$(date +%s.%N)
(cd "$dir" && exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.history.HistoryServer > hs.log 2>&1) &
pid=$!
until curl -sf "localhost:$port/api/v1/applications" 2>/dev/null | grep -q "$app"; do sleep 0.2; done
t1=$(date +%s.%N)
curl -sf "localhost:$port/api/v1/applications/$app/jobs" > /dev/null
t2=$(date +%s.%N)
rss=$(ps -o rss= -p "$(pgrep -f -n HistoryServer)")
echo "History Server: listed $(echo "$t1 - $t0" | bc) s after start; replay for the UI $(echo "$t2 - $t1" | bc) s; ${rss} KB RSS"
for _ in 1 2 3; do
  /usr/bin/time -f "%e s wall, %M KB peak RSS" target/release/retrace spark "$log" --exporter none -q
done 2>&1 | sort -n | head -1 | sed 's/^/retrace spark, best of 3: /'
