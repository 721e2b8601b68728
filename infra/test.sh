#!/usr/bin/env bash
# Authgate test suite: local stand-ins for DynamoDB / SES v2 / OAuth2, then fmt, clippy, build,
# cargo test, cfn-lint, `sam validate --lint` and one Lambda built for arm64 the way `make package`
# builds them all. Used by `make test` and CI (.ci/run).
#
#   infra/test.sh                    full run
#   infra/test.sh -- FILTER [ARGS]   full run, extra arguments passed to `cargo test`
#   infra/test.sh --emulators-only   start the stand-ins, print their env, wait for Ctrl-C
#                                    (`source target/emulators/env.sh` in another shell)
#   AUTHGATE_SKIP_LINT=1             skip cargo fmt/clippy (local iteration only; CI never sets it)
#   AUTHGATE_TEST_PACKAGE=one|all|skip  Lambda build check: one function (default), every function
#                                    (a full `sam build`, ~30 min cold), or none (local iteration)
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
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=infra/emulators/lib.sh
source "$REPO_ROOT/infra/emulators/lib.sh"
# shellcheck source=infra/package.sh
source "$REPO_ROOT/infra/package.sh"

PACKAGE_CHECK="${AUTHGATE_TEST_PACKAGE:-one}"
case "$PACKAGE_CHECK" in
  one | all | skip) ;;
  *) echo "AUTHGATE_TEST_PACKAGE must be one, all or skip (not '$PACKAGE_CHECK')" >&2; exit 2 ;;
esac

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
if ((!EMULATORS_ONLY)); then
  # aws-sam-cli + cargo-lambda (zig) in their own venv, infra/.venv-package (pinned, stamped).
  package_setup_venv
fi

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

banner "sam validate --lint"
# Offline, no credentials: --lint runs cfn-lint through SAM's own template handling.
(package_env && sam validate --lint --template-file template.yaml --region us-east-1 </dev/null)

# The Lambda build as `make package` runs it (sam build -> cargo lambda build --release --arm64
# --bin auth-methods, zig linker), into target/sam-check so that .aws-sam/build is left alone.
if [[ "$PACKAGE_CHECK" == skip ]]; then
  banner "Lambda build check: SKIPPED (AUTHGATE_TEST_PACKAGE=skip)"
else
  PACKAGE_FUNCTIONS=()
  [[ "$PACKAGE_CHECK" == one ]] && PACKAGE_FUNCTIONS=(AuthMethodsFunction)
  banner "sam build ${PACKAGE_FUNCTIONS[*]:-(every function)}: release, arm64"
  (
    package_env
    # Falls back to x86_64, saying so, when the aarch64 Rust target cannot be installed.
    arch="$(package_rust_target arm64 0)"
    start=$SECONDS
    sam build ${PACKAGE_FUNCTIONS[@]+"${PACKAGE_FUNCTIONS[@]}"} --template-file template.yaml \
      --build-dir "$CARGO_TARGET_DIR/sam-check" --parameter-overrides "Architecture=$arch" </dev/null
    echo "sam build ($arch) took $((SECONDS - start)) s"
    package_check_artifacts "$CARGO_TARGET_DIR/sam-check" "$arch" ${PACKAGE_FUNCTIONS[@]+"${PACKAGE_FUNCTIONS[@]}"}
  )
fi

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
