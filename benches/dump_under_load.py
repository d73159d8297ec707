#!/usr/bin/env python3
"""Dumping a big cache while it serves: `lru_crawler metadump all` over
2 million items under a load generator (issue #16).

Starts ferrocache on a free port (alone on core 0, as benches/run.py does), stores N items (default 2,000,000 keys of
the generator's key space, 100-byte values), then alternates windows of the
same load (ferrocache-bench, 1:10 sets:gets over the stored keys, so the
item count stays N) without and with dumps running back to back on another
connection. It reports:
  * every dump's line count, and for the first dump of each window (its
    bytes kept and parsed after the window) whether it saw every stored key
    (the load only overwrites stored keys, so each must appear);
  * the load's p99 latency without and with a dump, and their ratio (the
    issue asks for at most 2x);
  * the daemon's RSS: the most seen before the dumps and during them (the
    issue asks for less than 16 MiB of growth).

    benches/dump_under_load.py [--items N] [--rounds R] [--seconds S] [--json FILE]

`make bench` runs it (benches/run.py's `metadump_2m` workload, alone with
`make bench BENCH_ARGS="--only metadump_2m --merge --skip-store"`); it runs
alone too, after `cargo build --release --bins`. Standard library only.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from run import free_port, stats, wait_port  # benches/run.py, beside this file

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
FERRO = TARGET / "release" / "ferrocache"
GEN = TARGET / "release" / "ferrocache-bench"
KEY_SIZE = 32
SERVER_CPU, CLIENT_CPU = "0", "1"


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """The most RSS seen while running, sampled every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.05)

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


def metadump(port, deadline, keep):
    """One `lru_crawler metadump all`: (lines, raw bytes kept, seconds).
    The lines are counted as they come (a C-speed count); with `keep` the
    bytes are kept, to be parsed after the measured window, so that the
    client shares its core with the load generator as little as it can."""
    start = time.monotonic()
    lines = 0
    kept = []
    tail = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.sendall(b"lru_crawler metadump all\r\n")
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError("metadump did not end in time")
            chunk = s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed during metadump")
            if keep:
                kept.append(chunk)
            # Lines start after "\n"; the first of all after nothing.
            data = tail + chunk
            lines += data.count(b"\nkey=") + (1 if lines == 0 and data.startswith(b"key=") else 0)
            tail = data[-8:]
            if data.endswith(b"END\r\n"):
                return lines, b"".join(kept), time.monotonic() - start


def distinct_keys(raw):
    """Parse a kept dump: the distinct keys of its lines (every line must
    be an item line, and the last `END`)."""
    keys = set()
    # memcached ends metadump lines with "\n" alone, END with "\r\n".
    body = raw[: -len(b"END\r\n")]
    for line in body.split(b"\n"):
        if not line:
            continue
        if not line.startswith(b"key="):
            raise RuntimeError(f"unexpected metadump line: {line[:80]!r}")
        keys.add(line[4 : line.index(b" ")])
    return len(keys)


def load(port, items, seconds, out):
    """The load generator's run; returns its JSON."""
    cmd = ["taskset", "-c", CLIENT_CPU, str(GEN), "-s", f"127.0.0.1:{port}", "-t", "1", "-c", "20", "-p", "1",
           "--ratio", "1:10", "-k", str(items), "--key-size", str(KEY_SIZE),
           "--value-size", "100", "-d", str(seconds), "-q", "--json", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=seconds + 60)
    return json.loads(Path(out).read_text())


def p99_us(result):
    lat = result.get("latency_us") or result.get("latency") or {}
    for k in ("p99", "p99_us"):
        if k in lat:
            return float(lat[k])
    if "p99_us" in result:
        return float(result["p99_us"])
    raise KeyError(f"no p99 in the generator's JSON: {sorted(result)}")


