#!/usr/bin/env bash
# Authgate packaging (`make package`): `sam build` of every function in template.yaml into
# .aws-sam/build/<Function>/bootstrap, ready for `sam deploy`. No Docker: cargo-lambda
# cross-compiles and links with zig. See docs/packaging.md.
#
#   infra/package.sh                   tools (pinned, own venv) + rustup target + sam build, arm64
#   ARCH=x86_64 infra/package.sh       x86_64 instead (template parameter Architecture=x86_64)
#   infra/package.sh setup             tools and rustup target only
#   infra/package.sh -- ARGS           extra `sam build` arguments (e.g. one function's logical id)
#
#   ARCH              arm64 (default) or x86_64. Unset, arm64 falls back to x86_64 (with a warning)
#                     when the aarch64 Rust target cannot be installed; set, it never falls back.
#   CARGO_TARGET_DIR  cargo's target directory (default <repo>/target, shared with `make test`).
#
# Also sourced by infra/test.sh for package_setup_venv, package_env, package_rust_target and
# package_check_artifacts.
set -euo pipefail

PKG_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG_VENV_DIR="$PKG_REPO_ROOT/infra/.venv-package"
PKG_REQUIREMENTS="$PKG_REPO_ROOT/infra/requirements-package.txt"

pkg_log() { printf '[package] %s\n' "$*" >&2; }

# Create or refresh infra/.venv-package; reinstall only when requirements-package.txt (or the
# Python) changed. Never touches the test venv infra/.venv.
package_setup_venv() {
  local stamp="$PKG_VENV_DIR/requirements.stamp" want
  command -v python3 >/dev/null || { pkg_log "missing required tool: python3"; return 1; }
  want="$(sha256sum "$PKG_REQUIREMENTS" | cut -d' ' -f1)-$(python3 -c 'import sys; print(sys.version.split()[0])')"
  if [[ -x "$PKG_VENV_DIR/bin/python" ]] && "$PKG_VENV_DIR/bin/python" -c '' 2>/dev/null \
    && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    pkg_log "packaging venv up to date ($PKG_VENV_DIR)"
    return 0
  fi
  pkg_log "installing aws-sam-cli, cargo-lambda and zig into $PKG_VENV_DIR (pinned, ~1 min, ~800 MB)"
  rm -rf "$PKG_VENV_DIR"
  python3 -m venv "$PKG_VENV_DIR"
  "$PKG_VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$PKG_REQUIREMENTS"
  printf '%s' "$want" >"$stamp"
}

# PATH and settings for sam / cargo-lambda (call in the shell or subshell that runs them).
package_env() {
  if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  # sam finds cargo-lambda on PATH; cargo-lambda finds zig through the venv's python (ziglang).
  export PATH="$PKG_VENV_DIR/bin:$PATH"
  export SAM_CLI_TELEMETRY=0
  # `cargo lambda build --target-dir` is broken (1.9.2): the variable is the way. sam's builder
  # reads the same directory back from `cargo metadata`.
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PKG_REPO_ROOT/target}"
}

pkg_triple() {
  case "$1" in
    arm64) echo aarch64-unknown-linux-gnu ;;
    x86_64) echo x86_64-unknown-linux-gnu ;;
  esac
}

pkg_target_installed() {
  local triple="$1" sysroot
  if command -v rustup >/dev/null; then
    rustup target list --installed 2>/dev/null | grep -qx "$triple" && return 0
  fi
  # Without rustup (distribution Rust), the standard library for the target is in the sysroot.
  sysroot="$(rustc --print sysroot 2>/dev/null)" || return 1
  [[ -d "$sysroot/lib/rustlib/$triple/lib" ]]
}

# package_rust_target ARCH EXPLICIT: makes sure Rust can build for ARCH (rustup target add) and
# prints the architecture to build for. For arm64 not asked for explicitly (EXPLICIT=0), falls
# back to x86_64 when the aarch64 target cannot be installed; otherwise fails.
package_rust_target() {
  local arch="$1" explicit="$2" triple
  triple="$(pkg_triple "$arch")"
  command -v rustc >/dev/null || { pkg_log "missing required tool: rustc (install Rust with rustup)"; return 1; }
  if pkg_target_installed "$triple"; then
    pkg_log "Rust target $triple installed"
    echo "$arch"
    return 0
  fi
  pkg_log "rustup target add $triple"
  if command -v rustup >/dev/null && rustup target add "$triple" >&2; then
    echo "$arch"
    return 0
  fi
  if [[ "$arch" == arm64 && "$explicit" == 0 ]]; then
    pkg_log "WARNING: cannot install the Rust target $triple (no rustup, or no network to"
    pkg_log "WARNING: static.rust-lang.org): building for x86_64 INSTEAD of arm64."
    pkg_log "WARNING: deploy with --parameter-overrides Architecture=x86_64 (the functions must"
    pkg_log "WARNING: run on the architecture they were built for), or fix rustup and rebuild."
    package_rust_target x86_64 1
    return $?
  fi
  pkg_log "ERROR: cannot install the Rust target $triple needed for ARCH=$arch"
  return 1
}

