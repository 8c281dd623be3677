"""A real worker process (prefork, with embedded beat) killed at random points, and a broker that
goes away mid-flow: every request still ends final, with exactly one Mimecast incident each, and the
broker's outage costs no worker (nobody restarts it)."""

import socket
import subprocess
import time

import pytest

from investigations.models import RemediationOutbox, RemediationRequest
from investigations.remediation import services
from mimecast_portal.celery import app
from tests.factories import UserFactory
from tests.polling import poll_until
from tests.remediation.support import WorkerProcess, killed_at_random, macro_values, pending_request, wait_all_final

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CREATE = "/api/ttp/remediation/create"
FIND = "/api/ttp/remediation/find-incidents"


def simulator_env(settings):
    return dict(settings.MIMECAST_ENV)


def incidents_for(simulator, req):
    return [i for i in simulator.state.incidents if req.marker in i["reason"]]


def approved_requests(simulator, count):
    analyst = UserFactory(username="alice", roles=["analyst"])
    approver = UserFactory(username="carol", roles=["approver"])
    ids = []
    for _ in range(count):
        req = pending_request(analyst, values=macro_values(simulator))
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
        ids.append(req.pk)
    return ids, approver, analyst


@pytest.fixture
def quick_settle(mimecast_env):
    previous = mimecast_env.config.get("incident_settle_ms", 1500)
    mimecast_env.configure(incident_settle_ms=500)
    yield mimecast_env
    mimecast_env.configure(incident_settle_ms=previous)


def test_a_worker_killed_at_random_points_twenty_times_leaves_one_incident_per_request(
    quick_settle, settings, tmp_path
):
    simulator = quick_settle
    # Slow calls, so kills land before, during and after the Mimecast call.
    simulator.faults.add(path=CREATE, kind="latency", ms=700)
    simulator.faults.add(path=FIND, kind="latency", ms=300)
    app.control.purge()
    ids, _, _ = approved_requests(simulator, 6)
    states = killed_at_random(simulator, settings, tmp_path, ids, 20261122, kills=20)
    assert set(states.values()) == {"succeeded"}, states
    for req in RemediationRequest.objects.filter(pk__in=ids):
        assert len(incidents_for(simulator, req)) == 1, (req.pk, req.attempts)
    # Some claims died with their worker and were taken up again (the kills hit work in flight).
    attempts = list(RemediationRequest.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    assert sum(attempts) > len(ids), attempts


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own on a free port: stopping it disturbs nobody else's tests."""
    port = free_port()

    def cli(*args):
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

    def start():
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--dir",
                str(tmp_path),
                "--pidfile",
                str(tmp_path / "redis.pid"),
            ],
            check=True,
        )
        poll_until(lambda: cli("ping"), lambda answer: answer == "PONG", timeout=5)

    def stop():
        cli("shutdown", "nosave")

    start()
    yield f"redis://127.0.0.1:{port}/0", start, stop, cli
    stop()


def test_redis_stopped_for_30_seconds_mid_flow_keeps_the_worker_up_and_loses_no_request(
    quick_settle, settings, tmp_path, private_redis, monkeypatch
):
    broker, start_redis, stop_redis, redis_cli = private_redis
    simulator = quick_settle
    # Incidents that take a while to settle: when Redis goes, the worker holds polls waiting for
    # their countdown, unacknowledged, the case that made kombu's own Redis transport exit.
    simulator.configure(incident_settle_ms=60_000)

    def publish(request_id):
        # An explicit connection: Celery would otherwise take CELERY_BROKER_URL from the environment.
        with app.connection_for_write(broker, connect_timeout=1) as connection:
            app.send_task(
                "investigations.tasks.remediation_execute", args=[request_id], connection=connection, retry=False
            )

    monkeypatch.setattr(services, "_publish", publish)
    worker = WorkerProcess(broker=broker, tmp_path=tmp_path, simulator_env=simulator_env(settings))
    worker.start()
    try:
        before, approver, analyst = approved_requests(simulator, 2)
        # Mid-flow: both incidents created, their polls reserved by the worker and not yet acknowledged.
        poll_until(
            lambda: RemediationRequest.objects.filter(pk__in=before).exclude(incident_id="").count(),
            lambda n: n == len(before),
            timeout=60,
        )
        poll_until(lambda: int(redis_cli("hlen", "unacked") or 0), lambda n: n > 0, timeout=30)
        stop_redis()
        # Approved while the broker is down: the publish fails, the outbox row stays.
        during = []
        for _ in range(2):
            req = pending_request(analyst, values=macro_values(simulator))
            services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
            during.append(req.pk)
        # The broker was down, so nothing reached it: only the outbox remembers these.
        rows = list(RemediationOutbox.objects.filter(request_id__in=during).values())
        assert [r["published_at"] for r in rows] == [None, None], rows
        time.sleep(30)
        assert worker.process.poll() is None, "the worker exited while Redis was down"
        start_redis()
        simulator.configure(incident_settle_ms=500)
        # No one restarts anything: the same worker reconnects, and what the outage took (the
        # unpublished approvals, the polls Redis forgot) comes back through the outbox and beat.
        states = wait_all_final(before + during, timeout=120)
        assert worker.process.poll() is None, "the worker exited after Redis came back"
    finally:
        worker.stop()
        print((tmp_path / "worker.log").read_text()[-6000:])
    assert set(states.values()) == {"succeeded"}, states
    for req in RemediationRequest.objects.filter(pk__in=before + during):
        assert len(incidents_for(simulator, req)) == 1
