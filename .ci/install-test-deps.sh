#!/usr/bin/env bash
# Install everything `make test` needs, idempotently and without a TTY.
#
#   1. Debian packages (only the missing ones; `apt-get update` once, and only
#      when something is missing).
#   2. memcached 1.6.18's source (for its test suite in t/, run by
#      tests/memcached-t/run.sh), from Debian's package archive with
#      `apt-get source`, unpacked under $CACHE (outside git; kept between
#      runs). A deb-src entry is added for it when apt has none.
#      Also memcached 1.6.38's, Debian 13 (trixie)'s source package, for
#      its t/lru-crawler.t and t/watcher.t: fetched with an apt
#      configuration of its own under $CACHE/apt-trixie (a single trixie
#      deb-src entry, its own package lists and cache), so the machine's
#      apt sources and candidates do not change.
#   3. A Python virtualenv at .venv with tests/clients/requirements.txt.
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
#   SKIP_APT=1          do not touch Debian packages (nor fetch memcached's source)
#   FERROCACHE_CACHE=...  where memcached's source goes
#                       (default: ${XDG_CACHE_HOME:-~/.cache}/ferrocache)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO_ROOT/.venv}"
REQS="$REPO_ROOT/tests/clients/requirements.txt"
STAMP="$VENV/.requirements.stamp"
CACHE="${FERROCACHE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrocache}"
MEMCACHED_SRC_VERSION=1.6.18
# Debian 13's memcached; the suite whose source package carries it.
MEMCACHED_NEW_VERSION=1.6.38
MEMCACHED_NEW_SUITE=trixie

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
    dpkg-dev             # dpkg-source, which `apt-get source` unpacks with
    perl                 # memcached's t/ suite (Test::More and the other core modules)
    sasl2-bin            # saslpasswd2, for memcached's t/binary-sasl.t
    tmux                 # a terminal for the `ferrocache-cli top` test
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

# ---------------------------------------------------------------- memcached source
# apt-get source needs a deb-src entry. Debian 12's images carry only "deb"
# entries (deb822 /etc/apt/sources.list.d/debian.sources, or a one-line
# /etc/apt/sources.list); copy those as deb-src into a file of our own.
DEB_SRC_LIST=/etc/apt/sources.list.d/ferrocache-deb-src.sources

have_deb_src() {
    apt-cache showsrc memcached 2>/dev/null | grep -q '^Package: memcached'
}

add_deb_src() {
    local deb822=/etc/apt/sources.list.d/debian.sources entries=""
    if [[ -f "$deb822" ]]; then
        entries="$(awk 'BEGIN { RS = ""; ORS = "\n\n" }
            /(^|\n)Types:[^\n]*deb/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$deb822")"
    fi
    if [[ -z "$entries" && -f /etc/apt/sources.list ]]; then
        # One-line format: turn each "deb URI SUITE COMPONENTS" into deb822.
        entries="$(awk '$1 == "deb" {
            i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:", $i, $(i + 1)
            for (j = i + 2; j <= NF; j++) printf " %s", $j
            printf "\n\n" }' /etc/apt/sources.list)"
    fi
    if [[ -z "$entries" ]]; then
        log "memcached source: no Debian apt source to copy as deb-src"
        return 1
    fi
    log "memcached source: adding deb-src entries in $DEB_SRC_LIST"
    printf '%s\n' "$entries" >"$DEB_SRC_LIST"
}

install_memcached_source() {
    local dir="$CACHE/memcached-$MEMCACHED_SRC_VERSION"
    if [[ -f "$dir/t/lib/MemcachedTest.pm" ]]; then
        log "memcached source: $dir present"
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "memcached source: need root to add a deb-src entry and fetch it"
        return 1
    fi
    if ! have_deb_src; then
        [[ -f "$DEB_SRC_LIST" ]] || add_deb_src
        DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    fi
    local tmp
    mkdir -p "$CACHE"
    tmp="$(mktemp -d "$CACHE/fetch.XXXXXX")"
    log "memcached source: apt-get source memcached into $CACHE"
    # --only-source: the source package itself, not one named after a binary.
    if ! (cd "$tmp" && DEBIAN_FRONTEND=noninteractive apt-get source -qq --only-source memcached </dev/null >/dev/null); then
        rm -rf "$tmp"
        log "memcached source: apt-get source failed"
        return 1
    fi
    if [[ ! -d "$tmp/memcached-$MEMCACHED_SRC_VERSION/t" ]]; then
        log "memcached source: expected memcached-$MEMCACHED_SRC_VERSION, got: $(ls "$tmp")"
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$dir"
    mv "$tmp/memcached-$MEMCACHED_SRC_VERSION" "$dir"
    rm -rf "$tmp"
    log "memcached source: $dir ready"
}

# Debian 13's memcached source through a private apt configuration: apt
# reads only $apt_dir/sources.list and keeps its lists and cache there, so
# nothing in /etc/apt changes and no root is needed. The Release file is
# checked against Debian's archive keyring (debian-archive-keyring, which
# every Debian has, signs trixie's Release too).
install_memcached_new_source() {
    local dir="$CACHE/memcached-$MEMCACHED_NEW_VERSION"
    if [[ -f "$dir/t/lib/MemcachedTest.pm" ]]; then
        log "memcached source: $dir present"
        return 0
    fi
    local apt_dir="$CACHE/apt-$MEMCACHED_NEW_SUITE" tmp
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
        "$MEMCACHED_NEW_SUITE" >"$apt_dir/sources.list"
    local apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
    log "memcached source: apt-get source memcached from $MEMCACHED_NEW_SUITE into $CACHE"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -qq "${apt_opts[@]}" update </dev/null; then
        log "memcached source: apt-get update of the $MEMCACHED_NEW_SUITE deb-src entry failed"
        return 1
    fi
    tmp="$(mktemp -d "$CACHE/fetch.XXXXXX")"
    if ! (cd "$tmp" && DEBIAN_FRONTEND=noninteractive apt-get source -qq --only-source "${apt_opts[@]}" memcached </dev/null >/dev/null); then
        rm -rf "$tmp"
        log "memcached source: apt-get source (from $MEMCACHED_NEW_SUITE) failed"
        return 1
    fi
    if [[ ! -d "$tmp/memcached-$MEMCACHED_NEW_VERSION/t" ]]; then
        log "memcached source: expected memcached-$MEMCACHED_NEW_VERSION from $MEMCACHED_NEW_SUITE, got: $(ls "$tmp")"
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$dir"
    mv "$tmp/memcached-$MEMCACHED_NEW_VERSION" "$dir"
    rm -rf "$tmp"
    log "memcached source: $dir ready"
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
        if [[ -n "$have" && "$have" == "$want" && -d "$VENV/pylibmc-wheel/pylibmc" ]]; then
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
    # pylibmc as `pip install pylibmc` gets it: the manylinux wheel, with
    # its bundled libmemcached, in a directory of its own (for
    # tests/clients/test_pylibmc_wheel.py; the venv keeps the source build).
    rm -rf "$VENV/pylibmc-wheel"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary=:all: --no-deps --target "$VENV/pylibmc-wheel" \
        "pylibmc==$(sed -n 's/^pylibmc==//p' "$REQS")" </dev/null
    want="$({ sha256sum "$REQS"; "$VENV/bin/python" -c 'import sys; print(sys.version, sys._base_executable)'; } | sha256sum | cut -d' ' -f1)"
    echo "$want" >"$STAMP"
}

if [[ "${SKIP_APT:-0}" != 1 ]]; then
    install_apt
    install_memcached_source
    install_memcached_new_source
fi
install_venv
