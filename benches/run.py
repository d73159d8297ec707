#!/usr/bin/env python3
"""`make bench`: ferrocache against Debian's memcached, side by side.

Starts both servers with the same flags, runs every workload of issue #6
against them alternately (A B A B ..., --rounds rounds), and writes
docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks.json.

Issue #13's mixed value sizes (`--only mixed`): "holds what fits" (fit_*:
each key written once, then read back, on fresh servers), over-full
(overfull_etc: ETC sizes, Zipf cache-aside over about 3x what -m 256 holds)
and a size shift (size_shift: -m 64 full of 100-byte values, then a working
set of 8 KiB values until the hit ratio reaches 0.9). They run the servers
with -t 2, as the issue did.

Fairness on a 2-core machine: each server gets core 0 (`taskset -c 0`, `-t 1`)
and the load generator core 1, so a server never competes with its load. The
server that is not being measured stays up but idle.

Per window and server it records:
  * ops/s, hit ratio and latency percentiles from ferrocache-bench (JSON);
  * server CPU seconds (utime+stime of /proc/PID/stat, all threads) and the
    server's own count of operations (cmd_get+cmd_set deltas of `stats`),
    giving CPU per operation;
  * syscalls per operation: `perf stat -e raw_syscalls:sys_enter -p PID`
    (a kernel tracepoint counter: exact, no ptrace slow-down), broken down
    into the IO syscalls; without perf, /proc/PID/io syscr+syscw, which
    misses sendmsg/recvmsg, so the page says which was used;
  * CPU used by other processes on the machine during the window (noise).

The TLS workload starts both servers with `-Z -o ssl_chain_cert=..,ssl_key=..`
on a throwaway CA and server certificate that the openssl CLI makes in a
temporary directory at bench time (nothing secret is committed); the
generator verifies the server against that CA (`--tls-ca`).

Only the standard library and matplotlib (benches/requirements.txt).
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
FERRO = TARGET / "release" / "ferrocache"
# The two ferrocache servers of the hot-key cost workloads (issue #18):
# tracking on as by default (20 keys, about 8192 samples a second per worker), and off.
HOT_ON, HOT_OFF = "hot_keys=20", "hot_keys=off"
# The hot-key twins' rounds and window: a cost of a few percent needs many
# short paired windows to show through this machine's drift (docs/benchmarks.md),
# for the alternated twins and for the both-at-once race alike ...
HOT_ROUNDS, HOT_WINDOW = 32, 1.5
# ... and both servers are restarted every this many rounds, in alternating
# order: two processes of the same binary and flags, sharing a core, kept
# the same throughput ratio for as long as they ran, but it differed from
# pair to pair (0.972, 0.983, 0.997 in three pairs, the server started
# first the slower each time). Fresh pairs, started in turn, cancel that.
HOT_FRESH_EVERY = 4
GEN = TARGET / "release" / "ferrocache-bench"
MEMCACHED = os.environ.get("MEMCACHED", "/usr/bin/memcached")
SERVER_CPU = "0"
GEN_CPU = "1"
# The machine may be shared (other builds): as root, servers and generator run
# at a high CFS priority so background work takes little of their cores.
# Both servers get the same treatment.
NICE = ["nice", "-n", "-10"] if os.geteuid() == 0 else []
# Seconds to wait before a measured window for the machine to be idle.
QUIET_WAIT = 0.0
SYSCALLS = ["read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg",
            "sendmsg", "epoll_wait", "epoll_pwait", "futex"]


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stats(port, tls=None):
    """`stats` of the server on `port`; `tls` is an ssl.SSLContext for a -Z server."""
    out = {}
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    for line in buf.decode().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def cpu_split(pid):
    """(user, kernel) CPU seconds of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def cpu_seconds(pid):
    return sum(cpu_split(pid))


def machine_busy():
    """Process CPU seconds (user+nice+system) of the whole machine so far.

    irq/softirq time is left out: loopback TCP does much of its receive
    work in softirq, which is charged to no process, and is not noise.
    """
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (vals[0] + vals[1] + vals[2]) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(limit_s):
    """Wait (at most limit_s) until other processes use < 0.25 core."""
    deadline = time.monotonic() + limit_s
    while True:
        b0 = machine_busy()
        time.sleep(0.5)
        load = (machine_busy() - b0) / 0.5
        if load < 0.25 or time.monotonic() >= deadline:
            return load


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_io_syscalls(pid):
    io = dict(l.split(": ") for l in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(io["syscr"]) + int(io["syscw"])


def perf_works():
    if not shutil.which("perf"):
        return False
    r = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
                       capture_output=True, text=True)
    return r.returncode == 0 and "raw_syscalls" in r.stderr and "not supported" not in r.stderr


