#!/usr/bin/env bash
# WebSocket echo round trips: the shop's /ws (axum's WebSocketUpgrade)
# under plain axum::serve, rgi embedded, rgi-server -> 1 daemon, and
# nginx -> the same daemon binary (docs/deploy/nginx.conf, the file the
# interop test runs), in one run (issue: WebSocket and HTTP upgrades).
#
#   bash bench/websocket.sh
#
# Each row: bench/ws-echo with CONNS connections, each sending a 64-byte
# text message and waiting for its echo, for DURATION seconds; PASSES
# passes in alternating order. Targets: rgi-embedded >= 0.95x axum; the
# daemon rows >= 0.5x axum. The nginx row is left out when there is no
# /usr/sbin/nginx.
#
# Env: DURATION [8] seconds per run, PASSES [4], CONNS [32], SKIP_BUILD [unset].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-8}
PASSES=${PASSES:-4}
CONNS=${CONNS:-32}
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet -p shop -p ws-echo -p rgi-server
ROOT=$PWD
RESULTS=$(mktemp -d /tmp/rgi-ws-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$RESULTS"; }
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  local t
  for ((t = 0; t < 200; t++)); do
    curl -s -m 1 "http://127.0.0.1:$1${2:-}/api/products" | grep -q Teapot && return 0
    sleep 0.05
  done
  echo "nothing answers on port $1" >&2; exit 1
}

cd examples/shop
axum_port=$(free_port)
"$ROOT/target/bench-release/shop-axum" "127.0.0.1:$axum_port" >"$RESULTS/axum.log" 2>&1 & pids+=($!)
rgi_port=$(free_port)
RGI_BIND=127.0.0.1:$rgi_port RGI_LOG=warn "$ROOT/target/bench-release/shop" >"$RESULTS/rgi.log" 2>&1 & pids+=($!)
cd "$ROOT"

# rgi-server with one daemon of the shop.
server_port=$(free_port)
cat >"$RESULTS/rgi-server.toml" <<EOF
[groups.shop]
command = ["$ROOT/target/bench-release/shop"]
working-dir = "$ROOT/examples/shop"
processes = 1
[[mounts]]
prefix = "/"
group = "shop"
EOF
RGI_LOG=warn target/bench-release/rgi-server --config "$RESULTS/rgi-server.toml" --listen "127.0.0.1:$server_port" \
  >"$RESULTS/rgi-server.log" 2>&1 & pids+=($!)

declare -A port=([axum]=$axum_port [rgi-embedded]=$rgi_port [rgi-server]=$server_port)
declare -A prefix=([axum]="" [rgi-embedded]="" [rgi-server]="")
rows=(axum rgi-embedded rgi-server)

# nginx -> a shop daemon, configured by the deployment guide's own file.
if [[ -x /usr/sbin/nginx ]]; then
  chmod 755 "$RESULTS"
  mkdir -p "$RESULTS/run" "$RESULTS/logs"
  nginx_port=$(free_port)
  user=$([[ $(id -u) == 0 ]] && echo "user root;" || echo "")
  sed -e "s|/srv/myapp|$RESULTS|g" -e "s|127.0.0.1:8080|127.0.0.1:$nginx_port|" \
    -e "s|/run/myapp/fcgi.sock|$RESULTS/run/fcgi.sock|g" -e "s|^user www-data;|$user|" \
    docs/deploy/nginx.conf >"$RESULTS/nginx.conf"
  (cd examples/shop && RGI_FASTCGI="unix:$RESULTS/run/fcgi.sock" RGI_LOG=warn \
    exec "$ROOT/target/bench-release/shop" >"$RESULTS/daemon.log" 2>&1) & pids+=($!)
  /usr/sbin/nginx -p "$RESULTS" -c "$RESULTS/nginx.conf" -e "$RESULTS/logs/error.log" & pids+=($!)
  port[nginx]=$nginx_port
  prefix[nginx]=/app
  rows+=(nginx)
else
  echo "no /usr/sbin/nginx: the nginx row is left out" >&2
fi
for name in "${rows[@]}"; do wait_port "${port[$name]}" "${prefix[$name]}"; done

url() { echo "ws://127.0.0.1:${port[$1]}${prefix[$1]}/ws"; }
for name in "${rows[@]}"; do target/bench-release/ws-echo "$(url "$name")" "$CONNS" 2 >/dev/null; done
for ((pass = 1; pass <= PASSES; pass++)); do
  list=("${rows[@]}")
  if ! ((pass % 2)); then for ((i = 0; i < ${#rows[@]}; i++)); do list[i]=${rows[${#rows[@]} - 1 - i]}; done; fi
  for name in "${list[@]}"; do
    sleep 1
    target/bench-release/ws-echo "$(url "$name")" "$CONNS" "$DURATION" >"$RESULTS/$name.$pass"
    echo "pass $pass $name: $(cat "$RESULTS/$name.$pass")" >&2
  done
done
python3 - "$RESULTS" "$PASSES" "${rows[@]}" <<'PY'
import re, statistics, sys
res, passes, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
data = {}
for r in rows:
    rt, p50, p99 = [], [], []
    for p in range(1, passes + 1):
        m = re.search(r"round trips/s: (\d+) p50 us: (\d+) p99 us: (\d+)", open(f"{res}/{r}.{p}").read())
        rt.append(float(m.group(1))); p50.append(int(m.group(2))); p99.append(int(m.group(3)))
    data[r] = (statistics.mean(rt), statistics.stdev(rt) if len(rt) > 1 else 0.0, statistics.median(p50), statistics.median(p99))
base = data[rows[0]][0]
print(f"| server | round trips/s (mean of {passes}) | ± | ratio vs {rows[0]} | p50 µs | p99 µs |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    m, sd, p50, p99 = data[r]
    print(f"| {r} | {m:,.0f} | {sd:,.0f} | {m / base:.3f} | {p50:.0f} | {p99:.0f} |")
PY
