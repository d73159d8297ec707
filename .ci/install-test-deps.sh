#!/usr/bin/env bash
# Install everything `make test` needs, idempotently and without a TTY.
#
#   1. Debian packages (only the missing ones; `apt-get update` once, and only
#      when something is missing).
#   2. A Python virtualenv at .venv with tests/clients/requirements.txt.
#      A stamp file (.venv/.requirements.stamp) records a hash of the
#      requirements file and of the interpreter, so a rerun with nothing
#      changed returns in well under a second.
#
# Interpreter choice: Debian's /usr/bin/python3 (3.11, venv from the
# python3-venv package, headers from python3-dev). It is preferred over the
# pyenv 3.11 that may be first on PATH because pylibmc is compiled from
# source against Debian's libmemcached-dev and python3-dev, and because it
# exists on any Debian 12 machine once python3-venv is installed. If it has
# no working venv module, the first python3 on PATH is used instead.
# Override with PYTHON=/path/to/python3.
#
# Environment knobs:
#   PYTHON=...          interpreter to build the venv with
#   VENV=...            venv location (default: <repo>/.venv)
#   SKIP_APT=1          do not touch Debian packages
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"
REQS="$REPO_ROOT/tests/clients/requirements.txt"
STAMP="$VENV/.requirements.stamp"

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- apt
APT_PACKAGES=(
    libmemcached-tools   # memccapable
    netcat-openbsd       # nc, for ad-hoc protocol pokes
    python3-venv         # venv for the client test-suite
    python3-dev          # headers for building pylibmc
    build-essential      # compiler for pylibmc
    libmemcached-dev     # pylibmc links against Debian's libmemcached
    libsasl2-modules     # Cyrus SASL mechanisms for pylibmc's SASL login
    zlib1g-dev           # pylibmc's compression support
    memcached            # the oracle (and later: benchmarks)
    nutcracker           # twemproxy (later: scale-out tests)
    openssl              # test certificates and s_client for the TLS tests
    systemd              # systemd-analyze verify, for the unit files
    prometheus           # promtool check metrics, for -o metrics_listen
)

install_apt() {
    local missing=() pkg status
    for pkg in "${APT_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        if [[ "$status" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "apt: all ${#APT_PACKAGES[@]} packages already installed"
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            log "apt: need root or sudo to install: ${missing[*]}"
            return 1
        fi
    fi
    log "apt: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
}

# ---------------------------------------------------------------- venv
venv_works() {
    # A python whose venv module (with ensurepip) actually works.
    local py="$1" tmp
    command -v "$py" >/dev/null 2>&1 || return 1
    tmp="$(mktemp -d)"
    if "$py" -m venv "$tmp/v" >/dev/null 2>&1 && "$tmp/v/bin/python" -m pip --version >/dev/null 2>&1; then
        rm -rf "$tmp"
        return 0
    fi
    rm -rf "$tmp"
    return 1
}

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        echo "$PYTHON"
        return 0
    fi
    local cand
    for cand in /usr/bin/python3 python3; do
        if venv_works "$cand"; then
            command -v "$cand"
            return 0
        fi
    done
    log "venv: no python3 with a working venv module (is python3-venv installed?)"
    return 1
}

install_venv() {
    local want have=""
    # The stamp depends on the requirements and on the interpreter the venv
    # was built from; it is only valid if that venv still runs.
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        have="$(cat "$STAMP" 2>/dev/null || true)"
        want="$({ sha256sum "$REQS"; "$VENV/bin/python" -c 'import sys; print(sys.version, sys._base_executable)'; } | sha256sum | cut -d' ' -f1)"
        if [[ -n "$have" && "$have" == "$want" ]]; then
            log "venv: $VENV up to date"
            return 0
        fi
    fi
    local py
    py="$(pick_python)"
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        log "venv: creating $VENV with $py ($("$py" --version 2>&1))"
        rm -rf "$VENV"
        "$py" -m venv "$VENV"
    fi
    log "venv: installing $(basename "$REQS")"
    # --use-pep517: pylibmc is built from source (see requirements.txt) and
    # the legacy setup.py path is deprecated.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --use-pep517 -r "$REQS" </dev/null
    "$VENV/bin/python" - <<'PY'
import bmemcached, meta_memcache, pylibmc, pymemcache, pytest
print("[install-test-deps] venv: pymemcache %s, pylibmc %s (libmemcached %s), pytest %s"
      % (pymemcache.__version__, pylibmc.__version__, pylibmc.libmemcached_version, pytest.__version__))
PY
    want="$({ sha256sum "$REQS"; "$VENV/bin/python" -c 'import sys; print(sys.version, sys._base_executable)'; } | sha256sum | cut -d' ' -f1)"
    echo "$want" >"$STAMP"
}

if [[ "${SKIP_APT:-0}" != 1 ]]; then
    install_apt
fi
install_venv