class SyscallCounter:
    """Counts a process's syscalls over a window."""

    def __init__(self, pid, use_perf):
        self.pid, self.use_perf = pid, use_perf
        self.proc = None

    def start(self):
        if self.use_perf:
            self.out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False).name
            events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]
            self.proc = subprocess.Popen(
                ["taskset", "-c", GEN_CPU, "perf", "stat", "-x,", "-o", self.out,
                 "-e", ",".join(events), "-p", str(self.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)  # let perf attach before the window opens
        else:
            self.before = proc_io_syscalls(self.pid)

    def stop(self):
        """Total syscalls and a per-syscall breakdown (perf only)."""
        if not self.use_perf:
            return proc_io_syscalls(self.pid) - self.before, {}
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        total, parts = 0, {}
        for line in Path(self.out).read_text().splitlines():
            f = line.split(",")
            if len(f) < 3 or not f[0].strip().isdigit():
                continue
            n, ev = int(f[0]), f[2]
            if ev == "raw_syscalls:sys_enter":
                total = n
            elif n:
                parts[ev.replace("syscalls:sys_enter_", "")] = n
        os.unlink(self.out)
        return total, parts


class Server:
    def __init__(self, name, binary, flags, tls=None):
        self.name, self.binary, self.flags = name, binary, flags
        self.tls = tls  # ssl.SSLContext to reach a -Z server, or None
        self.proc = None

    def command(self, port):
        return NICE + ["taskset", "-c", SERVER_CPU, str(self.binary), "-p", str(port)] + self.flags

    def start(self):
        for _ in range(5):
            self.port = free_port()
            self.cmd = self.command(self.port)
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if wait_port(self.port, self.proc):
                return self
            self.stop()
        raise RuntimeError(f"{self.name} did not start: {' '.join(self.cmd)}")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def server_flags(threads, mem_mib):
    return ["-U", "0", "-l", "127.0.0.1", "-u", "nobody", "-t", str(threads), "-m", str(mem_mib)]


def make_servers(threads, mem_mib, tls=None):
    flags = server_flags(threads, mem_mib) + (tls.server_flags if tls else [])
    ctx = tls.context if tls else None
    return [Server("memcached", MEMCACHED, flags, ctx),
            Server("ferrocache", FERRO, flags, ctx)]


class BenchCerts:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the
    openssl CLI in a temporary directory and removed afterwards."""

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="ferrocache-bench-tls-"))
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)
        run("openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=ferrocache bench CA",
            "-keyout", d / "ca.key", "-out", d / "ca.pem")
        run("openssl", "req", *ec, "-subj", "/CN=127.0.0.1",
            "-keyout", d / "server.key", "-out", d / "server.csr")
        (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                   "basicConstraints=critical,CA:FALSE\n"
                                   "extendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.pem",
            "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", d / "ext.cnf", "-out", d / "server.pem")
        # Servers run as `-u nobody`: let them read the (throwaway) files.
        d.chmod(0o755)
        for f in d.iterdir():
            f.chmod(0o644)
        self.ca = d / "ca.pem"
        self.server_flags = ["-Z", "-o", f"ssl_chain_cert={d / 'server.pem'},ssl_key={d / 'server.key'}"]
        self.gen_args = ["--tls-ca", str(self.ca)]
        self.context = ssl.create_default_context(cafile=str(self.ca))
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def gen_cmd(port, gen_args):
    return NICE + ["taskset", "-c", GEN_CPU, str(GEN), "-s", f"127.0.0.1:{port}", "-q",
            "--json", "-"] + gen_args


def run_gen(port, gen_args, timeout):
    cmd = gen_cmd(port, gen_args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"no result in {timeout} s"
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def measured_window(server, gen_args, use_perf, timeout=120, quiet_wait=True):
    """One generator run against `server`, with the server-side counters."""
    if QUIET_WAIT and quiet_wait:
        wait_for_quiet(QUIET_WAIT)
    before = stats(server.port, server.tls)
    counter = SyscallCounter(server.pid, use_perf)
    counter.start()
    split0 = cpu_split(server.pid)
    cpu0, busy0, t0 = sum(split0), machine_busy(), time.monotonic()
    gen_before = os.times()
    res, err = run_gen(server.port, gen_args, timeout)
    gen_after = os.times()
    split1 = cpu_split(server.pid)
    cpu1, busy1, t1 = sum(split1), machine_busy(), time.monotonic()
    sys_total, sys_parts = counter.stop()
    if res is None:
        return {"error": err}
    after = stats(server.port, server.tls)
    server_ops = sum(int(after[k]) - int(before[k]) for k in ("cmd_get", "cmd_set"))
    server_cpu = cpu1 - cpu0
    gen_cpu = (gen_after.children_user + gen_after.children_system
               - gen_before.children_user - gen_before.children_system)
    res.update({
        "server_ops": server_ops,
        "server_cpu_s": server_cpu,
        "cpu_us_per_op": server_cpu / max(server_ops, 1) * 1e6,
        # Kernel time is mostly the syscalls and loopback TCP: it bounds what
        # user-space work can still win.
        "kernel_us_per_op": (split1[1] - split0[1]) / max(server_ops, 1) * 1e6,
        "syscalls": sys_total,
        "syscalls_per_op": sys_total / max(server_ops, 1),
        "syscall_breakdown_per_op": {k: v / max(server_ops, 1) for k, v in sys_parts.items()},
        "gen_cpu_s": gen_cpu,
        "window_s": t1 - t0,
        # Busy CPU of everything else on the machine (other users' builds...)
        "foreign_cpu_s": max(0.0, (busy1 - busy0) - server_cpu - gen_cpu),
    })
    return res


def med(rows, key):
    vals = [r[key] for r in rows if key in r]
    return statistics.median(vals) if vals else None


# ---------------------------------------------------------------- workloads

def throughput_workload(name, title, gen_args, args, use_perf, tls=False):
    """Both servers up; prefill each; then A B A B measured windows."""
    if tls:
        with BenchCerts() as certs:
            return throughput_workload_on(name, title, gen_args + certs.gen_args, args, use_perf,
                                          certs)
    return throughput_workload_on(name, title, gen_args, args, use_perf, None)


def start_prefilled(servers, gen_args, failed):
    """Start `servers` in this order and prefill each with the generator's
    keys (its flags without the warm-up and measured run); a server whose
    prefill fails is named in `failed`."""
    pre = list(gen_args)
    for flag in ("--warmup", "-d"):
        i = pre.index(flag)
        del pre[i:i + 2]
    for s in servers:
        s.start()
        res, err = run_gen(s.port, ["--prefill", "-d", "0.2"] + pre, 120)
        if res is None:
            failed[s.name] = err
            log(f"  {s.name}: prefill failed: {err}")


def throughput_workload_on(name, title, gen_args, args, use_perf, certs, servers=None,
                           kind="throughput", fresh_every=None):
    """`fresh_every`: restart both servers (fresh processes, started in
    alternating order) every that many rounds, so neither is favoured by
    where its process happened to land (issue #18's twins)."""
    log(f"{name}: {title}")
    servers = servers or make_servers(args.threads, args.mem, certs)
    runs = {s.name: [] for s in servers}
    failed = {}
    try:
        if not fresh_every:
            start_prefilled(servers, gen_args, failed)
        for rnd in range(args.rounds):
            if fresh_every and rnd % fresh_every == 0:
                block = rnd // fresh_every
                for s in servers:
                    s.stop()
                start_prefilled(servers if block % 2 == 0 else servers[::-1], gen_args, failed)
            # A B, B A, A B, ...: a machine whose speed drifts during a
            # round favours neither server.
            for s in (servers if rnd % 2 == 0 else servers[::-1]):
                if s.name in failed:
                    continue
                r = measured_window(s, gen_args, use_perf)
                if "error" in r:
                    failed[s.name] = r["error"]
                    log(f"  {s.name}: failed: {r['error']}")
                    continue
                runs[s.name].append(r)
                log(f"  round {rnd + 1} {s.name:10} {r['ops_per_sec']:>10.0f} ops/s  "
                    f"p99 {r['latency_us']['p99']:>8.1f} us  "
                    f"cpu/op {r['cpu_us_per_op']:.2f} us  sys/op {r['syscalls_per_op']:.3f}  "
                    f"noise {r['foreign_cpu_s']:.1f} cpu-s")
        cmds = {s.name: " ".join(s.command("PORT")) for s in servers}
    finally:
        for s in servers:
            s.stop()
    summary = {}
    for name_, rows in runs.items():
        if not rows:
            summary[name_] = None
            continue
        breakdown = {}
        for k in rows[0]["syscall_breakdown_per_op"]:
            breakdown[k] = statistics.median(r["syscall_breakdown_per_op"].get(k, 0) for r in rows)
        summary[name_] = {
            "ops_per_sec": med(rows, "ops_per_sec"),
            "p50_us": statistics.median(r["latency_us"]["p50"] for r in rows),
            "p99_us": statistics.median(r["latency_us"]["p99"] for r in rows),
            "p99_9_us": statistics.median(r["latency_us"]["p99_9"] for r in rows),
            "hit_ratio": med(rows, "hit_ratio"),
            "cpu_us_per_op": med(rows, "cpu_us_per_op"),
            "kernel_us_per_op": statistics.median(r.get("kernel_us_per_op", 0) for r in rows),
            "syscalls_per_op": med(rows, "syscalls_per_op"),
            "syscall_breakdown_per_op": breakdown,
            "gen_cpu_share": statistics.median(r["gen_cpu_s"] / r["window_s"] for r in rows),
            "server_cpu_share": statistics.median(r["server_cpu_s"] / r["window_s"] for r in rows),
            "foreign_cpu_s": med(rows, "foreign_cpu_s"),
            "rounds": len(rows),
        }
    return {"name": name, "title": title, "kind": kind, "tls": certs is not None,
            "server_cmd": cmds, "gen_cmd": " ".join(gen_cmd("PORT", gen_args)),
            "runs": runs, "summary": summary, "failed": failed}


def hotkeys_workload(name, title, gen_args, args, use_perf):
    """Issue #18's cost: ferrocache with hot-key tracking on and off,
    alternated in the same rounds (A B, B A, ...), so the two are compared
    under the same machine load; at least HOT_ROUNDS rounds of windows of
    at most HOT_WINDOW seconds."""
    gen_args = list(gen_args)
    d = gen_args.index("-d")
    gen_args[d + 1] = str(min(args.duration, HOT_WINDOW))
    args = argparse.Namespace(**vars(args))
    args.rounds = max(args.rounds, HOT_ROUNDS)
    flags = server_flags(args.threads, args.mem)
    servers = [Server(name, FERRO, flags + ["-o", name]) for name in (HOT_ON, HOT_OFF)]
    return throughput_workload_on(name, title, gen_args, args, use_perf, None, servers=servers,
                                  kind="hotkeys", fresh_every=HOT_FRESH_EVERY)


def hotkeys_race_workload(name, title, gen_args, args):
    """Issue #18's cost, measured so this machine's drift cancels: both
    ferrocache servers (tracking on and off) share core 0 *at the same
    time*, each driven by its own generator on core 1, for HOT_ROUNDS
    windows. The kernel gives the two servers equal shares of the core, so
    the ratio of their throughputs in a window is the ratio of their costs
    per request, whatever the core's speed did meanwhile (a CPU-bound loop
    on this machine varies by +-15 % from one 0.35 s run to the next;
    docs/benchmarks.md). Latencies include waiting for the other server's
    turn on the core, so they are compared with each other, not with the
    solo windows."""
    gen_args = list(gen_args)
    d = gen_args.index("-d")
    gen_args[d + 1] = str(min(args.duration, HOT_WINDOW))
    log(f"{name}: {title}")
    flags = server_flags(args.threads, args.mem)
    servers = [Server(n, FERRO, flags + ["-o", n]) for n in (HOT_ON, HOT_OFF)]
    rounds, failed = [], None
    try:
        for rnd in range(HOT_ROUNDS):
            if rnd % HOT_FRESH_EVERY == 0:
                # Fresh processes, started in alternating order (see
                # HOT_FRESH_EVERY).
                block = rnd // HOT_FRESH_EVERY
                for s in servers:
                    s.stop()
                bad = {}
                start_prefilled(servers if block % 2 == 0 else servers[::-1], gen_args, bad)
                if bad:
                    failed = "; ".join(f"{k}: prefill failed: {v}" for k, v in bad.items())
            if failed:
                break
            if QUIET_WAIT:
                wait_for_quiet(QUIET_WAIT)
            order = servers if rnd % 2 == 0 else servers[::-1]
            before = {s.name: (stats(s.port), cpu_seconds(s.pid)) for s in order}
            procs = {s.name: subprocess.Popen(gen_cmd(s.port, gen_args), stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True) for s in order}
            row = {}
            for s in order:
                try:
                    out, errout = procs[s.name].communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    procs[s.name].kill()
                    out, errout = procs[s.name].communicate()
                lines = out.strip().splitlines()
                if procs[s.name].returncode != 0 or not lines:
                    failed = f"{s.name}: {(errout.strip().splitlines() or ['failed'])[-1]}"
                    continue
                res = json.loads(lines[-1])
                st0, cpu0 = before[s.name]
                st1 = stats(s.port)
                ops = sum(int(st1[k]) - int(st0[k]) for k in ("cmd_get", "cmd_set"))
                row[s.name] = {"ops_per_sec": res["ops_per_sec"],
                               "p99_us": res["latency_us"]["p99"],
                               "cpu_us_per_op": (cpu_seconds(s.pid) - cpu0) / max(ops, 1) * 1e6}
            if failed:
                log(f"  failed: {failed}")
                break
            rounds.append(row)
            on, off = row[HOT_ON], row[HOT_OFF]
            log(f"  round {rnd + 1} on {on['ops_per_sec']:>9.0f} off {off['ops_per_sec']:>9.0f} "
                f"ops/s (on/off {on['ops_per_sec'] / off['ops_per_sec']:.3f})  p99 on/off "
                f"{on['p99_us'] / off['p99_us']:.3f}")
    finally:
        for s in servers:
            s.stop()

    def ratios(key):
        r = sorted(row[HOT_ON][key] / row[HOT_OFF][key] for row in rounds)
        if len(r) < 4:
            return {"median": statistics.median(r) if r else None}
        q = statistics.quantiles(r, n=4)
        return {"median": statistics.median(r), "q1": q[0], "q3": q[2]}

    summary = {srv: {k: statistics.median(row[srv][k] for row in rounds)
                     for k in ("ops_per_sec", "p99_us", "cpu_us_per_op")} if rounds else None
               for srv in (HOT_ON, HOT_OFF)}
    return {"name": name, "title": title, "kind": "hotkeys_race",
            "server_cmd": {s.name: " ".join(s.command("PORT")) for s in servers},
            "gen_cmd": " ".join(gen_cmd("PORT", gen_args)), "rounds": rounds,
            "summary": summary, "failed": failed,
            "ratios": {k: ratios(k) for k in ("ops_per_sec", "p99_us", "cpu_us_per_op")}
            if rounds else None}


def memory_workload(value_size, args):
    name = f"memory_{value_size}b"
    title = f"-m 256, unique 20-byte keys, {value_size}-byte values, fill until evictions start"
    log(f"{name}: {title}")
    gen_args = ["--ratio", "1:0", "--pattern", "sequential", "--keys", "1000000000",
                "--key-size", "20", "--value-size", str(value_size), "-c", "50", "-p", "16",
                "--stop-on-evictions", "-d", "120"]
    runs = {"memcached": [], "ferrocache": []}
    cmds = {}
    for rnd in range(args.rounds):
        for s in make_servers(args.threads, 256):
            try:
                s.start()
                cmds[s.name] = " ".join(s.command("PORT"))
                res, err = run_gen(s.port, gen_args, 180)
                if res is None:
                    log(f"  {s.name}: failed: {err}")
                    continue
                st = stats(s.port)
                row = {
                    "curr_items": int(st["curr_items"]),
                    "evictions": int(st.get("evictions", 0)),
                    "items_per_mib": int(st["curr_items"]) / 256,
                    "rss_mib": rss_mib(s.pid),
                    "stopped_on_evictions": res["stopped_on_evictions"],
                    "fill_ops_per_sec": res["ops_per_sec"],
                }
                row["rss_over_limit"] = row["rss_mib"] / 256
                runs[s.name].append(row)
                log(f"  round {rnd + 1} {s.name:10} {row['curr_items']:>9} items  "
                    f"{row['items_per_mib']:.0f}/MiB  RSS {row['rss_mib']:.1f} MiB")
            finally:
                s.stop()
    summary = {k: ({"items_per_mib": med(v, "items_per_mib"), "rss_mib": med(v, "rss_mib"),
                    "curr_items": med(v, "curr_items"), "rss_over_limit": med(v, "rss_over_limit"),
                    "stopped_on_evictions": all(r["stopped_on_evictions"] for r in v),
                    "rounds": len(v)} if v else None)
               for k, v in runs.items()}
    return {"name": name, "title": title, "kind": "memory", "value_size": value_size,
            "server_cmd": cmds, "gen_cmd": " ".join(gen_cmd("PORT", gen_args)),
            "runs": runs, "summary": summary}


def hit_ratio_workload(args, use_perf):
    keys = args.zipf_keys
    name = "hit_ratio"
    title = (f"Zipf(0.99) over {keys:,} keys, 20-byte keys, 100-byte values, -m 256, "
             f"gets only, a miss is followed by a set (cache-aside)")
    log(f"{name}: {title}")
    common = ["--ratio", "0:1", "--pattern", "zipf", "--zipf-exponent", "0.99",
              "--keys", str(keys), "--key-size", "20", "--value-size", "100",
              "--set-on-miss", "-c", "50", "-p", "16", "-d", "0"]
    # `-d 0`: the phases are bounded by their request counts alone (the
    # generator's default 10 s duration used to cut them short).
    # Each phase draws a fresh key sequence (a window replaying the warm-up's
    # sequence would only hit); both servers see the same sequences.
    warm_args = common + ["--seed", "7", "-n", str(args.zipf_warmup)]
    gen_args = common + ["--seed", "SEED", "-n", str(args.zipf_window)]
    servers = make_servers(args.threads, 256)
    runs = {s.name: [] for s in servers}
    warm = {}
    try:
        for s in servers:
            s.start()
            res, err = run_gen(s.port, warm_args, 600)
            warm[s.name] = res
            log(f"  {s.name}: warm-up {args.zipf_warmup:,} requests: "
                f"{'failed: ' + err if res is None else 'hit ratio %.4f' % res['hit_ratio']}")
        for rnd in range(args.rounds):
            for s in servers:
                window_args = [str(100 + rnd) if a == "SEED" else a for a in gen_args]
                r = measured_window(s, window_args, use_perf)
                if "error" in r:
                    log(f"  {s.name}: failed: {r['error']}")
                    continue
                r["curr_items"] = int(stats(s.port)["curr_items"])
                r["rss_mib"] = rss_mib(s.pid)
                runs[s.name].append(r)
                log(f"  round {rnd + 1} {s.name:10} hit ratio {r['hit_ratio']:.4f}  "
                    f"{r['ops_per_sec']:>9.0f} ops/s  items {r['curr_items']}")
        cmds = {s.name: " ".join(s.command("PORT")) for s in servers}
    finally:
        for s in servers:
            s.stop()
    summary = {k: ({"hit_ratio": med(v, "hit_ratio"), "ops_per_sec": med(v, "ops_per_sec"),
                    "p99_us": statistics.median(r["latency_us"]["p99"] for r in v),
                    "cpu_us_per_op": med(v, "cpu_us_per_op"),
                    "syscalls_per_op": med(v, "syscalls_per_op"),
                    "curr_items": med(v, "curr_items"), "rss_mib": med(v, "rss_mib"),
                    "rounds": len(v)} if v else None)
               for k, v in runs.items()}
    return {"name": name, "title": title, "kind": "hit_ratio", "server_cmd": cmds,
            "gen_cmd": " ".join(gen_cmd("PORT", gen_args)),
            "warm_cmd": " ".join(gen_cmd("PORT", warm_args)),
            "runs": runs, "summary": summary}


# ------------------------------------------------- mixed value sizes (#13)

# Issue #13 ran every mixed-size workload with `-t 2`: a server's memory
# layout may depend on its thread count, so these keep it. Servers stay
# pinned to one core as everywhere else; these workloads measure memory, not
# speed.
MIXED_THREADS = 2
MIXED_KEY_SIZE = 20
ETC_SCALE, ETC_SHAPE = 214.476, 0.348238


def mean_value_size(spec):
    """Mean value length of a ferrocache-bench --value-size spec, in bytes."""
    def size(t):
        t = t.lower()
        mult = {"k": 1024, "m": 1024 * 1024}.get(t[-1:], 1)
        return int(t[:-1] if mult > 1 else t) * mult
    kind, _, rng = spec.partition(":")
    if kind == "etc":
        return ETC_SCALE / (1 - ETC_SHAPE)  # 329 B; the cap changes it by < 0.1 B
    if kind in ("uniform", "loguniform"):
        lo, hi = (size(x) for x in rng.split("-"))
        if kind == "uniform":
            return (lo + hi) / 2
        # floor(lo * ((hi + 1) / lo)^u), u uniform in [0, 1)
        return (hi + 1 - lo) / math.log((hi + 1) / lo) - 0.5
    return size(spec)


def keys_for(data_bytes, spec):
    return round(data_bytes / mean_value_size(spec))


def fit_plan():
    """(name, -m, value size spec, keys, what) of the "holds what fits" rows:
    the four of issue #13's table and ETC sizes to 90 % of -m 256."""
    return [
        ("fit_uniform_16k", 256, "uniform:10-16384", 25_000, "uniform 10–16,384 B"),
        ("fit_uniform_1k", 64, "uniform:10-1000", 80_000, "uniform 10–1,000 B"),
        ("fit_loguniform_200k", 64, "loguniform:10-200k", keys_for(32e6, "loguniform:10-200k"),
         "log-uniform 10 B–200 KiB, 32 MB of values"),
        ("fit_loguniform_4k", 256, "loguniform:10-4k", keys_for(204e6, "loguniform:10-4k"),
         "log-uniform 10 B–4 KiB, 204 MB of values"),
        ("fit_etc", 256, "etc", keys_for(0.9 * 256 * 2**20, "etc"),
         "ETC sizes, values totalling 90 % of -m"),
    ]


def fit_workload(name, mem, spec, keys, what, args):
    """Fresh servers; every key written once (sequential ids), then every key
    read once; the server's own counts after the reads."""
    title = (f"{what}, {keys:,} 20-byte keys, -t {MIXED_THREADS} -m {mem}: each key written once, "
             f"then all read back")
    log(f"{name}: {title}")
    common = ["--pattern", "sequential", "--keys", str(keys), "-n", str(keys), "-d", "0",
              "--key-size", str(MIXED_KEY_SIZE), "--value-size", spec, "-c", "50", "-p", "16"]
    write_args = ["--ratio", "1:0"] + common
    read_args = ["--ratio", "0:1"] + common
    runs = {"memcached": [], "ferrocache": []}
    cmds = {}
    for rnd in range(args.rounds):
        for s in make_servers(MIXED_THREADS, mem):
            try:
                s.start()
                cmds[s.name] = " ".join(s.command("PORT"))
                t0 = time.monotonic()
                wr, err = run_gen(s.port, write_args, 300)
                rd, err2 = run_gen(s.port, read_args, 300) if wr else (None, None)
                if wr is None or rd is None:
                    log(f"  {s.name}: failed: {err or err2}")
                    continue
                st = stats(s.port)
                row = {
                    "keys": keys,
                    "value_bytes_written": wr["value_bytes_written"],
                    "set_failures": wr["other_replies"],
                    "evictions": int(st.get("evictions", 0)),
                    "curr_items": int(st["curr_items"]),
                    "bytes": int(st.get("bytes", 0)),
                    "read_back": rd["hits"],
                    "value_bytes_read": rd["value_bytes_read"],
                    "wrong_lengths": rd.get("wrong_lengths", 0),
                    "rss_mib": rss_mib(s.pid),
                    "seconds": time.monotonic() - t0,
                }
                runs[s.name].append(row)
                log(f"  round {rnd + 1} {s.name:10} evictions {row['evictions']:>7}  items "
                    f"{row['curr_items']:>8}  read back {row['read_back']:>8}/{keys}  bytes "
                    f"{row['bytes'] / 1e6:.1f} MB  RSS {row['rss_mib']:.1f} MiB  "
                    f"({row['seconds']:.1f} s)")
                if row["wrong_lengths"]:
                    log(f"  {s.name}: {row['wrong_lengths']} values read back with the wrong length")
            finally:
                s.stop()
    keys_ = ("evictions", "curr_items", "bytes", "read_back", "value_bytes_written",
             "value_bytes_read", "wrong_lengths", "set_failures", "rss_mib")
    summary = {k: ({key: med(v, key) for key in keys_} | {"rounds": len(v)} if v else None)
               for k, v in runs.items()}
    return {"name": name, "title": title, "kind": "fit", "mem": mem, "value_size": spec,
            "keys": keys, "server_cmd": cmds,
            "pre_cmds": [" ".join(gen_cmd("PORT", write_args))],
            "gen_cmd": " ".join(gen_cmd("PORT", read_args)),
            "runs": runs, "summary": summary}


# ETC values average 329 B; with a 20-byte key and the item overhead, -m 256
# holds 570,000 (memcached) to 720,000 of them.
OVERFULL_KEYS = 2_400_000


def overfull_workload(args):
    """ETC sizes, Zipf reads with a set on each miss, about 3x the keys -m 256
    holds: a warm-up, then measured windows (A B A B) on the same servers.

    A memory workload: its windows count neither syscalls (perf slows the
    server down) nor wait for a quiet machine; the hit ratio does not depend
    on speed."""
    keys, mem = args.overfull_keys, 256
    name = "overfull_etc"
    scale = ("about 3× what -m 256 holds" if keys == OVERFULL_KEYS
             else f"reduced from {OVERFULL_KEYS:,}, about 3× what -m 256 holds")
    title = (f"Zipf(0.99) over {keys:,} keys ({scale}), ETC value sizes, "
             f"20-byte keys, -t {MIXED_THREADS} -m {mem}, gets only, a miss is followed by a set "
             f"(cache-aside)")
    log(f"{name}: {title}")
    common = ["--ratio", "0:1", "--pattern", "zipf", "--zipf-exponent", "0.99",
              "--keys", str(keys), "--key-size", str(MIXED_KEY_SIZE), "--value-size", "etc",
              "--set-on-miss", "-c", "50", "-p", "16", "-d", "0"]
    warm_args = common + ["--seed", "7", "-n", str(args.overfull_warmup)]
    gen_args = common + ["--seed", "SEED", "-n", str(args.overfull_window)]
    # At the end, every key read once, no sets: the values the server holds.
    scan_args = ["--ratio", "0:1", "--pattern", "sequential", "--keys", str(keys),
                 "-n", str(keys), "-d", "0", "--key-size", str(MIXED_KEY_SIZE),
                 "--value-size", "etc", "-c", "50", "-p", "16"]
    servers = make_servers(MIXED_THREADS, mem)
    runs = {s.name: [] for s in servers}
    held = {}
    try:
        for s in servers:
            s.start()
            res, err = run_gen(s.port, warm_args, 900)
            log(f"  {s.name}: warm-up {args.overfull_warmup:,} requests: "
                f"{'failed: ' + err if res is None else 'hit ratio %.4f' % res['hit_ratio']}")
        for rnd in range(args.rounds):
            for s in servers:
                window_args = [str(100 + rnd) if a == "SEED" else a for a in gen_args]
                r = measured_window(s, window_args, False, timeout=900, quiet_wait=False)
                if "error" in r:
                    log(f"  {s.name}: failed: {r['error']}")
                    continue
                st = stats(s.port)
                r.update({"curr_items": int(st["curr_items"]), "bytes": int(st.get("bytes", 0)),
                          "evictions": int(st.get("evictions", 0)), "rss_mib": rss_mib(s.pid)})
                runs[s.name].append(r)
                log(f"  round {rnd + 1} {s.name:10} hit ratio {r['hit_ratio']:.4f}  "
                    f"{r['ops_per_sec']:>9.0f} ops/s  items {r['curr_items']}  "
                    f"bytes {r['bytes'] / 1e6:.1f} MB")
        for s in servers:
            if not runs[s.name]:
                continue
            res, err = run_gen(s.port, scan_args, 600)
            if res is None:
                log(f"  {s.name}: read-back failed: {err}")
                continue
            held[s.name] = {"items": res["hits"], "value_bytes": res["value_bytes_read"],
                            "wrong_lengths": res.get("wrong_lengths", 0)}
            log(f"  {s.name:10} holds {res['hits']:,} of {keys:,} keys, "
                f"{res['value_bytes_read'] / 1e6:.1f} MB of values")
        cmds = {s.name: " ".join(s.command("PORT")) for s in servers}
    finally:
        for s in servers:
            s.stop()
    summary = {}
    for k, v in runs.items():
        if not v:
            summary[k] = None
            continue
        last = v[-1]
        summary[k] = {"hit_ratio": med(v, "hit_ratio"), "ops_per_sec": med(v, "ops_per_sec"),
                      "p99_us": statistics.median(r["latency_us"]["p99"] for r in v),
                      "cpu_us_per_op": med(v, "cpu_us_per_op"),
                      "curr_items": last["curr_items"], "bytes": last["bytes"],
                      "evictions": last["evictions"], "rss_mib": last["rss_mib"],
                      "held_items": held.get(k, {}).get("items"),
                      "held_value_bytes": held.get(k, {}).get("value_bytes"),
                      "wrong_lengths": held.get(k, {}).get("wrong_lengths"),
                      "rounds": len(v)}
    return {"name": name, "title": title, "kind": "overfull", "keys": keys, "mem": mem,
            "server_cmd": cmds, "warm_cmd": " ".join(gen_cmd("PORT", warm_args)),
            "gen_cmd": " ".join(gen_cmd("PORT", gen_args)),
            "post_cmds": [" ".join(gen_cmd("PORT", scan_args))],
            "runs": runs, "summary": summary}


SHIFT_FILL_KEYS = 1_000_000
SHIFT_WORKING_SET = 3_000
SHIFT_TARGET = 0.9


def size_shift_workload(args):
    """-m 64 filled past full with 100-byte values, then a working set of
    3,000 values of 8 KiB read cache-aside until the hit ratio has stayed at
    or above 0.9 for three seconds, or for --shift-seconds."""
    mem = 64
    name = "size_shift"
    title = (f"-t {MIXED_THREADS} -m {mem} filled past full with {SHIFT_FILL_KEYS:,} 100-byte values, "
             f"then {SHIFT_WORKING_SET:,} keys of 8 KiB (24 MB) read in turn, a miss followed by "
             f"a set (cache-aside), for up to {args.shift_seconds:.0f} s")
    log(f"{name}: {title}")
    fill_args = ["--ratio", "1:0", "--pattern", "sequential", "--keys", str(SHIFT_FILL_KEYS),
                 "-n", str(SHIFT_FILL_KEYS), "-d", "0", "--key-size", str(MIXED_KEY_SIZE),
                 "--value-size", "100", "-c", "50", "-p", "16"]
    shift_args = ["--ratio", "0:1", "--pattern", "sequential", "--keys", str(SHIFT_WORKING_SET),
                  "--first-key", str(SHIFT_FILL_KEYS), "--key-size", str(MIXED_KEY_SIZE),
                  "--value-size", "8192", "--set-on-miss", "-c", "50", "-p", "16",
                  "-d", str(args.shift_seconds), "--timeline", "1",
                  "--until-hit-ratio", str(SHIFT_TARGET)]
    runs = {"memcached": [], "ferrocache": []}
    cmds = {}
    for rnd in range(args.shift_rounds):
        for s in make_servers(MIXED_THREADS, mem):
            try:
                s.start()
                cmds[s.name] = " ".join(s.command("PORT"))
                fill, err = run_gen(s.port, fill_args, 300)
                if fill is None:
                    log(f"  {s.name}: fill failed: {err}")
                    continue
                filled = stats(s.port)
                res, err = run_gen(s.port, shift_args, args.shift_seconds + 60)
                if res is None:
                    log(f"  {s.name}: failed: {err}")
                    continue
                st = stats(s.port)
                timeline = res["timeline"]
                reached = next((i["end_s"] for i in timeline if i["hit_ratio"] >= SHIFT_TARGET
                                and i["hits"] + i["misses"] > 0), None)
                row = {
                    "fill_evictions": int(filled.get("evictions", 0)),
                    "fill_items": int(filled["curr_items"]),
                    "seconds": res["seconds"],
                    "time_to_target_s": reached,
                    "hit_ratio_per_second": [round(i["hit_ratio"], 4) for i in timeline],
                    "final_hit_ratio": timeline[-1]["hit_ratio"] if timeline else None,
                    "hit_ratio": res["hit_ratio"],
                    "wrong_lengths": res.get("wrong_lengths", 0),
                    "slabs_moved": int(st.get("slabs_moved", 0)),
                    "evictions": int(st.get("evictions", 0)),
                    "rss_mib": rss_mib(s.pid),
                }
                runs[s.name].append(row)
                curve = " ".join(f"{h:.2f}" for h in row["hit_ratio_per_second"][:12])
                log(f"  round {rnd + 1} {s.name:10} fill: {row['fill_items']:,} items, "
                    f"{row['fill_evictions']:,} evictions; reached {SHIFT_TARGET}: "
                    f"{'never' if reached is None else '%.0f s' % reached} "
                    f"(per second: {curve}{' ...' if len(timeline) > 12 else ''})")
            finally:
                s.stop()
    summary = {}
    for k, v in runs.items():
        if not v:
            summary[k] = None
            continue
        times = [r["time_to_target_s"] for r in v]
        summary[k] = {
            # A round that never reached the target counts as infinitely slow.
            "time_to_target_s": (None if any(t is None for t in times)
                                 else statistics.median(times)),
            "reached_rounds": sum(t is not None for t in times),
            "hit_ratio_per_second": v[0]["hit_ratio_per_second"],
            "final_hit_ratio": med(v, "final_hit_ratio"),
            "fill_evictions": med(v, "fill_evictions"),
            "slabs_moved": med(v, "slabs_moved"),
            "seconds": med(v, "seconds"),
            "rss_mib": med(v, "rss_mib"),
            "rounds": len(v),
        }
    return {"name": name, "title": title, "kind": "size_shift", "mem": mem,
            "limit_s": args.shift_seconds, "server_cmd": cmds,
            "pre_cmds": [" ".join(gen_cmd("PORT", fill_args))],
            "gen_cmd": " ".join(gen_cmd("PORT", shift_args)),
            "runs": runs, "summary": summary}


SNAPSHOT_ITEMS = (1 << 30) // 100  # 1 GiB of 100-byte values
SNAPSHOT_MEM = 2048


def snapshot_workload(args):
    """Issue #17: write and load times of a snapshot of 1 GiB of 100-byte
    values, and a generator's p99 with and without an online snapshot
    running. ferrocache only: memcached has no equivalent (its `-e` keeps
    the item memory itself in a file on tmpfs)."""
    name = "snapshot"
    items = args.snapshot_items
    title = (f"ferrocache only: {items:,} items, 20-byte keys, 100-byte values "
             f"({items * 100 / 2**30:.2f} GiB of values), -m {SNAPSHOT_MEM}")
    log(f"{name}: {title}")
    fill_args = ["--ratio", "1:0", "--keys", str(items), "--key-size", "20",
                 "--value-size", "100", "-c", "50", "-p", "16", "--prefill", "-d", "0.2"]
    load_args = ["-c", "50", "-p", "1", "--ratio", "1:10", "--keys", str(items),
                 "--key-size", "20", "--value-size", "100", "--warmup", "1",
                 "-d", str(args.duration)]
    saved_re = re.compile(r"warm restart: saved (\d+) items \((\d+) bytes\) to .* in (\d+) ms")
    runs = []
    cmds = {}
    for rnd in range(args.rounds):
        d = Path(tempfile.mkdtemp(prefix="ferrocache-bench-snapshot-"))
        d.chmod(0o777)  # the server runs as -u nobody
        snap, online, errlog = d / "cache.snap", d / "online.snap", d / "server.log"
        base_flags = server_flags(args.threads, SNAPSHOT_MEM) + ["-e", str(snap)]
        srv = Server("ferrocache", FERRO, base_flags + ["-o", f"snapshot_path={online}"])
        row = {}
        try:
            with open(errlog, "wb") as err:
                srv.port = free_port()
                srv.proc = subprocess.Popen(srv.command(srv.port), stdout=subprocess.DEVNULL,
                                            stderr=err)
                if not wait_port(srv.port, srv.proc):
                    raise RuntimeError("ferrocache did not start")
                cmds["ferrocache"] = " ".join(srv.command("PORT"))
                t0 = time.monotonic()
                res, e = run_gen(srv.port, fill_args, 900)
                if res is None:
                    raise RuntimeError(f"fill failed: {e}")
                st = stats(srv.port)
                row["items"] = int(st["curr_items"])
                row["fill_s"] = time.monotonic() - t0
                log(f"  round {rnd + 1}: {row['items']:,} items in {row['fill_s']:.0f} s")
                if QUIET_WAIT:
                    wait_for_quiet(QUIET_WAIT)
                res, e = run_gen(srv.port, load_args, 120)
                if res is None:
                    raise RuntimeError(f"generator failed: {e}")
                row["p99_without_us"] = res["latency_us"]["p99"]
                row["ops_without"] = res["ops_per_sec"]
                # The same generator run while online snapshots follow one
                # another, so that every second of its window has one.
                if QUIET_WAIT:
                    wait_for_quiet(QUIET_WAIT)
                gen = subprocess.Popen(gen_cmd(srv.port, load_args), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
                online_runs = []
                while gen.poll() is None or len(online_runs) == 0:
                    before = stats(srv.port)
                    key = lambda st: (st["snapshot_save_time"], st["snapshot_save_us"])
                    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as c:
                        c.sendall(b"snapshot\r\n")
                        c.recv(100)
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        time.sleep(0.05)
                        after = stats(srv.port)
                        if key(after) != key(before):
                            break
                    if after["snapshot_save_result"] != "ok":
                        raise RuntimeError(f"online snapshot: {after['snapshot_save_result']}")
                    online_runs.append({"us": int(after["snapshot_save_us"]),
                                        "bytes": int(after["snapshot_save_bytes"]),
                                        "items": int(after["snapshot_save_items"])})
                out, gerr = gen.communicate(timeout=120)
                if gen.returncode != 0:
                    raise RuntimeError(f"generator failed: {gerr.strip()[-200:]}")
                res = json.loads(out.strip().splitlines()[-1])
                row["p99_with_us"] = res["latency_us"]["p99"]
                row["ops_with"] = res["ops_per_sec"]
                row["online"] = online_runs
                first = online_runs[0]
                row["online_s"] = first["us"] / 1e6
                row["online_file_mb_s"] = first["bytes"] / first["us"]
                row["online_value_mb_s"] = first["items"] * 100 / first["us"]
                # Write: the save of a graceful stop (SIGUSR1), as a warm
                # restart does; its time comes from the server's log line.
                srv.proc.send_signal(signal.SIGUSR1)
                srv.proc.wait(timeout=600)
                srv.proc = None
            m = saved_re.search(errlog.read_text(errors="replace"))
            if not m:
                raise RuntimeError("no 'warm restart: saved' line in the server's log")
            n, nbytes, ms = int(m.group(1)), int(m.group(2)), max(int(m.group(3)), 1)
            row.update({"write_items": n, "write_bytes": nbytes, "write_s": ms / 1e3,
                        "write_file_mb_s": nbytes / ms / 1e3,
                        "write_value_mb_s": n * 100 / ms / 1e3})
            # Load: a restart with the same -e file, before the port opens.
            if QUIET_WAIT:
                wait_for_quiet(QUIET_WAIT)
            srv2 = Server("ferrocache", FERRO, base_flags)
            srv2.port = free_port()
            srv2.proc = subprocess.Popen(srv2.command(srv2.port), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            try:
                if not wait_port(srv2.port, srv2.proc, timeout=600):
                    raise RuntimeError("ferrocache did not restart")
                st = stats(srv2.port)
            finally:
                srv2.stop()
            if st["snapshot_load_result"] != "ok":
                raise RuntimeError(f"load: {st['snapshot_load_result']}")
            us = max(int(st["snapshot_load_us"]), 1)
            row.update({"load_items": int(st["snapshot_load_items"]),
                        "load_bytes": int(st["snapshot_load_bytes"]), "load_s": us / 1e6,
                        "load_file_mb_s": int(st["snapshot_load_bytes"]) / us,
                        "load_value_mb_s": int(st["snapshot_load_items"]) * 100 / us})
            row["p99_ratio"] = row["p99_with_us"] / row["p99_without_us"]
            runs.append(row)
            log(f"  round {rnd + 1}: write {row['write_s']:.2f} s "
                f"({row['write_value_mb_s']:.0f} MB/s of values, {row['write_file_mb_s']:.0f} of file), "
                f"load {row['load_s']:.2f} s ({row['load_value_mb_s']:.0f} / "
                f"{row['load_file_mb_s']:.0f}), online {row['online_s']:.2f} s; "
                f"p99 {row['p99_without_us']:.0f} -> {row['p99_with_us']:.0f} us "
                f"({row['p99_ratio']:.2f}x, {len(row['online'])} snapshots)")
        except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError) as e:
            log(f"  round {rnd + 1}: failed: {e}")
        finally:
            srv.stop()
            shutil.rmtree(d, ignore_errors=True)
    keys = ["items", "write_s", "write_value_mb_s", "write_file_mb_s", "load_s",
            "load_value_mb_s", "load_file_mb_s", "online_s", "online_value_mb_s",
            "online_file_mb_s", "p99_without_us", "p99_with_us", "p99_ratio",
            "ops_without", "ops_with", "write_bytes"]
    summary = {"ferrocache": ({k: med(runs, k) for k in keys} | {"rounds": len(runs)})
               if runs else None}
    return {"name": name, "title": title, "kind": "snapshot", "server_cmd": cmds,
            "pre_cmds": [" ".join(gen_cmd("PORT", fill_args)) + "   # fill",
                         "kill -USR1 PID   # write: graceful stop, saves -e",
                         "ferrocache ... -e SNAPFILE   # load, before the port opens"],
            "gen_cmd": " ".join(gen_cmd("PORT", load_args))
            + "   # p99 without, then with `snapshot` repeated",
            "runs": runs, "summary": summary}


def snapshot_page(results):
    w = next((w for w in results["workloads"] if w["kind"] == "snapshot"), None)
    if not w:
        return []
    s = w["summary"].get("ferrocache")
    L = ["## Snapshots (issue #17)\n", w["title"] + ".\n"]
    if w.get("run"):
        L.append(f"Run {w['run']['date']} (`{w['run']['cmd']}`), load average at start "
                 f"{w['run']['loadavg']}; medians of {s['rounds'] if s else 0} rounds.\n")
    if not s:
        L.append("No round completed.\n")
        return L
    L.append("- **write**: the save of a graceful stop (`SIGUSR1` with `-e FILE`): the whole "
             "cache to `FILE.tmp`, fsync, rename, fsync of the directory; time from the "
             "server's `warm restart: saved` log line.")
    L.append("- **load**: a restart with the same `-e FILE`, before the port opens "
             "(`snapshot_load_us` of `stats`).")
    L.append("- **online**: one `snapshot` command while the generator runs (`snapshot_save_us`).")
    L.append("- MB/s of values: items × 100 bytes / time (1 GiB of values = 1,073.7 MB); "
             "MB/s of file: the file's bytes (each item also carries its key and a 36-byte "
             "header) / time. MB = 10^6 bytes.")
    L.append("- p99: the generator below (50 connections, pipeline 1, 1:10 set:get over the "
             "filled keys), once alone and once while online snapshots run back to back; the "
             "server has one core (`taskset -c 0`), which its snapshot thread shares.\n")
    L.append("| measure | median | goal | verdict |")
    L.append("|---|---|---|---|")
    def verdict(ok):
        return "met" if ok else "**not met**"
    L.append(f"| write: seconds | {s['write_s']:.2f} | | |")
    L.append(f"| write: MB/s of values (of file) | {s['write_value_mb_s']:.0f} "
             f"({s['write_file_mb_s']:.0f}) | ≥ 300 | {verdict(s['write_value_mb_s'] >= 300)} |")
    L.append(f"| load: seconds | {s['load_s']:.2f} | | |")
    L.append(f"| load: MB/s of values (of file) | {s['load_value_mb_s']:.0f} "
             f"({s['load_file_mb_s']:.0f}) | ≥ 300 | {verdict(s['load_value_mb_s'] >= 300)} |")
    L.append(f"| online snapshot: seconds, MB/s of values (of file) | {s['online_s']:.2f}, "
             f"{s['online_value_mb_s']:.0f} ({s['online_file_mb_s']:.0f}) | | |")
    L.append(f"| p99 µs without / with an online snapshot | {s['p99_without_us']:,.0f} / "
             f"{s['p99_with_us']:,.0f} | | |")
    L.append(f"| p99 with / without | {s['p99_ratio']:.2f}× | ≤ 2× | {verdict(s['p99_ratio'] <= 2)} |")
    L.append(f"| ops/s without / with | {s['ops_without']:,.0f} / {s['ops_with']:,.0f} | | |")
    L.append("")
    L.append("Per round:\n")
    L.append("| round | write s | load s | online s | p99 without µs | p99 with µs | ratio | snapshots in the window |")
    L.append("|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(w["runs"]):
        L.append(f"| {i + 1} | {r['write_s']:.2f} | {r['load_s']:.2f} | {r['online_s']:.2f} | "
                 f"{r['p99_without_us']:,.0f} | {r['p99_with_us']:,.0f} | {r['p99_ratio']:.2f} | "
                 f"{len(r['online'])} |")
    L.append("")
    return L


def metadump_page(results):
    """Issue #16: the load's p99 while `lru_crawler metadump all` lists
    2 million items (benches/dump_under_load.py)."""
    w = next((w for w in results["workloads"] if w.get("kind") == "metadump"), None)
    if not w:
        return []
    L = ["## Dumping keys under load (issue #16)\n",
         f"ferrocache only: {w['items']:,} items (32-byte keys, 100-byte values), `-t 1` on core 0; "
         f"windows of {w['seconds']} s of the load generator on core 1 (20 connections, pipeline 1, "
         "1:10 set:get over the stored keys), alternately without and with "
         "`lru_crawler metadump all` running back to back on another connection "
         "(`benches/dump_under_load.py`, whose reader runs at the lowest priority on core 1).\n"]
    if w.get("run"):
        L.append(f"Run {w['run']['date']} (`{w['run']['cmd']}`), load average at start "
                 f"{w['run']['loadavg']}.\n")
    def verdict(ok):
        return "met" if ok else "**not met**"
    L.append("| measure | value | goal | verdict |")
    L.append("|---|---|---|---|")
    L.append(f"| p99 µs without / with dumps (medians) | {w['p99_without_us']:,.0f} / "
             f"{w['p99_with_us']:,.0f} | | |")
    L.append(f"| p99 with / without | {w['p99_ratio']:.2f}× | ≤ 2× | {verdict(w['p99_ratio'] <= 2)} |")
    L.append(f"| every dump listed every item | {'yes' if w['every_dump_complete'] else 'no'} "
             f"({w['dumps']} dumps) | yes | {verdict(w['every_dump_complete'])} |")
    growth = w["rss_growth_kib"] / 1024
    L.append(f"| RSS growth during dumps | {growth:.1f} MiB | < 16 MiB | {verdict(growth < 16)} |")
    L.append("")
    L.append("| round | dump | p99 µs | ops/s | dumps (lines, seconds) |")
    L.append("|---|---|---|---|---|")
    for r in w["rows"]:
        dumps = ", ".join(f"{d['lines']:,} in {d['seconds']} s" for d in r["dumps"]) or "-"
        L.append(f"| {r['round'] + 1} | {'yes' if r['dump'] else 'no'} | {r['p99_us']:,.0f} | "
                 f"{r['ops_per_sec']:,.0f} | {dumps} |")
    L.append("")
    return L


def store_microbench(args):
    """cargo bench --bench store; aggregate ops/s per thread count."""
    log("store micro-benchmark (criterion, no IO)")
    cmd = ["cargo", "bench", "--bench", "store", "--", "--noplot"]
    env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        log(r.stderr[-2000:])
        return {"cmd": " ".join(cmd), "error": "cargo bench failed", "results": {}}
    results = {}
    for group in ("store_get", "store_set", "store_mixed_1_10"):
        for t in (1, 2, 4, 8):
            est = TARGET / "criterion" / group / "threads" / str(t) / "new" / "estimates.json"
            bm = TARGET / "criterion" / group / "threads" / str(t) / "new" / "benchmark.json"
            if not est.exists():
                continue
            ns = json.loads(est.read_text())["mean"]["point_estimate"]
            elems = json.loads(bm.read_text())["throughput"]["Elements"]
            results.setdefault(group, {})[t] = elems / (ns / 1e9)
    for g, row in results.items():
        log("  " + g + ": " + ", ".join(f"{t} thr {v / 1e6:.1f} M ops/s" for t, v in row.items()))
    return {"cmd": " ".join(cmd), "results": results}


# ---------------------------------------------------------------- report

def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, spec=".0f", na="n/a"):
    return na if v is None else format(v, spec)


def targets(results):
    w = {r["name"]: r for r in results["workloads"]}

    def s(name, server, key):
        try:
            return w[name]["summary"][server][key]
        except (KeyError, TypeError):
            return None

    def r(name, key):
        return ratio(s(name, "ferrocache", key), s(name, "memcached", key))

    rows = []

    def add(num, what, value, goal, higher_better, shown=None):
        if value is None:
            rows.append((num, what, "n/a", goal, "not met (not measurable)"))
            return
        g = float(goal.split()[-1].rstrip("×"))
        met = value >= g if higher_better else value <= g
        if g == 0:
            how = "met" if met else f"not met: short by {abs(value):.2f}"
        else:
            gap = (value / g) if higher_better else (g / value if value else float("inf"))
            how = "met" if met else f"not met: {gap:.2f} of the goal"
        rows.append((num, what, shown or f"{value:.2f}×", goal, how))

    add(1, "text, pipeline 16: ops/s ratio", r("text_p16", "ops_per_sec"), "≥ 3×", True)
    add(2, "text, pipeline 1: server CPU/op ratio", r("text_p1", "cpu_us_per_op"), "≤ 0.7×", False)
    add(2, "text, pipeline 1: p99 ratio", r("text_p1", "p99_us"), "≤ 1×", False)
    add(3, "binary, pipeline 16: ops/s ratio", r("binary_p16", "ops_per_sec"), "≥ 2.5×", True)
    add(4, "memory, 100-byte values: items/MiB ratio", r("memory_100b", "items_per_mib"), "≥ 1.35×", True)
    add(4, "memory, 1000-byte values: items/MiB ratio", r("memory_1000b", "items_per_mib"), "≥ 1.1×", True)
    cap = 1.05 * 256 + 16
    for vs in (100, 1000):
        for srv in ("ferrocache", "memcached"):
            rss = s(f"memory_{vs}b", srv, "rss_mib")
            add(4, f"memory, {vs}-byte values: {srv} RSS (MiB)", rss, f"≤ {cap:.1f}", False,
                shown=fmt(rss, ".1f") + " MiB")
    add(5, "Zipf hit ratio, ferrocache − memcached (pp)",
        None if s("hit_ratio", "ferrocache", "hit_ratio") is None
        else (s("hit_ratio", "ferrocache", "hit_ratio") - s("hit_ratio", "memcached", "hit_ratio")) * 100,
        "≥ 0", True)
    if rows[-1][2] != "n/a":
        rows[-1] = rows[-1][:2] + (f"{float(rows[-1][2].rstrip('×')):+.2f} pp",) + rows[-1][3:]
        v = float(rows[-1][2].split()[0])
        rows[-1] = rows[-1][:4] + ("met" if v >= 0 else f"not met: {v:+.2f} pp",)
    st = results.get("store", {}).get("results", {}).get("store_mixed_1_10", {})
    sc = ratio(st.get(8), st.get(1))
    add(6, f"store, 8 threads vs 1 (mixed 1:10; {os.cpu_count()} cores here)", sc, "≥ 4×", True)
    rows.extend(mixed_targets(results))
    return rows


def mixed_targets(results):
    """Rows of issue #13's acceptance for the mixed-size workloads."""
    rows = []
    na = "not met (not measurable)"
    ws = results["workloads"]
    for w in (w for w in ws if w["kind"] == "fit"):
        f, m = w["summary"].get("ferrocache"), w["summary"].get("memcached")
        what = f"holds what fits, {w['name']} (-m {w['mem']}): evictions, curr_items"
        goal = "evictions ≤ memcached's, curr_items ≥"
        if not f or not m:
            rows.append(("13.1", what, "n/a", goal, na))
            continue
        short = []
        if f["evictions"] > m["evictions"]:
            short.append(f"{f['evictions'] - m['evictions']:,.0f} more evictions")
        if f["curr_items"] < m["curr_items"]:
            short.append(f"{m['curr_items'] - f['curr_items']:,.0f} fewer items")
        rows.append(("13.1", what,
                     f"evictions {f['evictions']:,.0f} vs {m['evictions']:,.0f}; "
                     f"items {f['curr_items']:,.0f} vs {m['curr_items']:,.0f}",
                     goal, "not met: " + ", ".join(short) if short else "met"))
    ow = next((w for w in ws if w["kind"] == "overfull"), None)
    if ow:
        f, m = ow["summary"].get("ferrocache") or {}, ow["summary"].get("memcached") or {}
        what = "over-full, ETC sizes: hit ratio, ferrocache − memcached (pp)"
        if f.get("hit_ratio") is None or m.get("hit_ratio") is None:
            rows.append(("13.2", what, "n/a", "≥ 0", na))
        else:
            d = (f["hit_ratio"] - m["hit_ratio"]) * 100
            rows.append(("13.2", what, f"{d:+.2f} pp ({f['hit_ratio']:.4f} vs {m['hit_ratio']:.4f})",
                         "≥ 0", "met" if d >= 0 else f"not met: {d:+.2f} pp"))
        what = "over-full, ETC sizes: bytes of values held, ratio"
        r = ratio(f.get("held_value_bytes"), m.get("held_value_bytes"))
        if r is None:
            rows.append(("13.2", what, "n/a", "≥ 1.1×", na))
        else:
            rows.append(("13.2", what,
                         f"{r:.2f}× ({f['held_value_bytes'] / 1e6:,.1f} vs "
                         f"{m['held_value_bytes'] / 1e6:,.1f} MB)",
                         "≥ 1.1×", "met" if r >= 1.1 else f"not met: {r / 1.1:.2f} of the goal"))
    sw = next((w for w in ws if w["kind"] == "size_shift"), None)
    if sw:
        f, m = sw["summary"].get("ferrocache") or {}, sw["summary"].get("memcached") or {}
        limit = sw["limit_s"]

        def when(x):
            if not x:
                return "n/a"
            t = x.get("time_to_target_s")
            return f"{t:.0f} s" if t is not None else f"never in {limit:.0f} s"
        what = f"size shift (-m 64, 100 B → 8 KiB): time to hit ratio ≥ {SHIFT_TARGET}"
        t = f.get("time_to_target_s")
        rows.append(("13.3", what, f"{when(f)} (memcached: {when(m)})", f"≤ {limit:.0f} s",
                     na if not f else ("met" if t is not None and t <= limit
                                       else f"not met: never in {limit:.0f} s")))
    worst = None
    for w in ws:
        if w["kind"] not in ("fit", "overfull", "size_shift"):
            continue
        rss = (w["summary"].get("ferrocache") or {}).get("rss_mib")
        if rss is None:
            continue
        cap = 1.05 * w["mem"] + 16
        if worst is None or rss / cap > worst[0]:
            worst = (rss / cap, rss, cap, w["name"])
    if worst:
        _, rss, cap, name = worst
        rows.append(("13.4", "mixed sizes: ferrocache RSS ≤ 1.05 × -m + 16 MiB, worst workload",
                     f"{rss:.1f} MiB, {name} (limit {cap:.1f})", "≤ 1×",
                     "met" if rss <= cap else f"not met: {rss / cap:.2f}× the limit"))
    return rows


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tw = [w for w in results["workloads"] if w["kind"] in ("throughput", "hit_ratio")]
    names = [w["name"] for w in tw]
    colors = {"memcached": "#7f7f7f", "ferrocache": "#d9541e"}
    mixed = [w for w in results["workloads"] if w["kind"] in ("fit", "overfull", "size_shift")]
    if mixed:
        fig, grid = plt.subplots(2, 3, figsize=(15, 9))
        axes = grid[0]
    else:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    width = 0.38
    for ax, key, label in ((axes[0], "ops_per_sec", "throughput (ops/s)"),
                           (axes[1], "p99_us", "p99 latency (µs)")):
        for i, srv in enumerate(("memcached", "ferrocache")):
            vals = [((w["summary"].get(srv) or {}).get(key) or 0) for w in tw]
            xs = [j + (i - 0.5) * width for j in range(len(tw))]
            bars = ax.bar(xs, vals, width, label=srv, color=colors[srv])
            for b, v in zip(bars, vals):
                ax.annotate("n/a" if v == 0 else f"{v:,.0f}", (b.get_x() + b.get_width() / 2, v),
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(tw)), names, rotation=15)
        ax.set_title(label)
        ax.legend()
    mw = [w for w in results["workloads"] if w["kind"] == "memory"]
    ax = axes[2]
    for i, srv in enumerate(("memcached", "ferrocache")):
        vals = [((w["summary"].get(srv) or {}).get("items_per_mib") or 0) for w in mw]
        xs = [j + (i - 0.5) * width for j in range(len(mw))]
        bars = ax.bar(xs, vals, width, label=srv, color=colors[srv])
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:,.0f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(mw)), [w["name"] for w in mw])
    ax.set_title("items per MiB of -m (higher is better)")
    ax.legend()
    if mixed:
        mixed_chart(results, grid[1], colors, width)
    fig.suptitle(f"ferrocache vs memcached, medians of {results['rounds']} rounds "
                 f"({results['machine']['cpu']}, {results['machine']['cores']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def mixed_chart(results, axes, colors, width):
    """The second row of the chart: issue #13's mixed-size workloads."""
    servers = ("memcached", "ferrocache")
    fw = [w for w in results["workloads"] if w["kind"] == "fit"]
    ax = axes[0]
    for i, srv in enumerate(servers):
        rows = [w["summary"].get(srv) or {} for w in fw]
        vals = [100 * (r.get("curr_items") or 0) / w["keys"] for r, w in zip(rows, fw)]
        xs = [j + (i - 0.5) * width for j in range(len(fw))]
        bars = ax.bar(xs, vals, width, label=srv, color=colors[srv])
        for b, v, r in zip(bars, vals, rows):
            ev = r.get("evictions")
            ax.annotate(f"{v:.0f}%\n{'n/a' if ev is None else f'{ev:,.0f} ev'}",
                        (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(fw)), [w["name"].removeprefix("fit_") for w in fw], rotation=15)
    ax.set_ylim(0, 135)
    ax.set_title("holds what fits: items kept, % of keys written")
    ax.legend(loc="upper left", ncol=2, fontsize=7)
    ax = axes[1]
    ow = next((w for w in results["workloads"] if w["kind"] == "overfull"), None)
    if ow:
        rows = [ow["summary"].get(srv) or {} for srv in servers]
        vals = [(r.get("held_value_bytes") or 0) / 1e6 for r in rows]
        bars = ax.bar(range(2), vals, 0.6, color=[colors[s] for s in servers])
        for b, v, r in zip(bars, vals, rows):
            hr = r.get("hit_ratio")
            ax.annotate(f"{v:,.1f} MB\nhit ratio {'n/a' if hr is None else f'{hr:.4f}'}",
                        (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(2), servers)
        ax.set_ylim(0, max(vals + [1]) * 1.25)
        ax.set_title(f"over-full, ETC sizes, Zipf cache-aside:\nMB of values held at -m {ow['mem']}")
    else:
        ax.axis("off")
    ax = axes[2]
    sw = next((w for w in results["workloads"] if w["kind"] == "size_shift"), None)
    if sw:
        for srv in servers:
            curve = (sw["summary"].get(srv) or {}).get("hit_ratio_per_second") or []
            ax.plot(range(1, len(curve) + 1), curve, marker=".", label=srv, color=colors[srv])
        ax.axhline(SHIFT_TARGET, color="black", linestyle=":", linewidth=0.8)
        ax.set_xlim(0, sw["limit_s"])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("seconds after the shift")
        ax.set_title("size shift at -m 64, 100 B → 8 KiB:\nhit ratio per second")
        ax.legend()
    else:
        ax.axis("off")


def mixed_page(results):
    """The page section of issue #13's mixed-size workloads (empty without them)."""
    ws = results["workloads"]
    fw = [w for w in ws if w["kind"] == "fit"]
    ow = next((w for w in ws if w["kind"] == "overfull"), None)
    sw = next((w for w in ws if w["kind"] == "size_shift"), None)
    if not (fw or ow or sw):
        return []
    L = ["## Mixed value sizes (issue #13)\n"]
    L.append("`ferrocache-bench --value-size` draws each key's value length from a distribution: "
             "`uniform:MIN-MAX`, `loguniform:MIN-MAX` (the logarithm of the length is uniform), "
             "or `etc`, the value sizes of Facebook's ETC pool (Atikoglu et al., SIGMETRICS "
             "2012: generalized Pareto, location 0, scale 214.476, shape 0.348238, mean 329 B; "
             "capped at 500 KiB). The length is a function of the key id (a hash of it, not the "
             "run's random stream), so every set of a key writes the same length and every hit "
             "is checked against it. These workloads run both servers with "
             f"`-t {MIXED_THREADS}` (as issue #13 did), pinned to core {SERVER_CPU} like the "
             "others, 20-byte keys, 50 connections, pipeline 16. Key counts for a given amount "
             "of data come from the distribution's mean; \"values written\" is what the "
             "generator actually sent.\n")
    if fw:
        L.append("### Holds what fits\n")
        L.append(f"A fresh server of each per round (medians of {results['rounds']}): every key "
                 "written once in order, then every key read once. "
                 "`evictions`, `curr_items` and `bytes` are the server's `stats` after the reads "
                 "(`bytes` counts each server's own item overhead, so it compares loosely); "
                 "\"read back\" is the hits of the read pass. The goal: ferrocache evicts no more "
                 "than memcached (none where memcached evicts none) and keeps at least as many "
                 "items.\n")
        L.append("| workload | -m | `--value-size` | keys | MB of values written | server | evictions | "
                 "curr_items | read back | `bytes` MB | RSS MiB |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for w in fw:
            for srv in ("memcached", "ferrocache"):
                s = w["summary"].get(srv)
                head = f"| {w['name']} | {w['mem']} | `{w['value_size']}` | {w['keys']:,} |"
                if not s:
                    L.append(f"{head} | {srv} | n/a | | | | |")
                    continue
                L.append(f"{head} {s['value_bytes_written'] / 1e6:,.1f} | {srv} | "
                         f"{s['evictions']:,.0f} | {s['curr_items']:,.0f} | {s['read_back']:,.0f} | "
                         f"{s['bytes'] / 1e6:,.1f} | {s['rss_mib']:.1f} |")
        L.append("")
    if ow:
        L.append("### Over-full\n")
        L.append(ow["title"] + ". "
                 f"Each server is warmed with {results.get('overfull_warmup', 0):,} requests, then "
                 f"measured in windows of {results.get('overfull_window', 0):,} requests (A B A B, "
                 "fresh key sequences per window); the hit ratio is the median of the windows. At "
                 "the end every key is read once without sets: the items and bytes of values the "
                 "server holds.\n")
        L.append("| server | hit ratio | ops/s | curr_items | `bytes` MB | evictions | "
                 "keys held (read back) | MB of values held | RSS MiB |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for srv in ("memcached", "ferrocache"):
            s = ow["summary"].get(srv)
            if not s:
                L.append(f"| {srv} | n/a | | | | | | | |")
                continue
            L.append(f"| {srv} | {s['hit_ratio']:.4f} | {s['ops_per_sec']:,.0f} | "
                     f"{s['curr_items']:,.0f} | {s['bytes'] / 1e6:,.1f} | {s['evictions']:,.0f} | "
                     f"{fmt(s.get('held_items'), ',.0f')} | "
                     f"{fmt(None if s.get('held_value_bytes') is None else s['held_value_bytes'] / 1e6, ',.1f')} | "
                     f"{s['rss_mib']:.1f} |")
        L.append("")
    if sw:
        L.append("### Size shift\n")
        L.append(sw["title"] + f". A fresh server of each per round ({results.get('shift_rounds', 1)} "
                 f"round(s); the figures are the first round's); the run ends early once three "
                 f"seconds in a row reach a hit ratio of {SHIFT_TARGET}. \"time to {SHIFT_TARGET}\" "
                 f"is the end of the first second whose hit ratio is at least {SHIFT_TARGET}. "
                 "`slabs_moved` is the `stats` count of memory pages each server moved between "
                 "size classes.\n")
        L.append(f"| server | items after the fill | evictions in the fill | time to {SHIFT_TARGET} | "
                 "hit ratio in second 1 | second 10 | second 30 | last second | slabs_moved |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for srv in ("memcached", "ferrocache"):
            s = sw["summary"].get(srv)
            if not s:
                L.append(f"| {srv} | n/a | | | | | | | |")
                continue
            r0 = sw["runs"][srv][0]
            t = r0["time_to_target_s"]
            curve = r0["hit_ratio_per_second"]
            at = [fmt(curve[i - 1] if len(curve) >= i else None, ".2f", "(ended)")
                  for i in (1, 10, 30)]
            L.append(f"| {srv} | {r0['fill_items']:,} | {r0['fill_evictions']:,} | "
                     f"{'never in %.0f s' % sw['limit_s'] if t is None else '%.0f s' % t} | "
                     f"{' | '.join(at)} | {fmt(r0['final_hit_ratio'], '.2f')} "
                     f"({len(curve)} s) | {r0['slabs_moved']:,} |")
        L.append("")
    return L


def page(results):
    m = results["machine"]
    L = []
    L.append("# Benchmarks: ferrocache vs memcached\n")
    L.append("Generated by `make bench` (`benches/run.py`); the numbers below are one real run, "
             "committed as produced. Raw per-round figures: "
             "[`benchmarks.json`](benchmarks.json).\n")
    L.append("![throughput, p99 and items per MiB, both servers](benchmarks.png)\n")
    L.append("## Machine\n")
    L.append(f"- CPU: {m['cpu']}, {m['cores']} cores ({m['virt']})")
    L.append(f"- kernel {m['kernel']}, {m['os']}")
    L.append(f"- memcached: {m['memcached']}; ferrocache {m['ferrocache']} (release build, "
             f"`{m['rustc']}`)")
    L.append(f"- run started {m['date']}, took {results['elapsed_min']:.1f} min; "
             f"load average at start {m['loadavg']}")
    L.append(f"- servers pinned to core {SERVER_CPU} (`taskset -c {SERVER_CPU}`, `-t {results['threads']}`), "
             f"load generator to core {GEN_CPU}; each workload alternates the servers "
             f"(A B A B, {results['rounds']} rounds) and reports medians.")
    L.append(f"- syscalls counted with {results['syscall_method']}; server CPU from "
             "`/proc/PID/stat` utime+stime over the generator's run; operations from the "
             "server's own `cmd_get`+`cmd_set` deltas.")
    L.append("- \"noise\" = busy CPU seconds of other processes on the machine during a window "
             "(this machine is shared with other builds); a window with a lot of it is less "
             "trustworthy.\n")

    mixed = any(w["kind"] in ("fit", "overfull", "size_shift") for w in results["workloads"])
    L.append("## Targets (issues #6 and #13)\n" if mixed else "## Targets (issue #6)\n")
    L.append("| # | target | measured | goal | verdict |")
    L.append("|---|---|---|---|---|")
    for num, what, val, goal, verdict in targets(results):
        L.append(f"| {num} | {what} | {val} | {goal} | {verdict} |")
    L.append("")

    L.append("## Throughput workloads\n")
    L.append("Medians over the rounds. CPU/op and syscalls/op are the server's; "
             "\"gen CPU\" is the generator's share of its core (near 100% means the generator, "
             "not the server, sets the pace).\n")
    L.append("| workload | server | ops/s | p50 µs | p99 µs | p99.9 µs | hit ratio | CPU µs/op | "
             "syscalls/op | server CPU | gen CPU | noise cpu-s |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in results["workloads"]:
        if w["kind"] not in ("throughput", "hit_ratio"):
            continue
        for srv in ("memcached", "ferrocache"):
            s = w["summary"].get(srv)
            if not s:
                why = w.get("failed", {}).get(srv, "failed")
                L.append(f"| {w['name']} | {srv} | n/a ({why}) | | | | | | | | | |")
                continue
            L.append(f"| {w['name']} | {srv} | {s['ops_per_sec']:,.0f} | {fmt(s.get('p50_us'), '.0f')} | "
                     f"{s['p99_us']:,.0f} | {fmt(s.get('p99_9_us'), ',.0f')} | {s['hit_ratio']:.4f} | "
                     f"{s['cpu_us_per_op']:.2f} | {s['syscalls_per_op']:.3f} | "
                     f"{fmt(s.get('server_cpu_share'), '.0%')} | {fmt(s.get('gen_cpu_share'), '.0%')} | "
                     f"{fmt(s.get('foreign_cpu_s'), '.1f')} |")
        fs, ms = w["summary"].get("ferrocache"), w["summary"].get("memcached")
        if fs and ms:
            L.append(f"| {w['name']} | **ratio f/m** | **{fs['ops_per_sec'] / ms['ops_per_sec']:.2f}** | | "
                     f"**{fs['p99_us'] / ms['p99_us']:.2f}** | | | "
                     f"**{fs['cpu_us_per_op'] / ms['cpu_us_per_op']:.2f}** | "
                     f"**{fs['syscalls_per_op'] / ms['syscalls_per_op']:.2f}** | | | |")
    L.append("")
    hot = [w for w in results["workloads"] if w["kind"] == "hotkeys"]
    race = [w for w in results["workloads"] if w["kind"] == "hotkeys_race"]
    if hot or race:
        L.append("## Hot-key tracking on and off (issue #18)\n")
        L.append("ferrocache with `-o hot_keys=20` (tracking on, as by default: 20 keys listed, "
                 "about 8192 samples a second per worker) and with `-o hot_keys=off` (no "
                 "memcached). The goal: throughput and p99 with tracking on within 3 % of off.\n")
    if race:
        L.append("**Both at once on one core.** The two servers share core 0 at the same time, "
                 "each driven by its own generator on core 1; the kernel gives them equal shares "
                 "of the core, so in each window the ratio of their throughputs is the ratio of "
                 "their costs per request, whatever the core's speed did meanwhile. Median of the "
                 f"per-window ratios on/off, with the quartiles, over {HOT_ROUNDS} windows of "
                 f"{HOT_WINDOW} s. Latency here includes waiting for the other server's turn on "
                 "the core (so it is milliseconds): compare on with off, not with the solo "
                 "windows.\n")
        L.append("| workload | windows | ops/s on / off | p99 on / off | CPU µs/op on / off "
                 "| ops/s on, off (medians) |")
        L.append("|---|---|---|---|---|---|")
        for w in race:
            r = w.get("ratios")
            if not r:
                L.append(f"| {w['name']} | 0 | n/a ({w.get('failed') or 'failed'}) | | | |")
                continue

            def q(k):
                x = r[k]
                if "q1" not in x:
                    return f"**{x['median']:.3f}**"
                return f"**{x['median']:.3f}** ({x['q1']:.3f}-{x['q3']:.3f})"
            on, off = w["summary"][HOT_ON], w["summary"][HOT_OFF]
            L.append(f"| {w['name']} | {len(w['rounds'])} | {q('ops_per_sec')} | {q('p99_us')} | "
                     f"{q('cpu_us_per_op')} | {on['ops_per_sec']:,.0f}, {off['ops_per_sec']:,.0f} |")
        L.append("")
    if hot:
        L.append("**Alternated, each alone on its core**, as the other workloads: tracking on "
                 "and off in the same rounds (A B, B A, ...; both restarted every "
                 f"{HOT_FRESH_EVERY} rounds, in turn); medians of each server's windows. "
                 "A window's throughput on this machine scatters by about +-15 % whatever the "
                 "server, so these ratios move by several percent from run to run; the "
                 "windows above do not.\n")
        L.append("| workload | ferrocache | ops/s | p50 µs | p99 µs | CPU µs/op | noise cpu-s |")
        L.append("|---|---|---|---|---|---|---|")
        for w in hot:
            for srv in (HOT_ON, HOT_OFF):
                s = w["summary"].get(srv)
                if not s:
                    L.append(f"| {w['name']} | {srv} | n/a ({w.get('failed', {}).get(srv, 'failed')}) "
                             "| | | | |")
                    continue
                L.append(f"| {w['name']} | {srv} | {s['ops_per_sec']:,.0f} | "
                         f"{fmt(s.get('p50_us'), '.0f')} | {s['p99_us']:,.0f} | "
                         f"{s['cpu_us_per_op']:.2f} | {fmt(s.get('foreign_cpu_s'), '.1f')} |")
            on, off = w["summary"].get(HOT_ON), w["summary"].get(HOT_OFF)
            if on and off:
                L.append(f"| {w['name']} | **on / off** | **{on['ops_per_sec'] / off['ops_per_sec']:.3f}** | "
                         f"| **{on['p99_us'] / off['p99_us']:.3f}** | "
                         f"**{on['cpu_us_per_op'] / off['cpu_us_per_op']:.3f}** | |")
        L.append("")
        # The same windows as ratios within each round: their spread is what
        # a single run of these twins can resolve.
        for w in hot:
            pairs = list(zip(w["runs"].get(HOT_ON, []), w["runs"].get(HOT_OFF, [])))
            if len(pairs) < 4:
                continue

            def spread(get):
                r = [get(a) / get(b) for a, b in pairs]
                q = statistics.quantiles(r, n=4)
                return f"{statistics.median(r):.3f} ({q[0]:.3f}-{q[2]:.3f})"
            L.append(f"- {w['name']}, on / off within each of {len(pairs)} rounds, median "
                     f"(quartiles): ops/s {spread(lambda x: x['ops_per_sec'])}, p99 "
                     f"{spread(lambda x: x['latency_us']['p99'])}, CPU/op "
                     f"{spread(lambda x: x['cpu_us_per_op'])}")
        L.append("")
    if any(w.get("tls") for w in results["workloads"]):
        L.append("`text_p16_tls` is `text_p16` over TLS: both servers run with "
                 "`-Z -o ssl_chain_cert=..,ssl_key=..` on an ECDSA P-256 certificate that a "
                 "throwaway CA signed (made by the openssl CLI at bench time, deleted after); the "
                 "generator verifies it (`--tls-ca`), and its 50 handshakes happen before the "
                 "measured window, so the figures are record encryption and decryption (memcached "
                 "with OpenSSL, ferrocache with rustls).\n")
    L.append("Syscalls per operation by kind, and the server's CPU per operation split into "
             "user space and kernel (medians; kernel time is the syscalls and loopback TCP, "
             "which user-space work cannot reduce):\n")
    L.append("| workload | server | user µs/op | kernel µs/op | syscalls by kind |")
    L.append("|---|---|---|---|---|")
    for w in results["workloads"]:
        if w["kind"] != "throughput":
            continue
        for srv in ("memcached", "ferrocache"):
            s = w["summary"].get(srv)
            if s and s["syscall_breakdown_per_op"]:
                parts = ", ".join(f"{k} {v:.3f}" for k, v in
                                  sorted(s["syscall_breakdown_per_op"].items(), key=lambda kv: -kv[1])
                                  if v >= 0.0005)
                kern = s.get("kernel_us_per_op")
                user = s["cpu_us_per_op"] - kern if kern is not None else None
                L.append(f"| {w['name']} | {srv} | {fmt(user, '.2f')} | {fmt(kern, '.2f')} | {parts} |")
    L.append("")

    L.append("## Memory\n")
    L.append("| workload | server | curr_items | items/MiB of -m | RSS MiB | RSS / -m | evictions reached |")
    L.append("|---|---|---|---|---|---|---|")
    for w in results["workloads"]:
        if w["kind"] != "memory":
            continue
        for srv in ("memcached", "ferrocache"):
            s = w["summary"].get(srv)
            if not s:
                L.append(f"| {w['name']} | {srv} | n/a | | | | |")
                continue
            L.append(f"| {w['name']} | {srv} | {s['curr_items']:,.0f} | {s['items_per_mib']:,.0f} | "
                     f"{s['rss_mib']:.1f} | {s['rss_over_limit']:.3f} | {s['stopped_on_evictions']} |")
    L.append("")

    hw = next((w for w in results["workloads"] if w["kind"] == "hit_ratio"), None)
    if hw:
        L.append("## Hit ratio\n")
        L.append(hw["title"] + ".\n")
        L.append(f"Each server is warmed with {results['zipf_warmup']:,} requests, then measured in "
                 f"windows of {results['zipf_window']:,} requests (A B A B).")
        if results["zipf_keys"] != 10_000_000:
            L.append(f"The key space is reduced from 10,000,000 to {results['zipf_keys']:,} to fit the time budget.")
        L.append("")
        L.append("| server | hit ratio | items held | RSS MiB |")
        L.append("|---|---|---|---|")
        for srv in ("memcached", "ferrocache"):
            s = hw["summary"].get(srv)
            if s:
                L.append(f"| {srv} | {s['hit_ratio']:.4f} | {s['curr_items']:,.0f} | {s['rss_mib']:.1f} |")
        L.append("")

    L.extend(mixed_page(results))
    L.extend(snapshot_page(results))
    L.extend(metadump_page(results))

    st = results.get("store", {})
    L.append("## Store micro-benchmark (no IO)\n")
    L.append(f"`{st.get('cmd', '')}`: aggregate operations per second of all threads, 32-byte keys, "
             f"100-byte values, 100,000 keys. This machine has {os.cpu_count()} cores, so beyond 2 "
             "threads the figures show contention and oversubscription, not scaling.\n")
    res = st.get("results", {})
    if res:
        L.append("| mix | 1 thread | 2 threads | 4 threads | 8 threads | 8 / 1 |")
        L.append("|---|---|---|---|---|---|")
        for g, row in res.items():
            cells = " | ".join(fmt(row.get(t), ",.0f") for t in (1, 2, 4, 8))
            L.append(f"| {g} | {cells} | {fmt(ratio(row.get(8), row.get(1)), '.2f')} |")
        L.append("")

    L.append("## Exact command lines\n")
    L.append("`PORT` is a free port probed per server. The prefill of a throughput workload is the "
             "same generator command with `--prefill -d 0.2`.\n")
    L.append("```")
    for w in results["workloads"]:
        L.append(f"# {w['name']}: {w['title']}")
        for srv, c in sorted(w["server_cmd"].items()):
            L.append(c)
        if "warm_cmd" in w:
            L.append(w["warm_cmd"])
        L.extend(w.get("pre_cmds", []))
        L.append(w["gen_cmd"])
        L.extend(w.get("post_cmds", []))
        L.append("")
    L.append(" ".join(sys.argv[:1] + results["argv"]))
    L.append("```\n")

    diag = REPO / "benches" / "diagnosis.md"
    if diag.exists():
        L.append(diag.read_text())
    return "\n".join(L) + "\n"


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
        except OSError:
            return "?"
    cpu = re.sub(r"\s+", " ", sh("lscpu | sed -n 's/^Model name:\\s*//p' | head -1"))
    hyp = sh("lscpu | sed -n 's/^Hypervisor vendor:\\s*//p'")
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "virt": f"VM, {hyp} hypervisor" if hyp else "bare metal",
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "memcached": sh(f"{MEMCACHED} -V"),
        "ferrocache": sh(f"git -C {REPO} describe --always --dirty"),
        "rustc": sh("rustc --version"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured window")
    p.add_argument("--threads", type=int, default=1, help="server -t")
    p.add_argument("--mem", type=int, default=1024, help="server -m for the throughput workloads")
    p.add_argument("--zipf-keys", type=int, default=10_000_000)
    p.add_argument("--zipf-warmup", type=int, default=8_000_000, help="requests")
    p.add_argument("--zipf-window", type=int, default=1_500_000, help="requests per window")
    p.add_argument("--overfull-keys", type=int, default=OVERFULL_KEYS,
                   help="key space of overfull_etc (about 3x what -m 256 holds)")
    p.add_argument("--overfull-warmup", type=int, default=4_000_000, help="requests")
    p.add_argument("--overfull-window", type=int, default=1_500_000,
                   help="requests per measured window of overfull_etc")
    p.add_argument("--shift-seconds", type=float, default=60.0,
                   help="size_shift: how long the 8 KiB working set may take to reach 0.9")
    p.add_argument("--shift-rounds", type=int, default=1,
                   help="size_shift rounds (memcached takes the full --shift-seconds each)")
    p.add_argument("--only", default="",
                   help="comma-separated workload names (for trying out); `fit` runs the five "
                        "fit_* workloads, `mixed` every mixed-size workload (issue #13)")
    p.add_argument("--metadump-items", type=int, default=2_000_000,
                   help="items of the metadump_2m workload (issue #16)")
    p.add_argument("--metadump-seconds", type=int, default=15,
                   help="seconds of each metadump_2m window")
    p.add_argument("--snapshot-items", type=int, default=SNAPSHOT_ITEMS,
                   help="items of the snapshot workload (100-byte values; default 1 GiB of them)")
    p.add_argument("--merge", action="store_true",
                   help="keep the other workloads of OUT/benchmarks.json and replace only those "
                        "run now (with --only: refresh one section of the page)")
    p.add_argument("--skip-store", action="store_true", help="skip the criterion store benchmark")
    p.add_argument("--out", default=str(REPO / "docs"))
    p.add_argument("--quiet-wait", type=float, default=20.0,
                   help="before each window, wait up to this long for other load to stop")
    p.add_argument("--render", action="store_true",
                   help="only rewrite the page and chart from OUT/benchmarks.json")
    a = p.parse_args()
    if a.render:
        out = Path(a.out)
        results = json.loads((out / "benchmarks.json").read_text())
        # JSON object keys are strings; the store table is keyed by thread count.
        for g, row in results.get("store", {}).get("results", {}).items():
            results["store"]["results"][g] = {int(k): v for k, v in row.items()}
        chart(results, out / "benchmarks.png")
        (out / "benchmarks.md").write_text(page(results))
        return
    global QUIET_WAIT
    QUIET_WAIT = a.quiet_wait
    start = time.monotonic()
    use_perf = perf_works()
    results = {
        "machine": machine(), "rounds": a.rounds, "threads": a.threads,
        "zipf_keys": a.zipf_keys, "zipf_warmup": a.zipf_warmup, "zipf_window": a.zipf_window,
        "overfull_warmup": a.overfull_warmup, "overfull_window": a.overfull_window,
        "shift_rounds": a.shift_rounds,
        "argv": sys.argv[1:],
        "syscall_method": ("`perf stat -e raw_syscalls:sys_enter -p PID` (kernel tracepoint)"
                           if use_perf else "`/proc/PID/io` syscr+syscw (misses sendmsg/recvmsg)"),
        "workloads": [],
    }
    only = set(filter(None, a.only.split(",")))
    base = ["-c", "50", "--ratio", "1:10", "--keys", "100000", "--key-size", "32",
            "--value-size", "100", "--warmup", "1", "-d", str(a.duration)]
    plan = [
        ("text_p16", "text, 50 conns, pipeline 16, 1:10 set:get, 32-byte keys, 100-byte values",
         base + ["--protocol", "text", "-p", "16"]),
        ("text_p1", "text, 50 conns, pipeline 1, 1:10 set:get, 32-byte keys, 100-byte values",
         base + ["--protocol", "text", "-p", "1"]),
        ("binary_p16", "binary, 50 conns, pipeline 16, 1:10 set:get, 32-byte keys, 100-byte values",
         base + ["--protocol", "binary", "-p", "16"]),
    ]
    for name, title, gargs in plan:
        if not only or name in only:
            results["workloads"].append(throughput_workload(name, title, gargs, a, use_perf))
    # Issue #18's cost: the same two workloads, ferrocache with hot-key
    # tracking on (the default) against -o hot_keys=off, in the same rounds.
    for name, title, gargs in plan[:2]:
        twin = f"{name}_hotkeys"
        if not only or twin in only:
            results["workloads"].append(hotkeys_workload(
                twin, title + "; ferrocache with hot-key tracking on and off", gargs, a,
                use_perf))
        race = f"{name}_hotkeys_race"
        if not only or race in only:
            results["workloads"].append(hotkeys_race_workload(
                race, title + "; ferrocache with hot-key tracking on and off, both at once on "
                "one core", gargs, a))
    if not only or "text_p16_tls" in only:
        results["workloads"].append(throughput_workload(
            "text_p16_tls", "text over TLS (-Z), 50 conns, pipeline 16, 1:10 set:get, "
            "32-byte keys, 100-byte values", base + ["--protocol", "text", "-p", "16"], a, use_perf,
            tls=True))
    for vs in (100, 1000):
        if not only or f"memory_{vs}b" in only:
            results["workloads"].append(memory_workload(vs, a))
    if not only or "hit_ratio" in only:
        results["workloads"].append(hit_ratio_workload(a, use_perf))
    mixed = not only or "mixed" in only
    for name, mem, spec, keys, what in fit_plan():
        if mixed or name in only or "fit" in only:
            results["workloads"].append(fit_workload(name, mem, spec, keys, what, a))
    if mixed or "overfull_etc" in only:
        results["workloads"].append(overfull_workload(a))
    if mixed or "size_shift" in only:
        results["workloads"].append(size_shift_workload(a))
    if not only or "snapshot" in only:
        w = snapshot_workload(a)
        w["run"] = {"date": results["machine"]["date"], "loadavg": results["machine"]["loadavg"],
                    "cmd": " ".join(["benches/run.py"] + sys.argv[1:])}
        results["workloads"].append(w)
    if not only or "metadump_2m" in only:
        import dump_under_load  # beside this file; imports from it
        w = dump_under_load.run(a.metadump_items, a.rounds, a.metadump_seconds, log=log)
        w["title"] = (f"lru_crawler metadump all over {a.metadump_items:,} items under load "
                      "(benches/dump_under_load.py)")
        w["server_cmd"] = {"ferrocache": "taskset -c 0 ferrocache -p PORT -U 0 -l 127.0.0.1 -t 1 "
                                         "-m MEM"}
        w["gen_cmd"] = ("taskset -c 1 ferrocache-bench -s 127.0.0.1:PORT -t 1 -c 20 -p 1 --ratio 1:10 "
                        f"-k {a.metadump_items} --key-size 32 --value-size 100 "
                        f"-d {a.metadump_seconds}   # beside `lru_crawler metadump all` in a loop")
        w["run"] = {"date": results["machine"]["date"], "loadavg": results["machine"]["loadavg"],
                    "cmd": " ".join(["benches/run.py"] + sys.argv[1:])}
        results["workloads"].append(w)
    if not a.skip_store and (not only or "store" in only):
        results["store"] = store_microbench(a)
    results["elapsed_min"] = (time.monotonic() - start) / 60
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    elapsed_min = results["elapsed_min"]
    if a.merge and (out / "benchmarks.json").exists():
        old = json.loads((out / "benchmarks.json").read_text())
        for g, row in old.get("store", {}).get("results", {}).items():
            old["store"]["results"][g] = {int(k): v for k, v in row.items()}
        ran = {w["name"] for w in results["workloads"]}
        old["workloads"] = [w for w in old["workloads"] if w["name"] not in ran] + results["workloads"]
        if "store" in results:
            old["store"] = results["store"]
        results = old
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1) + "\n")
    chart(results, out / "benchmarks.png")
    (out / "benchmarks.md").write_text(page(results))
    log(f"wrote {out / 'benchmarks.md'} in {elapsed_min:.1f} min")
    for row in targets(results):
        log("  target %s: %s = %s (goal %s): %s" % row)


if __name__ == "__main__":
    main()
