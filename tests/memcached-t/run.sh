#!/usr/bin/env bash
# Run memcached 1.6.18's (or another version's) own test suite (the Perl files in its t/) against
# ferrocache, with memcached's harness (t/lib/MemcachedTest.pm) unchanged.
#
#   tests/memcached-t/run.sh [FILE.t ...]     default: every t/*.t
#
# The harness starts "$builddir/memcached-debug" through "$builddir/timedrun"
# with cwd == builddir. The adapter is a build directory under target/:
#   memcached-debug -> the ferrocache binary (a symlink)
#   timedrun        -> drops its time argument and execs the server, so the
#                      pid the harness signals is ferrocache's own
#   t               -> memcached's t/ from the cached Debian source
# No .t file is modified. Each file runs under `timeout` (MEMCACHED_T_LIMIT
# seconds, default 60); afterwards every ferrocache process it started
# (found by a marker in its environment) is stopped by pid.
#
# Files named in not-applicable.txt are not run; a file that skips itself
# whole (TAP "1..0 # SKIP") counts as not applicable too, with its reason.
# differences.txt names single assertions ("FILE.t N reason") that test a
# memcached internal ferrocache does differently by design: such a file
# still runs whole, and passes when every failing assertion is named there
# and the file ran to its planned end (or "FILE.t plan reason" names why
# the number of assertions run differs).
# A failing file listed in known-failures.txt is counted as failed but does
# not fail the run (each line says why it fails and what it waits for); any
# other failure does (exit 1). Logs: target/memcached-t/logs/FILE.log.
#
# Environment knobs:
#   FERROCACHE_BIN     server under test (default target/release/ferrocache)
#   MEMCACHED_T_VERSION  memcached version whose suite runs (default 1.6.18;
#                      .ci/install-test-deps.sh also fetches 1.6.38, Debian
#                      13's, whose tables are in 1.6.38/ here and whose logs
#                      go to target/memcached-t/1.6.38/logs/)
#   MEMCACHED_SRC      memcached source tree (default: where
#                      .ci/install-test-deps.sh unpacks that version)
#   MEMCACHED_T_TABLES directory of the three tables (default: this one for
#                      1.6.18, the version's subdirectory for another)
#   MEMCACHED_T_JOBS   files run at once (default 4: they mostly wait on
#                      sleeps and sockets, not on the CPU)
#   MEMCACHED_T_LIMIT  seconds per file (default 60; the slowest passing
#                      file takes about 25 s on 2 busy cores)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${FERROCACHE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferrocache}"
VERSION="${MEMCACHED_T_VERSION:-1.6.18}"
SRC="${MEMCACHED_SRC:-$CACHE/memcached-$VERSION}"
BIN="$(realpath "${FERROCACHE_BIN:-$REPO_ROOT/target/release/ferrocache}")"
JOBS="${MEMCACHED_T_JOBS:-4}"
LIMIT="${MEMCACHED_T_LIMIT:-60}"
OUT="$REPO_ROOT/target/memcached-t"
TABLES="$HERE"
# Another version runs beside 1.6.18, with its own tables and logs.
if [[ "$VERSION" != 1.6.18 ]]; then
    OUT="$OUT/$VERSION"
    TABLES="$HERE/$VERSION"
fi
TABLES="${MEMCACHED_T_TABLES:-$TABLES}"
BUILD="$OUT/build"
LOGS="$OUT/logs"

log() { printf '[memcached-t] %s\n' "$*" >&2; }

[[ -d "$SRC/t/lib" ]] || { log "no memcached source at $SRC (run .ci/install-test-deps.sh)"; exit 2; }
[[ -x "$BIN" ]] || { log "no server binary at $BIN (run cargo build --release --bins)"; exit 2; }

# ------------------------------------------------------------ the adapter
rm -rf "$BUILD" "$LOGS"
mkdir -p "$BUILD" "$LOGS"
ln -s "$SRC/t" "$BUILD/t"
ln -s "$BIN" "$BUILD/memcached-debug"
cat >"$BUILD/timedrun" <<'SH'
#!/bin/sh
# memcached's timedrun SECONDS CMD...: the runner enforces the time limit
# per test file, so exec CMD and keep its pid.
shift
exec "$@"
SH
chmod +x "$BUILD/timedrun"

# ------------------------------------------------------------ the tables
# "FILE.t  reason" lines; # comments and blank lines ignored.
table() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1" | awk '{print $1}'; }
mapfile -t NA < <(table "$TABLES/not-applicable.txt")
mapfile -t KNOWN < <(table "$TABLES/known-failures.txt")
# "FILE.t N" of every named difference.
mapfile -t DIFFS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TABLES/differences.txt" | awk '{print $1 " " $2}')
in_list() { local x="$1"; shift; local y; for y in "$@"; do [[ "$x" == "$y" ]] && return 0; done; return 1; }

