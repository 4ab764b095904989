"""Sorts `perf report --sort comm,sym` lines into what the time was spent
on, per process kind, as shares of the samples and as CPU microseconds
per request (bench/profile.sh).

argv: the row's name, and the CPU microseconds per request of all the
processes sampled,
measured from /proc while perf ran; samples are taken at a fixed rate of
CPU time, so each bucket's share of them is its share of that time.
"""
import re
import sys

BUCKETS = [  # first match wins
    ("scheduling and wake-ups", r"\[k\] .*(finish_task_switch|schedule|try_to_wake_up|_raw_spin_unlock_irq|"
     r"futex|wake_up|select_task_rq|enqueue|dequeue|update_curr|psi_|pick_next|switch_|__switch|"
     r"idle|do_nanosleep|hrtimer)"),
    ("epoll", r"\[k\] .*(ep_|epoll|sock_poll)|\[\.\] epoll_wait"),
    ("socket I/O (kernel)", r"\[k\] "),
    ("system call entry (user)", r"\[\.\] (__libc_|__GI___|syscall|__send|__recv|__write|__read|writev|"
     r"__pthread_disable_asynccancel|__pthread_enable_asynccancel)"),
    ("memory allocation", r"\[\.\] (malloc|free|cfree|_int_|realloc|unlink_chunk|malloc_consolidate|"
     r"__libc_malloc|__libc_free|tcache)"),
    ("HTTP parse and write (hyper)", r"\[\.\] .*(hyper::|httparse|hyper_util)"),
    ("FastCGI encode/decode", r"\[\.\] .*(rgi_fastcgi|exchange|FrontBody|daemon::conn|daemon::response|"
     r"daemon::request|daemon::stream)"),
    ("pool: pick, slots, idle conns", r"\[\.\] .*rgi_supervisor::pool"),
    ("gateway: environ, CGI variables", r"\[\.\] .*(rgi_gateway|rgi_embedded)"),
    ("application", r"\[\.\] .*(hello::|rgi_core)"),
    ("async runtime (tokio)", r"\[\.\] .*(tokio::|mio::)"),
    ("copies", r"\[\.\] .*(memmove|memcpy|memset)"),
    ("bytes, http types", r"\[\.\] .*(bytes::|http::)"),
]

row, cpu_us = sys.argv[1], float(sys.argv[2])
per_kind = {}
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+(.*)$", line)
    if not m:
        continue
    share, comm, sym = float(m.group(1)), m.group(2), m.group(3)
    # A daemon's one thread keeps its program's name; the server's
    # runtime threads are tokio's.
    kind = "daemons (hello)" if comm.startswith(("hello", "rgi-daemon")) else row
    bucket = next((name for name, pattern in BUCKETS if re.search(pattern, sym)), "other")
    per_kind.setdefault(kind, {}).setdefault(bucket, 0.0)
    per_kind[kind][bucket] += share

total = sum(sum(b.values()) for b in per_kind.values()) or 1.0
for kind, buckets in sorted(per_kind.items()):
    share = sum(buckets.values()) / total
    print(f"  {kind}: {share * 100:.0f}% of the samples, {share * cpu_us:.1f} µs per request")
    for name, s in sorted(buckets.items(), key=lambda kv: -kv[1]):
        print(f"    {s / total * 100:5.1f}%  {s / total * cpu_us:5.1f} µs  {name}")
