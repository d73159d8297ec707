"""TLS (``-Z``) through real clients: pymemcache with an ``ssl.SSLContext``
and ``openssl s_client``.

The CA and the server certificate are made at run time with the openssl
command-line tool (Debian's openssl package) in a temporary directory;
nothing secret is committed. Runs against memcached too
(``FERROCACHE_BIN=/usr/bin/memcached``: Debian builds it with TLS).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from pymemcache.client.base import Client


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """ca.pem, cert.pem and key.pem for localhost / 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=ferrocache test CA", cwd=d)
    openssl("req", *ec, "-keyout", "key.pem", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    # memcached drops privileges to nobody before reading the files.
    for f in d.iterdir():
        f.chmod(0o644)
    d.chmod(0o755)
    return d


@pytest.fixture
def tls_server(server_factory, certs):
    return server_factory(
        "-Z", "-o",
        f"ssl_chain_cert={certs / 'cert.pem'},ssl_key={certs / 'key.pem'}",
    )


def tls_client(srv, certs: Path) -> Client:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    return Client(srv.addr, connect_timeout=5, timeout=10, default_noreply=False,
                  tls_context=ctx)


def test_pymemcache_get_set_multiget_cas_over_tls(tls_server, certs):
    mc = tls_client(tls_server, certs)
    try:
        assert mc.set("a", b"1") is True
        assert mc.set("b", b"2" * 100_000) is True
        assert mc.get("a") == b"1"
        assert mc.get_many(["a", "b", "missing"]) == {"a": b"1", "b": b"2" * 100_000}
        value, cas = mc.gets("a")
        assert value == b"1"
        assert mc.cas("a", b"3", cas) is True
        assert mc.cas("a", b"4", cas) is False
        assert mc.get("a") == b"3"
    finally:
        mc.close()


def test_openssl_s_client_connects(tls_server, certs):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"{tls_server.host}:{tls_server.port}",
         "-CAfile", str(certs / "ca.pem"), "-verify_return_error", "-quiet"],
        input=b"version\r\nquit\r\n", capture_output=True, timeout=30,
    )
    assert b"VERSION " in out.stdout, out.stderr


def test_plaintext_client_on_tls_port_is_refused(tls_server, certs):
    with socket.create_connection(tls_server.addr, timeout=10) as s:
        s.sendall(b"version\r\n")
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        assert b"VERSION" not in got
    # The server is unharmed.
    mc = tls_client(tls_server, certs)
    try:
        assert mc.version()
    finally:
        mc.close()
