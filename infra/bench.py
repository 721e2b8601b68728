"""Local server side by side with PocketBase: login, refresh, auth-methods (stdlib only).

Usage (infra/bench.sh runs it):

    python3 infra/bench.py --authgate "CMD..." --pocketbase PATH [--rounds 2] [--json FILE]

`--authgate` is the full command that starts Authgate's local server, with
`{port}` where the listening port goes (bench.sh builds it, so the store flag
can change there); `--pocketbase` the PocketBase binary, started on a fresh
data directory. Both run at the same time on loopback; every phase runs on one
and then the other, `--rounds` times alternately, so both see the same load.
Each server gets one user (signed up through its API) that all logins use.

Measured per server: RSS right after start (before any request: no hash at
start-up), peak RSS (VmHWM from /proc) after the 8-concurrent login phase,
start to first answer, and for each phase requests/s, p50 and p99 latency
(clients: one thread and one keep-alive connection per concurrent caller).

Prints markdown on stdout; `--json FILE` writes the raw figures.
"""

import argparse
import http.client
import json
import os
import pathlib
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

EMAIL = "bench@example.com"
PASSWORD = "1234567890"
BASE = "/api/collections/users"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_kib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name, argv, port, workdir):
        self.name = name
        self.port = port
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                status, _ = self.call("GET", "/auth-methods", conn=None)
                if status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{name} did not start (see {self.log.name})")
            time.sleep(0.005)
        self.ready_ms = (time.perf_counter() - t0) * 1000
        self.base_rss_kib = proc_kib(self.proc.pid, "VmRSS")
        self.token = None

    def call(self, method, path, body=None, token=None, conn=None):
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        c.request(method, BASE + path, None if body is None else json.dumps(body), headers)
        res = c.getresponse()
        payload = res.read()
        if own:
            c.close()
        return res.status, payload

    def sign_up(self):
        status, payload = self.call("POST", "/records", {"email": EMAIL, "password": PASSWORD, "passwordConfirm": PASSWORD})
        if status != 200:
            raise RuntimeError(f"{self.name}: sign-up failed: {status} {payload[:300]!r}")
        status, payload = self.call("POST", "/auth-with-password", {"identity": EMAIL, "password": PASSWORD})
        if status != 200:
            raise RuntimeError(f"{self.name}: login failed: {status} {payload[:300]!r}")
        self.token = json.loads(payload)["token"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


PHASES = {
    # name: (method, path, body, needs token)
    "login": ("POST", "/auth-with-password", {"identity": EMAIL, "password": PASSWORD}, False),
    "refresh": ("POST", "/auth-refresh", {}, True),
    "auth-methods": ("GET", "/auth-methods", None, False),
}


def run_phase(server, phase, n, concurrency):
    method, path, body, auth = PHASES[phase]
    token = server.token if auth else None
    lat, bad, retried = [], [], [0]
    lock = threading.Lock()
    per = n // concurrency
    barrier = threading.Barrier(concurrency + 1)

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine, errs, reconnects = [], [], [0]
        barrier.wait()
        for _ in range(per):
            t = time.perf_counter()
            try:
                status, _ = server.call(method, path, body, token, conn)
            except (OSError, http.client.HTTPException):
                # The server closed the keep-alive connection: reconnect and send again, as
                # HTTP clients do; counted apart from failures.
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                reconnects[0] += 1
                try:
                    status, _ = server.call(method, path, body, token, conn)
                except (OSError, http.client.HTTPException):
                    status = "conn"
            mine.append((time.perf_counter() - t) * 1000)
            if status != 200:
                errs.append(status)
        conn.close()
        with lock:
            lat.extend(mine)
            bad.extend(errs)
            retried[0] += reconnects[0]

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    barrier.wait()
    t = time.perf_counter()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    return {"n": len(lat), "wall_s": wall, "lat": lat, "errors": bad, "reconnects": retried[0]}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(len(xs) * p)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--authgate", required=True, help="command starting Authgate's local server; {port} is replaced")
    ap.add_argument("--pocketbase", required=True, help="PocketBase binary")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every phase's request count")
    ap.add_argument("--json")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="authgate-bench-")
    ag_port, pb_port = free_port(), free_port()
    ag_argv = [a.replace("{port}", str(ag_port)) for a in shlex.split(args.authgate)]
    pb_argv = [args.pocketbase, "serve", f"--http=127.0.0.1:{pb_port}", f"--dir={work}/pb_data"]
    servers = []
    try:
        servers.append(Server("authgate", ag_argv, ag_port, work))
        servers.append(Server("pocketbase", pb_argv, pb_port, work))
        for s in servers:
            s.sign_up()
        # (phase, concurrency, requests per round)
        plan = [("login", 1, 40), ("login", 8, 96), ("refresh", 1, 1000), ("refresh", 8, 2000),
                ("auth-methods", 1, 1000), ("auth-methods", 8, 2000)]
        results = {s.name: {} for s in servers}
        peak_after_login8 = {}
        for phase, c, n in plan:
            n = max(c, int(n * args.scale) // c * c)
            for _ in range(args.rounds):
                for s in servers:
                    r = run_phase(s, phase, n, c)
                    acc = results[s.name].setdefault(f"{phase} c={c}", {"n": 0, "wall_s": 0.0, "lat": [], "errors": [], "reconnects": 0})
                    for k in ("n", "wall_s", "reconnects"):
                        acc[k] += r[k]
                    acc["lat"] += r["lat"]
                    acc["errors"] += r["errors"]
            if (phase, c) == ("login", 8):
                for s in servers:
                    peak_after_login8[s.name] = proc_kib(s.proc.pid, "VmHWM")
        peak_end = {s.name: proc_kib(s.proc.pid, "VmHWM") for s in servers}
    finally:
        for s in servers:
            s.stop()

    ag, pb = servers
    print(f"Both servers running at once on loopback; each phase ran on one then the other, {args.rounds} rounds")
    print("alternately (figures pooled over the rounds). Clients: Python threads, one keep-alive connection each;")
    print("the light endpoints are bounded by this client, not the servers.")
    print()
    print(f"Authgate: `{' '.join(ag_argv[1:]).replace(str(ag_port), 'PORT')}`; PocketBase {pb_version(args.pocketbase)}: `serve` on a fresh data dir,")
    print("default `users` collection, one user; both with their default password hashing (Authgate argon2id")
    print("m=19456,t=2,p=1; PocketBase bcrypt).")
    print()
    print("| phase | Authgate req/s | p50 ms | p99 ms | PocketBase req/s | p50 ms | p99 ms | Authgate ÷ PocketBase | non-200: Authgate / PocketBase | reconnects: A / PB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    out = {"authgate": {}, "pocketbase": {}}
    for key in results["authgate"]:
        a, p = results["authgate"][key], results["pocketbase"][key]
        ra, rp = a["n"] / a["wall_s"], p["n"] / p["wall_s"]
        print(f"| {key} | {ra:.1f} | {statistics.median(a['lat']):.2f} | {pct(a['lat'], 0.99):.2f} | "
              f"{rp:.1f} | {statistics.median(p['lat']):.2f} | {pct(p['lat'], 0.99):.2f} | **{ra / rp:.2f}×** | "
              f"{errs(a['errors'])} / {errs(p['errors'])} | {a['reconnects']} / {p['reconnects']} |")
        for name, r, rate in (("authgate", a, ra), ("pocketbase", p, rp)):
            out[name][key] = {"rps": rate, "p50_ms": statistics.median(r["lat"]), "p99_ms": pct(r["lat"], 0.99),
                              "n": r["n"], "errors": len(r["errors"]), "reconnects": r["reconnects"]}
    print()
    print("| server | start → first answer ms | RSS at start MiB | peak RSS after 8 concurrent logins MiB | peak RSS at the end MiB |")
    print("|---|---|---|---|---|")
    for s in servers:
        print(f"| {s.name} | {s.ready_ms:.0f} | {s.base_rss_kib / 1024:.1f} | {peak_after_login8[s.name] / 1024:.1f} | {peak_end[s.name] / 1024:.1f} |")
        out[s.name].update({"ready_ms": s.ready_ms, "base_rss_kib": s.base_rss_kib,
                            "peak_rss_login8_kib": peak_after_login8[s.name], "peak_rss_end_kib": peak_end[s.name]})
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=1))


def errs(codes):
    """Non-200 answers by status, e.g. `3 × 429`; `0` when none."""
    if not codes:
        return "0"
    counts = {}
    for c in codes:
        counts[c] = counts.get(c, 0) + 1
    return ", ".join(f"{n} × {c}" for c, n in sorted(counts.items(), key=lambda kv: str(kv[0])))


def pb_version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.split()[-1]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
