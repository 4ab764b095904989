#!/usr/bin/env bash
# Where a request's time goes on the daemon path (issue: performance v2):
# rgi-server -> 2 hello daemons (threads = 1) under wrk -t1 -c32, sampled
# with perf, and each process's CPU per request split into what it was
# doing. Also raw hyper, as the floor.
#
#   bash bench/profile.sh        # about 1 minute; needs perf (apt-get install linux-perf)
#
# Env: DURATION [8] seconds sampled, SKIP_BUILD [unset].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
command -v perf >/dev/null || { echo "perf not found: apt-get install linux-perf" >&2; exit 1; }
source bench/lib.sh
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet -p hello -p hyper-hello -p rgi-server
trap stop_servers EXIT
bin=$ROOT/target/bench-release

start_server hyper "$bin/hyper-hello" "$(free_port)"
hello_group "$bin" >"$RESULTS/rgi-server.toml"
port=$(free_port)
RGI_LOG=warn start_cmd rgi-server "$port" "$bin/rgi-server" --config "$RESULTS/rgi-server.toml" \
  --listen "127.0.0.1:$port"

for name in hyper rgi-server; do
  pids=$(tree_pids "${BENCH_PID[$name]}" | paste -sd,)
  run_wrk "$name" 2 >/dev/null
  run_wrk "$name" $((DURATION + 2)) >"$RESULTS/$name.wrk" &
  wrk_pid=$!
  sleep 1
  ticks=$(tree_cpu "${BENCH_PID[$name]}")
  perf record -q -F 2999 -g -p "$pids" -o "$RESULTS/$name.perf" -- sleep "$DURATION" 2>/dev/null
  ticks=$(($(tree_cpu "${BENCH_PID[$name]}") - ticks))
  wait "$wrk_pid"
  rps=$(awk '/^Requests\/sec/{print $2}' "$RESULTS/$name.wrk")
  cpu_us=$(python3 -c "print($ticks / $(getconf CLK_TCK) * 1e6 / ($rps * $DURATION))")
  printf '== %s: %.0f req/s, %.1f CPU µs per request (all its processes)\n' "$name" "$rps" "$cpu_us"
  perf report -i "$RESULTS/$name.perf" --no-children --sort comm,sym --stdio -g none 2>/dev/null |
    python3 bench/profile_buckets.py "$name" "$cpu_us"
done
