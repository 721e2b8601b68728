#!/usr/bin/env bash
# Benchmarks: release build sizes, local-server cold start and endpoint latency (in-memory store,
# loopback only). Writes docs/benchmarks.md. Usage: bash infra/bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -p authgate -p auth-with-password -p records-create
out=docs/benchmarks.md
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s%N)
# Latency, not limits: the default rate limits (on in production) would answer the bench's
# loopback flood with 429s, so this config turns them off and lifts the per-account cap.
python3 - infra/collections.example.json "$data/bench-config.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["rateLimits"] = {"enabled": False, "failedLoginsPerAccount": 99, "failedLoginsWindow": 1}
json.dump(doc, open(sys.argv[2], "w"))
PY
target/release/authgate serve --memory --http "127.0.0.1:$port" --data "$data" --config "$data/bench-config.json" >"$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/api/collections/users/auth-methods" >/dev/null; do sleep 0.01; done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
size() { du -k "$1" | cut -f1; }
{
  echo "# Benchmarks"
  echo
  echo "Made by \`bash infra/bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -m)); release build, in-memory store, loopback."
  echo
  echo "| artefact | size |"
  echo "|---|---|"
  echo "| \`auth-with-password\` Lambda binary (x86_64, stripped) | $(size target/release/auth-with-password) KiB |"
  echo "| \`records-create\` Lambda binary | $(size target/release/records-create) KiB |"
  echo "| \`authgate\` CLI | $(size target/release/authgate) KiB |"
  echo
  echo "Local server start to first answered request: ${ready_ms} ms."
  echo
  python3 infra/bench.py "http://127.0.0.1:$port"
  echo
  echo "argon2id (m=19456 KiB, t=2, p=1) dominates sign-up and login by design: each costs one hash"
  echo "or verify on a blocking thread, and an unknown identity costs the same as a wrong password."
} | tee "$out"
# --- store comparison (issue [11]): in-memory vs SQLite, its own section of $out ---
python3 infra/bench_store.py target/release/authgate --write "$out"
# --- end store comparison ---
