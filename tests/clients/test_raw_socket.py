"""Exact text-protocol bytes that client libraries hide or cannot send.

Replies are compared byte for byte with memcached 1.6.18's.
"""

from __future__ import annotations

import re
import socket
import time

import pytest


class Conn:
    """A blocking socket with helpers that never wait unboundedly."""

    def __init__(self, addr, timeout: float = 5.0):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_until(self, terminator: bytes) -> bytes:
        """Read up to and including the first ``terminator``."""
        deadline = time.monotonic() + self.timeout
        while terminator not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {terminator!r} within {self.timeout} s; got {self.buf!r}")
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"connection closed; got {self.buf!r}")
            self.buf += chunk
        end = self.buf.index(terminator) + len(terminator)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def read_exact(self, n: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"wanted {n} bytes within {self.timeout} s; got {self.buf!r}")
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError(f"connection closed; got {self.buf!r}")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, data: bytes, expect: bytes) -> bytes:
        """Send ``data``; read exactly as many bytes as ``expect`` has."""
        self.send(data)
        return self.read_exact(len(expect))

    def assert_quiet(self, wait: float = 0.2):
        """Nothing more arrives within ``wait`` seconds."""
        self.sock.settimeout(wait)
        try:
            extra = self.sock.recv(1 << 16)
        except socket.timeout:
            extra = b""
        finally:
            self.sock.settimeout(self.timeout)
        assert self.buf + extra == b"", f"unexpected bytes {self.buf + extra!r}"


@pytest.fixture
def conn(server):
    c = Conn(server.addr)
    c.send(b"flush_all\r\n")
    assert c.read_until(b"\r\n") == b"OK\r\n"
    yield c
    c.close()


def expect(c: Conn, data: bytes, reply: bytes):
    assert c.request(data, reply) == reply


STAT_LINE = re.compile(rb"STAT [^ \r\n]+ [^\r\n]*\r\n")


def read_stats(c: Conn, command: bytes) -> list[bytes]:
    """Send a stats command; check the reply is ``STAT name value`` lines then END."""
    c.send(command + b"\r\n")
    block = c.read_until(b"END\r\n")
    lines = block[: -len(b"END\r\n")]
    pos, stats = 0, []
    while pos < len(lines):
        m = STAT_LINE.match(lines, pos)
        assert m, f"{command!r}: bad stats line at {lines[pos:pos + 80]!r}"
        stats.append(m.group(0))
        pos = m.end()
    return stats


# ------------------------------------------------------------------ basics


def test_set_then_get_exact_bytes(conn):
    expect(
        conn,
        b"set a 0 0 1\r\nx\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
    )
    conn.assert_quiet()


def test_unknown_command(conn):
    expect(conn, b"bogus\r\n", b"ERROR\r\n")
    # still usable
    expect(conn, b"set a 0 0 1\r\ny\r\n", b"STORED\r\n")
    expect(conn, b"get a\r\n", b"VALUE a 0 1\r\ny\r\nEND\r\n")


def test_flags_and_gets(conn):
    expect(conn, b"set f 4294967295 0 2\r\nhi\r\n", b"STORED\r\n")
    expect(conn, b"get f\r\n", b"VALUE f 4294967295 2\r\nhi\r\nEND\r\n")
    conn.send(b"gets f\r\n")
    line = conn.read_until(b"\r\n")
    assert re.fullmatch(rb"VALUE f 4294967295 2 \d+\r\n", line), line
    assert conn.read_until(b"END\r\n") == b"hi\r\nEND\r\n"


