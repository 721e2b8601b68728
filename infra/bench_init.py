"""Lambda cold starts through a local Lambda Runtime API (stdlib only).

Usage (infra/bench.sh runs it; the binaries are release builds):

    python3 infra/bench_init.py --bin-dir target/release --config CONFIG.json \
        --moto-python infra/.venv/bin/python [--starts 20] [--logins 200] \
        [--functions auth-methods,auth-with-password,...] [--hello bench-hello]

It starts moto (DynamoDB) on a free loopback port, writes the collections
config to a fresh table with `authgate collections apply`, and serves the
Runtime API (`GET /2018-06-01/runtime/invocation/next`, `POST
.../invocation/{id}/response|error`, `POST .../init/error`) itself. For each
function, `--starts` times: spawn the binary with `AWS_LAMBDA_RUNTIME_API`
and the environment the functions read (shared/http/src/env.rs), hand it its
API Gateway event from infra/events/, then the same event again, then kill it:

- ready:  spawn -> the runtime's first `GET .../next` (init done);
- first:  spawn -> first response posted (the cold start a caller waits for);
- warm:   second event served -> its response (the request's own work).

The hello-world (`--hello`, a minimal lambda_http function built with the same
profile) runs interleaved with the functions, so every ratio compares starts
made under the same load. Also measured: the config read a fresh container
makes (GetItem of the config item and GetSecretValue of the token secrets on
moto, at once, each over a new connection; the GetItem alone too), and one
auth-with-password process answering `--logins` sequential logins (warm
login latency, peak RSS from /proc/PID/status VmHWM).

Prints markdown sections on stdout; `--json FILE` writes the raw figures.
"""

import argparse
import base64
import http.client
import json
import os
import pathlib
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "infra" / "events"
TABLE = "authgate-bench"
SECRET_ID = "authgate-bench-secrets"
USER_EMAIL = "lambda@example.com"
USER_PASSWORD = "1234567890"

