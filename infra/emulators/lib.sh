# shellcheck shell=bash
# Local AWS/OAuth2 stand-ins for the Authgate tests. Sourced by infra/test.sh (and usable on its
# own: `source infra/emulators/lib.sh; emulators_setup; emulators_start; ...; emulators_stop`).
#
#   DynamoDB  moto 5.2.5 server            health GET /moto-api/        (state: POST /moto-api/reset)
#   (moto also serves Secrets Manager: AWS_ENDPOINT_URL_SECRETS_MANAGER)
#   SES v2    aws-ses-v2-local 2.10.2      health GET /health-check     (mail: GET /store?since=<unix>)
#   OAuth2    infra/node/oauth2-mock.mjs   health GET /.well-known/openid-configuration
#
# Requires: REPO_ROOT set to the repository root. Logs go to target/emulators/*.log.

: "${REPO_ROOT:?REPO_ROOT must be set}"
VENV_DIR="$REPO_ROOT/infra/.venv"
NODE_DIR="$REPO_ROOT/infra/node"
EMU_LOG_DIR="$REPO_ROOT/target/emulators"
EMU_PIDS=()

emu_log() { printf '[emulators] %s\n' "$*" >&2; }

emu_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Create or refresh infra/.venv; reinstall only when requirements.txt (or the Python) changed.
emulators_setup_venv() {
  local req="$REPO_ROOT/infra/requirements.txt" stamp="$VENV_DIR/requirements.stamp" want
  want="$(emu_hash "$req")-$(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [[ -x "$VENV_DIR/bin/python" ]] && "$VENV_DIR/bin/python" -c '' 2>/dev/null \
    && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    emu_log "venv up to date ($VENV_DIR)"
    return 0
  fi
  emu_log "installing Python tools into $VENV_DIR"
  rm -rf "$VENV_DIR"
  python3 -m venv "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  printf '%s' "$want" >"$stamp"
}

# npm ci in infra/node; skipped while node_modules matches package-lock.json (and Node version).
emulators_setup_node() {
  local lock="$NODE_DIR/package-lock.json" stamp="$NODE_DIR/node_modules/lock.stamp" want
  want="$(emu_hash "$lock" "$NODE_DIR/package.json")-$(node --version)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    emu_log "node_modules up to date ($NODE_DIR)"
    return 0
  fi
  emu_log "npm ci in $NODE_DIR"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s' "$want" >"$stamp"
}

emulators_setup() {
  local tool
  for tool in python3 node npm curl sha256sum; do
    command -v "$tool" >/dev/null || { emu_log "missing required tool: $tool"; return 1; }
  done
  emulators_setup_venv
  emulators_setup_node
}

# Prints N distinct free TCP ports on 127.0.0.1 (all sockets held open until all are chosen).
emu_free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# emu_spawn NAME CMD... : start CMD in the background, logging to target/emulators/NAME.log.
emu_spawn() {
  local name="$1"
  shift
  "$@" >"$EMU_LOG_DIR/$name.log" 2>&1 </dev/null &
  EMU_PIDS+=("$!")
  emu_log "started $name (pid ${EMU_PIDS[-1]}): $*"
}

# emu_wait NAME PID URL [TIMEOUT_SECS] : poll URL until it answers 2xx; fail with the log tail.
emu_wait() {
  local name="$1" pid="$2" url="$3" timeout="${4:-30}" deadline
  deadline=$((SECONDS + timeout))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      emu_log "ERROR: $name exited before becoming healthy ($url). Log tail:"
      tail -n 40 "$EMU_LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      emu_log "ERROR: $name not healthy after ${timeout}s ($url). Log tail:"
      tail -n 40 "$EMU_LOG_DIR/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  emu_log "$name healthy at $url"
}

# Starts the three stand-ins and exports the AWS_* / AUTHGATE_* variables the tests read.
emulators_start() {
  local moto_port ses_port oauth_port
  mkdir -p "$EMU_LOG_DIR"
  read -r moto_port ses_port oauth_port <<<"$(emu_free_ports 3)"

  # moto serialised behind one lock: its backends are not thread-safe (see moto_serial.py).
  emu_spawn moto "$VENV_DIR/bin/python" "$REPO_ROOT/infra/emulators/moto_serial.py" 127.0.0.1 "$moto_port"
  local moto_pid="${EMU_PIDS[-1]}"
  # SMTP_TRANSPORT would make aws-ses-v2-local forward mail to a real SMTP server: never here.
  emu_spawn ses env -u SMTP_TRANSPORT node "$NODE_DIR/node_modules/aws-ses-v2-local/dist/cli.js" \
    --host 127.0.0.1 --port "$ses_port"
  local ses_pid="${EMU_PIDS[-1]}"
  emu_spawn oauth2 node "$NODE_DIR/oauth2-mock.mjs" "$oauth_port"
  local oauth_pid="${EMU_PIDS[-1]}"

  emu_wait moto "$moto_pid" "http://127.0.0.1:$moto_port/moto-api/"
  emu_wait ses "$ses_pid" "http://127.0.0.1:$ses_port/health-check"
  emu_wait oauth2 "$oauth_pid" "http://127.0.0.1:$oauth_port/.well-known/openid-configuration"

  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=test
  export AWS_SECRET_ACCESS_KEY=test
  unset AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$moto_port"
  export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$ses_port"
  # moto serves Secrets Manager too (the token and OAuth2 client secrets).
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$moto_port"
  export AUTHGATE_TEST_MOTO="http://127.0.0.1:$moto_port"
  export AUTHGATE_TEST_SES="http://127.0.0.1:$ses_port"
  export AUTHGATE_TEST_OAUTH2="http://127.0.0.1:$oauth_port"
  export AUTHGATE_NODE_DIR="$NODE_DIR"

  emulators_print_env >"$EMU_LOG_DIR/env.sh"
}

emulators_print_env() {
  local v
  for v in AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
    AWS_EC2_METADATA_DISABLED AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SESV2 \
    AWS_ENDPOINT_URL_SECRETS_MANAGER \
    AUTHGATE_TEST_MOTO AUTHGATE_TEST_SES AUTHGATE_TEST_OAUTH2 AUTHGATE_NODE_DIR; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
}

# Stops everything emulators_start started (TERM, then KILL after 5 s). Safe to call twice.
emulators_stop() {
  local pid
  ((${#EMU_PIDS[@]})) || return 0
  for pid in "${EMU_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 25); do
    local alive=0
    for pid in "${EMU_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${EMU_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  EMU_PIDS=()
}