# package_check_artifacts BUILD_DIR ARCH [LOGICAL_ID...]: every function of template.yaml (or
# the ones named) has BUILD_DIR/<LogicalId>/bootstrap, an ELF executable for ARCH, stripped.
# Prints one line per function: name, size, size zipped.
package_check_artifacts() {
  local build_dir="$1" arch="$2"
  shift 2
  "$PKG_VENV_DIR/bin/python" - "$PKG_REPO_ROOT/template.yaml" "$build_dir" "$arch" "$@" <<'PY'
import io, os, struct, sys, zipfile
from samcli.yamlhelper import yaml_parse

template, build_dir, arch, *only = sys.argv[1:]
with open(template) as f:
    resources = yaml_parse(f.read())["Resources"]
functions = [k for k, v in resources.items() if v.get("Type") == "AWS::Serverless::Function"]
if only:
    unknown = sorted(set(only) - set(functions))
    if unknown:
        sys.exit(f"not functions of template.yaml: {unknown}")
    functions = [f for f in functions if f in only]
built_resources = {}
built_template = os.path.join(build_dir, "template.yaml")
if os.path.exists(built_template):
    with open(built_template) as f:
        built_resources = yaml_parse(f.read())["Resources"]

machine = {"arm64": 183, "x86_64": 62}[arch]  # EM_AARCH64, EM_X86_64
problems, total, total_zip = [], 0, 0
print(f"{'function':<30} {'bootstrap':>12} {'zipped':>12}")
for name in functions:
    path = os.path.join(build_dir, name, "bootstrap")
    if not os.path.isfile(path):
        problems.append(f"{name}: no {path}")
        continue
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        problems.append(f"{name}: {path} is not a 64-bit little-endian ELF file")
        continue
    (e_machine,) = struct.unpack_from("<H", data, 18)
    if e_machine != machine:
        problems.append(f"{name}: ELF machine {e_machine}, expected {machine} ({arch})")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    types = [struct.unpack_from("<I", data, shoff + i * shentsize + 4)[0] for i in range(shnum)]
    if 2 in types:  # SHT_SYMTAB
        problems.append(f"{name}: not stripped (has .symtab)")
    if not os.access(path, os.X_OK):
        problems.append(f"{name}: bootstrap is not executable")
    code_uri = built_resources.get(name, {}).get("Properties", {}).get("CodeUri")
    if built_resources and code_uri != name:
        problems.append(f"{name}: built template's CodeUri is {code_uri!r}, expected {name!r}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bootstrap", data)
    size, zipped = len(data), len(buf.getvalue())
    total += size
    total_zip += zipped
    print(f"{name:<30} {size / 1e6:>9.1f} MB {zipped / 1e6:>9.1f} MB")
print(f"{len(functions)} functions ({arch}): {total / 1e6:.1f} MB, zipped {total_zip / 1e6:.1f} MB")
if problems:
    print("\n".join(["PROBLEMS:"] + problems), file=sys.stderr)
    sys.exit(1)
PY
}

package_main() {
  local setup_only=0 sam_args=() arch explicit=1 t0 t
  while (($#)); do
    case "$1" in
      setup) setup_only=1 ;;
      --) shift; sam_args=("$@"); break ;;
      -h | --help) sed -n '2,16p' "$0"; return 0 ;;
      *) pkg_log "unknown argument: $1 (see --help)"; return 2 ;;
    esac
    shift
  done
  case "${ARCH:-}" in
    "") arch=arm64 explicit=0 ;;
    arm64 | aarch64) arch=arm64 ;;
    x86_64 | x86-64 | amd64) arch=x86_64 ;;
    *) pkg_log "ARCH must be arm64 or x86_64, not '$ARCH'"; return 2 ;;
  esac

  cd "$PKG_REPO_ROOT"
  t0=$SECONDS
  package_setup_venv
  package_env
  arch="$(package_rust_target "$arch" "$explicit")"
  pkg_log "tools ready in $((SECONDS - t0)) s: $(sam --version), $(cargo-lambda lambda --version 2>/dev/null), zig $(python -m ziglang version), $(rustc --version)"
  ((setup_only)) && return 0

  pkg_log "sam build ($arch, release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR): ~30-50 min cold on 2 cores"
  t=$SECONDS
  sam build --template-file template.yaml --build-dir .aws-sam/build \
    --parameter-overrides "Architecture=$arch" ${sam_args[@]+"${sam_args[@]}"} </dev/null
  pkg_log "sam build took $((SECONDS - t)) s"

  # A full build (no function named) must have produced every function of the template.
  if ((${#sam_args[@]} == 0)); then
    package_check_artifacts .aws-sam/build "$arch"
  fi
  pkg_log "done in $((SECONDS - t0)) s. Deploy (the Architecture parameter must match the build):"
  pkg_log "  $PKG_VENV_DIR/bin/sam deploy --guided --parameter-overrides Architecture=$arch"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  package_main "$@"
fi
