"""What every `make bench` scenario shares: one fresh PostgreSQL database, the environment every
process gets, processes that are always stopped, percentiles and goals.

Benchmarks are not tests: nothing here asserts a time. A scenario returns figures and the goals
they are compared with; the runner (``python -m bench``) writes them to JSON and prints a table.
"""

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# A fixed Fernet key: the bench database is thrown away, nothing it encrypts is real.
BENCH_FERNET_KEY = "W3t6Rhxy-J6LKsKO30bCtGjBRHw7K0sTE1_ZHexxo3Y="
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/3"


def bench_environment(*, database_url, broker_url, tmp):
    """Set the runner's own environment (before django.setup()); subprocesses inherit a copy."""
    (tmp / "var" / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
    os.environ.update(
        DJANGO_SETTINGS_MODULE="mimecast_portal.settings",
        DEBUG="false",
        HTTPS="false",
        STATIC_MANIFEST="false",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdef",  # noqa: S106
        AUDIT_CHECKPOINT_KEY="bench-only-checkpoint-key",
        FIELD_ENCRYPTION_KEYS=BENCH_FERNET_KEY,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        PORTAL_VAR_DIR=str(tmp / "var"),
        AUDIT_CHECKPOINT_DIR=str(tmp / "checkpoints"),
        PYTHONUNBUFFERED="1",
    )
    # Mimecast settings come from each scenario's simulator, never from the caller's shell.
    for key in [k for k in os.environ if k.startswith("MIMECAST_")]:
        del os.environ[key]


def fresh_database(database_url):
    """Drop and create the bench database, so every run starts from the same empty state."""
    import psycopg

    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values, p):
    """Linear-interpolated percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds):
    """Median and p95 of durations given in seconds, in milliseconds."""
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 95) * 1000, 2),
        "n": len(seconds),
    }


def mimecast_env(base_url):
    """MIMECAST_* for API 1.0 with the access and secret keys configured directly (as in production:
    no login round trip), pointing at a simulator. For settings.MIMECAST_ENV or a process's env."""
    from mimecast_simulator import SIM_CREDENTIALS as sim

    return {
        "MIMECAST_API_VERSION": "1",
        "MIMECAST_BASE_URL": base_url,
        "MIMECAST_ALLOWED_HOSTS": base_url.split("://", 1)[1],
        "MIMECAST_APP_ID": sim.app_id,
        "MIMECAST_APP_KEY": sim.app_key,
        "MIMECAST_ACCESS_KEY": sim.access_key,
        "MIMECAST_SECRET_KEY": sim.secret_key,
    }


def use_simulator(base_url):
    """Point this process's portal code at a simulator (and drop the cached client)."""
    from django.conf import settings

    from investigations.connection.services import mimecast_client_forget

    settings.MIMECAST_ENV = mimecast_env(base_url)
    mimecast_client_forget()


def portal_user(username, roles):
    """A user holding the given roles (password unusable: sign in with force_login or a session)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.com")
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


class BenchIncomplete(Exception):
    """The scenario did not do all of its work, so its figures would flatter the portal."""


def require(ok: bool, message: str) -> None:
    """Fail the scenario unless its work is complete (every detail answered, every request final).

    A scenario calls this before it returns figures; the runner records the message as the
    scenario's error, the table shows "incomplete" with no figures, and the run exits non-zero.
    A shorter run must never look like a faster one."""
    if not ok:
        raise BenchIncomplete(message)


def goal(value, op, target):
    """A figure compared with its goal; op is "<=" or ">="."""
    met = value <= target if op == "<=" else value >= target
    return {"value": value, "goal": f"{op} {target}", "met": bool(met)}


@dataclass
class Context:
    """Handed to every scenario's run(). Everything started through it is stopped by stop_all()."""

    database_url: str
    broker_url: str
    tmp: Path
    tiny: bool
    # What the context has started; its own state, never passed in. `started` outlives stop_all(),
    # so the runner can record every process (and a test can check that none is left running).
    processes: list = field(default_factory=list, init=False)
    simulators: list = field(default_factory=list, init=False)
    started: list = field(default_factory=list, init=False)

    def env(self, **extra):
        env = dict(os.environ)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, name, argv, *, env=None, ready_url=None, timeout=60):
        """Start argv in its own process group (output to tmp/<name>.log); when ready_url is given,
        wait until it answers with any HTTP status."""
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed in stop_all)
        proc = subprocess.Popen(  # noqa: S603 (our own argv)
            argv, cwd=ROOT, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        proc.bench_name, proc.bench_log = name, log
        self.processes.append(proc)
        self.started.append({"name": name, "pid": proc.pid, "url": ready_url})
        if ready_url:
            self.wait_for_url(ready_url, timeout=timeout, proc=proc)
        return proc

    def wait_for_url(self, url, *, timeout=60, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                log = self.tmp / f"{proc.bench_name}.log"
                raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(url, timeout=2)  # noqa: S310 (loopback only)
                return
            except urllib.error.HTTPError:
                return  # it answered
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer within {timeout}s")

    def simulator(self, **kwargs):
        """An in-process Mimecast simulator on a free loopback port, stopped by stop_all()."""
        from mimecast_simulator import SimulatorServer

        kwargs.setdefault("seed", 1)
        server = SimulatorServer(host="127.0.0.1", port=0, **kwargs).start()
        self.simulators.append(server)
        return server

    def stop_all(self):
        """SIGTERM every process group, SIGKILL what is left after 15 s; stop the simulators."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever the group still holds (forked children)
            proc.wait()
            proc.bench_log.close()
        self.processes.clear()
        for server in self.simulators:
            server.stop()
        self.simulators.clear()
