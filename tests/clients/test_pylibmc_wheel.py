"""pylibmc as ``pip install pylibmc`` installs it: from its manylinux wheel.

The wheel bundles its own libmemcached (1.0.16), which treats SASL's
"continue" status as fatal, so it can only log in with a one-step
mechanism: PLAIN (offered SCRAM first, it fails with "WRITE FAILURE"). Against memcached that works when its SASL configuration
(``mech_list`` in ``$SASL_CONF_PATH/memcached.conf``) offers only PLAIN;
ferrocache reads the same file. The rest of this suite uses pylibmc built
from source against Debian's libmemcached (tests/clients/requirements.txt);
.ci/install-test-deps.sh installs the wheel into its own directory
(``.venv/pylibmc-wheel``), which this test puts first on the path of a
child interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import is_memcached, server_binary

WHEEL_DIR = Path(sys.prefix) / "pylibmc-wheel"
USER, PASSWORD = "alice", "wheel-pw"

CLIENT = r"""
import sys, pylibmc
assert pylibmc.__file__.startswith(sys.argv[1]), pylibmc.__file__
mc = pylibmc.Client([sys.argv[2]], binary=True, username=sys.argv[3], password=sys.argv[4])
try:
    assert mc.set("wheel", "works"), "set failed"
    assert mc.get("wheel") == "works"
    print("libmemcached", pylibmc.libmemcached_version)
finally:
    mc.disconnect_all()
"""


# The wheel's bundled Cyrus libsasl2 looks for its mechanism plugins where
# the CentOS it was built on keeps them (/usr/lib64/sasl2); on Debian they
# are libsasl2-modules' (installed by .ci/install-test-deps.sh).
DEBIAN_SASL_PLUGINS = "/usr/lib/x86_64-linux-gnu/sasl2"


def run_wheel_client(server, user: str, password: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(WHEEL_DIR), SASL_PATH=DEBIAN_SASL_PLUGINS)
    return subprocess.run(
        [sys.executable, "-c", CLIENT, str(WHEEL_DIR), f"{server.host}:{server.port}", user, password],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def plain_only_server(server_factory, tmp_path, monkeypatch):
    if is_memcached(server_binary()):
        pytest.skip("the oracle needs its own Cyrus SASL set-up")
    if not (WHEEL_DIR / "pylibmc").is_dir():
        pytest.fail(f"no pylibmc wheel in {WHEEL_DIR} (run .ci/install-test-deps.sh)")
    pwdb = tmp_path / "pwdb"
    pwdb.write_text(f"{USER}:{PASSWORD}\n")
    conf_dir = tmp_path / "sasl"
    conf_dir.mkdir()
    (conf_dir / "memcached.conf").write_text("mech_list: plain\n")
    # The server inherits the environment: memcached's variable for the
    # directory of its SASL configuration.
    monkeypatch.setenv("SASL_CONF_PATH", str(conf_dir))
    return server_factory("-S", "-o", f"sasl_pwdb={pwdb}")


def test_pylibmc_wheel_logs_in_with_mech_list_plain(plain_only_server):
    done = run_wheel_client(plain_only_server, USER, PASSWORD)
    assert done.returncode == 0, done.stderr + plain_only_server.log()
    assert done.stdout.startswith("libmemcached 1.0."), done.stdout


def test_pylibmc_wheel_wrong_password_is_refused(plain_only_server):
    done = run_wheel_client(plain_only_server, USER, "wrong")
    assert done.returncode != 0, done.stdout
