#!/usr/bin/env bash
# The HTML report in a real browser: installs Chromium from the distribution's packages when
# it is missing, then runs the ignored browser tests (tests/it/browser.rs) with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
browser="${RETRACE_BROWSER:-}"
if [ -z "$browser" ]; then
  browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
fi
if [ -z "$browser" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  browser="$(command -v chromium)"
fi
RETRACE_BROWSER="$browser" cargo test --locked --test it browser:: -- --ignored "$@"