def test_multi_get_with_miss_and_repeat(conn):
    expect(conn, b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    expect(
        conn,
        b"get k missing k\r\n",
        b"VALUE k 0 1\r\nx\r\nVALUE k 0 1\r\nx\r\nEND\r\n",
    )


def test_storage_replies(conn):
    expect(conn, b"add k 0 0 1\r\n1\r\n", b"STORED\r\n")
    expect(conn, b"add k 0 0 1\r\n2\r\n", b"NOT_STORED\r\n")
    expect(conn, b"replace nope 0 0 1\r\n2\r\n", b"NOT_STORED\r\n")
    expect(conn, b"append nope 0 0 1\r\n2\r\n", b"NOT_STORED\r\n")
    expect(conn, b"cas nope 0 0 1 1\r\n2\r\n", b"NOT_FOUND\r\n")
    expect(conn, b"incr k 41\r\n", b"42\r\n")
    expect(conn, b"decr k 50\r\n", b"0\r\n")
    expect(conn, b"incr nope 1\r\n", b"NOT_FOUND\r\n")
    expect(conn, b"touch k 10\r\n", b"TOUCHED\r\n")
    expect(conn, b"touch nope 10\r\n", b"NOT_FOUND\r\n")
    expect(conn, b"delete k\r\n", b"DELETED\r\n")
    expect(conn, b"delete k\r\n", b"NOT_FOUND\r\n")


def test_noreply_is_silent(conn):
    conn.send(
        b"set a 0 0 1 noreply\r\nx\r\n"
        b"add a 0 0 1 noreply\r\ny\r\n"
        b"append a 0 0 1 noreply\r\nz\r\n"
        b"delete nope noreply\r\n"
        b"incr nope 1 noreply\r\n"
        b"get a\r\n"
    )
    assert conn.read_until(b"END\r\n") == b"VALUE a 0 2\r\nxz\r\nEND\r\n"
    conn.assert_quiet()


def test_value_over_1mib_is_swallowed(conn):
    expect(conn, b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    # The data block is made of valid commands: it must be skipped, not run.
    size = 1024 * 1024 + 1
    body = (b"delete k\r\n" * (size // 10 + 1))[:size]
    conn.send(b"set big 0 0 %d\r\n" % size + body + b"\r\n")
    assert conn.read_until(b"\r\n") == b"SERVER_ERROR object too large for cache\r\n"
    expect(conn, b"get k big\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")
    conn.assert_quiet()


def test_version_line(conn):
    conn.send(b"version\r\n")
    line = conn.read_until(b"\r\n")
    assert re.fullmatch(rb"VERSION [^ \r\n]+\r\n", line), line


# ------------------------------------------------------------------ admin


def test_verbosity(conn):
    expect(conn, b"verbosity 1\r\n", b"OK\r\n")
    expect(conn, b"verbosity 0\r\n", b"OK\r\n")
    conn.send(b"verbosity 1 noreply\r\nversion\r\n")
    assert conn.read_until(b"\r\n").startswith(b"VERSION ")


def test_cache_memlimit(server_factory):
    srv = server_factory("-m", "64")
    c = Conn(srv.addr)
    try:
        expect(c, b"cache_memlimit 100\r\n", b"OK\r\n")
        stats = read_stats(c, b"stats")
        assert b"STAT limit_maxbytes %d\r\n" % (100 * 1024 * 1024) in stats
        expect(c, b"cache_memlimit 64\r\n", b"OK\r\n")
        stats = read_stats(c, b"stats settings")
        assert b"STAT maxbytes %d\r\n" % (64 * 1024 * 1024) in stats
    finally:
        c.close()


def test_shutdown_refused_without_A(conn):
    expect(conn, b"shutdown\r\n", b"ERROR: shutdown not enabled\r\n")
    # the server is still up and the connection usable
    expect(conn, b"set a 0 0 1\r\nx\r\n", b"STORED\r\n")


# ------------------------------------------------------------------ stats


def test_stats_general(conn):
    stats = read_stats(conn, b"stats")
    names = {line.split(b" ")[1] for line in stats}
    for name in (b"pid", b"uptime", b"curr_items", b"curr_connections", b"limit_maxbytes", b"threads"):
        assert name in names


def test_stats_settings(conn):
    stats = read_stats(conn, b"stats settings")
    names = {line.split(b" ")[1] for line in stats}
    for name in (b"maxbytes", b"maxconns", b"tcpport", b"item_size_max"):
        assert name in names, name


@pytest.mark.parametrize("sub", [b"items", b"slabs", b"sizes", b"conns"])
def test_stats_subcommands(conn, sub):
    # with an item stored, every block has at least one STAT line
    expect(conn, b"set k 0 0 5\r\nhello\r\n", b"STORED\r\n")
    stats = read_stats(conn, b"stats " + sub)
    assert stats, f"stats {sub.decode()} returned no STAT lines"
    conn.assert_quiet()


def test_stats_reset(conn):
    expect(conn, b"stats reset\r\n", b"RESET\r\n")
