"""The [8] targets, met or not, from the bench's JSON figures (infra/bench.sh runs it).

Usage: python3 infra/bench_summary.py WORKDIR   (reads sizes/argon2/init/server .json there)
"""

import json
import pathlib
import sys

work = pathlib.Path(sys.argv[1])


def load(name):
    p = work / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def yes(ok):
    return "met" if ok else "**not met**"


rows = []
sizes = load("sizes")
if sizes:
    each = {k: v for k, v in sizes["each"].items() if k != "bench-hello"}
    over = [f"{k} ({max(x for x in v.values() if x) / 1e6:.2f} MB)" for k, v in each.items()
            if max(x for x in v.values() if x) > 8e6]
    n_arm = sum(1 for v in each.values() if v["arm"])
    detail = f"{len(each)} functions x86_64, {n_arm} aarch64"
    if over:
        detail += "; over 8 MB: " + ", ".join(over)
    rows.append(("every function ≤ 8 MB stripped", detail, yes(not over)))
init = load("init")
if init:
    fs = {k: v for k, v in init["functions"].items() if v["budget_ms"] is not None}
    over = [k for k, v in fs.items() if v["first_ms"] > v["budget_ms"]]
    am = fs.get("auth-methods")
    detail = f"hello-world {init['hello_first_ms']:.1f} ms, config read {init['config_read_ms']:.1f} ms"
    if am:
        detail += f"; auth-methods {am['first_ms']:.1f} ms (budget {am['budget_ms']:.1f})"
    if over:
        detail += "; over: " + ", ".join(over)
    rows.append((f"cold start ≤ 1.3 × hello-world + the first request's store round trips ({len(fs)} functions)", detail, yes(not over)))
    lg = init["login"]
    rows.append(("Lambda process after 200 logins ≤ 64 MiB", f"{lg['peak_rss_kib'] / 1024:.1f} MiB peak ({lg['ok']} logins answered 200)", yes(lg["peak_rss_kib"] <= 64 * 1024)))
server = load("server")
if server:
    a, p = server["authgate"], server["pocketbase"]
    for c in (1, 8):
        k = f"login c={c}"
        r = a[k]["rps"] / p[k]["rps"]
        rows.append((f"login c={c} ≥ 2.5 × PocketBase", f"{a[k]['rps']:.1f} vs {p[k]['rps']:.1f} req/s = {r:.2f}×", yes(r >= 2.5)))
    rows.append(("local server peak RSS at 8 concurrent logins ≤ 64 MiB", f"{a['peak_rss_login8_kib'] / 1024:.1f} MiB (PocketBase {p['peak_rss_login8_kib'] / 1024:.1f} MiB)", yes(a["peak_rss_login8_kib"] <= 64 * 1024)))
    rows.append(("local server base ≤ 26 MiB (no hash at start-up)", f"{a['base_rss_kib'] / 1024:.1f} MiB at start (PocketBase {p['base_rss_kib'] / 1024:.1f} MiB)", yes(a["base_rss_kib"] <= 26 * 1024)))
argon2 = load("argon2")
if argon2:
    rows.append(("argon2id m=19456,t=2,p=1 kept", f"{argon2['hash_cpu_ms']:.1f} ms CPU per hash on one core", "met" if argon2["params"] == "m=19456,t=2,p=1" else "**not met**"))

print("## Targets ([8])")
print()
print("| target | measured | |")
print("|---|---|---|")
for t, m, ok in rows:
    print(f"| {t} | {m} | {ok} |")
