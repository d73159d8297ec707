"""Text-protocol behaviour through pymemcache, checked against memcached 1.6.18.

Most tests use the ``mc`` fixture: a pymemcache Client on the module's shared
server, cache flushed first. Tests that change server-wide state (delayed
flush, start-up flags) start their own server with ``server_factory``.

Expiry tests allow for whole-second clocks: an item set with exptime N must
still be there right after the set, and gone N + 1.1 s later.
"""

from __future__ import annotations

import threading
import time

import pytest
from pymemcache.client.base import Client, PooledClient
from pymemcache.exceptions import MemcacheClientError, MemcacheServerError

ONE_MIB = 1024 * 1024


def client_for(srv, **kw) -> Client:
    kw.setdefault("connect_timeout", 5)
    kw.setdefault("timeout", 10)
    kw.setdefault("default_noreply", False)
    return Client(srv.addr, **kw)


def raw(mc: Client, command: str) -> bytes:
    """The full reply to a command ending in END (raw_command strips it)."""
    return mc.raw_command(command, b"END\r\n") + b"END\r\n"


def gat(mc: Client, exptime: int, *keys: str) -> bytes:
    # pymemcache 4.0 has no gat/gats methods; send the raw command.
    return raw(mc, f"gat {exptime} {' '.join(keys)}")


def gats(mc: Client, exptime: int, *keys: str) -> bytes:
    return raw(mc, f"gats {exptime} {' '.join(keys)}")


# ------------------------------------------------------------------ storage


def test_set_get(mc):
    assert mc.set("k", b"hello") is True
    assert mc.get("k") == b"hello"
    assert mc.set("k", b"world") is True
    assert mc.get("k") == b"world"


def test_get_missing(mc):
    assert mc.get("missing") is None
    assert mc.get("missing", default=b"d") == b"d"


def test_empty_value(mc):
    assert mc.set("empty", b"") is True
    assert mc.get("empty") == b""


def test_gets_returns_cas_that_changes_on_write(mc):
    mc.set("k", b"v1")
    value, cas1 = mc.gets("k")
    assert value == b"v1"
    assert int(cas1) > 0
    # gets without a write in between: same cas
    assert mc.gets("k") == (b"v1", cas1)
    mc.set("k", b"v2")
    value, cas2 = mc.gets("k")
    assert value == b"v2"
    assert cas2 != cas1
    assert mc.gets("missing") == (None, None)


def test_add(mc):
    assert mc.add("k", b"first") is True
    assert mc.add("k", b"second") is False  # NOT_STORED
    assert mc.get("k") == b"first"


def test_replace(mc):
    assert mc.replace("k", b"x") is False  # NOT_STORED: no such key
    assert mc.get("k") is None
    mc.set("k", b"old")
    assert mc.replace("k", b"new") is True
    assert mc.get("k") == b"new"


def test_append_prepend(mc):
    assert mc.append("k", b"x") is False
    assert mc.prepend("k", b"x") is False
    assert mc.get("k") is None
    mc.set("k", b"mid")
    assert mc.append("k", b"-end") is True
    assert mc.prepend("k", b"start-") is True
    assert mc.get("k") == b"start-mid-end"


def test_append_changes_cas(mc):
    mc.set("k", b"a")
    _, cas1 = mc.gets("k")
    mc.append("k", b"b")
    _, cas2 = mc.gets("k")
    assert cas2 != cas1


def test_cas_success(mc):
    mc.set("k", b"v1")
    _, cas = mc.gets("k")
    assert mc.cas("k", b"v2", cas) is True  # STORED
    assert mc.get("k") == b"v2"


def test_cas_exists(mc):
    mc.set("k", b"v1")
    _, cas = mc.gets("k")
    mc.set("k", b"other")
    assert mc.cas("k", b"v2", cas) is False  # EXISTS
    assert mc.get("k") == b"other"


def test_cas_stale_after_successful_cas(mc):
    mc.set("k", b"v1")
    _, cas = mc.gets("k")
    assert mc.cas("k", b"v2", cas) is True
    assert mc.cas("k", b"v3", cas) is False  # the cas moved on
    assert mc.get("k") == b"v2"


def test_cas_not_found(mc):
    assert mc.cas("missing", b"v", 12345) is None  # NOT_FOUND
    assert mc.get("missing") is None


def test_delete(mc):
    mc.set("k", b"v")
    assert mc.delete("k") is True  # DELETED
    assert mc.get("k") is None
    assert mc.delete("k") is False  # NOT_FOUND


def test_flags_roundtrip(mc):
    # pymemcache passes flags through when no serde is configured.
    mc.set("k", b"v", flags=42)
    assert raw(mc, "get k") == b"VALUE k 42 1\r\nv\r\nEND\r\n"


# ------------------------------------------------------------------ incr/decr


def test_incr_decr(mc):
    mc.set("n", b"10")
    assert mc.incr("n", 5) == 15
    assert mc.decr("n", 3) == 12
    assert mc.get("n") == b"12"
    assert mc.incr("n", 0) == 12


