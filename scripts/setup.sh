#!/usr/bin/env bash
# Sets up everything in ./.venv: Python dependencies and the release build of the Rust extension.
# Re-running it reuses the venv and cargo's build cache (a rebuild after a change takes seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
python -m pip install --quiet --disable-pip-version-check --upgrade pip "maturin>=1.7,<2"
# --extras test brings pytest, hypothesis, mypy and ruff beside numpy, pyarrow and duckdb.
maturin develop --release --extras test --quiet
