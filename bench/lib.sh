# Shared helpers for bench/*.sh (sourced, not run).
# start_server NAME CMD... PORT   (PORT last; it is passed when the command takes it)
# measure_rows BASELINE "ROW..."  runs wrk per row and prints the table.
# BENCH_PATH [/] is the path wrk requests, BENCH_READY [Hello, World!] what
# its answer contains once a server is up.
# The wrk settings every script shares (their headers list them):
DURATION=${DURATION:-8}
PASSES=${PASSES:-4}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-1}
WARMUP=${WARMUP:-2}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
declare -A BENCH_PID=() BENCH_PORT=() BENCH_RSS=() BENCH_PSS=() BENCH_ALSO=() BENCH_SCHEME=()
declare -a BENCH_ORDER=()
declare -A BENCH_CPU=()
BENCH_PATH=${BENCH_PATH:-/}
BENCH_READY=${BENCH_READY:-Hello, World!}
RESULTS=$(mktemp -d /tmp/rgi-bench.XXXXXX)
# The scripts run from the checkout's root (they cd there before sourcing).
ROOT=$PWD
# A script that stops before its servers run leaves nothing behind; the
# scripts replace this with `trap stop_servers EXIT`, which also removes it.
trap 'rm -rf "$RESULTS"' EXIT

