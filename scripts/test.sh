#!/usr/bin/env bash
# README command 2: set everything up, then run cargo test, the linters, the stub check and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== cargo test (kernel crate)"
cargo test --quiet -p mlm_kernel
echo "== ruff, mypy, stubtest"
ruff check python tests benches
mypy
python -m mypy.stubtest mlm_core._mlm_core
echo "== pytest"
python -m pytest -q "$@"
