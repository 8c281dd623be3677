"""A bulk request of 100 copies under a real worker process (prefork, with embedded beat) SIGKILLed
ten times at random points, with slow incident calls so kills land before, during and after them:
the request ends final, every item final with its outcome, and the simulator holds exactly one
incident per item (counted by the item's own marker in the incidents' reasons)."""

import pytest

from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation import services
from mimecast_portal.celery import app
from tests.factories import UserFactory
from tests.remediation.support import SLOW_CALLS, killed_at_random
from tests.remediation.test_kind_bulk import delivered_copies, item_marker, values

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ITEMS = 100


def test_a_bulk_request_killed_ten_times_makes_one_incident_per_item(mimecast_env, settings, tmp_path):
    simulator = mimecast_env
    analyst = UserFactory(username="alice", roles=["analyst"])
    approver = UserFactory(username="carol", roles=["approver"])
    app.control.purge()
    req = services.remediation_request_create(actor=analyst, values=values(delivered_copies(simulator, ITEMS)))
    services.remediation_request_preview(actor=analyst, request_id=req.pk)
    services.remediation_request_submit(actor=analyst, request_id=req.pk)
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="Go")
    before = len(simulator.state.incidents)
    for path, ms in SLOW_CALLS.items():
        simulator.faults.add(path=path, kind="latency", ms=ms)

    states = killed_at_random(simulator, settings, tmp_path, [req.pk], "bulk-100", timeout=300)

    req.refresh_from_db()
    items = list(req.items.order_by("position"))
    assert len(items) == ITEMS
    assert states[req.pk] == RemediationRequest.State.SUCCEEDED, req.failure_reason
    for item in items:
        assert item.state == RemediationItem.State.DONE, (item.key, item.error)
        assert item.result.get("outcome") == "removed", (item.key, item.result)
        marker = item_marker(req, item)
        found = [i for i in simulator.state.incidents if marker in i["reason"]]
        assert len(found) == 1, (item.key, item.attempts, [i["code"] for i in found])
        assert found[0]["id"] == item.mimecast_id
    # Nothing else was created: one incident per item, and no copy removed twice.
    assert len(simulator.state.incidents) - before == ITEMS
    assert len(simulator.effects("remediate")) == ITEMS
    # The kills hit work in flight: attempts died and were taken up again.
    assert req.attempts > 1