# hello_group BIN_DIR: the rgi-server configuration every hello row
# serves: 2 hello daemons of one thread each, at /.
hello_group() {
  cat <<EOF
[groups.hello]
command = ["$1/hello"]
processes = 2
threads = 1

[[mounts]]
prefix = "/"
group = "hello"
EOF
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server NAME BINARY PORT: BINARY gets PORT as its argument if it is
# hyper-hello; rgi binaries read RGI_BIND from the environment instead.
start_server() {
  local name=$1 bin=$2 port=$3
  if [[ $name == hyper ]]; then "$bin" "$port" >"$RESULTS/$name.log" 2>&1 &
  else "$bin" >"$RESULTS/$name.log" 2>&1 &
  fi
  BENCH_PID[$name]=$!; BENCH_PORT[$name]=$port; BENCH_ORDER+=("$name")
  wait_ready "$name" "${BENCH_SCHEME[$name]:-http}://127.0.0.1:$port$BENCH_PATH"
}

# start_cmd NAME PORT CMD...: like start_server for an arbitrary command line.
start_cmd() {
  local name=$1 port=$2; shift 2
  "$@" >"$RESULTS/$name.log" 2>&1 &
  BENCH_PID[$name]=$!; BENCH_PORT[$name]=$port; BENCH_ORDER+=("$name")
  wait_ready "$name" "${BENCH_SCHEME[$name]:-http}://127.0.0.1:$port$BENCH_PATH"
}

wait_ready() {
  local t
  for ((t = 0; t < 200; t++)); do
    # -k: https rows use the test certificate in examples/tls/.
    if [[ $(curl -sk -m 1 "$2" 2>/dev/null) == *"$BENCH_READY"* ]]; then return 0; fi
    kill -0 "${BENCH_PID[$1]}" 2>/dev/null || { echo "$1 exited; log:" >&2; cat "$RESULTS/$1.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$1 did not answer $BENCH_READY in 10 s" >&2; exit 1
}

# The process and all its descendants, one pid per line.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '{k[$2]=k[$2]" "$1} END{q[1]=root;n=1;for(i=1;i<=n;i++){print q[i];m=split(k[q[i]],c," ");for(j=1;j<=m;j++)q[++n]=c[j]}}'
}

# CPU time (user + system) used so far by a process and its descendants,
# in clock ticks.
tree_cpu() {
  local ticks=0 p
  for p in $(tree_pids "$1"); do
    ticks=$((ticks + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks"
}

# Memory of a process and all its descendants, in KiB: "RSS PSS". RSS
# counts pages shared between the processes (the same binary in two
# daemons) once per process; PSS splits them between the sharers, so the
# PSS sum is what the tree really holds.
tree_mem() {
  local rss=0 pss=0 p
  for p in $(tree_pids "$1"); do
    rss=$((rss + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
    pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo "$rss $pss"
}

stop_servers() {
  local name pid
  for name in "${BENCH_ORDER[@]}"; do
    for pid in ${BENCH_PID[$name]} ${BENCH_ALSO[$name]:-}; do kill "$pid" 2>/dev/null || true; done
  done
  for name in "${BENCH_ORDER[@]}"; do
    for pid in ${BENCH_PID[$name]} ${BENCH_ALSO[$name]:-}; do wait "$pid" 2>/dev/null || true; done
  done
  [[ -n ${KEEP_RESULTS:-} ]] || rm -rf "$RESULTS"
}

# BENCH_URL_PATH[NAME] overrides BENCH_PATH for one row; WRK_ARGS (an
# array) adds wrk options (a script, a header) to every run.
declare -A BENCH_URL_PATH=()
WRK_ARGS=()
run_wrk() { # NAME SECONDS -> writes $RESULTS/NAME.N
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${2}s" --latency "${WRK_ARGS[@]}" \
    "${BENCH_SCHEME[$1]:-http}://127.0.0.1:${BENCH_PORT[$1]}${BENCH_URL_PATH[$1]:-$BENCH_PATH}"
}

measure_rows() {
  local baseline=$1 rows=($2) name pass list
  # Each call measures afresh (a row may be measured in several sections).
  for name in "${rows[@]}"; do BENCH_CPU[$name]=""; BENCH_RSS[$name]=0; BENCH_PSS[$name]=0; done
  for name in "${rows[@]}"; do run_wrk "$name" "$WARMUP" >/dev/null; done
  for ((pass = 1; pass <= PASSES; pass++)); do
    if ((pass % 2)); then list=("${rows[@]}"); else list=($(printf '%s\n' "${rows[@]}" | tac)); fi
    for name in "${list[@]}"; do
      sleep 1
      local cpu0=0 cpu1=0 pid
      for pid in ${BENCH_PID[$name]} ${BENCH_ALSO[$name]:-}; do cpu0=$((cpu0 + $(tree_cpu "$pid"))); done
      run_wrk "$name" "$DURATION" >"$RESULTS/$name.$pass"
      for pid in ${BENCH_PID[$name]} ${BENCH_ALSO[$name]:-}; do cpu1=$((cpu1 + $(tree_cpu "$pid"))); done
      BENCH_CPU[$name]="${BENCH_CPU[$name]:-} $((cpu1 - cpu0))"
      local rss=0 pss=0 mem
      for pid in ${BENCH_PID[$name]} ${BENCH_ALSO[$name]:-}; do
        mem=($(tree_mem "$pid")); rss=$((rss + mem[0])); pss=$((pss + mem[1]))
      done
      (( rss > ${BENCH_RSS[$name]:-0} )) && BENCH_RSS[$name]=$rss
      (( pss > ${BENCH_PSS[$name]:-0} )) && BENCH_PSS[$name]=$pss
      echo "pass $pass $name: $(grep Requests/sec "$RESULTS/$name.$pass")" >&2
    done
  done
  python3 - "$RESULTS" "$baseline" "$PASSES" "${rows[@]}" <<PY
import re, sys, statistics
res, base, passes, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rss = dict(x.split("=") for x in "$(for n in "${rows[@]}"; do printf '%s=%s ' "$n" "${BENCH_RSS[$n]:-0}"; done)".split())
pss = dict(x.split("=") for x in "$(for n in "${rows[@]}"; do printf '%s=%s ' "$n" "${BENCH_PSS[$n]:-0}"; done)".split())
cpu = {x.split("=")[0]: [int(t) for t in x.split("=")[1].split(",") if t] for x in "$(for n in "${rows[@]}"; do printf '%s=%s ' "$n" "$(echo ${BENCH_CPU[$n]:-} | tr ' ' ',')"; done)".split()}
hz = $(getconf CLK_TCK)
def unit(v, u):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[u]
data = {}
for r in rows:
    rps, p50, p99, reqs = [], [], [], []
    for p in range(1, passes + 1):
        t = open(f"{res}/{r}.{p}").read()
        rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)))
        reqs.append(int(re.search(r"(\d+) requests in", t).group(1)))
        m = re.search(r"50%\s+([\d.]+)(us|ms|s)", t); p50.append(unit(*m.groups()))
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t); p99.append(unit(*m.groups()))
        errs = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", t)
        if errs: print(f"warning: {r} pass {p}: {errs.group(0)}", file=sys.stderr)
    # CPU of the server's whole process tree per request served, in µs.
    us = sum(cpu.get(r, [])) / hz * 1e6 / max(sum(reqs), 1)
    mbps = []
    for p in range(1, passes + 1):
        m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", open(f"{res}/{r}.{p}").read())
        mbps.append(float(m.group(1)) * {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[m.group(2)] if m else 0.0)
    data[r] = (statistics.mean(rps), statistics.stdev(rps) if len(rps) > 1 else 0.0, statistics.median(p50), statistics.median(p99), us, statistics.mean(mbps))
b = data[base][0]
import json, os
collect = os.environ.get("BENCH_COLLECT")
if collect:
    with open(collect, "a") as out:
        for r in rows:
            m, sd, p50, p99, us, mb = data[r]
            out.write(json.dumps({"section": os.environ.get("BENCH_SECTION", ""), "row": r, "base": base,
                "rps": m, "sd": sd, "ratio": m / b, "p50": p50, "p99": p99, "cpu_us": us, "mbps": mb,
                "rss": int(rss.get(r, 0)) / 1024, "pss": int(pss.get(r, 0)) / 1024}) + "\n")
print(f"| server | req/s (mean of {passes}) | ± | ratio vs {base} | p50 ms | p99 ms | CPU µs/req | peak RSS MiB | peak PSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    m, sd, p50, p99, us, _ = data[r]
    print(f"| {r} | {m:,.0f} | {sd:,.0f} | {m / b:.3f} | {p50:.3f} | {p99:.3f} | {us:.1f} | {int(rss.get(r, 0)) / 1024:.1f} | {int(pss.get(r, 0)) / 1024:.1f} |")
PY
}

# nginx_setup: $RUN for nginx's files, and who its workers (and the
# FastCGI servers next to them) run as: as root, www-data (as a Debian
# site does; as_user runs a command so), otherwise you.
nginx_setup() {
  RUN=$RESULTS/run
  mkdir -p "$RUN"
  chmod 755 "$RESULTS" "$RUN"
  as_user=()
  nginx_user=""
  if [[ $(id -u) -eq 0 ]]; then
    as_user=(setpriv --reuid www-data --regid www-data --init-groups)
    nginx_user="user www-data www-data;"
    chown www-data:www-data "$RUN"
  fi
}

# nginx_conf NAME PORT UPSTREAM_BLOCK LOCATION_EXTRA: a config in $RUN/NAME.
nginx_conf() {
  local dir=$RUN/$1
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
$nginx_user
daemon off;
master_process on;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    fastcgi_temp_path $dir/tmp/fastcgi;
    proxy_temp_path $dir/tmp/proxy;
    $3
    server {
        listen 127.0.0.1:$2;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param SCRIPT_FILENAME $ROOT/bench/hello.php;
            $4
        }
    }
}
EOF
}

# nginx in the foreground once the FastCGI server CMD... (started first,
# and stopped with it) has made SOCKET.
nginx_with() {
  local name=$1 port=$2 socket=$3; shift 3
  local dir=$RUN/$name t
  "$@" >"$RESULTS/$name.app.log" 2>&1 &
  BENCH_ALSO[$name]=$!
  for ((t = 0; t < 200; t++)); do [[ -S $socket ]] && break; sleep 0.05; done
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$RESULTS/$name.log" 2>&1 &
  BENCH_PID[$name]=$!; BENCH_PORT[$name]=$port; BENCH_ORDER+=("$name")
  wait_ready "$name" "http://127.0.0.1:$port/"
}


# start_nginx_phpfpm: the row nginx-phpfpm, nginx -> php-fpm (pm=static,
# 2 children) serving hello.php; fails, saying so, without php-fpm.
start_nginx_phpfpm() {
  local fpm port dir sock owner
  fpm=$(compgen -G '/usr/sbin/php-fpm[0-9]*' | sort -V | tail -n 1 || true)
  if [[ -z $fpm ]]; then
    echo "php-fpm not installed (apt-get install php-fpm): row nginx-phpfpm skipped" >&2
    return 1
  fi
  port=$(free_port)
  dir=$RUN/nginx-phpfpm
  sock=$dir/php-fpm.sock
  nginx_conf nginx-phpfpm "$port" "" "fastcgi_pass unix:$sock;"
  owner=$(id -un)
  [[ -z $nginx_user ]] || { owner=www-data; chown www-data:www-data "$dir"; }
  cat >"$dir/php-fpm.conf" <<EOC
[global]
pid = $dir/php-fpm.pid
error_log = $dir/php-fpm.log
daemonize = no

[hello]
listen = $sock
listen.owner = $owner
listen.mode = 0600
pm = static
pm.max_children = 2
pm.max_requests = 0
$([[ -z $nginx_user ]] || printf 'user = www-data\ngroup = www-data\n')
EOC
  nginx_with nginx-phpfpm "$port" "$sock" "$fpm" -F -y "$dir/php-fpm.conf" -R
}
