#!/usr/bin/env bash
# Run libmemcached's memccapable conformance suite against a fresh server.
#
#   tests/memccapable.sh [ascii|binary]      (default: ascii)
#
# The server is ${FERROCACHE_BIN:-target/release/ferrocache}; point
# FERROCACHE_BIN at /usr/bin/memcached to check the script against the oracle.
# It is started on a free loopback port with `-p PORT -l 127.0.0.1 -U 0`
# (plus `-u nobody` when it is memcached and we are root), and always killed
# on exit.
#
# memccapable prints one line per test to stdout, "<name> <padding>[pass]",
# then "All tests passed"; failures go to stderr as "[FAIL]" / "[ERROR ...]"
# and a summary "N of M tests failed". Success here means: exit status 0,
# exactly $EXPECTED "[pass]" lines, "All tests passed", and no FAIL/ERROR.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-ascii}"
case "$MODE" in
    ascii | -a) MODE=ascii; MODE_FLAG=-a ;;
    binary | -b) MODE=binary; MODE_FLAG=-b ;;
    *) echo "usage: $0 [ascii|binary]" >&2; exit 2 ;;
esac
EXPECTED=27 # memccapable (libmemcached 1.1.4) has 27 tests in each mode
BIN="${FERROCACHE_BIN:-$REPO_ROOT/target/release/ferrocache}"
TIMEOUT="${MEMCCAPABLE_TIMEOUT:-120}" # whole-run cap, seconds

log() { printf '[memccapable.sh] %s\n' "$*" >&2; }

if [[ ! -x "$BIN" ]]; then
    log "server binary not found or not executable: $BIN"
    exit 1
fi
if ! command -v memccapable >/dev/null 2>&1; then
    log "memccapable not found (apt package libmemcached-tools; run .ci/install-test-deps.sh)"
    exit 1
fi

free_port() {
    # Ask the kernel for a free port; never hand out memcached's 11211.
    python3 - <<'PY'
import socket
for _ in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    if port != 11211:
        print(port)
        break
PY
}

port_open() {
    # bash's /dev/tcp: succeeds once something accepts on the port.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {
    local port="$1" args
    args=(-p "$port" -l 127.0.0.1 -U 0)
    if [[ "$(id -u)" -eq 0 ]]; then
        # Both refuse to run as root without -u; ferrocache stays root.
        if [[ "$(basename "$BIN")" == memcached ]]; then args+=(-u nobody); else args+=(-u root); fi
    fi
    log "starting $BIN ${args[*]}"
    "$BIN" "${args[@]}" </dev/null >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    # Wait (bounded, no fixed sleep) until it accepts or dies.
    local deadline=$((SECONDS + 15))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" && rc=0 || rc=$?
            SERVER_PID=""
            log "server exited (status $rc) before accepting on port $port; its output:"
            sed 's/^/    /' "$WORK/server.log" >&2
            return 1
        fi
        if port_open "$port"; then
            return 0
        fi
        sleep 0.05
    done
    log "server did not accept on 127.0.0.1:$port within 15 s; its output:"
    sed 's/^/    /' "$WORK/server.log" >&2
    return 1
}

# A port probed free can be taken before the server binds it: retry a few
# times with fresh ports.
started=0
for attempt in 1 2 3; do
    PORT="$(free_port)"
    if start_server "$PORT"; then
        started=1
        break
    fi
    [[ -s "$WORK/server.log" ]] && grep -qi 'in use' "$WORK/server.log" || break
done
((started)) || exit 1

log "running memccapable -h 127.0.0.1 -p $PORT $MODE_FLAG"
rc=0
timeout --kill-after=5 "$TIMEOUT" memccapable -h 127.0.0.1 -p "$PORT" "$MODE_FLAG" -t 5 \
    </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
cat "$WORK/out"
cat "$WORK/err" >&2

passed="$(grep -c '\[pass\]' "$WORK/out" || true)"
failed=0
if grep -q -e 'FAIL' -e '\[ERROR' -e 'tests failed' "$WORK/out" "$WORK/err"; then
    failed=1
fi
if ((rc != 0)) || ((failed)) || [[ "$passed" -ne "$EXPECTED" ]] || ! grep -qx 'All tests passed' "$WORK/out"; then
    log "FAILED ($MODE): exit status $rc, $passed of $EXPECTED tests passed"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server died during the run; its output:"
        sed 's/^/    /' "$WORK/server.log" >&2
    fi
    exit 1
fi
log "OK ($MODE): $passed of $EXPECTED tests passed"
