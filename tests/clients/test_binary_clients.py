"""Real binary-protocol clients against the daemon, with and without SASL.

python-binary-memcached (``bmemcached``) covers set/get, set_multi (SetQ +
Noop), get_multi (GetKQ + Noop), cas, incr/decr with initial values,
delete, stats, flush and 1 MiB values; pylibmc with ``binary=True`` covers
the same basics through libmemcached, and SASL through Cyrus' client.

memcached itself needs a SASL configuration of its own to authenticate, so
the SASL cases are skipped when the oracle runs this suite.
"""

from __future__ import annotations

import os

import bmemcached
import pylibmc
import pytest

from conftest import is_memcached, server_binary

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture
def pwdb(tmp_path):
    path = tmp_path / "pwdb"
    path.write_text(f"{USER}:{PASSWORD}\nbob:other\n")
    return path


@pytest.fixture(params=["plain", "sasl"])
def bmc_server(request, server_factory, pwdb):
    """A server, with (-S) or without SASL, and the credentials to use."""
    if request.param == "sasl":
        if is_memcached(server_binary()):
            pytest.skip("the oracle needs its own Cyrus SASL set-up")
        return server_factory("-S", "-o", f"sasl_pwdb={pwdb}"), (USER, PASSWORD)
    return server_factory(), (None, None)


def bmc(server, creds):
    user, password = creds
    return bmemcached.Client([f"{server.host}:{server.port}"], user, password, socket_timeout=10)


def test_bmemcached_roundtrip(bmc_server):
    server, creds = bmc_server
    c = bmc(server, creds)
    try:
        assert c.set("k1", "v1")
        assert c.get("k1") == "v1"
        assert c.get("missing") is None
        # set_multi sends SetQ + Noop; get_multi sends GetKQ + Noop.
        items = {f"multi{i}": f"value{i}" for i in range(50)}
        assert c.set_multi(items) == []  # the keys that failed
        got = c.get_multi(list(items) + ["nope1", "nope2"])
        assert got == items
        # cas
        value, cas = c.gets("k1")
        assert value == "v1" and cas
        assert c.cas("k1", "v2", cas)
        assert not c.cas("k1", "v3", cas)
        assert c.get("k1") == "v2"
        # incr/decr with initial values
        assert c.incr("counter", 5, default=10) == 10
        assert c.incr("counter", 5) == 15
        assert c.decr("counter", 20) == 0
        assert c.decr("counter2", 1, default=7) == 7
        # delete
        assert c.delete("k1")
        assert c.get("k1") is None
        # 1 MiB values (the item limit is on value + key + header, so use
        # a value just under it, and check one over it is refused)
        # Random bytes, stored uncompressed: bmemcached would zlib anything
        # compressible down to nothing.
        big = os.urandom(1024 * 1024 - 512)
        assert c.set("big", big, compress_level=0)
        assert c.get("big") == big
        stats = c.stats()
        (per_server,) = stats.values()
        assert int(per_server["cmd_set"]) >= 53
        assert int(per_server["get_hits"]) >= 53
        assert c.flush_all()
        assert c.get("big") is None
        assert c.get_multi(list(items)) == {}
    finally:
        c.disconnect_all()


def test_bmemcached_one_mib_value_over_the_limit(bmc_server):
    server, creds = bmc_server
    c = bmc(server, creds)
    try:
        with pytest.raises(bmemcached.exceptions.MemcachedException, match="Too large"):
            c.set("huge", os.urandom(1024 * 1024 + 1), compress_level=0)
        assert c.set("after", "ok") and c.get("after") == "ok"
    finally:
        c.disconnect_all()


def test_bmemcached_wrong_password_refused(server_factory, pwdb):
    if is_memcached(server_binary()):
        pytest.skip("the oracle needs its own Cyrus SASL set-up")
    server = server_factory("-S", "-o", f"sasl_pwdb={pwdb}")
    c = bmemcached.Client([f"{server.host}:{server.port}"], USER, "wrong", socket_timeout=10)
    try:
        # bmemcached logs in lazily, on the first command.
        with pytest.raises(bmemcached.exceptions.MemcachedException, match="Auth failure"):
            c.set("k", "v")
    finally:
        c.disconnect_all()


def pylibmc_client(server, **kw):
    return pylibmc.Client(
        [f"{server.host}:{server.port}"],
        binary=True,
        behaviors={"connect_timeout": 5000, "receive_timeout": 10_000_000, "send_timeout": 10_000_000},
        **kw,
    )


def exercise_pylibmc(mc):
    assert mc.set("a", "1")
    assert mc.get("a") == "1"
    assert mc.get("missing") is None
    assert mc.add("a", "2") is False
    assert mc.replace("a", "3")
    assert mc.append("a", "4") and mc.prepend("a", "0")
    assert mc.get("a") == "034"
    assert mc.set_multi({"m1": "x", "m2": "y"}) == []
    assert mc.get_multi(["m1", "m2", "m3"]) == {"m1": "x", "m2": "y"}
    mc.set("n", "10")
    assert mc.incr("n", 5) == 15
    assert mc.decr("n", 20) == 0
    assert mc.delete("a")
    assert mc.get("a") is None
    assert mc.touch("m1", 100)
    big = os.urandom(1024 * 1024 - 512)
    assert mc.set("big", big)
    assert mc.get("big") == big
    ((_, stats),) = mc.get_stats()
    assert int(stats["cmd_set"]) >= 5
    assert mc.flush_all()
    assert mc.get("m1") is None


def test_pylibmc_binary(server_factory):
    server = server_factory()
    mc = pylibmc_client(server)
    try:
        exercise_pylibmc(mc)
    finally:
        mc.disconnect_all()


def test_pylibmc_binary_sasl(server_factory, pwdb):
    if is_memcached(server_binary()):
        pytest.skip("the oracle needs its own Cyrus SASL set-up")
    if not pylibmc.support_sasl:
        pytest.fail("pylibmc was built without SASL support")
    server = server_factory("-S", "-o", f"sasl_pwdb={pwdb}")
    mc = pylibmc_client(server, username=USER, password=PASSWORD)
    try:
        exercise_pylibmc(mc)
    finally:
        mc.disconnect_all()


def test_pylibmc_binary_sasl_wrong_password(server_factory, pwdb):
    if is_memcached(server_binary()):
        pytest.skip("the oracle needs its own Cyrus SASL set-up")
    server = server_factory("-S", "-o", f"sasl_pwdb={pwdb}")
    mc = pylibmc_client(server, username=USER, password="wrong")
    try:
        with pytest.raises(pylibmc.Error):
            mc.set("k", "v")
    finally:
        mc.disconnect_all()
