"""The client libraries from requirements.txt import and are the pinned builds.

No server needed: this catches a broken .venv (e.g. pylibmc not compiled
against libmemcached) before later suites that use these clients.
"""


def test_client_libraries_import():
    import bmemcached  # python-binary-memcached
    import meta_memcache
    import pylibmc
    import pymemcache

    assert pymemcache.__version__ == "4.0.0"
    assert pylibmc.__version__ == "1.6.3"
    # built from source against Debian's libmemcached (libmemcached-dev)
    assert pylibmc.libmemcached_version
    assert bmemcached.Client
    assert meta_memcache.CacheClient
