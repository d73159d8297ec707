"""Fixtures that run a cache daemon for the client test-suite.

The daemon is ``$FERROCACHE_BIN`` (default ``<repo>/target/release/ferrocache``);
set ``FERROCACHE_BIN=/usr/bin/memcached`` to run the same tests against the
memcached oracle.  Every server listens on 127.0.0.1 on a port probed free
(never 11211), is started with ``-p PORT -l 127.0.0.1 -U 0`` plus any extra
arguments, and is always terminated (SIGTERM, then SIGKILL after a timeout).

Fixtures:
  server_factory  function-scoped: ``server_factory(*extra_args)`` starts a
                  fresh server and returns a ``Server``; all are stopped at
                  the end of the test.
  server          module-scoped default server shared by a test module.
  mc              function-scoped pymemcache ``Client`` on ``server`` (with
                  ``default_noreply=False``), the cache flushed first so tests
                  do not see each other's keys.

A ``Server`` has ``.host``, ``.port``, ``.addr == (host, port)``, ``.proc``
(the ``subprocess.Popen``), ``.args`` and ``.log_path``; it also unpacks as
``host, port = server``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "ferrocache"
HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds for the server to accept connections
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


def server_binary() -> str:
    return os.environ.get("FERROCACHE_BIN") or str(DEFAULT_BIN)


def is_memcached(binary: str) -> bool:
    return os.path.basename(binary) == "memcached"


def free_port() -> int:
    """A loopback port the kernel considers free right now (never 11211)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port != 11211:
            return port
    raise RuntimeError("could not find a free port")


def _die_with_parent() -> None:
    # Linux: SIGTERM the server if pytest itself dies, so no daemon outlives
    # an interrupted run.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Server:
    def __init__(self, binary: str, port: int, args: list[str], log_path: Path):
        self.binary = binary
        self.host = HOST
        self.port = port
        self.args = args
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def unix_path(self) -> str | None:
        """The ``-s`` socket, if the server was given one."""
        if "-s" in self.args:
            return str(self.args[self.args.index("-s") + 1])
        return None

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __iter__(self):
        return iter(self.addr)

    def __repr__(self) -> str:
        return f"Server({' '.join(self.args)})"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll until the server accepts a connection; raise if it exits."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerExited(
                    f"{self!r} exited with status {rc} before accepting; output:\n{self.log()}"
                )
            try:
                if self.unix_path:
                    # -s disables TCP (memcached's rule): wait for the socket.
                    with socket.socket(socket.AF_UNIX) as s:
                        s.settimeout(0.5)
                        s.connect(self.unix_path)
                        return
                with socket.create_connection(self.addr, timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self!r} did not accept within {timeout} s; output:\n{self.log()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        return self.proc.returncode


class ServerExited(RuntimeError):
    pass


def start_server(log_dir: Path, *extra_args: str, attempts: int = 3) -> Server:
    binary = server_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"server binary {binary} not found or not executable "
            "(run `cargo build --release`, or set FERROCACHE_BIN)",
            pytrace=False,
        )
    last_error: Exception | None = None
    for attempt in range(attempts):
        port = free_port()
        args = [binary, "-p", str(port), "-l", HOST, "-U", "0"]
        if os.geteuid() == 0:
            # Both refuse to run as root without -u; ferrocache stays root.
            args += ["-u", "nobody" if is_memcached(binary) else "root"]
        args += [str(a) for a in extra_args]
        srv = Server(binary, port, args, log_dir / f"server-{port}-{attempt}.log")
        srv.start()
        try:
            srv.wait_ready()
            return srv
        except ServerExited as e:
            # The probed port may have been taken in between: retry.
            srv.stop()
            last_error = e
            if "in use" not in srv.log().lower():
                break
        except BaseException:
            srv.stop()
            raise
    raise last_error  # type: ignore[misc]


@pytest.fixture
def server_factory(tmp_path_factory):
    """Start servers with extra args: ``srv = server_factory("-m", "64")``."""
    started: list[Server] = []
    log_dir = tmp_path_factory.mktemp("servers")

    def factory(*extra_args: str) -> Server:
        srv = start_server(log_dir, *extra_args)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A default server shared by the tests of one module."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def mc(server):
    """A pymemcache client on the module's server, cache flushed first."""
    from pymemcache.client.base import Client

    # pymemcache defaults to noreply for storage commands; the tests want
    # to see the server's replies.
    client = Client(server.addr, connect_timeout=5, timeout=10, default_noreply=False)
    client.flush_all()
    try:
        yield client
    finally:
        client.close()
