"""Every item kind under a real worker process (prefork, with embedded beat) SIGKILLed ten times at
random points, with slow Mimecast calls so kills land before, during and after them: every request
still ends final and succeeded, and the simulator's journal shows exactly one Mimecast effect per
item (an item a dead attempt left `calling` is looked up and adopted, never done twice)."""

import random
import time

import pytest

from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation import services
from mimecast_portal.celery import app
from tests.factories import UserFactory
from tests.remediation.samples import ITEM_KINDS, effects_of, values
from tests.remediation.support import WorkerProcess, wait_all_final

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KILLS = 10
REQUESTS = 6
# The calls that act, and the reads that confirm: slow, so a kill often lands while one is in flight.
SLOW = {
    "/api/policy/blockedsenders/create-policy": 1500,
    "/api/policy/blockedsenders/get-policy": 300,
    "/api/ttp/url/create-managed-url": 1500,
    "/api/ttp/url/get-all-managed-urls": 300,
    "/api/gateway/hold-release": 1500,
    "/api/gateway/hold-reject": 1500,
    "/api/gateway/get-hold-message-list": 300,
}


def approved(kind, simulator):
    analyst = UserFactory(username=f"alice-{kind}", roles=["analyst"])
    approvers = [UserFactory(username=f"carol-{kind}-{n}", roles=["approver"]) for n in range(2)]
    admin = UserFactory(username=f"erin-{kind}", roles=["admin"])
    ids = []
    for n in range(REQUESTS):
        req = services.remediation_request_create(actor=analyst, values=values(kind, simulator, n=n))
        services.remediation_request_preview(actor=analyst, request_id=req.pk)
        req = services.remediation_request_submit(actor=analyst, request_id=req.pk)
        deciders = approvers[: req.approvals_required]
        if req.admin_approval_required:
            deciders[-1] = admin
        for decider in deciders:
            services.remediation_request_approve(actor=decider, request_id=req.pk, reason="go")
        ids.append(req.pk)
    return ids


@pytest.mark.parametrize("kind", ITEM_KINDS)
def test_a_worker_killed_ten_times_leaves_one_effect_per_item(mimecast_env, settings, tmp_path, kind):
    simulator = mimecast_env
    for path, ms in SLOW.items():
        simulator.faults.add(path=path, kind="latency", ms=ms)
    app.control.purge()
    ids = approved(kind, simulator)
    worker = WorkerProcess(
        broker=settings.CELERY_BROKER_URL, tmp_path=tmp_path, simulator_env=dict(settings.MIMECAST_ENV)
    )
    rng = random.Random(f"engine-{kind}")
    try:
        for _ in range(KILLS):
            worker.start()
            time.sleep(rng.uniform(1.5, 4.0))
            worker.kill()
        simulator.faults.clear()
        worker.start()
        states = wait_all_final(ids, timeout=180)
    finally:
        worker.stop()
        simulator.faults.clear()
    requests = list(RemediationRequest.objects.filter(pk__in=ids))
    failures = {r.pk: (r.failure_reason, [(i.key, i.state, i.error) for i in r.items.all()]) for r in requests}
    assert set(states.values()) == {"succeeded"}, failures
    for req in requests:
        for item in req.items.all():
            assert item.state == RemediationItem.State.DONE
            assert len(effects_of(simulator, req, item)) == 1, (req.pk, item.key, item.attempts)
    # The kills hit work in flight: some attempts died and were taken up again.
    assert sum(r.attempts for r in requests) > len(requests), [r.attempts for r in requests]
