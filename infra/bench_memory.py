"""MemorySize per function: the table behind template.yaml's settings (stdlib only).

Usage: python3 infra/bench_memory.py ARGON2.json [INIT.json]   (infra/bench.sh runs it)

Lambda gives a function CPU in proportion to its memory: at 1,769 MB the
equivalent of one vCPU (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
A password hash is single-threaded CPU work, so at M MB it takes about
`hash_ms × 1769 / M` (no faster above 1,769 MB: one request uses one thread).
The argon2 time per core comes from this machine (ARGON2.json, bench-argon2);
a Lambda vCPU is not this core, so the absolute times are estimates, the
ratios between memory sizes are not. Cost: duration × memory at the arm64
on-demand price, $0.0000133334 per GB-second, plus $0.20 per million requests
(aws.amazon.com/lambda/pricing, US East; duration billed per 1 ms).

With INIT.json (bench_init.py's figures), each function's measured CPU time
(warm request, cold start) is scaled the same way; waiting for DynamoDB does
not scale and is left out (it costs MemorySize × wait).
"""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ONE_VCPU_MB = 1769
PRICE_GB_S = 0.0000133334  # arm64, US East, first tier
PRICE_REQ = 0.20 / 1e6
SIZES = [128, 256, 512, 1024, 1769, 3008]

# Functions that hash on every request (sign-up, login, password reset, email
# change with its password check), and those that hash only on a rare path
# (a new OAuth2 account's random password; the first proof of an unverified
# account replacing a password someone else may have set).
HASH_ALWAYS = ["auth-with-password", "records-create", "confirm-password-reset", "confirm-email-change"]
HASH_SOMETIMES = ["auth-with-oauth2", "auth-with-otp", "confirm-verification"]


def template_memory():
    """MemorySize per function binary, from template.yaml (Globals as default)."""
    text = (ROOT / "template.yaml").read_text()
    default = int(re.search(r"Globals:.*?MemorySize: (\d+)", text, re.S).group(1))
    out = {}
    for block in re.split(r"\n  (?=\w+Function:\n)", text):
        m = re.search(r"Binary: ([\w-]+)", block)
        if not m:
            continue
        mem = re.search(r"\n      MemorySize: (\d+)", block)
        out[m.group(1)] = int(mem.group(1)) if mem else default
    return out


def share(mb):
    return min(1.0, mb / ONE_VCPU_MB)


def cost_per_million(mb, ms):
    billed = -(-ms // 1)  # rounded up to 1 ms
    return 1e6 * (mb / 1024 * billed / 1000 * PRICE_GB_S + PRICE_REQ)


def main():
    argon2 = json.loads(pathlib.Path(sys.argv[1]).read_text())
    init = json.loads(pathlib.Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    # CPU time per hash: what a vCPU of its own would take (wall time here includes waiting for
    # the other work on this machine).
    hash_ms = argon2["hash_cpu_ms"]
    chosen = template_memory()

    print(f"argon2id per hash on one core here: **{hash_ms:.1f} ms** of CPU (bench-argon2). At M MB a hash takes")
    print(f"≈ {hash_ms:.1f} ms × 1769 / M (Lambda's CPU share: one vCPU at 1,769 MB). Cost of the hash alone per")
    print("million calls at the arm64 price (plus $0.20 of requests):")
    print()
    print("| MemorySize MB | vCPU share | hash ms | $ per 1M hashes |")
    print("|---|---|---|---|")
    for mb in SIZES:
        ms = hash_ms / share(mb)
        print(f"| {mb} | {share(mb):.2f} | {ms:.0f} | {cost_per_million(mb, ms):.2f} |")
    print()
    print("Below 1,769 MB the CPU-bound hash costs the same at any size (half the memory, twice the time):")
    print("more memory buys latency for free up to one vCPU, and nothing past it (3,008 MB pays 1.7× for")
    print("the same single-threaded hash).")

    if init:
        cols = [256, 512, 1024, 1769]
        print()
        print("Per function: the CPU time a warm request and a cold start (start-up + first request) took")
        print("here (`bench_init.py`, /proc schedstat; CPU time, so not inflated by this machine's other load),")
        print("scaled to each memory size's CPU share. Time spent waiting for DynamoDB comes on top and does")
        print("not scale; it costs MemorySize × wait (at 512 MB, $0.07 per million requests per 10 ms).")
        print()
        print("| function | hashes | CPU here: warm / cold ms | warm CPU ms at " + " / ".join(map(str, cols)) + " MB | cold CPU ms at " + " / ".join(map(str, cols)) + " MB | MemorySize (template) | $ per 1M warm (CPU part + requests) |")
        print("|---|---|---|---|---|---|---|")
        for name, f in init["functions"].items():
            if name not in chosen:
                continue
            mb = chosen[name]
            cpu = f["cpu_warm_ms"]
            hashes = "every request" if name in HASH_ALWAYS else ("rare path" if name in HASH_SOMETIMES else "no")
            warm = " / ".join(f"{cpu / share(c):.0f}" for c in cols)
            cold = " / ".join(f"{f['cpu_first_ms'] / share(c):.0f}" for c in cols)
            print(f"| `{name}` | {hashes} | {cpu:.1f} / {f['cpu_first_ms']:.1f} | {warm} | {cold} | **{mb}** | "
                  f"{cost_per_million(mb, cpu / share(mb)):.2f} |")
    print()
    print("Settings (template.yaml): functions that hash on every request get 1,769 MB (one vCPU: the")
    print("fastest hash, at the cost of any smaller size); the others are I/O-bound (their time is DynamoDB")
    print("round trips), where memory only adds cost, so they keep a small size that still leaves their")
    print("start-up and TLS work quick.")


if __name__ == "__main__":
    sys.exit(main())