def test_incr_decr_missing(mc):
    assert mc.incr("missing", 1) is None  # NOT_FOUND
    assert mc.decr("missing", 1) is None
    assert mc.get("missing") is None


def test_decr_floors_at_zero(mc):
    mc.set("n", b"5")
    assert mc.decr("n", 10) == 0
    assert mc.decr("n", 1) == 0
    assert int(mc.get("n")) == 0


def test_incr_wraps_at_2_64(mc):
    mc.set("n", str(2**64 - 1).encode())
    assert mc.incr("n", 1) == 0
    # memcached pads a shorter result with spaces in place; accept either.
    assert int(mc.get("n")) == 0
    mc.set("n", str(2**64 - 2).encode())
    assert mc.incr("n", 3) == 1


def test_incr_large_values(mc):
    mc.set("n", b"0")
    assert mc.incr("n", 2**64 - 1) == 2**64 - 1
    assert mc.decr("n", 2**63) == 2**63 - 1


def test_incr_non_numeric_is_client_error(mc):
    mc.set("n", b"abc")
    with pytest.raises(MemcacheClientError) as e:
        mc.incr("n", 1)
    assert e.value.args[0] == b"cannot increment or decrement non-numeric value"
    with pytest.raises(MemcacheClientError) as e:
        mc.decr("n", 1)
    assert e.value.args[0] == b"cannot increment or decrement non-numeric value"
    # the connection is still usable and the value untouched
    assert mc.get("n") == b"abc"


# ------------------------------------------------------------------ touch/gat


def test_touch(mc):
    mc.set("k", b"v")
    assert mc.touch("k", 100) is True  # TOUCHED
    assert mc.get("k") == b"v"
    assert mc.touch("missing", 100) is False  # NOT_FOUND


def test_gat(mc):
    mc.set("k", b"v", flags=3)
    mc.set("k2", b"vv")
    assert gat(mc, 100, "k") == b"VALUE k 3 1\r\nv\r\nEND\r\n"
    assert gat(mc, 100, "missing") == b"END\r\n"
    assert gat(mc, 100, "k", "missing", "k2") == (
        b"VALUE k 3 1\r\nv\r\nVALUE k2 0 2\r\nvv\r\nEND\r\n"
    )


def test_gats_returns_cas(mc):
    mc.set("k", b"v")
    _, cas = mc.gets("k")
    assert gats(mc, 100, "k") == b"VALUE k 0 1 %s\r\nv\r\nEND\r\n" % cas
    assert gats(mc, 100, "missing") == b"END\r\n"


def test_gat_negative_exptime_expires(mc):
    mc.set("k", b"v")
    # gat returns the item, then the new (past) exptime makes it expire
    assert gat(mc, -1, "k") == b"VALUE k 0 1\r\nv\r\nEND\r\n"
    assert mc.get("k") is None


# ------------------------------------------------------------------ expiry


def test_expiry(mc):
    mc.set("k", b"v", expire=2)
    mc.set("forever", b"v", expire=0)
    assert mc.get("k") == b"v"
    time.sleep(3.1)
    assert mc.get("k") is None
    assert mc.get("forever") == b"v"


def test_touch_extends_expiry(mc):
    mc.set("touched", b"v", expire=2)
    mc.set("gatted", b"v", expire=2)
    mc.set("untouched", b"v", expire=2)
    assert mc.touch("touched", 100) is True
    assert gat(mc, 100, "gatted") == b"VALUE gatted 0 1\r\nv\r\nEND\r\n"
    time.sleep(3.1)
    assert mc.get("untouched") is None
    assert mc.get("touched") == b"v"
    assert mc.get("gatted") == b"v"


def test_negative_exptime_is_immediately_expired(mc):
    mc.set("k", b"v", expire=-1)
    assert mc.get("k") is None
    mc.set("k2", b"v")
    assert mc.touch("k2", -1) is True
    assert mc.get("k2") is None


# ------------------------------------------------------------------ flush


def test_flush_all(mc):
    for i in range(10):
        mc.set(f"k{i}", b"v")
    assert mc.flush_all() is True
    assert mc.get_many([f"k{i}" for i in range(10)]) == {}
    # the cache works normally afterwards
    mc.set("k0", b"new")
    assert mc.get("k0") == b"new"


def test_flush_all_with_delay(server_factory):
    srv = server_factory()
    mc = client_for(srv)
    mc.set("k", b"v")
    assert mc.flush_all(delay=3) is True
    # not flushed yet (whole-second clocks: allow a second of slack)
    assert mc.get("k") == b"v"
    time.sleep(4.1)
    assert mc.get("k") is None
    mc.close()


def test_flush_all_noreply(mc):
    mc.set("k", b"v")
    assert mc.flush_all(noreply=True) is True
    assert mc.get("k") is None


# ------------------------------------------------------------------ misc


def test_version(mc):
    version = mc.version()
    assert isinstance(version, bytes)
    assert version
    assert b" " not in version and b"\r" not in version


