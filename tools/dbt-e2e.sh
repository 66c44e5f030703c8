#!/usr/bin/env bash
# The dbt post-step against a real dbt: installs the pinned dbt into target/dbt-venv (once),
# then runs the ignored end-to-end test tests/it/dbt_e2e.rs with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dbt="$(tools/install-dbt.sh | tail -n1)"
RETRACE_DBT="$dbt" cargo test --locked --test it dbt_e2e:: -- --ignored "$@"
