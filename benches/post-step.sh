#!/usr/bin/env bash
# Whole-process latency of the dbt post-step: convert fixtures/dbt/04-build (39 nodes + the
# manifest beside it) and deliver to a local collector, per protocol. Needs hyperfine and a
# collector listening on $GRPC (default 127.0.0.1:4317) and $HTTP (default 127.0.0.1:4318).
set -euo pipefail
cd "$(dirname "$0")/.."
GRPC=${GRPC:-127.0.0.1:4317}
HTTP=${HTTP:-127.0.0.1:4318}
cargo build --release --locked
bin=target/release/retrace
art=fixtures/dbt/04-build/run_results.json
hyperfine -N --warmup 5 --runs ${RUNS:-50} \
  "$bin dbt $art -q --exporter none" \
  "$bin dbt $art -q --protocol grpc --endpoint http://$GRPC" \
  "$bin dbt $art -q --protocol http/protobuf --endpoint http://$HTTP/v1/traces" \
  "$bin dbt $art -q --protocol http/json --endpoint http://$HTTP/v1/traces"
