"""Every item kind under a real worker process (prefork, with embedded beat) SIGKILLed ten times at
random points, with slow Mimecast calls so kills land before, during and after them: every request
still ends final and succeeded, and the simulator's journal shows exactly one Mimecast effect per
item (an item a dead attempt left `calling` is looked up and adopted, never done twice)."""

import time

import pytest

from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation import services
from investigations.remediation.kinds import KINDS
from mimecast_portal.celery import app
from tests.factories import UserFactory
from tests.remediation.samples import ITEM_KINDS, effects_of, values
from tests.remediation.support import SLOW_CALLS, killed_at_random, macro_values

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REQUESTS = 6


class People:
    def __init__(self, kind):
        self.analyst = UserFactory(username=f"alice-{kind}", roles=["analyst"])
        self.approvers = [UserFactory(username=f"carol-{kind}-{n}", roles=["approver"]) for n in range(2)]
        self.admin = UserFactory(username=f"erin-{kind}", roles=["admin"])

    def submit_and_approve(self, req):
        services.remediation_request_preview(actor=self.analyst, request_id=req.pk)
        req = services.remediation_request_submit(actor=self.analyst, request_id=req.pk)
        deciders = self.approvers[: req.approvals_required]
        if req.admin_approval_required:
            deciders[-1] = self.admin
        for decider in deciders:
            services.remediation_request_approve(actor=decider, request_id=req.pk, reason="go")
        return req.pk


def approved(kind, simulator):
    people = People(kind)
    return [
        people.submit_and_approve(
            services.remediation_request_create(actor=people.analyst, values=values(kind, simulator, n=n))
        )
        for n in range(REQUESTS)
    ]


def carried_out_here(request_id):
    """Carry an approved request out in this process (no worker): the original an undo starts from."""
    services.remediation_execute(request_id=request_id)
    while not RemediationRequest.objects.get(pk=request_id).is_final:
        services.remediation_poll(request_id=request_id)
        time.sleep(0.2)
    req = RemediationRequest.objects.get(pk=request_id)
    assert req.state == RemediationRequest.State.SUCCEEDED, req.failure_reason
    return req


def approved_undos(kind, simulator):
    """`REQUESTS` approved undo requests of `kind`, each undoing an original carried out first."""
    people = People(kind)
    original = {spec.undo_kind: name for name, spec in KINDS.items() if spec.undo_kind}[kind]
    ids = []
    for n in range(REQUESTS):
        if original == RemediationRequest.Kind.REMEDIATE:
            # A message of its own each: a second remediation of one message removes nothing, and
            # its restore would rightly fail for restoring nothing.
            message = simulator.state.message_by_id[simulator.state.story["phishing_message_ids"][n]]
            start = macro_values(simulator, search_by="message_id", search_value=message.mime_id)
        else:
            start = values(original, simulator, n=n)
        source = people.submit_and_approve(services.remediation_request_create(actor=people.analyst, values=start))
        carried_out_here(source)
        undo = services.remediation_request_undo(actor=people.analyst, request_id=source)
        ids.append(people.submit_and_approve(undo))
    return ids


@pytest.mark.parametrize("kind", ITEM_KINDS)
def test_a_worker_killed_ten_times_leaves_one_effect_per_item(mimecast_env, settings, tmp_path, kind):
    simulator = mimecast_env
    for path, ms in SLOW_CALLS.items():
        simulator.faults.add(path=path, kind="latency", ms=ms)
    app.control.purge()
    ids = approved(kind, simulator)
    states = killed_at_random(simulator, settings, tmp_path, ids, f"engine-{kind}")
    requests = list(RemediationRequest.objects.filter(pk__in=ids))
    failures = {r.pk: (r.failure_reason, [(i.key, i.state, i.error) for i in r.items.all()]) for r in requests}
    assert set(states.values()) == {"succeeded"}, failures
    for req in requests:
        for item in req.items.all():
            assert item.state == RemediationItem.State.DONE
            assert len(effects_of(simulator, req, item)) == 1, (req.pk, item.key, item.attempts)
    # The kills hit work in flight: some attempts died and were taken up again.
    assert sum(r.attempts for r in requests) > len(requests), [r.attempts for r in requests]


UNDO_KINDS = sorted({spec.undo_kind for spec in KINDS.values() if spec.undo_kind})
SLOW_UNDO = {
    "/api/policy/blockedsenders/delete-policy": 1500,
    "/api/ttp/url/delete-managed-url": 1500,
    "/api/ttp/remediation/create": 1500,
    "/api/ttp/remediation/find-incidents": 300,
}


@pytest.mark.parametrize("kind", UNDO_KINDS)
def test_an_undo_killed_ten_times_undoes_each_item_exactly_once(mimecast_env, settings, tmp_path, kind):
    simulator = mimecast_env
    simulator.configure(incident_settle_ms=300)
    app.control.purge()
    ids = approved_undos(kind, simulator)
    for path, ms in {**SLOW_CALLS, **SLOW_UNDO}.items():
        simulator.faults.add(path=path, kind="latency", ms=ms)
    try:
        states = killed_at_random(simulator, settings, tmp_path, ids, f"undo-{kind}")
    finally:
        simulator.configure(incident_settle_ms=1500)
    requests = list(RemediationRequest.objects.filter(pk__in=ids))
    assert set(states.values()) == {"succeeded"}, {r.pk: r.failure_reason for r in requests}
    for req in requests:
        if kind == RemediationRequest.Kind.RESTORE:
            # One restore incident per request: its marker is in exactly one incident's reason.
            assert len([i for i in simulator.state.incidents if req.marker in i["reason"]]) == 1, req.pk
            continue
        for item in req.items.all():
            assert item.state == RemediationItem.State.DONE
            assert len(effects_of(simulator, req, item)) == 1, (req.pk, item.key, item.attempts)
    assert sum(r.attempts for r in requests) > len(requests), [r.attempts for r in requests]
