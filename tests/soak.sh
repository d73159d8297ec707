#!/usr/bin/env bash
# Soak: SOAK_SECONDS (default 600) of mixed load at pipeline depth 16 with
# evictions (1 GB of keys into -m 64) and expirations (a side client keeps
# setting items with 1-3 s exptimes), RSS sampled every 10 s.
# Pass: the load generator saw no error replies, the daemon is alive and
# answers, evictions and expirations happened, and RSS did not grow over the
# second half (last sample <= first second-half sample + 2% + 1 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${SOAK_SECONDS:-600}
BIN=${FERROCACHE_BIN:-target/release/ferrocache}
BENCH=target/release/ferrocache-bench
OUT=${SOAK_OUT:-target/soak}
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

USER_ARGS=()
[[ "$(id -u)" -eq 0 ]] && USER_ARGS=(-u root) # it refuses root without -u
"$BIN" -p "$PORT" -l 127.0.0.1 -U 0 -m 64 -t 2 "${USER_ARGS[@]}" &
DAEMON=$!
SIDE=""
cleanup() {
    [[ -n $SIDE ]] && kill "$SIDE" 2>/dev/null || true
    kill "$DAEMON" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT)).close()" 2>/dev/null && break
    sleep 0.1
done

# Expirations: short-lived items, bounded by the same duration.
python3 - "$PORT" "$SECONDS_TOTAL" <<'PY' &
import socket, sys, time
port, total = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
end = time.time() + total
i = 0
while time.time() < end:
    for _ in range(100):
        i += 1
        s.sendall(b"set exp:%d 0 %d 100\r\n%s\r\n" % (i, 1 + i % 3, b"e" * 100))
        line = f.readline()
        if line != b"STORED\r\n":
            print("soak: expiring set got %r" % line, file=sys.stderr)
            sys.exit(1)
    time.sleep(0.1)
PY
SIDE=$!

: > "$OUT/rss.csv"
(
    t=0
    while kill -0 "$DAEMON" 2>/dev/null && (( t <= SECONDS_TOTAL )); do
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status")
        echo "$t,$rss" >> "$OUT/rss.csv"
        sleep 10
        t=$((t + 10))
    done
) &
SAMPLER=$!

"$BENCH" -s "127.0.0.1:$PORT" -t 2 -c 32 -p 16 --ratio 1:3 -k 1000000 --value-size 1000 \
    --set-on-miss -d "$SECONDS_TOTAL" -q --json "$OUT/bench.json"
wait "$SAMPLER" || true
wait "$SIDE"
SIDE=""

python3 - "$PORT" "$OUT" <<'PY'
import json, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
bench = json.load(open(out + "/bench.json"))
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"stats\r\n")
data = b""
while not data.endswith(b"END\r\n"):
    data += s.recv(65536)
stats = dict(l.split()[1:3] for l in data.decode().splitlines() if l.startswith("STAT"))
rows = [tuple(map(int, l.split(","))) for l in open(out + "/rss.csv") if l.strip()]
half = [kb for t, kb in rows if t >= rows[-1][0] / 2]
print("soak: %d ops, %.0f ops/s, other_replies %d, evictions %s, expired_unfetched %s, reclaimed %s"
      % (bench["ops"], bench["ops_per_sec"], bench["other_replies"], stats.get("evictions"),
         stats.get("expired_unfetched"), stats.get("reclaimed")))
print("soak: RSS KiB every 10 s: " + " ".join(str(kb) for _, kb in rows))
fail = []
if bench["other_replies"]:
    fail.append("error replies")
if int(stats.get("evictions", 0)) == 0:
    fail.append("no evictions")
if int(stats.get("expired_unfetched", 0)) + int(stats.get("reclaimed", 0)) == 0:
    fail.append("no expirations")
if len(half) >= 2 and half[-1] > half[0] * 1.02 + 1024:
    fail.append("RSS grew over the second half: %d -> %d KiB" % (half[0], half[-1]))
if fail:
    print("soak: FAIL: " + ", ".join(fail))
    sys.exit(1)
print("soak: PASS")
PY
