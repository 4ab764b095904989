#!/usr/bin/env bash
# rgi's daemon mode next to raw hyper and rgi embedded, hello world, in one
# run (issue: daemon adapter).
#
#   bash bench/daemon.sh
#
# Rows:
#   hyper              bench/hyper-hello, the ceiling (the baseline: ratio 1)
#   rgi-embedded       examples/hello, RGI_BIND
#   rgi-server         rgi-server -> 2 hello daemons (threads = 1 each)
#   rgi-server-tls     the same over https (TLS 1.3, HTTP/1.1; test certificate)
#   nginx-rgi          nginx (2 workers, a new FastCGI connection per
#                      request, as a stock site) -> 1 hello daemon, 1 thread
#   nginx-rgi-keep     the same with fastcgi_keep_conn and upstream keepalive
#   nginx-phpfpm       the same nginx -> php-fpm, pm=static, 2 children,
#                      hello.php (row skipped when php-fpm is not installed)
#
# Then, with h2load (apt-get install nghttp2-client), the same servers over
# HTTP/2: rgi-embedded and rgi-server with prior knowledge (h2c), and
# rgi-server-tls by ALPN h2, CONNS connections with 10 streams each, in a
# second table (ratios against rgi-embedded over h2c, same run).
#
# Targets: rgi-server >= 0.45x hyper; nginx-rgi >= 2x nginx-phpfpm; the
# rgi-server row's peak RSS (front + 2 daemons) <= 12 MiB.
#
# Env: DURATION [8] seconds per run, PASSES [4], CONNS [32], WRK_THREADS [1],
#      WARMUP [2] seconds, SKIP_BUILD [unset].
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
[[ -x /usr/sbin/nginx ]] || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet -p hello -p hyper-hello -p rgi-server
nginx_setup

trap stop_servers EXIT
rows="hyper rgi-embedded rgi-server rgi-server-tls nginx-rgi nginx-rgi-keep"

start_server hyper target/bench-release/hyper-hello "$(free_port)"

port=$(free_port)
RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_server rgi-embedded target/bench-release/hello "$port"

# The group both rgi-server rows serve.
hello_group "$ROOT/target/bench-release" >"$RUN/rgi-server.toml"
port=$(free_port)
RGI_LOG=warn start_cmd rgi-server "$port" target/bench-release/rgi-server --config "$RUN/rgi-server.toml" --listen "127.0.0.1:$port"

# The same, over TLS (HTTP/1.1, as wrk speaks it), with the test
# certificate: what TLS costs, in the same run.
port=$(free_port)
cat >"$RUN/rgi-server-tls.toml" <<EOF
[server]
tls-cert = "$ROOT/examples/tls/cert.pem"
tls-key = "$ROOT/examples/tls/key.pem"
tls-listen = ["127.0.0.1:$port"]

$(hello_group "$ROOT/target/bench-release")
EOF
BENCH_SCHEME[rgi-server-tls]=https
RGI_LOG=warn start_cmd rgi-server-tls "$port" target/bench-release/rgi-server --config "$RUN/rgi-server-tls.toml"

port=$(free_port)
sock=$RUN/nginx-rgi/hello.sock
nginx_conf nginx-rgi "$port" "" "fastcgi_pass unix:$sock;"
[[ -z $nginx_user ]] || chown www-data:www-data "$RUN/nginx-rgi"
RGI_FASTCGI=unix:$sock RGI_THREADS=1 RGI_LOG=warn nginx_with nginx-rgi "$port" "$sock" "${as_user[@]}" target/bench-release/hello

port=$(free_port)
sock=$RUN/nginx-rgi-keep/hello.sock
nginx_conf nginx-rgi-keep "$port" "upstream rgi { server unix:$sock; keepalive 32; }" \
  "fastcgi_keep_conn on; fastcgi_pass rgi;"
[[ -z $nginx_user ]] || chown www-data:www-data "$RUN/nginx-rgi-keep"
RGI_FASTCGI=unix:$sock RGI_THREADS=1 RGI_LOG=warn nginx_with nginx-rgi-keep "$port" "$sock" "${as_user[@]}" target/bench-release/hello

if start_nginx_phpfpm; then
  rows="$rows nginx-phpfpm"
fi

measure_rows hyper "$rows"

# HTTP/2: h2load, each row PASSES times for DURATION seconds.
if command -v h2load >/dev/null; then
  h2rows="rgi-embedded rgi-server rgi-server-tls"
  for ((pass = 1; pass <= PASSES; pass++)); do
    for name in $h2rows; do
      sleep 1
      h2load -c"$CONNS" -m10 -t"$WRK_THREADS" -D"$DURATION" \
        "${BENCH_SCHEME[$name]:-http}://127.0.0.1:${BENCH_PORT[$name]}/" >"$RESULTS/$name.h2.$pass" 2>&1 || true
      echo "pass $pass $name (h2): $(grep -o 'finished in [^,]*, [0-9.]* req/s' "$RESULTS/$name.h2.$pass")" >&2
    done
  done
  python3 - "$RESULTS" "$PASSES" $h2rows <<'PY'
import re, sys, statistics
res, passes, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
data = {}
for r in rows:
    rps, failed = [], 0
    for p in range(1, passes + 1):
        t = open(f"{res}/{r}.h2.{p}").read()
        m = re.search(r"finished in [^,]*, ([\d.]+) req/s", t)
        rps.append(float(m.group(1)) if m else 0.0)
        m = re.search(r"requests: .*?(\d+) failed, (\d+) errored", t)
        failed += int(m.group(1)) + int(m.group(2)) if m else 0
    data[r] = (statistics.mean(rps), statistics.stdev(rps) if len(rps) > 1 else 0.0, failed)
base = data[rows[0]][0] or 1.0
print()
print(f"| server over HTTP/2 | req/s (mean of {passes}) | ± | ratio vs {rows[0]} | failed |")
print("|---|---:|---:|---:|---:|")
for r in rows:
    m, sd, failed = data[r]
    print(f"| {r} | {m:,.0f} | {sd:,.0f} | {m / base:.3f} | {failed} |")
PY
else
  echo "h2load not installed (apt-get install nghttp2-client): HTTP/2 rows skipped" >&2
fi
