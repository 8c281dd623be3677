"""The engine's approval paths: two distinct approvers, an admin approver, break-glass with its
after-review, and undo; each refused where it must be, in the service and on the pages."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent, RemediationOutbox, RemediationRequest
from investigations.remediation import services
from tests.factories import PASSWORD
from tests.remediation.samples import values
from tests.remediation.support import kind_draft, kind_pending, stale_client

State = RemediationRequest.State
Kind = RemediationRequest.Kind
BUSY_DOMAIN = {"delivered": 900}


def audited(req, action):
    return AuditEvent.objects.filter(action=action, target_type="remediationrequest", target_id=str(req.pk))


def flagged_release(analyst, sim):
    """A release whose preview (as the held kind reads it) found one message TTP flagged."""
    release = values(Kind.RELEASE_HELD, sim)
    messages = [
        {"id": held_id, "subject": "Invoice", "from": "a@b.example"} for held_id in release["params"]["held_ids"]
    ]
    return kind_pending(analyst, release, preview={"messages": messages, "flagged": 1, "ttp_checked": True})


def domain_block(analyst):
    params = {"target_type": "email_domain", "value": "bulk-offers.example", "from_part": "both"}
    values_ = {"kind": Kind.BLOCK_SENDER, "params": params, "reason": "A domain that only sends phishing"}
    return kind_pending(analyst, values_, preview=BUSY_DOMAIN)


# ------------------------------------------------------------------------------- two approvers


def test_a_flagged_release_needs_two_different_approvers(analyst, approver, second_approver, sim):
    req = flagged_release(analyst, sim)
    assert (req.approvals_required, req.admin_approval_required) == (2, False)
    assert req.approval_rule_reasons and "two approvers" in req.approval_rule_reasons[0]
    first = services.remediation_request_approve(actor=approver, request_id=req.pk, reason="Looked at it")
    assert (first.state, first.first_approved_by_id, first.approved_by_id) == (
        State.PENDING_APPROVAL,
        approver.pk,
        None,
    )
    assert audited(req, AuditAction.REMEDIATION_FIRST_APPROVAL).count() == 1
    assert not RemediationOutbox.objects.filter(request=req).exists()
    # The first approver cannot give the second approval too.
    with pytest.raises(services.RemediationError):
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="again")
    done = services.remediation_request_approve(actor=second_approver, request_id=req.pk, reason="Agreed")
    assert (done.state, done.first_approved_by_id, done.approved_by_id) == (
        State.APPROVED,
        approver.pk,
        second_approver.pk,
    )
    assert audited(req, AuditAction.REMEDIATION_APPROVED).count() == 1
    assert RemediationOutbox.objects.filter(request=req).count() == 1


def test_the_guard_itself_refuses_the_first_approver_as_second(analyst, approver, sim):
    """Even past the service's own check, the UPDATE's WHERE refuses it (and the database would too)."""
    req = flagged_release(analyst, sim)
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="first")
    req.refresh_from_db()
    step = services._transition(services.APPROVE, req.pk, now=req.updated_at, actor=approver, approved_by=approver)
    with pytest.raises(services.RemediationConflict), step:
        pass
    with pytest.raises(IntegrityError), transaction.atomic():
        RemediationRequest.objects.filter(pk=req.pk).update(approved_by=approver)


def test_an_edit_voids_a_first_approval(analyst, approver, sim):
    req = flagged_release(analyst, sim)
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="first")
    edited = services.remediation_request_edit(
        actor=analyst, request_id=req.pk, values=values(Kind.RELEASE_HELD, sim, n=1)
    )
    assert (edited.state, edited.first_approved_by_id, edited.items.count()) == (State.DRAFT, None, 0)


def test_the_decision_page_says_which_approval_it_is(client, analyst, approver, second_approver, sim):
    req = flagged_release(analyst, sim)
    client.force_login(approver)
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert "Yours will be the first" in page
    response = client.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "first look", "version": req.version},
    )
    assert response.status_code == 302
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert 'id="first-approval-given"' in page and 'id="approve"' not in page
    detail = client.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert "Approvals: 1 of 2" in detail
    queue = client.get(reverse("remediation-approvals")).content.decode()
    assert "needs 2 approvers (1 given)" in queue


# ------------------------------------------------------------------------------ admin approver


def test_a_busy_domain_block_needs_an_admin_as_approver(analyst, approver, admin_user):
    req = domain_block(analyst)
    assert (req.approvals_required, req.admin_approval_required) == (1, True)
    with pytest.raises(services.RemediationError, match="admin"):
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="fine")
    assert RemediationRequest.objects.get(pk=req.pk).state == State.PENDING_APPROVAL
    done = services.remediation_request_approve(actor=admin_user, request_id=req.pk, reason="Admin: go")
    assert (done.state, done.approved_by_id) == (State.APPROVED, admin_user.pk)
    assert audited(req, AuditAction.REMEDIATION_APPROVED).get().data["as_admin"] is True


def test_an_admin_sees_and_decides_only_what_needs_an_admin(client, analyst, admin_user, sim):
    needs_admin = domain_block(analyst)
    plain = kind_pending(analyst, values(Kind.BLOCK_SENDER, sim))
    client.force_login(admin_user)
    queue = client.get(reverse("remediation-approvals"))
    assert queue.status_code == 200
    shown = [r.pk for r, _ in queue.context["rows"]]
    assert shown == [needs_admin.pk]
    assert "needs an admin" in queue.content.decode()
    assert client.get(reverse("remediation-decide", args=[plain.pk])).status_code == 403
    assert client.get(reverse("remediation-decide", args=[needs_admin.pk])).status_code == 200


def test_an_approver_may_still_reject_what_needs_an_admin(analyst, approver):
    req = domain_block(analyst)
    done = services.remediation_request_reject(actor=approver, request_id=req.pk, reason="Too broad")
    assert (done.state, done.rejected_by_id) == (State.REJECTED, approver.pk)


# -------------------------------------------------------------------------------- break-glass


def test_an_admin_carries_out_their_own_block_alone_and_an_approver_reviews_it(admin_user, approver, sim):
    req = kind_draft(admin_user, values(Kind.BLOCK_SENDER, sim))
    with pytest.raises(services.RemediationError, match="at least"):
        services.remediation_request_break_glass(actor=admin_user, request_id=req.pk, reason="now")
    done = services.remediation_request_break_glass(
        actor=admin_user, request_id=req.pk, reason="Active phishing wave, no approver awake", version=req.version
    )
    assert (done.state, done.break_glass, done.approved_by_id) == (State.APPROVED, True, None)
    assert done.items.count() == 1
    assert RemediationOutbox.objects.filter(request=req).count() == 1
    event = audited(req, AuditAction.REMEDIATION_BREAK_GLASS).get()
    assert event.actor_label == admin_user.username and "phishing wave" in event.reason
    # The admin cannot review it; an approver can, once.
    with pytest.raises(services.RemediationError):
        services.remediation_request_review(actor=admin_user, request_id=req.pk, note="all good")
    reviewed = services.remediation_request_review(
        actor=approver, request_id=req.pk, note="Justified: the wave was real"
    )
    assert (reviewed.reviewed_by_id, reviewed.review_note) == (approver.pk, "Justified: the wave was real")
    assert audited(req, AuditAction.REMEDIATION_REVIEWED).count() == 1
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_review(actor=approver, request_id=req.pk, note="twice")


def test_break_glass_is_refused_to_non_admins_other_kinds_other_drafts_and_unpreviewed_drafts(analyst, admin_user, sim):
    reason = "Cannot wait for an approver tonight"
    analysts = kind_draft(analyst, values(Kind.BLOCK_SENDER, sim))
    with pytest.raises(services.RemediationError, match="Only an admin"):
        services.remediation_request_break_glass(actor=analyst, request_id=analysts.pk, reason=reason)
    with pytest.raises(services.RemediationError, match="requester"):
        services.remediation_request_break_glass(actor=admin_user, request_id=analysts.pk, reason=reason)
    release = kind_draft(analyst, values(Kind.RELEASE_HELD, sim))
    with pytest.raises(services.RemediationError, match="cannot be carried out alone"):
        services.remediation_request_break_glass(actor=admin_user, request_id=release.pk, reason=reason)
    unpreviewed = services.remediation_request_create(actor=admin_user, values=values(Kind.MANAGE_URL, sim))
    with pytest.raises(services.RemediationError, match="preview"):
        services.remediation_request_break_glass(actor=admin_user, request_id=unpreviewed.pk, reason=reason)
    assert not RemediationRequest.objects.filter(break_glass=True).exists()


def test_the_break_glass_form_asks_a_stale_session_for_the_password(client, admin_user, sim):
    req = kind_draft(admin_user, values(Kind.MANAGE_URL, sim))
    client.force_login(admin_user)
    page = client.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert 'id="break-glass"' in page
    stale_client(client)
    url = reverse("remediation-break-glass", args=[req.pk])
    form = {"reason": "The phishing URL is live right now", "version": req.version}
    response = client.post(url, form)
    assert response.status_code == 400 and "Enter your password again" in response.content.decode()
    assert RemediationRequest.objects.get(pk=req.pk).state == State.DRAFT
    response = client.post(url, {**form, "password": PASSWORD})
    assert response.status_code == 302
    assert RemediationRequest.objects.get(pk=req.pk).break_glass


def test_nobody_but_an_admin_posts_break_glass(client, analyst, sim):
    req = kind_draft(analyst, values(Kind.BLOCK_SENDER, sim))
    client.force_login(analyst)
    response = client.post(reverse("remediation-break-glass", args=[req.pk]), {"reason": "x" * 20, "version": 1})
    assert response.status_code == 403


# -------------------------------------------------------------------------------------- undo


def test_only_a_succeeded_request_of_a_kind_with_an_undo_is_undone(analyst, sim):
    block = kind_pending(analyst, values(Kind.BLOCK_SENDER, sim))
    with pytest.raises(services.RemediationError, match="succeeded"):
        services.remediation_request_undo(actor=analyst, request_id=block.pk)
    release = kind_pending(analyst, values(Kind.RELEASE_HELD, sim))
    RemediationRequest.objects.filter(pk=release.pk).update(state=State.SUCCEEDED)
    with pytest.raises(services.RemediationError):
        services.remediation_request_undo(actor=analyst, request_id=release.pk)


def test_the_undo_button_drafts_the_undo_with_its_params(client, analyst, sim):
    block = kind_pending(analyst, values(Kind.BLOCK_SENDER, sim))
    block.items.update(state="done", mimecast_id="policy-123")
    RemediationRequest.objects.filter(pk=block.pk).update(state=State.SUCCEEDED)
    client.force_login(analyst)
    page = client.get(reverse("remediation-detail", args=[block.pk])).content.decode()
    assert 'id="request-undo"' in page and 'id="rem-items"' in page and "policy-123" in page
    response = client.post(reverse("remediation-undo", args=[block.pk]))
    assert response.status_code == 302
    undo = RemediationRequest.objects.get(restore_of=block)
    assert undo.kind == Kind.UNBLOCK_SENDER and undo.params["policy_ids"] == ["policy-123"]
    assert response["Location"] == reverse("remediation-detail", args=[undo.pk])
    page = client.get(reverse("remediation-detail", args=[block.pk])).content.decode()
    assert 'id="request-undo"' not in page
