#!/usr/bin/env bash
# rgi embedded vs raw hyper, hello world, in one run (issue: embedded adapter).
#
#   bash bench/embedded.sh
#
# Builds examples/hello and bench/hyper-hello (profile bench-release), starts both on
# 127.0.0.1 (ports the OS leaves free), warms each up, then runs wrk against
# each in turn for PASSES passes (keep-alive, CONNS connections; the order
# alternates every pass to spread drift), and prints one markdown table:
# mean req/s, the ratio against raw hyper, p50/p99 latency and peak RSS.
# Target: rgi embedded >= 0.95x raw hyper req/s.
#
# Env: DURATION [8] seconds per run, PASSES [4], CONNS [32], WRK_THREADS [1],
#      WARMUP [2] seconds, SKIP_BUILD [unset].
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet -p hello -p hyper-hello

start_server hyper target/bench-release/hyper-hello "$(free_port)"
port=$(free_port); RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_server rgi-embedded target/bench-release/hello "$port"
trap stop_servers EXIT
measure_rows "hyper" "hyper rgi-embedded"
