#!/usr/bin/env bash
# Every performance target of rgi in one run, one table (issue:
# performance v2). Each section measures its rows in alternating order,
# with the ratio against the section's baseline measured in the same run.
#
#   bash bench/all.sh            # about 6 minutes on 2 cores (defaults)
#
# Sections (baseline first):
#   hello               hyper, rgi-embedded, rgi-server (-> 2 hello daemons,
#                       threads = 1): req/s, CPU per request, RSS and PSS of
#                       each server's whole process tree
#   hello-1000          the same with 1,000 connections (wrk -t2); compare
#                       each row with its own "hello" figure
#   no-keepalive        hyper, rgi-embedded, a new connection per request
#   static-4k           nginx (sendfile on) and an rgi-server static mount,
#                       the same 4 KiB file
#   static-100m         the same, a 100 MiB file, 4 connections (MB/s)
#   response-1m         the shop's streamed 1 MiB (/big): embedded, and
#                       through rgi-server -> 1 shop daemon (MB/s)
#   upload-1m           1 MiB POSTs to the echo example (it reads and hashes
#                       them): embedded, and through rgi-server -> 1 daemon
#                       (MB/s: the uploads')
#   nginx-fastcgi       nginx -> php-fpm (pm=static, 2 children), nginx ->
#                       1 hello daemon with fastcgi_keep_conn (php-fpm row
#                       skipped without php-fpm: apt-get install php-fpm)
#
# Env: DURATION [5] seconds per run, PASSES [3], WARMUP [1] seconds,
#      SKIP_BUILD [unset], KEEP_RESULTS [unset].
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
# Three passes: this kind of machine varies 10-30% from run to run, and
# two passes let one slow one move a ratio by half that.
PASSES=${PASSES:-3}
WARMUP=${WARMUP:-1}
source bench/lib.sh
[[ -x /usr/sbin/nginx ]] || { echo "nginx not found: apt-get install nginx-light" >&2; exit 1; }
[[ -n ${SKIP_BUILD:-} ]] || cargo build --profile bench-release --quiet \
  -p hello -p hyper-hello -p rgi-server -p shop -p echo
began=$SECONDS
nginx_setup
trap stop_servers EXIT
export BENCH_COLLECT=$RESULTS/all.jsonl
bin=$ROOT/target/bench-release

# The files both static servers serve.
www=$RESULTS/www
mkdir -p "$www"
echo ready >"$www/ready.txt"
head -c 4096 /dev/urandom >"$www/4k.bin"
head -c $((100 << 20)) /dev/urandom >"$www/100m.bin"
chmod -R a+rX "$www"

# hello: raw hyper, embedded, rgi-server -> 2 daemons.
start_server hyper "$bin/hyper-hello" "$(free_port)"
port=$(free_port)
RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_server rgi-embedded "$bin/hello" "$port"
hello_group "$bin" >"$RUN/rgi-server.toml"
port=$(free_port)
RGI_LOG=warn start_cmd rgi-server "$port" "$bin/rgi-server" --config "$RUN/rgi-server.toml" --listen "127.0.0.1:$port"

# nginx -> a hello daemon, kept connections; nginx -> php-fpm.
port=$(free_port)
sock=$RUN/nginx-rgi-keep/hello.sock
nginx_conf nginx-rgi-keep "$port" "upstream rgi { server unix:$sock; keepalive 32; }" \
  "fastcgi_keep_conn on; fastcgi_pass rgi;"
[[ -z $nginx_user ]] || chown www-data:www-data "$RUN/nginx-rgi-keep"
RGI_FASTCGI=unix:$sock RGI_THREADS=1 RGI_LOG=warn nginx_with nginx-rgi-keep "$port" "$sock" "${as_user[@]}" "$bin/hello"
fastcgi_rows="nginx-rgi-keep"
fastcgi_base=nginx-rgi-keep
if start_nginx_phpfpm; then fastcgi_rows="nginx-phpfpm nginx-rgi-keep"; fastcgi_base=nginx-phpfpm; fi

