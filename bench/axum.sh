#!/usr/bin/env bash
# A real axum site's JSON route under plain axum::serve, rgi embedded and
# rgi's daemon mode, in one run (issue: real applications unchanged).
#
#   bash bench/axum.sh
#
# Rows, all serving examples/shop's GET /api/products (a JSON list from
# shared state, through tower-http's compression, timeout, body-limit and
# panic layers; wrk asks for no compression):
#   axum               shop-axum: the router under axum::serve (the baseline)
#   rgi-embedded       shop, RGI_BIND: the same router through rgi
#   rgi-server         rgi-server (FRONT_THREADS threads) -> 1 shop daemon
#                      (DAEMON_THREADS threads): on 2 cores shared with wrk,
#                      one thread each spends the least CPU per request
#
# The CPU column is the CPU time of each server's whole process tree
# (front and daemon together) per request served.
# Targets: rgi-embedded >= 0.95x axum req/s; rgi-server's CPU per request
# <= 2x rgi-embedded's.
#
# Env: DURATION [8] seconds per run, PASSES [4], CONNS [32], WRK_THREADS [1],
#      WARMUP [2] seconds, SKIP_BUILD [unset], DAEMON_THREADS [1],
#      FRONT_THREADS [1].
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_PATH=/api/products
BENCH_READY=Teapot
source bench/lib.sh
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet -p shop -p rgi-server
RUN=$RESULTS/run
mkdir -p "$RUN"
trap stop_servers EXIT

# The shop serves static files relative to its directory.
cd examples/shop
port=$(free_port)
start_cmd axum "$port" "$ROOT/target/bench-release/shop-axum" "127.0.0.1:$port"
port=$(free_port)
RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_cmd rgi-embedded "$port" "$ROOT/target/bench-release/shop"
cat >"$RUN/rgi-server.toml" <<TOML
[server]
threads = ${FRONT_THREADS:-1}

[groups.shop]
command = ["$ROOT/target/bench-release/shop"]
working-dir = "$ROOT/examples/shop"
processes = 1
threads = ${DAEMON_THREADS:-1}

[[mounts]]
prefix = "/"
group = "shop"
TOML
port=$(free_port)
RGI_LOG=warn start_cmd rgi-server "$port" "$ROOT/target/bench-release/rgi-server" --config "$RUN/rgi-server.toml" --listen "127.0.0.1:$port"
cd "$ROOT"

measure_rows axum "axum rgi-embedded rgi-server"
