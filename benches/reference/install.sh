#!/usr/bin/env bash
# Creates target/bench-venv (at the repo root) with the pinned OpenTelemetry Python SDK used by
# the reference converter, and prints the venv's python. Fast no-op when the venv already holds
# exactly these requirements.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/bench-venv"
req="$here/requirements.txt"
stamp="$venv/requirements.installed.txt"
py="$venv/bin/python"

if [[ -x "$py" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
  echo "$py"
  exit 0
fi

rm -rf "$venv"
mkdir -p "$root/target"
python3 -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check --only-binary :all: -r "$req"
"$py" -m pip check >&2
cp "$req" "$stamp"
echo "$py"
