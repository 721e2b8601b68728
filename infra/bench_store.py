"""The store side by side: sign-up, login and refresh against `authgate serve --memory`
and `authgate serve` on its SQLite file (the default), in one run (stdlib only).

Usage: python3 infra/bench_store.py AUTHGATE_BINARY [--write FILE]
Prints a markdown section; with --write, also puts it into FILE between the
`<!-- bench-store -->` markers (appended when they are missing). Starts and stops
its own servers on free loopback ports; rate limits off (latency, not limits).
"""
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

START, END = "<!-- bench-store:start -->", "<!-- bench-store:end -->"
PASSWORD = "1234567890"


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", token)
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as res:
            payload, status = res.read(), res.status
    except urllib.error.HTTPError as e:
        payload, status = e.read(), e.code
    return status, (time.perf_counter() - t) * 1000, payload


def run(n, concurrency, fn):
    """(p50 ms, p95 ms, req/s, non-2xx) of n calls of fn(i) from `concurrency` threads."""
    lat, errors, lock, per = [], [], threading.Lock(), n // concurrency

    def worker(w):
        for i in range(per):
            status, ms, _ = fn(w * per + i)
            with lock:
                lat.append(ms)
                if status >= 300:
                    errors.append(status)

    t = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.95) - 1], len(lat) / wall, len(errors)


ROUNDS = 3

WORKLOAD = [
    # (label, requests, concurrency)
    ("POST records (sign-up)", 60, 2),
    ("POST auth-with-password (login)", 60, 2),
    ("POST auth-refresh", 1000, 4),
]


def measure(binary, workdir, args):
    """Starts `authgate serve ARGS`, runs the workload, stops it: one result per WORKLOAD row."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(workdir, f"serve-{port}.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--http", f"127.0.0.1:{port}", "--config", os.path.join(workdir, "config.json"), *args],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/collections/users"
    try:
        for _ in range(3000):
            try:
                if call(base, "GET", "/auth-methods")[0] == 200:
                    break
            except OSError:
                time.sleep(0.01)
        stamp = int(time.time() * 1000)
        email = lambda i: f"bench-store-{stamp}-{i}@example.com"
        body = lambda i: {"email": email(i), "password": PASSWORD, "passwordConfirm": PASSWORD}
        (_, n_up, c_up), (_, n_in, c_in), (_, n_ref, c_ref) = WORKLOAD
        results = [run(n_up, c_up, lambda i: call(base, "POST", "/records", body(i)))]
        results.append(run(n_in, c_in, lambda i: call(base, "POST", "/auth-with-password", {"identity": email(i), "password": PASSWORD})))
        _, _, payload = call(base, "POST", "/auth-with-password", {"identity": email(0), "password": PASSWORD})
        token = json.loads(payload)["token"]
        results.append(run(n_ref, c_ref, lambda i: call(base, "POST", "/auth-refresh", {}, token)))
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def main():
    binary = os.path.abspath(sys.argv[1])
    workdir = tempfile.mkdtemp(prefix="authgate-bench-store-")
    try:
        with open(os.path.join(os.path.dirname(__file__), "collections.example.json")) as f:
            doc = json.load(f)
        doc["rateLimits"] = {"enabled": False, "failedLoginsPerAccount": 99, "failedLoginsWindow": 1}
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(doc, f)
        load = os.getloadavg()[0]
        # Alternating rounds, each on a fresh server (the SQLite file grows
        # across rounds); each figure is the median of its rounds, so a burst
        # of other load on the machine does not land on one store only.
        rounds = {"memory": [], "sqlite": []}
        for _ in range(ROUNDS):
            rounds["memory"].append(measure(binary, workdir, ["--memory"]))
            rounds["sqlite"].append(measure(binary, workdir, ["--data", os.path.join(workdir, "data")]))
        memory, sqlite = (
            [tuple(statistics.median(r[row][k] for r in rounds[name]) for k in range(4)) for row in range(len(WORKLOAD))]
            for name in ("memory", "sqlite"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        START,
        "## Store: in-memory vs SQLite",
        "",
        f"Made by `python3 infra/bench_store.py target/release/authgate` (also run by `infra/bench.sh`) on "
        f"{time.strftime('%Y-%m-%d', time.gmtime())} ({os.cpu_count()} cores); release build, loopback, "
        f"rate limits off; load average {load:.1f} at the start. The same requests against "
        "`authgate serve --memory` and `authgate serve` (SQLite `<data>/authgate.db`, WAL, "
        f"`synchronous=NORMAL`), {ROUNDS} alternating rounds in one run, each figure the median of its rounds.",
        "",
        "| endpoint | requests | concurrency | memory p50 ms | memory p95 ms | memory req/s | SQLite p50 ms | SQLite p95 ms | SQLite req/s | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (label, n, conc), m, s in zip(WORKLOAD, memory, sqlite):
        lines.append(f"| {label} | {n} | {conc} | {m[0]:.1f} | {m[1]:.1f} | {m[2]:.0f} | {s[0]:.1f} | {s[1]:.1f} | {s[2]:.0f} | {m[3] + s[3]:.0f} |")
    lines += [
        "",
        "Sign-up and login are bound by argon2id (one hash or verify each, the same in both columns); the",
        "store's share is one write transaction for a sign-up (the record and its email marker) and a",
        "read plus a few counter writes for a login (attempt cap, new-location memory). A refresh is",
        "one record read. Differences",
        "smaller than the spread between rounds on a busy machine are noise, not the store.",
        END,
    ]
    section = "\n".join(lines)
    print(section)
    if "--write" in sys.argv:
        path = sys.argv[sys.argv.index("--write") + 1]
        text = open(path).read() if os.path.exists(path) else ""
        if START in text and END in text:
            text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        with open(path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
