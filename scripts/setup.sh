#!/usr/bin/env bash
# Sets up a virtual environment in .venv with everything langtrack needs (no ROS needed).
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh [--dev | --ros]
# --ros: also ROS 2 Kilted from PyPI (rclpy, Fast DDS) and langtrack_msgs built into .venv; --dev implies it.
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
# -c constraints.txt: the exact versions the committed results were measured with (see its header)
pip install -q -c constraints.txt -r requirements.txt
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
  pip install -q -c constraints.txt -r requirements-dev.txt
  pip install -q --no-deps got10k==0.1.3
fi
pip install -q --no-deps -e .
if { [ "${1:-}" = "--dev" ] || [ "${1:-}" = "--ros" ]; } && [ "$(uname -sm)" != "Linux x86_64" ]; then
  echo "setup: PyPI has ROS 2 wheels for Linux x86_64 only: skipping them (the real-node tests will skip)" >&2
elif [ "${1:-}" = "--dev" ] || [ "${1:-}" = "--ros" ]; then
  # rclpy in .venv itself: ros-wheels-bootstrapper re-executes this venv's python with LD_LIBRARY_PATH
  pip install -q -r requirements-ros.txt || { echo "setup: installing the ROS 2 wheels (requirements-ros.txt) failed" >&2; exit 1; }
  python scripts/build_ros_msgs.py || exit 1  # cached: skipped while langtrack_msgs is unchanged
  if [ "${1:-}" = "--dev" ]; then  # test-only stand-in for vision_msgs (not on PyPI), cached
    python test/vision_msgs_fixture.py || exit 1
  fi
fi
echo "langtrack environment ready: . .venv/bin/activate" >&2
