"""Property: whatever the sequence of requests, edits, approvals, rejections, cancellations and
expiries, by whoever, no request is ever approved (or rejected) by its own requester."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investigations.models import RemediationRequest
from investigations.remediation import services
from tests.remediation.support import hash_values, pending_request, refusal_allowed, walk_step, walkers

OPS = ("request", "approve", "reject", "edit", "submit", "cancel", "expire")
EXAMPLES = 1000

step = st.tuples(st.sampled_from(OPS), st.integers(0, 4), st.integers(0, 3))


@pytest.mark.slow  # a thousand sequences of up to twelve database transitions: minutes
def test_no_sequence_of_actions_ever_gives_a_self_approval(db):
    users = walkers("analyst", "analyst", "approver", "approver", "analyst+approver")
    ran = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(step, min_size=1, max_size=12))
    def run(sequence):
        ran.append(1)
        now = timezone.now()
        with transaction.atomic():
            requests = []
            for op, who, which in sequence:
                actor = users[who]
                req = requests[which % len(requests)] if requests else None
                with refusal_allowed(actor, req):
                    if op == "request" or req is None:
                        requests.append(pending_request(actor, now=now))
                    elif op == "edit":
                        services.remediation_request_edit(
                            actor=actor, request_id=req.pk, values=hash_values(ticket_id=f"T{which}"), now=now
                        )
                    elif op == "expire":
                        now += timedelta(hours=25)
                        services.remediation_expire_due(now=now)
                    else:
                        if op == "submit":
                            RemediationRequest.objects.filter(pk=req.pk, previewed_at__isnull=True).update(
                                previewed_at=now
                            )
                        walk_step(op, actor, req, now)
            for r in RemediationRequest.objects.filter(pk__in=[r.pk for r in requests]):
                assert r.approved_by_id != r.requested_by_id
                assert r.rejected_by_id != r.requested_by_id
                if r.approved_by_id:
                    assert r.state in (r.State.APPROVED, r.State.QUEUED)
            transaction.set_rollback(True)

    run()
    assert len(ran) >= EXAMPLES
