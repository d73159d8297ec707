"""Scale-out: key placement shared with pylibmc (libmemcached ketama) and
pymemcache's HashClient (rendezvous), and ferrocache behind twemproxy.

For every placement test, a library stores keys across three ferrocache
nodes; each node is then asked directly which keys it holds, and each key
must be on the node ``ferrocache-cli ring`` names.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Server, free_port, is_memcached, server_binary

CLI = Path(os.environ.get("FERROCACHE_CLI") or REPO_ROOT / "target" / "release" / "ferrocache-cli")
N_KEYS = 10_000
KEYS = [f"user:{i}:profile" for i in range(N_KEYS)]

pytestmark = pytest.mark.skipif(
    not os.access(CLI, os.X_OK), reason=f"{CLI} not built (cargo build --release --bins)"
)


def direct(host: str, port: int):
    from pymemcache.client.base import Client

    return Client((host, port), connect_timeout=5, timeout=10, default_noreply=False)


def holders(nodes: list[Server]) -> dict[str, str]:
    """key -> "host:port" of the node that holds it, asking each node."""
    where: dict[str, str] = {}
    for node in nodes:
        c = direct(node.host, node.port)
        try:
            for i in range(0, len(KEYS), 500):
                for key in c.get_many(KEYS[i : i + 500]):
                    assert key not in where, f"{key} on two nodes"
                    where[key] = f"{node.host}:{node.port}"
        finally:
            c.close()
    return where


def cli_ring(servers: list[str], distribution: str, keys: list[str]) -> dict[str, str]:
    out = subprocess.run(
        [str(CLI), "--servers", ",".join(servers), "--distribution", distribution, "ring", *keys],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    ring = dict(line.split("\t") for line in out.splitlines())
    assert len(ring) == len(keys)
    return ring


def assert_same_placement(nodes, servers, distribution):
    where = holders(nodes)
    assert len(where) == N_KEYS, f"{N_KEYS - len(where)} keys were not stored"
    ring = cli_ring(servers, distribution, KEYS)
    wrong = [k for k in KEYS if ring[k] != where[k]]
    assert not wrong, f"{len(wrong)} keys placed differently, e.g. {wrong[:3]}"
    # The keys really are spread: every node holds some.
    counts = {f"{n.host}:{n.port}": 0 for n in nodes}
    for node in where.values():
        counts[node] += 1
    assert all(c > 0 for c in counts.values()), counts
    return counts


def start_on(tmp_path: Path, host: str, port: int) -> Server:
    """A server on an explicit address (conftest's factory only binds 127.0.0.1)."""
    binary = server_binary()
    args = [binary, "-p", str(port), "-l", host, "-U", "0"]
    if os.geteuid() == 0:
        # Both refuse to run as root without -u; ferrocache stays root.
        args += ["-u", "nobody" if is_memcached(binary) else "root"]
    srv = Server(binary, port, args, tmp_path / f"server-{host}-{port}.log")
    srv.host = host
    srv.start()
    try:
        srv.wait_ready()
    except BaseException:
        srv.stop()
        raise
    return srv


def port_free(host: str, port: int) -> bool:
    """Nobody listens there (connections of an earlier run lingering in
    TIME_WAIT do not count: the daemon binds with SO_REUSEADDR too)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def pylibmc_store(servers: list[str], behaviors: dict) -> None:
    import pylibmc

    mc = pylibmc.Client(servers, behaviors=behaviors)
    for i in range(0, N_KEYS, 1000):
        failed = mc.set_multi({k: b"v" for k in KEYS[i : i + 1000]})
        assert not failed, f"pylibmc could not store {failed[:3]}"
    mc.disconnect_all()


WEIGHTED = {"ketama_weighted": True, "hash": "md5"}
CONSISTENT = {"distribution": "consistent ketama", "hash": "md5"}


@pytest.mark.parametrize(
    "behaviors,distribution",
    [(WEIGHTED, "ketama"), (CONSISTENT, "consistent-ketama")],
    ids=["ketama_weighted", "consistent_ketama"],
)
def test_pylibmc_placement_other_ports(server_factory, behaviors, distribution):
    nodes = [server_factory() for _ in range(3)]
    servers = [f"{n.host}:{n.port}" for n in nodes]
    pylibmc_store(servers, behaviors)
    assert_same_placement(nodes, servers, distribution)


def test_pylibmc_placement_with_a_node_on_11211(server_factory, tmp_path):
    # libmemcached drops the port from a server's ketama string when it is
    # 11211 (a rule on the port number alone), so one node must listen on
    # 11211. 127.0.0.2 (loopback, rarely used) keeps 127.0.0.1:11211 free
    # for whatever else runs on the machine.
    host = "127.0.0.2"
    if not port_free(host, 11211):
        pytest.skip(f"{host}:11211 is taken on this machine")
    special = start_on(tmp_path, host, 11211)
    try:
        nodes = [server_factory(), special, server_factory()]
        servers = [f"{n.host}:{n.port}" for n in nodes]
        pylibmc_store(servers, WEIGHTED)
        assert_same_placement(nodes, servers, "ketama")
    finally:
        special.stop()


def test_pylibmc_placement_unequal_weights(server_factory):
    nodes = [server_factory() for _ in range(3)]
    servers = [f"{n.host}:{n.port}:{w}" for n, w in zip(nodes, (1, 2, 5))]
    pylibmc_store(servers, WEIGHTED)
    counts = assert_same_placement(nodes, servers, "ketama")
    # Weight shows: the weight-5 node holds the most keys.
    assert max(counts, key=counts.get) == f"{nodes[2].host}:{nodes[2].port}"


def test_pylibmc_placement_unix_sockets(server_factory, tmp_path):
    # libmemcached gives a unix socket port 0: its strings are `path:0-i`.
    paths = [str(tmp_path / f"node{i}.sock") for i in range(3)]
    for path in paths:
        server_factory("-s", path, "-a", "0700")
    pylibmc_store(paths, WEIGHTED)
    from pymemcache.client.base import Client

    where = {}
    for path in paths:
        c = Client(path, connect_timeout=5, timeout=10)
        for i in range(0, N_KEYS, 500):
            for key in c.get_many(KEYS[i : i + 500]):
                where[key] = path
        c.close()
    assert len(where) == N_KEYS
    ring = cli_ring(paths, "ketama", KEYS)
    wrong = [k for k in KEYS if ring[k] != where[k]]
    assert not wrong, f"{len(wrong)} keys placed differently, e.g. {wrong[:3]}"
    assert len(set(where.values())) == 3


def test_pymemcache_hashclient_rendezvous_placement(server_factory):
    from pymemcache.client.hash import HashClient

    nodes = [server_factory() for _ in range(3)]
    mc = HashClient([n.addr for n in nodes], connect_timeout=5, timeout=10, default_noreply=False)
    for i in range(0, N_KEYS, 1000):
        failed = mc.set_many({k: b"v" for k in KEYS[i : i + 1000]})
        assert not failed
    mc.close()
    assert_same_placement(nodes, [f"{n.host}:{n.port}" for n in nodes], "rendezvous")


# --------------------------------------------------------------- twemproxy

NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"


@pytest.fixture
def nutcracker(server_factory, tmp_path):
    """nutcracker (ketama, md5) in front of three ferrocache nodes."""
    if not os.access(NUTCRACKER, os.X_OK):
        pytest.fail("nutcracker not installed (.ci/install-test-deps.sh installs it)")
    nodes = [server_factory() for _ in range(3)]
    conf = tmp_path / "nutcracker.yml"
    for attempt in range(3):
        port, stats_port = free_port(), free_port()
        conf.write_text(
            "fleet:\n"
            f"  listen: 127.0.0.1:{port}\n"
            "  hash: md5\n"
            "  distribution: ketama\n"
            "  timeout: 5000\n"
            "  auto_eject_hosts: false\n"
            "  servers:\n" + "".join(f"   - {n.host}:{n.port}:1\n" for n in nodes)
        )
        log = tmp_path / f"nutcracker-{attempt}.log"
        proc = subprocess.Popen(
            [NUTCRACKER, "-c", str(conf), "-s", str(stats_port), "-a", "127.0.0.1", "-o", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.05)
            if proc.poll() is None:
                yield ("127.0.0.1", port), nodes
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
    pytest.fail(f"nutcracker did not start: {log.read_text(errors='replace')}")


def test_twemproxy_ketama_md5(nutcracker):
    from pymemcache.client.base import Client

    proxy, nodes = nutcracker
    keys = [f"tw:{i}" for i in range(1000)]
    mc = Client(proxy, connect_timeout=5, timeout=10, default_noreply=False)
    try:
        for k in keys:
            assert mc.set(k, k.encode()) is True
        for k in keys[:100]:
            assert mc.get(k) == k.encode()
        got = {}
        for i in range(0, len(keys), 100):
            got.update(mc.get_many(keys[i : i + 100]))
        assert got == {k: k.encode() for k in keys}
        assert mc.set("tw:counter", b"41") is True
        assert mc.incr("tw:counter", 1) == 42
        assert mc.decr("tw:counter", 2) == 40
        for k in keys[:500]:
            assert mc.delete(k) is True
        assert mc.get_many(keys[:500]) == {}
        assert mc.delete(keys[0]) is False
        assert len(mc.get_many(keys[500:600])) == 100
    finally:
        mc.close()

    # Spread over all three nodes, and where ferrocache's own ketama puts
    # them (twemproxy's continuum is libmemcached's weighted one; its server
    # strings always carry the port, equal to libmemcached's off 11211).
    rest = keys[500:]
    where = {}
    for n in nodes:
        c = direct(n.host, n.port)
        for k in c.get_many(rest):
            where[k] = f"{n.host}:{n.port}"
        c.close()
    assert len(where) == len(rest)
    assert len(set(where.values())) == 3
    ring = cli_ring([f"{n.host}:{n.port}" for n in nodes], "ketama", rest)
    assert all(ring[k] == where[k] for k in rest)