def run(items=2_000_000, rounds=2, seconds=15, log=print):
    port = free_port()
    mem = max(256, items * 300 // (1 << 20))
    # As benches/run.py: the server alone on core 0 (-t 1), its clients (the
    # load generator and this script, which reads the dumps) on core 1.
    args = ["taskset", "-c", SERVER_CPU, str(FERRO), "-p", str(port), "-U", "0",
            "-l", "127.0.0.1", "-t", "1", "-m", str(mem)]
    if os.getuid() == 0:
        args += ["-u", "root"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = Path(tempfile.mkdtemp(prefix="ferrocache-dump-"))
    try:
        if not wait_port(port, server):
            raise RuntimeError("ferrocache did not start")
        log(f"[metadump_2m] storing {items} items (-m {mem})")
        subprocess.run([str(GEN), "-s", f"127.0.0.1:{port}", "-t", "1", "-c", "8", "-p", "16",
                        "--ratio", "1:0", "-k", str(items), "--key-size", str(KEY_SIZE),
                        "--value-size", "100", "--prefill", "-n", "1", "-d", "0", "-q"],
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
        stored = int(stats(port)["curr_items"])
        if stored != items:
            raise RuntimeError(f"{stored} items stored of {items} (evictions?)")
        rows = []
        base_rss = rss_kib(server.pid)
        for r in range(rounds):
            for with_dump in (False, True):
                sampler = RssSampler(server.pid)
                sampler.start()
                dumps = []
                stop = threading.Event()

                def dumper():
                    # The dump's reader shares core 1 with the load
                    # generator (a real one runs on another machine): under
                    # SCHED_IDLE it reads whenever the generator waits, and
                    # a generator that wakes takes the core at once (nice
                    # 19 still let it wait for the reader's time slice), so
                    # the figures show what the dump costs the server.
                    os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE,
                                          os.sched_param(0))
                    while not stop.is_set():
                        dumps.append(metadump(port, time.monotonic() + 300, keep=not dumps))

                t = threading.Thread(target=dumper, daemon=True) if with_dump else None
                if t:
                    t.start()
                res = load(port, items, seconds, tmp / f"load-{r}-{with_dump}.json")
                stop.set()
                if t:
                    t.join(timeout=300)
                peak = sampler.stop()
                # The first dump of the window is parsed now, out of it.
                row = {"round": r, "dump": with_dump, "p99_us": p99_us(res),
                       "ops_per_sec": res.get("ops_per_sec"), "rss_peak_kib": peak,
                       "dumps": [{"lines": n, "seconds": round(sec, 2),
                                  "keys": distinct_keys(raw) if raw else None}
                                 for n, raw, sec in dumps]}
                rows.append(row)
                log(f"[metadump_2m] round {r} dump={with_dump}: p99 {row['p99_us']:.0f} us, "
                    f"{row['ops_per_sec']:.0f} ops/s, RSS peak {peak} KiB, dumps {row['dumps']}")
        without = [x["p99_us"] for x in rows if not x["dump"]]
        with_ = [x["p99_us"] for x in rows if x["dump"]]
        all_dumps = [d for x in rows for d in x["dumps"]]
        rss_before = max([base_rss] + [x["rss_peak_kib"] for x in rows if not x["dump"]])
        rss_during = max(x["rss_peak_kib"] for x in rows if x["dump"])
        return {
            "name": "metadump_2m", "kind": "metadump", "items": items, "seconds": seconds,
            "rows": rows,
            "p99_without_us": statistics.median(without),
            "p99_with_us": statistics.median(with_),
            "p99_ratio": statistics.median(with_) / statistics.median(without),
            "dumps": len(all_dumps),
            # Each dump has a line per stored key at least; the parsed ones
            # saw every key.
            "every_dump_complete": bool(all_dumps) and all(
                d["lines"] >= items and d["keys"] in (None, items) for d in all_dumps),
            "rss_before_kib": rss_before, "rss_during_kib": rss_during,
            "rss_growth_kib": rss_during - rss_before,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=2_000_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--json")
    a = p.parse_args()
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    out = run(a.items, a.rounds, a.seconds, log=lambda m: print(m, file=sys.stderr))
    summary = {k: v for k, v in out.items() if k != "rows"}
    print(json.dumps(summary, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    ok = out["every_dump_complete"] and out["p99_ratio"] <= 2 and out["rss_growth_kib"] < 16 * 1024
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
