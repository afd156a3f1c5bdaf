#!/usr/bin/env bash
# README command 1: set everything up, then run the demo on an embedded DuckDB file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mlm-core demo "$@"