STAT_FIELDS = [
    b"pid",
    b"uptime",
    b"time",
    b"version",
    b"curr_items",
    b"total_items",
    b"bytes",
    b"get_hits",
    b"get_misses",
    b"cmd_get",
    b"cmd_set",
    b"curr_connections",
    b"total_connections",
    b"limit_maxbytes",
    b"threads",
    b"evictions",
]


def test_stats_fields(mc):
    stats = mc.stats()
    missing = [f for f in STAT_FIELDS if f not in stats]
    assert not missing, f"stats lacks {missing}"
    assert stats[b"curr_connections"] >= 1
    assert stats[b"uptime"] >= 0


def test_stats_counts(server_factory):
    srv = server_factory("-m", "64", "-t", "2")
    mc = client_for(srv)
    stats = mc.stats()
    assert stats[b"pid"] == srv.proc.pid
    assert stats[b"limit_maxbytes"] == 64 * ONE_MIB
    assert stats[b"threads"] == 2
    assert stats[b"curr_items"] == 0
    mc.set("a", b"1")
    mc.set("b", b"2")
    mc.get("a")
    mc.get("a")
    mc.get("missing")
    stats = mc.stats()
    assert stats[b"curr_items"] == 2
    assert stats[b"get_hits"] == 2
    assert stats[b"get_misses"] == 1
    assert stats[b"cmd_set"] == 2
    assert stats[b"evictions"] == 0
    mc.close()


def test_noreply_pipeline(mc):
    n = 1000
    for i in range(n):
        mc.set(f"nr:{i}", str(i).encode(), noreply=True)
    got = mc.get_many([f"nr:{i}" for i in range(n)])
    assert len(got) == n
    assert all(got[f"nr:{i}"] == str(i).encode() for i in range(n))


def test_noreply_other_commands(mc):
    mc.set("k", b"1")
    mc.add("k", b"x", noreply=True)  # not stored, silently
    mc.replace("k", b"2", noreply=True)
    mc.append("k", b"3", noreply=True)
    mc.prepend("k", b"4", noreply=True)
    mc.incr("k", 1, noreply=True)
    mc.set("gone", b"v")
    mc.delete("gone", noreply=True)
    mc.touch("k", 100, noreply=True)
    assert mc.get_many(["k", "gone"]) == {"k": b"424"}


def test_get_many_100(mc):
    keys = [f"many:{i}" for i in range(100)]
    mc.set_many({k: k.encode() * 3 for k in keys[::2]})
    got = mc.get_many(keys)
    assert got == {k: k.encode() * 3 for k in keys[::2]}


def test_binary_safe_values(mc):
    every_byte = bytes(range(256))
    assert mc.set("bin", every_byte) is True
    assert mc.get("bin") == every_byte
    tricky = b"\r\nEND\r\nVALUE x 0 1\r\n\x00\r\n"
    mc.set("tricky", tricky)
    assert mc.get("tricky") == tricky
    assert mc.get_many(["bin", "tricky"]) == {"bin": every_byte, "tricky": tricky}


def test_key_of_250_bytes(mc):
    key = "k" * 250
    assert mc.set(key, b"v") is True
    assert mc.get(key) == b"v"


# ------------------------------------------------------------------ big values


def largest_memcached_value(key: str) -> int:
    # memcached -I 1m counts the item header (48 bytes), the cas (8), the key
    # with its NUL and the value with its CRLF against the 1 MiB item limit.
    return ONE_MIB - 48 - 8 - (len(key) + 1) - 2


def test_largest_value(mc):
    key = "big"
    size = largest_memcached_value(key)  # 1048514 for this key
    value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert len(value) == size
    assert mc.set(key, value) is True
    assert mc.get(key) == value


def test_value_over_1mib_is_refused(mc):
    mc.set("small", b"still here")
    with pytest.raises(MemcacheServerError) as e:
        mc.set("huge", b"x" * (ONE_MIB + 1))
    assert e.value.args[0] == b"object too large for cache"
    # the connection is still usable; the value's bytes were not read as commands
    assert mc.get("huge") is None
    assert mc.get("small") == b"still here"
    assert mc.set("after", b"ok") is True
    assert mc.get("after") == b"ok"


# ------------------------------------------------------------------ concurrency


def test_concurrent_incr(server):
    threads, per_thread = 8, 250
    pool = PooledClient(
        server.addr,
        max_pool_size=threads,
        connect_timeout=5,
        timeout=10,
        default_noreply=False,
    )
    pool.set("counter", b"0")
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work():
        try:
            start.wait(timeout=10)
            for _ in range(per_thread):
                pool.incr("counter", 1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert not any(w.is_alive() for w in workers), "incr workers hung"
    assert not errors, errors
    assert int(pool.get("counter")) == threads * per_thread
    pool.close()


def test_many_clients(server):
    clients = [client_for(server) for _ in range(20)]
    for i, c in enumerate(clients):
        c.set(f"client:{i}", str(i).encode())
    for i, c in enumerate(clients):
        assert c.get(f"client:{(i + 1) % 20}") == str((i + 1) % 20).encode()
    assert clients[0].stats()[b"curr_connections"] >= 20
    for c in clients:
        c.close()
