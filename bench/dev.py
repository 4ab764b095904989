"""rgi-dev: "edit -> new response served" against a plain `cargo build`.

Run through bench/dev.sh, which builds rgi-dev first. Copies examples/hello
into a crate of its own (path dependencies pointing back here), then makes
the same kind of edit (the greeting in src/lib.rs) EDITS times with a plain
`cargo build` timing each, and EDITS times under rgi-dev, timing from the
write until a GET returns the new greeting. Requests made during a rebuild
wait for the new build, so the first answer that differs is the served
edit, whatever the polling interval. Prints a markdown table of medians;
the dev server's overhead is the difference. rgi-dev also reports, per
edit, its own "N ms after the change; cargo took M ms", which gives the
overhead for the very same build; both are printed.
Target: rgi-dev adds at most 300 ms.
"""

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EDITS = int(os.environ.get("EDITS", "5"))
RGI_DEV = os.path.join(ROOT, "target", "release", "rgi-dev")
TARGET = os.path.join(ROOT, "target", "bench-dev")
GREETING = "Hello, World!"


def copy_hello(into):
    """examples/hello as a standalone crate named bench-hello."""
    src = os.path.join(ROOT, "examples", "hello")
    crate = os.path.join(into, "bench-hello")
    shutil.copytree(os.path.join(src, "src"), os.path.join(crate, "src"))
    main = os.path.join(crate, "src", "main.rs")
    with open(main) as f:
        text = f.read().replace("hello::", "bench_hello::")
    with open(main, "w") as f:
        f.write(text)
    rgi = os.path.join(ROOT, "crates", "rgi")
    with open(os.path.join(crate, "Cargo.toml"), "w") as f:
        f.write(
            '[package]\nname = "bench-hello"\nversion = "0.1.0"\nedition = "2021"\n'
            f'publish = false\n\n[dependencies]\nrgi = {{ path = "{rgi}" }}\n\n[workspace]\n'
        )
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(crate, "Cargo.lock"))
    return crate


def edit(crate, greeting):
    lib = os.path.join(crate, "src", "lib.rs")
    with open(lib) as f:
        text = f.read()
    text = re.sub(r'Body::from\("[^"]*"\)', f'Body::from("{greeting}")', text)
    with open(lib, "w") as f:
        f.write(text)


def cargo_build(crate):
    start = time.monotonic()
    subprocess.run(["cargo", "build", "-q"], cwd=crate, check=True, env=cargo_env())
    return time.monotonic() - start


def cargo_env():
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET, CARGO_NET_OFFLINE="true")
    env.pop("RGI_SETTINGS", None)
    return env


def get(port):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/")
        body = conn.getresponse().read().decode(errors="replace")
        conn.close()
        return body
    except OSError as err:
        return f"error: {err}"


class DevServer:
    def __init__(self, crate):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [RGI_DEV, crate, "--addr", "127.0.0.1:0"],
            env=cargo_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for(r"serving on http://127\.0\.0\.1:(\d+)/")
        self.port = int(re.search(r":(\d+)/", line).group(1))

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern, after=0, timeout=300):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[after:]:
                    if re.search(pattern, line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    sys.exit("rgi-dev did not print %r; its log:\n%s" % (pattern, "\n".join(self.lines)))
                self.cond.wait(left)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def main():
    with tempfile.TemporaryDirectory(prefix="rgi-bench-dev.") as tmp:
        crate = copy_hello(tmp)
        print(f"warming up the target directory {TARGET}", file=sys.stderr)
        cargo_build(crate)
        plain = []
        for i in range(EDITS):
            edit(crate, f"Hello, plain {i}!")
            plain.append(cargo_build(crate))
        edit(crate, GREETING)
        cargo_build(crate)

        dev = DevServer(crate)
        served, cargo_took, errors = [], [], 0
        try:
            dev.wait_for(r"serving the new build")
            if get(dev.port) != GREETING:
                sys.exit("rgi-dev does not serve the greeting")
            for i in range(EDITS):
                greeting = f"Hello, dev {i}!"
                mark = len(dev.lines)
                start = time.monotonic()
                edit(crate, greeting)
                while True:
                    body = get(dev.port)
                    if body == greeting:
                        break
                    if body.startswith("error"):
                        errors += 1
                    time.sleep(0.005)
                served.append(time.monotonic() - start)
                line = dev.wait_for(r"serving the new build \(\d+ ms after the change; cargo took \d+ ms\)", mark)
                cargo_took.append(int(re.search(r"cargo took (\d+) ms", line).group(1)) / 1000)
                time.sleep(0.5)
        finally:
            dev.stop()

    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    own = [s - c for s, c in zip(served, cargo_took)]
    print(f"| measure ({EDITS} edits of src/lib.rs, debug build) | median ms | min ms | max ms |")
    print("|---|---|---|---|")
    print(f"| plain `cargo build` | {ms(plain):.0f} | {min(plain)*1000:.0f} | {max(plain)*1000:.0f} |")
    print(f"| rgi-dev: edit -> new body served | {ms(served):.0f} | {min(served)*1000:.0f} | {max(served)*1000:.0f} |")
    print(f"| rgi-dev: its cargo build of the edit | {ms(cargo_took):.0f} | {min(cargo_took)*1000:.0f} | {max(cargo_took)*1000:.0f} |")
    print(f"| overhead vs plain cargo build (medians) | {ms(served) - ms(plain):.0f} | | |")
    print(f"| overhead vs its own build, per edit | {ms(own):.0f} | {min(own)*1000:.0f} | {max(own)*1000:.0f} |")
    print(f"\nconnection errors seen by the poller: {errors}; target: overhead <= 300 ms")


if __name__ == "__main__":
    main()
