#!/usr/bin/env bash
# Headless Chromium for the browser test: Debian's `chromium` package, installed when missing.
#
#   scripts/browser.sh          install if needed, then print the browser's path and version
#
# Playwright drives it through `executable_path` (Playwright's own browser download is not used).
# CHROMIUM overrides the path; as a non-root user without the package this fails with a hint.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "chromium not found at $CHROMIUM; install it as root: apt-get install -y chromium" >&2
    exit 1
  fi
  echo "installing Debian's chromium (headless browser for tests/integration/test_browser.py)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

echo "$CHROMIUM: $("$CHROMIUM" --headless --no-sandbox --version 2>/dev/null || echo unknown)"
