import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings

from investigations.connection.services import mimecast_connection_test


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def simulator_process():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mimecast_simulator", "--port", str(port), "--seed", "1"],
        cwd=settings.BASE_DIR,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/_sim/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("the simulator command did not start")
        yield base, port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow  # a second Python process starts Django and generates the simulated organisation
def test_the_simulator_command_serves_what_the_demo_connects_to(simulator_process, admin_user, settings):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    base, port = simulator_process
    health = requests.get(f"{base}/_sim/health", timeout=5).json()
    assert health["status"] == "ok" and health["messages"] == 5000 and health["mailboxes"] >= 300
    # The same MIMECAST_* settings scripts/demo.py gives the portal.
    settings.MIMECAST_ENV = {
        "MIMECAST_API_VERSION": "2",
        "MIMECAST_BASE_URL": base,
        "MIMECAST_ALLOWED_HOSTS": f"127.0.0.1:{port}",
        "MIMECAST_CLIENT_ID": sim.client_id,
        "MIMECAST_CLIENT_SECRET": sim.client_secret,
    }
    summary, results = mimecast_connection_test(actor=admin_user)
    assert summary == f"Connected to {base}; every area answered."
    # One read per area, and on API 2.0 the web security event stream too.
    assert len(results) == 8 and all(r.ok for r in results)
    assert results[-1].name == "Web security event stream (type web security)"
