#!/usr/bin/env bash
# Authgate test suite: local stand-ins for DynamoDB / SES v2 / OAuth2, then fmt, clippy, build,
# cargo test and cfn-lint. Used by `make test` and CI (.ci/run).
#
#   infra/test.sh                    full run
#   infra/test.sh -- FILTER [ARGS]   full run, extra arguments passed to `cargo test`
#   infra/test.sh --emulators-only   start the stand-ins, print their env, wait for Ctrl-C
#                                    (`source target/emulators/env.sh` in another shell)
#   AUTHGATE_SKIP_LINT=1             skip cargo fmt/clippy (local iteration only; CI never sets it)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
cd "$REPO_ROOT"

if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

EMULATORS_ONLY=0
CARGO_TEST_ARGS=()
while (($#)); do
  case "$1" in
    --emulators-only) EMULATORS_ONLY=1 ;;
    --) shift; CARGO_TEST_ARGS=("$@"); break ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=infra/emulators/lib.sh
source "$REPO_ROOT/infra/emulators/lib.sh"

SLEEP_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$SLEEP_PID" ]] && kill "$SLEEP_PID" 2>/dev/null
  emulators_stop
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

banner() {
  printf '\n==================== %s ====================\n' "$*"
}

banner "setup: Python venv + npm ci"
emulators_setup

banner "emulators: moto (DynamoDB), aws-ses-v2-local (SES v2), oauth2-mock"
emulators_start
emulators_print_env

if ((EMULATORS_ONLY)); then
  cat <<EOF

Emulators running; env written to target/emulators/env.sh. Ctrl-C to stop.
  sent mail (SES):     curl -s '$AUTHGATE_TEST_SES/store?since=0'   (web UI: $AUTHGATE_TEST_SES/)
  OAuth2 mock counters: curl -s '$AUTHGATE_TEST_OAUTH2/__mock/stats?login_hint=EMAIL'
  moto state reset:    curl -s -X POST '$AUTHGATE_TEST_MOTO/moto-api/reset'
  logs:                target/emulators/*.log
EOF
  # `wait` on a background sleep so that the INT/TERM traps run promptly.
  sleep infinity &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
  exit 0
fi

if [[ "${AUTHGATE_SKIP_LINT:-}" == "1" ]]; then
  banner "cargo fmt / clippy: SKIPPED (AUTHGATE_SKIP_LINT=1)"
else
  banner "cargo fmt --all -- --check"
  cargo fmt --all -- --check

  banner "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings
fi

banner "cargo build --workspace --bins"
cargo build --workspace --bins

banner "cargo test --workspace --no-fail-fast"
TEST_LOG="$EMU_LOG_DIR/cargo-test.log"
cargo test --workspace --no-fail-fast ${CARGO_TEST_ARGS[@]+"${CARGO_TEST_ARGS[@]}"} 2>&1 | tee "$TEST_LOG"

banner "cfn-lint template.yaml"
"$VENV_DIR/bin/cfn-lint" template.yaml
echo "cfn-lint: clean"

# One closing line summing every `test result:` line of cargo test (unit, integration, doc).
banner "summary"
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($i ~ /^passed;?$/) p += $(i - 1)
         if ($i ~ /^failed;?$/) f += $(i - 1)
         if ($i ~ /^ignored;?$/) s += $(i - 1)
       }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$TEST_LOG"
