"""The meta protocol through a real client: meta-memcache (pinned in
requirements.txt), against the server under test.

Every test passes against memcached 1.6.18 (``FERROCACHE_BIN=/usr/bin/memcached``).
"""

from __future__ import annotations

import pytest

from meta_memcache import (
    CacheClient,
    Key,
    LeasePolicy,
    RecachePolicy,
    RequestFlags,
    ServerAddress,
    StalePolicy,
    Success,
    Value,
    connection_pool_factory_builder,
)


@pytest.fixture
def client(server):
    c = CacheClient.cache_client_from_servers(
        servers=[ServerAddress(host=server.host, port=server.port)],
        connection_pool_factory_fn=connection_pool_factory_builder(),
    )
    yield c


def test_get_set(client):
    assert client.get(Key("mc:gs")) is None
    assert client.set(Key("mc:gs"), "value", ttl=60)
    assert client.get(Key("mc:gs")) == "value"
    assert client.set(Key("mc:gs:obj"), {"a": [1, 2]}, ttl=60)
    assert client.get(Key("mc:gs:obj")) == {"a": [1, 2]}


def test_multi_get(client):
    keys = [Key(f"mc:multi:{i}") for i in range(5)]
    for i, k in enumerate(keys[:3]):
        assert client.set(k, i, ttl=60)
    got = client.multi_get(keys)
    assert [got[k] for k in keys] == [0, 1, 2, None, None]


def test_cas_conflict(client):
    key = Key("mc:cas")
    assert client.set(key, "v1", ttl=60)
    value, cas = client.get_cas(key)
    assert value == "v1" and cas
    assert client.set(key, "v2", ttl=60, cas_token=cas)
    # The token is now stale: the write is refused.
    assert not client.set(key, "v3", ttl=60, cas_token=cas)
    assert client.get(key) == "v2"


def test_delta_with_initialisation(client):
    key = Key("mc:delta")
    assert not client.delta(key, 1)
    assert client.delta_initialize(key, 1, initial_value=10, initial_ttl=60)
    assert client.delta_and_get(key, 5) == 15
    assert client.delta_and_get(key, -20) == 0


def test_lease_winner_then_losers(client):
    key = Key("mc:lease")
    flags = RequestFlags(return_value=True, vivify_on_miss_ttl=30)
    first = client.meta_get(key, flags=flags)
    assert isinstance(first, Value) and first.flags.win is True
    second = client.meta_get(key, flags=flags)
    assert isinstance(second, Value) and second.flags.win is False
    # The high-level lease API: the winner gets a miss and refills.
    assert client.get_or_lease(Key("mc:lease2"), LeasePolicy()) is None
    assert client.set(Key("mc:lease2"), "filled", ttl=60)
    assert client.get_or_lease(Key("mc:lease2"), LeasePolicy()) == "filled"


def test_recache(client):
    key = Key("mc:recache")
    assert client.set(key, "old", ttl=10)
    policy = RecachePolicy(ttl=30)
    # Remaining TTL below 30 s: the first reader wins and gets a miss...
    assert client.get(key, recache_policy=policy) is None
    # ... the others keep being served the value.
    assert client.get(key, recache_policy=policy) == "old"


def test_stale_on_delete(client):
    key = Key("mc:stale")
    assert client.set(key, "old", ttl=60)
    assert client.delete(key, stale_policy=StalePolicy(mark_stale_on_deletion_ttl=30))
    flags = RequestFlags(return_value=True)
    first = client.meta_get(key, flags=flags)
    assert isinstance(first, Value)
    assert first.flags.stale is True and first.flags.win is True
    second = client.meta_get(key, flags=flags)
    assert second.flags.stale is True and second.flags.win is False


def test_base64_keys(client):
    # Non-ASCII keys are sent base64-encoded with the `b` flag.
    key = Key("mc:clé:ünïcode")
    assert client.set(key, "binary", ttl=60)
    assert client.get(key) == "binary"
    long_key = Key("mc:" + "x" * 300)
    assert client.set(long_key, "long", ttl=60)
    assert client.get(long_key) == "long"


def test_noreply(client):
    key = Key("mc:noreply")
    assert client.set(key, "quiet", ttl=60, no_reply=True)
    assert client.delta_initialize(Key("mc:noreply:n"), 1, 5, 60, no_reply=True)
    # Later replies stay in sync with their requests.
    assert client.get(key) == "quiet"
    assert client.delta_and_get(Key("mc:noreply:n"), 1) == 6
    assert client.delete(key, no_reply=True)
    assert client.get(key) is None
