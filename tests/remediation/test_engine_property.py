"""Property: over every kind and any sequence of requests, edits, submissions, approvals (first and
second), rejections, break-glass, reviews, cancellations and expiries, by whoever: the requester never
approves, rejects or reviews their own request; two approvals are always two distinct people; what
the rules reserve for an admin is approved by an admin; break-glass is an admin's alone."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from investigations.core.roles import user_can
from investigations.models import RemediationRequest
from investigations.remediation import services
from investigations.remediation.kinds import KINDS
from tests.remediation.support import hash_values, kind_draft, refusal_allowed, walk_step, walkers

Kind = RemediationRequest.Kind
State = RemediationRequest.State
OPS = (
    "request",
    "request_submitted",
    "approve",
    "approve",
    "reject",
    "edit",
    "submit",
    "cancel",
    "break_glass",
    "review",
    "expire",
)
EXAMPLES = 800
REASON = "Property test request with a long enough reason"


def held_id(n):
    return "eNp" + "A" * 40 + str(n)


def copies(n):
    return [{"mailbox": f"user{k}@x.example", "message_id": f"<m{n}@x.example>", "subject": "s"} for k in (n, n + 5)]


def sample(kind, variant):
    """(values, preview) of `kind`; `variant` 1 makes the approval rules ask for more (two approvers
    for a flagged release, an admin for a busy domain block)."""
    if kind in (Kind.REMEDIATE, Kind.RESTORE):
        return hash_values(), {"messages": []}
    ids = [held_id(variant), held_id(variant + 5)]
    messages = [{"id": i, "subject": "s", "from": "f@x.example"} for i in ids]
    params, preview = {
        Kind.BLOCK_SENDER: (
            {"target_type": "email_domain" if variant else "email_address", "value": "x.example", "from_part": "both"},
            {"delivered": 1000 * variant},
        ),
        Kind.UNBLOCK_SENDER: ({"policy_ids": ["p1"], "value": "x.example", "target_type": "email_domain"}, {}),
        Kind.MANAGE_URL: ({"urls": ["https://x.example/a"], "action": "block", "match_type": "explicit"}, {}),
        Kind.REMOVE_MANAGED_URL: ({"managed_url_ids": ["m1"], "urls": ["https://x.example/a"]}, {}),
        Kind.RELEASE_HELD: ({"held_ids": ids}, {"messages": messages, "flagged": variant, "ttp_checked": True}),
        Kind.REJECT_HELD: (
            {"held_ids": ids, "reason_type": "", "message": "", "notify": False},
            {"messages": messages},
        ),
        Kind.REMEDIATE_MESSAGES: ({"targets": copies(variant)}, {}),
        Kind.RESTORE_MESSAGES: ({"targets": [dict(t, restore_code="r1") for t in copies(variant)]}, {}),
    }[kind]
    return {"kind": kind, "params": params, "reason": REASON, "ticket_id": ""}, preview


step = st.tuples(st.sampled_from(OPS), st.integers(0, 5), st.integers(0, len(KINDS) - 1), st.integers(0, 1))


@pytest.mark.slow  # hundreds of sequences of up to fifteen database transitions
def test_no_sequence_of_actions_on_any_kind_breaks_four_eyes(db):
    users = walkers("analyst", "approver", "approver", "admin", "admin+analyst", "analyst+approver")
    kinds = list(KINDS)
    seen = set()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(step, min_size=1, max_size=15))
    # Each path at least once, besides what the random walk finds: two approvals of a flagged
    # release (the first approver trying again in between), an admin's approval of a busy domain
    # block, break-glass with its review.
    @example([("request_submitted", 0, 6, 1), ("approve", 1, 0, 0), ("approve", 1, 0, 0), ("approve", 2, 0, 0)])
    @example([("request_submitted", 0, 2, 1), ("approve", 1, 0, 0), ("approve", 3, 0, 0), ("reject", 0, 0, 0)])
    @example([("request", 4, 4, 0), ("break_glass", 4, 0, 0), ("review", 4, 0, 0), ("review", 1, 0, 0)])
    def run(sequence):
        now = timezone.now()
        with transaction.atomic():
            requests = []
            for op, who, which, variant in sequence:
                actor = users[who]
                req = requests[which % len(requests)] if requests else None
                with refusal_allowed(actor, req):
                    if op.startswith("request") or req is None:
                        kind = kinds[which % len(kinds)]
                        values, preview = sample(kind, variant)
                        requests.append(kind_draft(actor, values, preview=preview, now=now))
                        if op == "request_submitted":
                            walk_step("submit", actor, requests[-1], now)
                        continue
                    req.refresh_from_db()
                    before = req.first_approved_by_id
                    if op == "edit":
                        values, preview = sample(req.kind, variant)
                        services.remediation_request_edit(actor=actor, request_id=req.pk, values=values, now=now)
                        RemediationRequest.objects.filter(pk=req.pk).update(preview=preview, previewed_at=now)
                        continue
                    if op == "expire":
                        now += timedelta(hours=25)
                        services.remediation_expire_due(now=now)
                        continue
                    done = walk_step(op, actor, req, now)
                    if op == "approve" and done.state == State.APPROVED:
                        seen.add("approved-2" if before else "approved-1")
                        assert actor.pk != before
                    elif op == "approve":
                        seen.add("first")
                    elif op == "break_glass":
                        assert actor.pk == req.requested_by_id and user_can(actor, "break_glass")
                    seen.add(op)
            for r in RemediationRequest.objects.filter(pk__in=[r.pk for r in requests]):
                deciders = [r.approved_by_id, r.rejected_by_id, r.reviewed_by_id, r.first_approved_by_id]
                assert r.requested_by_id not in [d for d in deciders if d]
                if r.approved_by_id and r.first_approved_by_id:
                    assert r.approved_by_id != r.first_approved_by_id
                if r.approved_by_id and r.approvals_required == 2:
                    assert r.first_approved_by_id
                if r.approved_by_id and r.admin_approval_required:
                    assert user_can(r.approved_by, "approve_as_admin")
                if r.break_glass:
                    assert r.approved_by_id is None and user_can(r.requested_by, "break_glass")
                    assert KINDS[r.kind].break_glass
                if r.reviewed_by_id:
                    assert r.break_glass
                if r.approved_by_id or r.break_glass:
                    assert r.state in (State.APPROVED, State.QUEUED)
            transaction.set_rollback(True)

    run()
    # The walk reached every path it is about.
    assert {"first", "approved-1", "approved-2", "reject", "break_glass", "review"} <= seen, seen
