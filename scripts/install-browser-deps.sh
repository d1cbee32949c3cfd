#!/usr/bin/env bash
# What the dashboard's browser tests (tests/dashboard) need beyond .venv, from package registries
# only: Debian's Chromium (driven by Playwright, which never downloads a browser of its own) and
# the npm packages of package-lock.json (axe-core). Safe to run again: it installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Debian's chromium is missing: as root, run: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

if [ ! -f node_modules/axe-core/axe.min.js ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is missing: install Node.js and npm (apt-get install -y nodejs npm), then run npm ci" >&2
    exit 1
  fi
  npm ci --no-audit --no-fund
fi
