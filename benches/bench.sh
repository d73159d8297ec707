#!/usr/bin/env bash
# make bench: install what the benchmark needs, build, and run benches/run.py,
# which writes docs/benchmarks.{md,png,json}. Arguments go to run.py
# (e.g. `benches/bench.sh --rounds 5`, `--only text_p16`).
#
#   apt:  memcached (the reference), linux-perf (syscall counting through a
#         kernel tracepoint; without it the driver falls back to /proc/PID/io),
#         python3-venv. Only missing packages are installed.
#   venv: .venv-bench with benches/requirements.txt (matplotlib), kept apart
#         from the test venv so benchmarking needs no compiler toolchain for
#         pylibmc and testing needs no plotting stack.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
VENV="${BENCH_VENV:-$REPO_ROOT/.venv-bench}"
REQS="$REPO_ROOT/benches/requirements.txt"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

log() { printf '[bench.sh] %s\n' "$*" >&2; }

missing=()
for pkg in memcached linux-perf python3-venv; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    [[ "$(id -u)" -ne 0 ]] && sudo=(sudo -n)
    log "apt: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    # linux-perf is optional: the driver works (less precisely) without it.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" </dev/null ||
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends memcached python3-venv </dev/null
fi
# The packaged memcached service would hold port 11211 and a core; the
# benchmark starts its own instances on probed ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet memcached 2>/dev/null; then
    log "note: a memcached service is running; it is left alone (the benchmark uses other ports)"
fi

stamp="$VENV/.requirements.stamp"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    py=/usr/bin/python3
    "$py" -m venv --help >/dev/null 2>&1 || py=python3
    log "venv: $VENV ($("$py" --version 2>&1)) with $(basename "$REQS")"
    "$py" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" </dev/null
    echo "$want" >"$stamp"
fi

log "cargo build --release --bins"
cargo build --release --bins
exec "$VENV/bin/python" benches/run.py "$@"