# The endpoint functions and their API Gateway events (infra/events/).
FUNCTIONS = [
    "auth-methods",
    "auth-refresh",
    "auth-with-password",
    "records-create",
    "auth-with-otp",
    "auth-with-oauth2",
    "request-otp",
    "request-verification",
    "confirm-verification",
    "request-password-reset",
    "confirm-password-reset",
    "request-email-change",
    "confirm-email-change",
    "mailer",  # a stream event with no records: init, and the runtime's round trip
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_ms(pid):
    """CPU time used so far by every thread of `pid` (schedstat, ns resolution)."""
    total = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- runtime API


class Invocation:
    """One event handed to the function, and what came back."""

    def __init__(self, event):
        self.id = str(uuid.uuid4())
        self.event = event
        self.served_at = None
        self.done_at = None
        self.status = None
        self.body = None
        self.done = threading.Event()


class RuntimeApi:
    """A Lambda Runtime API serving invocations from a queue."""

    def __init__(self):
        self.pending = queue.Queue()
        self.by_id = {}
        self.first_next_at = None
        self.init_error = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._reply(404)
                now = time.perf_counter()
                if api.first_next_at is None:
                    api.first_next_at = now
                inv = api.pending.get()
                if inv is None:  # shutting down: leave the runtime waiting
                    return
                inv.served_at = time.perf_counter()
                api.by_id[inv.id] = inv
                body = json.dumps(inv.event).encode()
                deadline = int(time.time() * 1000) + 30_000
                self._reply(200, body, [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", inv.id),
                    ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                ])

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                now = time.perf_counter()
                parts = self.path.split("/")
                if self.path.endswith("/init/error"):
                    api.init_error = payload.decode(errors="replace")
                    self._reply(202, b"{}")
                    return
                # /2018-06-01/runtime/invocation/{id}/response|error
                inv = api.by_id.get(parts[-2])
                self._reply(202, b"{}")
                if inv is not None:
                    inv.done_at = now
                    if parts[-1] == "response":
                        try:
                            doc = json.loads(payload)
                            inv.status = doc.get("statusCode", "ok") if isinstance(doc, dict) else "ok"
                            inv.body = doc.get("body")
                        except ValueError:
                            inv.status = "?"
                    else:
                        inv.status = "error"
                        inv.body = payload.decode(errors="replace")
                    inv.done.set()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a killed function's connection: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        """Stops serving; a runtime still blocked in `next` is left without an answer."""
        self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()

    def invoke(self, event, timeout=30):
        inv = Invocation(event)
        self.pending.put(inv)
        if not inv.done.wait(timeout):
            raise RuntimeError(f"no response within {timeout}s (init error: {self.init_error})")
        return inv


# ---------------------------------------------------------------- functions


def read_event(name):
    if name == "mailer":
        return {"Records": []}
    return json.loads((EVENTS / f"{name}.v2.json").read_text())


def with_body(event, doc):
    ev = dict(event)
    ev["body"] = json.dumps(doc)
    ev["isBase64Encoded"] = False
    return ev


def body_of(event):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else {}


class Events:
    """Per function, a fresh event for each invocation (sign-ups use new addresses)."""

    def __init__(self):
        self.n = 0
        self.stamp = int(time.time())

    def __call__(self, name):
        ev = read_event("auth-methods" if name == "bench-hello" else name)
        if name == "records-create":
            self.n += 1
            doc = body_of(ev)
            doc["email"] = f"bench-{self.stamp}-{self.n}@example.com"
            ev = with_body(ev, doc)
        return ev


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin_dir = pathlib.Path(args.bin_dir)
        self.api = RuntimeApi()
        self.events = Events()
        self.moto_port = free_port()
        self.moto = None
        self.env = None

    # -- moto and the table
    def start_store(self):
        log = open(os.devnull, "w")
        self.moto = subprocess.Popen(
            [self.args.moto_python, str(ROOT / "infra/emulators/moto_serial.py"), "127.0.0.1", str(self.moto_port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=1)
                c.request("GET", "/moto-api/")
                c.getresponse().read()
                break
            except OSError:
                if time.time() > deadline or self.moto.poll() is not None:
                    raise RuntimeError("moto did not start")
                time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_ENDPOINT_URL_SESV2": endpoint,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
            "AUTHGATE_TABLE": TABLE,
            # As deployed: the token secrets in Secrets Manager (the template's secret), the rest
            # in the table's config item; a cold start reads both at once.
            "AUTHGATE_SECRET_ID": SECRET_ID,
            # The template's trust store outside the China regions (TlsTrustRoots=auto).
            "AUTHGATE_TLS_ROOTS": "amazon",
            "AUTHGATE_CONFIG_TTL_SECS": "30",
            "AUTHGATE_SES_IDENTITY": "example.com",
            "AUTHGATE_TRUSTED_PROXY_HOPS": "0",
            "RUST_LOG": "info",
            "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "LAMBDA_TASK_ROOT": str(self.bin_dir),
            "TZ": ":UTC",
            # One CA bundle file, as on Lambda (provided.al2023); without it rustls-native-certs
            # would also read every file of this machine's /etc/ssl/certs directory.
            "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        }
        subprocess.run(
            [str(self.bin_dir / "authgate"), "collections", "apply", self.args.config],
            env=self.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop_store(self):
        if self.moto is not None:
            self.moto.terminate()
            self.moto.wait()

    # -- one process
    def spawn(self, name, extra_env=None, stderr=subprocess.DEVNULL):
        env = dict(self.env)
        env["AWS_LAMBDA_FUNCTION_NAME"] = name
        # A Runtime API of its own per process: a killed process's last `next` request, still
        # in flight, cannot take the next process's event.
        self.api.close()
        self.api = RuntimeApi()
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.api.port}"
        env.update(extra_env or {})
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(self.bin_dir / name)], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
        return proc, t0

    def finish(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def start_once(self, name):
        proc, t0 = self.spawn(name)
        try:
            first = self.api.invoke(self.events(name))
            cpu_first = cpu_ms(proc.pid)
            ready = self.api.first_next_at
            second = self.api.invoke(self.events(name))
            cpu_warm = cpu_ms(proc.pid) - cpu_first
        finally:
            self.finish(proc)
        return {
            "cpu_first": cpu_first,
            "cpu_warm": cpu_warm,
            "ready": (ready - t0) * 1000,
            "first": (first.done_at - t0) * 1000,
            "first_status": first.status,
            "warm": (second.done_at - second.served_at) * 1000,
            "warm_status": second.status,
        }

    def seed_user(self):
        """The account auth-with-password logs into (records-create, once)."""
        proc, _ = self.spawn("records-create")
        try:
            inv = self.api.invoke(read_event("records-create"))
        finally:
            self.finish(proc)
        if inv.status not in (200, 400):
            raise RuntimeError(f"seeding the bench user failed: {inv.status} {inv.body}")

    def config_read(self, n, secret=True):
        """The config read a fresh container makes: GetItem of the config item and GetSecretValue of
        the secret at once, each over a new connection (as the function does), until both answered."""
        getitem = (json.dumps({
            "TableName": TABLE,
            "Key": {"pk": {"S": "CONFIG"}, "sk": {"S": "CONFIG"}},
            "ConsistentRead": True,
        }), {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        }, b"CONFIG")
        getsecret = (json.dumps({"SecretId": SECRET_ID}), {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.GetSecretValue",
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        }, b"SecretString")

        def call(req, errors):
            body, headers, expect = req
            c = http.client.HTTPConnection("127.0.0.1", self.moto_port)
            c.request("POST", "/", body, headers)
            res = c.getresponse()
            payload = res.read()
            c.close()
            if res.status != 200 or expect not in payload:
                errors.append(f"{headers['X-Amz-Target']}: {res.status} {payload[:200]!r}")

        times = []
        for _ in range(n):
            errors = []
            reqs = (getitem, getsecret) if secret else (getitem,)
            threads = [threading.Thread(target=call, args=(req, errors)) for req in reqs]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            times.append((time.perf_counter() - t) * 1000)
            if errors:
                raise RuntimeError(f"config read failed: {errors}")
        return times

    def logins(self, name, n):
        """One process, n sequential invocations: latencies and peak RSS."""
        proc, _ = self.spawn(name)
        lat, statuses = [], []
        try:
            for _ in range(n):
                inv = self.api.invoke(self.events(name))
                lat.append((inv.done_at - inv.served_at) * 1000)
                statuses.append(inv.status)
            status = pathlib.Path(f"/proc/{proc.pid}/status").read_text()
        finally:
            self.finish(proc)
        kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith(("VmHWM", "VmRSS"))}
        return {"latencies": lat, "statuses": statuses, "peak_rss_kib": kb["VmHWM"], "rss_kib": kb["VmRSS"]}

    def traced_start(self, name):
        """One start with RUST_LOG=debug: each stderr line stamped on arrival (ms after spawn)."""
        proc, t0 = self.spawn(name, {"RUST_LOG": "debug"}, stderr=subprocess.PIPE)
        lines = []

        def reader():
            for raw in proc.stderr:
                lines.append(((time.perf_counter() - t0) * 1000, raw.decode(errors="replace").rstrip()))

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            first = self.api.invoke(self.events(name))
            first_ms = (first.done_at - t0) * 1000
            ready_ms = (self.api.first_next_at - t0) * 1000
            time.sleep(0.05)
        finally:
            self.finish(proc)
        th.join(1)
        return {"ready": ready_ms, "first": first_ms, "lines": lines}


def fmt(x):
    return f"{x:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--moto-python", required=True)
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--logins", type=int, default=200)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--hello", default="bench-hello")
    ap.add_argument("--trace", default="auth-methods", help="function whose debug log gives the init breakdown ('' = none)")
    ap.add_argument("--json")
    args = ap.parse_args()
    functions = [f for f in args.functions.split(",") if f]

    b = Bench(args)
    b.start_store()
    try:
        b.seed_user()
        # Warm the page cache and moto once per binary; not counted.
        for name in [args.hello] + functions:
            b.start_once(name)
        runs = {name: [] for name in [args.hello] + functions}
        config_ms, getitem_ms = [], []
        for _ in range(args.starts):
            for name in [args.hello] + functions:
                runs[name].append(b.start_once(name))
            # The round trips in the same rounds as the starts: moto's speed drifts over a run.
            config_ms += b.config_read(1)
            getitem_ms += b.config_read(1, secret=False)
        login = b.logins("auth-with-password", args.logins)
        hello_loop = b.logins(args.hello, args.logins)
        trace = b.traced_start(args.trace) if args.trace else None
    finally:
        b.stop_store()

    hello = median([r["first"] for r in runs[args.hello]])
    cfg = median(config_ms)
    out = {"hello_first_ms": hello, "config_read_ms": cfg, "config_getitem_ms": median(getitem_ms), "functions": {}, "login": {}, "trace": trace}
    print(f"Each row: median of {args.starts} starts, interleaved with the hello-world's (same run, same load).")
    print("*ready* = spawn → the runtime asks for its first event (init done); *first* = spawn → first")
    print("response (the cold start); *warm* = the same event again in that process (the request's own work:")
    print("store calls, argon2 where the endpoint hashes). Budget = 1.3 × hello-world's *first* + the config")
    print(f"read a fresh container makes ({fmt(cfg)} ms: GetItem of the config item and GetSecretValue of the token")
    print(f"secrets on moto at once, each over a new connection, median of {len(config_ms)}; the GetItem alone:")
    print(f"{fmt(median(getitem_ms))} ms) + *warm* (the rest of the first request's store round trips and hashing).")
    print()
    print("| function | ready ms | first ms | warm ms | first − warm ms | ÷ hello-world | budget ms | met | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in [args.hello] + functions:
        rs = runs[name]
        ready = median([r["ready"] for r in rs])
        first = median([r["first"] for r in rs])
        warm = median([r["warm"] for r in rs])
        statuses = sorted({str(r["first_status"]) for r in rs} | {str(r["warm_status"]) for r in rs})
        if name == args.hello:
            print(f"| `{name}` (baseline) | {fmt(ready)} | {fmt(first)} | {fmt(warm)} | {fmt(first - warm)} | 1.00 | — | — | {'/'.join(statuses)} |")
            budget = None
        else:
            budget = 1.3 * hello + cfg + warm
            met = "yes" if first <= budget else "**no**"
            print(f"| `{name}` | {fmt(ready)} | {fmt(first)} | {fmt(warm)} | {fmt(first - warm)} | {first / hello:.2f} | {fmt(budget)} | {met} | {'/'.join(statuses)} |")
        out["functions"][name] = {"ready_ms": ready, "first_ms": first, "warm_ms": warm, "budget_ms": budget,
                                  "cpu_first_ms": median([r["cpu_first"] for r in rs]),
                                  "cpu_warm_ms": median([r["cpu_warm"] for r in rs]), "statuses": statuses}
    print()
    lat = login["latencies"]
    ok = sum(1 for s in login["statuses"] if s == 200)
    hl = hello_loop
    print(f"One `auth-with-password` process, {len(lat)} sequential logins through the Runtime API ({ok} × 200):")
    print(f"warm login median {fmt(median(lat))} ms (p99 {fmt(sorted(lat)[int(len(lat) * 0.99) - 1])} ms), "
          f"peak RSS (VmHWM) **{login['peak_rss_kib'] / 1024:.1f} MiB** (RSS at the end {login['rss_kib'] / 1024:.1f} MiB). "
          f"The hello-world after {len(hl['latencies'])} events: peak RSS {hl['peak_rss_kib'] / 1024:.1f} MiB.")
    out["login"] = {"median_ms": median(lat), "ok": ok, "peak_rss_kib": login["peak_rss_kib"],
                    "hello_peak_rss_kib": hl["peak_rss_kib"]}
    if trace:
        print()
        print(f"Init breakdown, one `{args.trace}` start with `RUST_LOG=debug` (ms after spawn, each log line stamped")
        print(f"as it arrived; debug logging slows it: ready {fmt(trace['ready'])} ms, first response {fmt(trace['first'])} ms):")
        print()
        print("```")
        for ms, line in trace["lines"]:
            try:
                doc = json.loads(line)
                fields = doc.get("fields", {})
                msg = fields.pop("message", "")
                text = f"{doc.get('level', '')} {doc.get('target', '')}: {msg} {json.dumps(fields) if fields else ''}"
            except ValueError:
                text = line
            print(f"{ms:7.1f}  {text[:150]}")
        print("```")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
