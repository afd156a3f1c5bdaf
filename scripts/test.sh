#!/usr/bin/env bash
# README command 2: set everything up, then run cargo test, the linters, the stub check and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== cargo test (kernel crate)"
cargo test --quiet -p mlm_kernel
echo "== ruff, mypy, stubtest"
ruff check python tests benches scripts
mypy
python -m mypy.stubtest mlm_core._mlm_core
echo "== pytest"
echo "== doctests (the Examples sections of the package's docstrings)"
python -m pytest -q -p no:cacheprovider --doctest-modules --ignore=python/mlm_core/__main__.py python/mlm_core
echo "== pytest: tests, and every benchmark once with its result checked (timing off)"
python -m pytest -q tests benches "$@"