if (($# > 0)); then
    FILES=("$@")
else
    mapfile -t FILES < <(cd "$SRC/t" && ls -1 -- *.t)
fi
FILES=("${FILES[@]##*/}")

# ------------------------------------------------------------ one file
# Stop, by pid, every server a test file left running: processes of the
# server binary whose environment carries this file's marker.
reap() {
    local marker="$1" pid pids=() round
    for round in 1 2 3; do
        pids=()
        for pid in /proc/[0-9]*; do
            pid="${pid#/proc/}"
            [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN" ]] || continue
            { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "MEMCACHED_T_MARKER=$marker" || continue
            pids+=("$pid")
        done
        ((${#pids[@]} == 0)) && return 0
        if ((round < 3)); then kill -TERM "${pids[@]}" 2>/dev/null || true; else kill -KILL "${pids[@]}" 2>/dev/null || true; fi
        sleep 1
    done
}

run_one() {
    local f="$1" marker="$$-$1" rc=0 start end
    start=$(date +%s)
    (cd "$BUILD" && MEMCACHED_T_MARKER="$marker" timeout -k 10 "$LIMIT" perl "t/$f") \
        >"$LOGS/$f.log" 2>&1 </dev/null || rc=$?
    end=$(date +%s)
    reap "$marker"
    echo "$rc $((end - start))" >"$LOGS/$f.rc"
}

# A failed file whose every failing assertion is a named difference, and
# which ran to its plan: prints the named assertions' numbers.
only_differences() {
    local f="$1" log="$LOGS/$1.log" n named=()
    grep -q '^# Looks like your test exited\|^# Looks like your test died\|^Bail out!' "$log" && return 1
    # A plan missed by assertions whose number follows a named difference
    # (a loop over a count that differs) is allowed only when named too.
    if grep -q '^# Looks like you planned' "$log"; then
        in_list "$f plan" "${DIFFS[@]}" || return 1
    fi
    grep -q '^1\.\.[0-9]' "$log" || return 1
    local failing
    failing="$(sed -n 's/^not ok \([0-9][0-9]*\).*/\1/p' "$log")"
    [[ -n "$failing" ]] || return 1
    for n in $failing; do
        in_list "$f $n" "${DIFFS[@]}" || return 1
        named+=("$n")
    done
    echo "${named[*]}"
}

# ------------------------------------------------------------ run
export RUN_SASL_TESTS=1
started=$(date +%s)
running=0
for f in "${FILES[@]}"; do
    in_list "$f" "${NA[@]}" && continue
    run_one "$f" &
    running=$((running + 1))
    if ((running >= JOBS)); then wait -n || true; running=$((running - 1)); fi
done
wait || true

passed=0 failed=0 na=0 differing=0 unexpected=()
for f in "${FILES[@]}"; do
    if in_list "$f" "${NA[@]}"; then
        na=$((na + 1))
        printf '%-32s n/a\n' "$f"
        continue
    fi
    read -r rc secs <"$LOGS/$f.rc"
    if [[ "$rc" == 0 ]] && grep -q '^1\.\.0 # SKIP' "$LOGS/$f.log"; then
        na=$((na + 1))
        printf '%-32s n/a   (skipped itself: %s)\n' "$f" "$(sed -n 's/^1\.\.0 # SKIP *//p' "$LOGS/$f.log")"
    elif [[ "$rc" == 0 ]]; then
        passed=$((passed + 1))
        if in_list "$f" "${KNOWN[@]}"; then
            printf '%-32s ok    %4ss  (listed in known-failures.txt: remove it)\n' "$f" "$secs"
        else
            printf '%-32s ok    %4ss\n' "$f" "$secs"
        fi
    elif named="$(only_differences "$f")"; then
        passed=$((passed + 1))
        differing=$((differing + 1))
        printf '%-32s ok    %4ss  (named differences in differences.txt: assertion %s)\n' "$f" "$secs" "$named"
    else
        failed=$((failed + 1))
        local_note=""
        [[ "$rc" == 124 || "$rc" == 137 ]] && local_note=" (time limit ${LIMIT}s)"
        if in_list "$f" "${KNOWN[@]}"; then
            printf '%-32s FAIL  %4ss known%s\n' "$f" "$secs" "$local_note"
        else
            printf '%-32s FAIL  %4ss%s  see %s\n' "$f" "$secs" "$local_note" "$LOGS/$f.log"
            unexpected+=("$f")
        fi
    fi
done
printf 'memcached-t: %d passed (%d of them with named differences), %d failed, %d not applicable (%ss)\n' \
    "$passed" "$differing" "$failed" "$na" "$(($(date +%s) - started))"
if ((${#unexpected[@]} > 0)); then
    log "failed and not in known-failures.txt: ${unexpected[*]}"
    exit 1
fi
((failed == 0)) || log "all $failed failures are listed in $TABLES/known-failures.txt"