# Static files: nginx with sendfile, and rgi-server's static mount. The
# same rgi-server has the shop and echo groups for the body sections.
BENCH_PATH=/static/ready.txt BENCH_READY=ready
port=$(free_port)
mkdir -p "$RUN/nginx-static/tmp"
cat >"$RUN/nginx-static/nginx.conf" <<EOF
$nginx_user
daemon off;
worker_processes 2;
pid $RUN/nginx-static/nginx.pid;
error_log $RUN/nginx-static/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $RUN/nginx-static/tmp;
    server {
        # reuseport: the kernel spreads connections over both workers;
        # without it one worker may get most of wrk's 32 and nginx's
        # figure swings between about 70,000 and 128,000 req/s.
        listen 127.0.0.1:$port reuseport;
        location /static/ { alias $www/; }
    }
}
EOF
start_cmd nginx-static "$port" /usr/sbin/nginx -p "$RUN/nginx-static" -c "$RUN/nginx-static/nginx.conf" \
  -e "$RUN/nginx-static/error.log"
cat >"$RUN/rgi-bodies.toml" <<EOF
[groups.shop]
command = ["$bin/shop"]
working-dir = "$ROOT/examples/shop"
processes = 1

[groups.echo]
command = ["$bin/echo"]
processes = 1

[[mounts]]
prefix = "/static"
static = "$www"

[[mounts]]
prefix = "/shop"
group = "shop"

[[mounts]]
prefix = "/echo"
group = "echo"
EOF
port=$(free_port)
RGI_LOG=warn start_cmd rgi-server-bodies "$port" "$bin/rgi-server" --config "$RUN/rgi-bodies.toml" \
  --listen "127.0.0.1:$port"

# The shop and echo examples embedded, for the body sections' baselines.
BENCH_PATH=/api/products BENCH_READY=Teapot
port=$(free_port)
cd examples/shop # ServeDir("static") is relative
RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_server shop-embedded "$bin/shop" "$port"
cd "$ROOT"
BENCH_PATH=/ BENCH_READY=REQUEST_METHOD
port=$(free_port)
RGI_BIND=127.0.0.1:$port RGI_LOG=warn start_server echo-embedded "$bin/echo" "$port"

section() { # NAME BASELINE ROWS [PATH]
  export BENCH_SECTION=$1
  echo "== $1" >&2
  BENCH_PATH=${4:-/}
  measure_rows "$2" "$3" >"$RESULTS/$1.table"
}

section hello hyper "hyper rgi-embedded rgi-server"
CONNS=1000 WRK_THREADS=2 section hello-1000 hyper "hyper rgi-embedded rgi-server"
WRK_ARGS=(-H "Connection: close")
section no-keepalive hyper "hyper rgi-embedded"
WRK_ARGS=()
section static-4k nginx-static "nginx-static rgi-server-bodies" /static/4k.bin
CONNS=4 section static-100m nginx-static "nginx-static rgi-server-bodies" /static/100m.bin
BENCH_URL_PATH[rgi-server-bodies]="/shop/big?kib=1024"
section response-1m shop-embedded "shop-embedded rgi-server-bodies" "/big?kib=1024"
BENCH_URL_PATH[rgi-server-bodies]=/echo/
WRK_ARGS=(-s bench/post-1mib.lua)
section upload-1m echo-embedded "echo-embedded rgi-server-bodies" /
WRK_ARGS=()
unset 'BENCH_URL_PATH[rgi-server-bodies]'
section nginx-fastcgi "$fastcgi_base" "$fastcgi_rows"

python3 - "$BENCH_COLLECT" "$PASSES" "$DURATION" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    # An upload's MiB go the other way: one per request.
    if r["section"] == "upload-1m":
        r["mbps"] = r["rps"] * 1.0
print(f"| section | server | req/s | ± | MB/s | ratio | p50 ms | p99 ms | CPU µs/req | RSS MiB | PSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['section']} | {r['row']} | {r['rps']:,.0f} | {r['sd']:,.0f} | {r['mbps']:,.1f} | {r['ratio']:.3f} "
          f"| {r['p50']:.3f} | {r['p99']:.3f} | {r['cpu_us']:.1f} | {r['rss']:.1f} | {r['pss']:.1f} |")
by = {(r["section"], r["row"]): r for r in rows}
print()
print("1,000 connections against 32, per row: req/s ratio, p99 ratio")
for name in ("hyper", "rgi-embedded", "rgi-server"):
    a, b = by.get(("hello", name)), by.get(("hello-1000", name))
    if a and b:
        print(f"- {name}: {b['rps'] / a['rps']:.2f}x req/s, {b['p99'] / a['p99']:.2f}x p99")
PY
echo "(bench/all.sh: ratios per section against its first row; $PASSES passes of $DURATION s; took $((SECONDS - began)) s)"
