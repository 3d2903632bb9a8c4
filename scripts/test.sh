#!/usr/bin/env bash
# The whole test suite on a fresh machine: system packages, virtualenv, linters, type checks,
# layering contracts, then pytest on SQLite and a throw-away PostgreSQL cluster.
# Extra arguments go to pytest (e.g. scripts/test.sh -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
  | { grep -v "^WARNING: Location" || true; }

# axe-core for the accessibility checks of the web pages (tests/e2e/web), from the npm registry.
if [ ! -f .cache/node/node_modules/axe-core/axe.min.js ]; then
  npm install --prefix .cache/node --no-audit --no-fund --silent axe-core@4.14
fi

echo "== ruff"; .venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest"
.venv/bin/pytest -n 2 -m "not slow" "$@"
