"""Creates before polls: a read of an incident's counts gives way to the first calls approved work
still has to make, and books in the pacer's background lane, behind every foreground start booked in
the budget shared through Redis (the test run's Redis and the simulator with a rate budget)."""

import time
from datetime import timedelta

import pytest

from investigations.mimecast.pacing import SPACING
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from investigations.remediation import services
from tests.remediation.support import macro_values

State = RemediationRequest.State
GET_INCIDENT = "/api/ttp/remediation/get-incident"
# The budget once `tight`: one call every half second. Every wait it causes stays well inside the
# one second a poll waits for a turn (POLL_YIELD_SECONDS), the poll client's own sign-in included,
# so what these tests see is the yielding, never the pacer refusing a wait.
PER_SECOND = 2


@pytest.fixture
def budget(mimecast_env):
    """The simulator, whose budget `tight` spends; restored afterwards."""
    yield mimecast_env
    mimecast_env.configure(rate_limit_per_minute=None, rate_limit_burst=None)


def tight(simulator, per_second):
    """From here on a bucket of one call, refilled at `per_second`: the next create spends it, and
    the pacer learns from the answers that a call comes back every 1/per_second s."""
    simulator.configure(rate_limit_per_minute=int(60 * per_second), rate_limit_burst=1)


def approved(analyst, approver, simulator):
    req = services.remediation_request_create(actor=analyst, values=macro_values(simulator))
    services.remediation_request_preview(actor=analyst, request_id=req.pk)
    services.remediation_request_submit(actor=analyst, request_id=req.pk)
    return services.remediation_request_approve(actor=approver, request_id=req.pk, reason="Go")


def reads(simulator):
    return sum(1 for call in simulator.calls if call.path == GET_INCIDENT)


def poll_events(req):
    return AuditEvent.objects.filter(
        target_type="remediationrequest", target_id=str(req.pk), action=AuditAction.REMEDIATION_POLLED
    ).count()


@pytest.fixture
def created_and_waiting(db, analyst, approver, budget):
    """One request with its incident created, and one approved whose create has not been made."""
    created = approved(analyst, approver, budget)
    waiting = approved(analyst, approver, budget)
    tight(budget, per_second=PER_SECOND)
    assert services.remediation_execute(request_id=created.pk).status == "recorded"
    return RemediationRequest.objects.get(pk=created.pk), waiting


@pytest.mark.slow  # real waits for the budget
def test_a_poll_gives_way_to_a_create_still_to_be_made(created_and_waiting, budget):
    created, waiting = created_and_waiting
    before = reads(budget)
    assert services.remediation_poll(request_id=created.pk) is False
    created.refresh_from_db()
    assert reads(budget) == before  # nothing was read
    assert created.polls == 0 and created.state == State.RUNNING
    assert poll_events(created) == 0  # nothing happened, so nothing is audited
    # It comes back once the one create waiting has had its start (the bucket refills in half a
    # second; the pacer spaces booked starts a little wider than that, pacing.SPACING).
    assert 0 < services.remediation_next_poll_in(request_id=created.pk) <= SPACING / PER_SECOND
    assert services.remediation_first_calls_waiting() == 1

    assert services.remediation_execute(request_id=waiting.pk).status == "recorded"
    assert services.remediation_first_calls_waiting() == 0
    time.sleep(1.1)  # the budget's next start, which the create did not leave to the poll before
    services.remediation_poll(request_id=created.pk)
    assert reads(budget) == before + 1
    assert RemediationRequest.objects.get(pk=created.pk).polls == 1


@pytest.mark.slow  # real waits for the budget
def test_a_poll_gives_way_for_a_bounded_time_only(created_and_waiting, budget):
    created, _ = created_and_waiting
    before = reads(budget)
    later = created.updated_at + timedelta(seconds=services.POLL_YIELD_MAX_SECONDS + 1)
    services.remediation_poll(request_id=created.pk, now=later)
    assert reads(budget) == before + 1


def test_a_poll_behind_foreground_starts_booked_elsewhere_leaves_the_worker_without_calling(
    db, analyst, approver, budget
):
    req = approved(analyst, approver, budget)
    tight(budget, per_second=10)
    assert services.remediation_execute(request_id=req.pk).status == "recorded"
    pacer = services._poll_client().pacer
    for _ in range(20):
        pacer.acquire()  # two seconds of foreground starts other processes booked
    before = reads(budget)
    assert services.remediation_poll(request_id=req.pk) is False
    req.refresh_from_db()
    assert reads(budget) == before
    assert req.state == State.RUNNING and req.polls == 0 and poll_events(req) == 0
    # Back when the budget is free again, not a failed read's full interval later.
    assert services.POLL_YIELD_SECONDS < services.remediation_next_poll_in(request_id=req.pk) <= 2.5
    for _ in range(20):
        pacer.cancel()


def test_without_news_of_the_budget_a_poll_reads_at_once(db, analyst, approver, mimecast_env):
    first = approved(analyst, approver, mimecast_env)
    approved(analyst, approver, mimecast_env)  # a create waiting, but no budget to say it would wait
    services.remediation_execute(request_id=first.pk)
    before = reads(mimecast_env)
    services.remediation_poll(request_id=first.pk)
    assert reads(mimecast_env) == before + 1
