#!/usr/bin/env bash
# Installs a pinned, real dbt (dbt-core + dbt-duckdb) into a Python venv, for the end-to-end
# tests against examples/dbt. Idempotent: does nothing when the venv already has these versions.
#
#   tools/install-dbt.sh            # venv at target/dbt-venv (relative to the repo root)
#   RETRACE_DBT_VENV=/some/venv tools/install-dbt.sh
#
# The last line printed on stdout is the absolute path of the dbt executable.
#
# Everything comes from PyPI as wheels (--only-binary=:all:): no source build runs, so nothing is
# fetched from anywhere else at install time. dbt-core 1.11 is the newest line that allows this:
# 1.12 depends on dbt-core-experimental-parser, whose sdist downloads a binary while it builds.
# dbt >= 1.10 writes metadata.invocation_started_at into run_results.json.
set -euo pipefail

DBT_CORE_VERSION=1.11.16
DBT_DUCKDB_VERSION=1.11.1

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${RETRACE_DBT_VENV:-target/dbt-venv}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
DBT="$VENV/bin/dbt"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

die() { echo "install-dbt: $*" >&2; exit 1; }

# Every transitive dependency, pinned as resolved on the day these versions were chosen, so that
# a later release of some dependency cannot change or break the install.
constraints() {
  cat <<'EOF'
agate==1.9.1
annotated-types==0.8.0
attrs==26.1.0
babel==2.18.0
certifi==2026.10.18
charset-normalizer==3.5.2
click==8.5.1
colorama==0.4.6
daff==1.4.2
dbt-adapters==1.24.5
dbt-common==1.39.0
dbt-extractor==0.6.0
dbt-protos==1.0.615
dbt-semantic-interfaces==0.9.0
deepdiff==8.6.2
duckdb==2.0.0
idna==3.20
importlib_metadata==8.9.0
isodate==0.7.2
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
leather==0.4.1
MarkupSafe==3.0.4
mashumaro==3.14
more-itertools==10.8.0
msgpack==1.2.4
networkx==3.6.1
opentelemetry-api==1.45.2
orderly-set==5.5.0
packaging==26.3
parsedatetime==2.6
pathspec==0.12.1
protobuf==6.33.6
pydantic==2.14.3
pydantic_core==2.50.4
python-dateutil==2.9.0.post0
python-slugify==9.2.0
pytimeparse==1.1.10
pytz==2026.6
PyYAML==6.0.3
referencing==0.37.0
requests==2.34.2
rpds-py==2026.9.1
six==1.17.0
snowplow-tracker==1.1.0
sqlparse==0.6.1
text-unidecode==1.3
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
zipp==4.1.2
EOF
}

# True when $DBT runs and reports exactly the pinned dbt-core and duckdb plugin versions.
installed_ok() {
  [ -x "$DBT" ] || return 1
  local out
  out="$("$DBT" --version 2>/dev/null)" || return 1
  grep -Eq "installed:[[:space:]]+${DBT_CORE_VERSION//./\\.}([[:space:]]|$)" <<<"$out" \
    && grep -Eq "duckdb:[[:space:]]+${DBT_DUCKDB_VERSION//./\\.}([[:space:]]|$)" <<<"$out"
}

if installed_ok; then
  echo "install-dbt: dbt-core $DBT_CORE_VERSION + dbt-duckdb $DBT_DUCKDB_VERSION already in $VENV" >&2
  echo "$DBT"
  exit 0
fi

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3.10 or newer (e.g. apt-get install python3)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "dbt-core $DBT_CORE_VERSION needs Python >= 3.10; $PY is $("$PY" -V 2>&1)"
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 \
  || die "$PY has no venv/ensurepip module: install it (e.g. apt-get install python3-venv)"

echo "install-dbt: installing dbt-core $DBT_CORE_VERSION + dbt-duckdb $DBT_DUCKDB_VERSION into $VENV" >&2
if [ -e "$VENV" ]; then
  # Only ever replace a venv (ours, outdated or broken), never some other directory.
  [ -f "$VENV/pyvenv.cfg" ] || die "$VENV exists and is not a Python venv; remove it or set RETRACE_DBT_VENV"
  rm -rf "$VENV"
fi
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV" || die "could not create a venv at $VENV (is python3-venv installed?)"

CONSTRAINTS="$VENV/dbt-constraints.txt"
constraints >"$CONSTRAINTS"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --only-binary=:all: --constraint "$CONSTRAINTS" \
  "dbt-core==$DBT_CORE_VERSION" "dbt-duckdb==$DBT_DUCKDB_VERSION" >&2 \
  || die "pip install failed (dbt-core $DBT_CORE_VERSION, dbt-duckdb $DBT_DUCKDB_VERSION)"

installed_ok || die "$DBT does not report dbt-core $DBT_CORE_VERSION with duckdb $DBT_DUCKDB_VERSION after install"
echo "$DBT"
