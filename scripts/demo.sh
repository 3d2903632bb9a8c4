#!/usr/bin/env bash
# Install and start the demo: embedded SQLite database, demo data, server on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/ykt demo "$@"
