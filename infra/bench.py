"""Latency of the main endpoints against a running Authgate (stdlib only).

Usage: python3 infra/bench.py BASE_URL  → prints a markdown table.
Loopback only; bounded request counts.
"""
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

BASE = sys.argv[1].rstrip("/") + "/api/collections/users"


def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", token)
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as res:
            payload = res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        payload = e.read()
        status = e.code
    return status, (time.perf_counter() - t) * 1000, payload


def run(name, n, concurrency, fn):
    lat, errors = [], []
    lock = threading.Lock()
    per = n // concurrency

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
    p95 = lat[int(len(lat) * 0.95) - 1]
    print(f"| {name} | {len(lat)} | {concurrency} | {statistics.median(lat):.1f} | {p95:.1f} | {len(lat) / wall:.0f} | {len(errors)} |")


stamp = int(time.time() * 1000)
email = lambda i: f"bench-{stamp}-{i}@example.com"
print("| endpoint | requests | concurrency | p50 ms | p95 ms | req/s | non-2xx |")
print("|---|---|---|---|---|---|---|")
run("POST records (sign-up, argon2id hash)", 40, 2, lambda i: call("POST", "/records", {"email": email(i), "password": "1234567890", "passwordConfirm": "1234567890"}))
run("POST auth-with-password (argon2id verify)", 40, 2, lambda i: call("POST", "/auth-with-password", {"identity": email(i), "password": "1234567890"}))
run("POST auth-with-password, unknown identity (dummy verify, 400 by design)", 40, 2, lambda i: call("POST", "/auth-with-password", {"identity": f"nobody-{i}@example.com", "password": "1234567890"}))
_, _, body = call("POST", "/auth-with-password", {"identity": email(0), "password": "1234567890"})
token = json.loads(body)["token"]
run("POST auth-refresh", 400, 4, lambda i: call("POST", "/auth-refresh", {}, token))
run("GET auth-methods", 400, 4, lambda i: call("GET", "/auth-methods"))
