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
# The HTML report is tested in a real headless Chromium (Debian's package). Installed when missing and this
# machine may (root with apt-get); without it that one test is skipped and says why.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
    && [ -z "${MLM_NO_CHROMIUM:-}" ]; then
  (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 \
    && apt-get install -y -qq chromium >/dev/null 2>&1; }) || echo "setup: chromium not installed (report test will skip)"
fi
