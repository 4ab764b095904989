#!/usr/bin/env bash
# rgi-dev: "edit -> new response served" against a plain `cargo build` of
# the same edit (issue: dev server). Target: rgi-dev adds at most 300 ms.
#
#   bash bench/dev.sh
#
# Env: EDITS [5] edits measured each way. The measuring is in bench/dev.py
# (its docstring says how); needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
cargo build --release --quiet -p rgi-dev
exec python3 bench/dev.py
