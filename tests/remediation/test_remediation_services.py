"""The remediation state machine, one service per transition."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from investigations.connection.services import mimecast_client
from investigations.models import AuditAction, AuditEvent, RemediationOutbox, RemediationRequest
from investigations.remediation import services
from investigations.remediation.forms import RemediationRequestForm
from tests.remediation.support import audited, hash_values, macro_values, pending_request

State = RemediationRequest.State


def test_a_draft_is_previewed_against_mimecast_and_submitted_for_approval(analyst, approver, mimecast_env):
    simulator = mimecast_env
    values = macro_values(simulator)
    macro_sender = next(m for m in simulator.state.messages if m.story == "macro").from_addr
    values["sender"] = macro_sender
    req = services.remediation_request_create(actor=analyst, values=values)
    assert req.state == State.DRAFT
    assert req.start < req.end
    req = services.remediation_request_preview(actor=analyst, request_id=req.pk)
    assert req.preview["hash"] == [{"hash": values["search_value"], "detected": True}]
    assert req.preview["message_total"] >= 8
    assert len(req.preview["mailboxes"]) >= 24
    req = services.remediation_request_submit(actor=analyst, request_id=req.pk)
    assert req.state == State.PENDING_APPROVAL
    assert req.expires_at - req.submitted_at == timedelta(hours=24)
    assert audited(req) == [
        AuditAction.REMEDIATION_DRAFTED,
        AuditAction.REMEDIATION_PREVIEWED,
        AuditAction.REMEDIATION_REQUESTED,
    ]


def test_approvers_are_emailed_about_a_new_request(analyst, approver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pending_request(analyst)
    assert [m.to for m in mail.outbox] == [[approver.email]]
    assert "Approval needed" in mail.outbox[0].subject


# Approve and reject are one guarded transition: every check refuses both alike.
DECISIONS = {
    "approve": services.remediation_request_approve,
    "reject": services.remediation_request_reject,
}
decisions = pytest.mark.parametrize("decide", list(DECISIONS.values()), ids=list(DECISIONS))


def assert_undecided(req):
    """Refused: still waiting, and no decision reached the audit trail or the timeline."""
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL and req.approved_by is None and req.rejected_by is None
    assert req.decided_at is None
    decided = (AuditAction.REMEDIATION_APPROVED, AuditAction.REMEDIATION_REJECTED)
    assert not AuditEvent.objects.filter(action__in=decided).exists()
    assert not req.steps.filter(action__in=decided).exists()


@decisions
def test_it_refuses_self_approval_in_the_service(db, decide):
    from tests.factories import UserFactory

    both = UserFactory(username="frank", roles=["analyst", "approver"])
    req = pending_request(both)
    with pytest.raises(services.SelfApprovalError):
        decide(actor=both, request_id=req.pk, reason="ok by me")
    assert_undecided(req)
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_APPROVAL_REFUSED, outcome="denied").count() == 1


def test_raw_sql_self_approval_hits_the_check_constraint(analyst):
    req = pending_request(analyst)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE investigations_remediationrequest SET approved_by_id = requested_by_id WHERE id = %s", [req.pk]
        )


@decisions
def test_an_analyst_cannot_approve(analyst, second_analyst, decide):
    req = pending_request(analyst)
    with pytest.raises(services.RemediationError):
        decide(actor=second_analyst, request_id=req.pk, reason="fine")
    assert_undecided(req)


def test_approval_writes_an_outbox_row_in_the_same_transaction(analyst, approver, django_capture_on_commit_callbacks):
    req = pending_request(analyst)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        req = services.remediation_request_approve(
            actor=approver, request_id=req.pk, reason="Confirmed malicious", authenticated_at=now
        )
    assert req.state == State.APPROVED and req.approved_by == approver
    assert RemediationOutbox.objects.filter(request=req, published_at__isnull=True).count() == 1
    assert len(callbacks) == 2  # publish and e-mail, both only after commit
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    assert event.data["fresh_authentication_at"] == now.isoformat()


def test_a_second_approval_loses(analyst, approver, db):
    from tests.factories import UserFactory

    other = UserFactory(username="grace", roles=["approver"])
    req = pending_request(analyst)
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="yes")
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_approve(actor=other, request_id=req.pk, reason="also yes")
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_reject(actor=other, request_id=req.pk, reason="no")


def test_editing_after_submission_voids_the_pending_approval(analyst, approver):
    req = pending_request(analyst)
    seen_version = req.version
    services.remediation_request_edit(
        actor=analyst, request_id=req.pk, values=hash_values(reason="Now a different reason entirely")
    )
    req.refresh_from_db()
    assert req.state == State.DRAFT and req.previewed_at is None and req.version == seen_version + 1
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="ok", version=seen_version)
    assert RemediationRequest.objects.get(pk=req.pk).approved_by is None


@decisions
def test_an_approval_of_an_older_version_loses_to_the_edit(analyst, approver, decide):
    req = pending_request(analyst)
    RemediationRequest.objects.filter(pk=req.pk).update(version=5)
    with pytest.raises(services.RemediationConflict):
        decide(actor=approver, request_id=req.pk, reason="ok", version=req.version)
    assert_undecided(req)


@decisions
def test_a_decision_on_the_current_version_goes_through(analyst, approver, decide):
    req = pending_request(analyst)
    req = decide(actor=approver, request_id=req.pk, reason="checked", version=req.version)
    assert req.state in (State.APPROVED, State.REJECTED) and req.decided_at is not None


def test_requests_expire_after_24_hours_with_time_frozen(analyst, approver):
    t0 = timezone.now()
    req = pending_request(analyst, now=t0)
    assert services.remediation_expire_due(now=t0 + timedelta(hours=23, minutes=59)) == 0
    assert services.remediation_expire_due(now=t0 + timedelta(hours=24)) == 1
    req.refresh_from_db()
    assert req.state == State.EXPIRED
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="too late")
    assert audited(req)[-1] == AuditAction.REMEDIATION_EXPIRED


@decisions
def test_an_expired_request_cannot_be_approved_even_before_the_sweep(analyst, approver, decide):
    t0 = timezone.now()
    req = pending_request(analyst, now=t0)
    with pytest.raises(services.RemediationConflict):
        decide(actor=approver, request_id=req.pk, reason="late", now=t0 + timedelta(hours=24))
    assert_undecided(req)
    # The sweep still expires it: the refused decision changed nothing.
    assert services.remediation_request_expire(request_id=req.pk, now=t0 + timedelta(hours=24)) is True


def test_a_request_expires_only_when_due_and_only_while_pending(analyst, approver):
    t0 = timezone.now()
    waiting, decided = pending_request(analyst, now=t0), pending_request(analyst, now=t0)
    assert services.remediation_request_expire(request_id=waiting.pk, now=t0 + timedelta(hours=23)) is False
    services.remediation_request_approve(actor=approver, request_id=decided.pk, reason="go", now=t0)
    assert services.remediation_request_expire(request_id=decided.pk, now=t0 + timedelta(hours=25)) is False
    assert RemediationRequest.objects.get(pk=decided.pk).state == State.APPROVED
    assert services.remediation_request_expire(request_id=waiting.pk, now=t0 + timedelta(hours=25)) is True
    assert services.remediation_request_expire(request_id=waiting.pk, now=t0 + timedelta(hours=26)) is False
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_EXPIRED).count() == 1


def test_the_expiry_is_configurable(analyst, settings):
    settings.REMEDIATION_APPROVAL_TTL_HOURS = 2
    t0 = timezone.now()
    pending_request(analyst, now=t0)
    assert services.remediation_expire_due(now=t0 + timedelta(hours=2)) == 1


def test_the_requester_cancels_before_approval_only(analyst, second_analyst, approver):
    req = pending_request(analyst)
    with pytest.raises(services.RemediationError):
        services.remediation_request_cancel(actor=second_analyst, request_id=req.pk)
    services.remediation_request_cancel(actor=analyst, request_id=req.pk, reason="false positive")
    assert RemediationRequest.objects.get(pk=req.pk).state == State.CANCELLED
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_cancel(actor=analyst, request_id=req.pk)


def test_a_cancel_of_an_older_version_is_refused(analyst):
    req = pending_request(analyst)
    RemediationRequest.objects.filter(pk=req.pk).update(version=req.version + 1)
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_cancel(actor=analyst, request_id=req.pk, version=req.version)
    assert RemediationRequest.objects.get(pk=req.pk).state == State.PENDING_APPROVAL
    assert AuditAction.REMEDIATION_CANCELLED not in audited(req)
    services.remediation_request_cancel(actor=analyst, request_id=req.pk, version=req.version + 1)
    assert RemediationRequest.objects.get(pk=req.pk).state == State.CANCELLED


def test_a_decided_request_cannot_be_cancelled(analyst, approver):
    req = pending_request(analyst)
    services.remediation_request_reject(actor=approver, request_id=req.pk, reason="not malicious")
    with pytest.raises(services.RemediationConflict):
        services.remediation_request_cancel(actor=analyst, request_id=req.pk)
    assert RemediationRequest.objects.get(pk=req.pk).state == State.REJECTED


def test_the_task_adopts_an_incident_an_earlier_attempt_created(analyst, approver, mimecast_env):
    simulator = mimecast_env
    req = pending_request(analyst, values=macro_values(simulator))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    req.refresh_from_db()
    # An earlier attempt claimed the request and created the incident, then its worker died before
    # recording it: its lease lapsed.
    assert services.remediation_mark_running(request_id=req.pk) == 1
    client = services._task_client()
    earlier = client.create_remediation_incident(reason=services._incident_reason(req), file_hash=req.search_value)
    RemediationRequest.objects.filter(pk=req.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    before = simulator.incidents_created
    outcome = services.remediation_execute(request_id=req.pk)
    assert outcome.status == "recorded"
    req.refresh_from_db()
    assert req.incident_id == earlier.id
    assert simulator.incidents_created == before
    assert "Adopted" in req.steps.get(action=AuditAction.REMEDIATION_INCIDENT_CREATED).message


def test_the_first_attempt_creates_without_looking_for_an_earlier_incident(analyst, approver, mimecast_env):
    # Nothing can have created this request's incident before its first claim.
    req = pending_request(analyst, values=macro_values(mimecast_env))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    finds = len(mimecast_env.calls_to("/api/ttp/remediation/find-incidents"))
    assert services.remediation_execute(request_id=req.pk).status == "recorded"
    assert len(mimecast_env.calls_to("/api/ttp/remediation/find-incidents")) == finds


def test_polls_come_soon_at_first_then_back_off_to_the_interval(settings):
    settings.REMEDIATION_POLL_INTERVAL_SECONDS = 10
    assert [services.remediation_poll_delay(polls=n) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_a_second_delivery_does_nothing(analyst, approver, mimecast_env):
    req = pending_request(analyst, values=macro_values(mimecast_env))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    before = mimecast_env.incidents_created
    assert services.remediation_execute(request_id=req.pk).status == "recorded"
    assert services.remediation_execute(request_id=req.pk).status == "skipped"
    assert mimecast_env.incidents_created == before + 1


def test_polling_completes_the_request_when_counts_are_final(analyst, approver, mimecast_env):
    req = pending_request(analyst, values=macro_values(mimecast_env))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    services.remediation_execute(request_id=req.pk)
    polls = 0
    while not services.remediation_poll(request_id=req.pk):
        polls += 1
        assert polls < 5
    req.refresh_from_db()
    assert req.state == State.SUCCEEDED and req.counts_final
    assert req.identified == 24 and req.failed_count >= 1
    assert req.successful + req.failed_count == req.identified
    assert audited(req)[-1] == AuditAction.REMEDIATION_SUCCEEDED


def test_a_task_that_keeps_dying_is_cut_off_without_calling_mimecast(analyst, approver, mimecast_env, settings):
    settings.REMEDIATION_MAX_ATTEMPTS = 3
    req = pending_request(analyst, values=macro_values(mimecast_env))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    # Three claims whose workers died (leases lapsed, nothing recorded).
    RemediationRequest.objects.filter(pk=req.pk).update(
        state=State.RUNNING, attempts=3, lease_until=timezone.now() - timedelta(seconds=1)
    )
    calls_before = len(mimecast_env.calls)
    assert services.remediation_execute(request_id=req.pk).status == "failed"
    req.refresh_from_db()
    assert req.state == State.FAILED and "Cut off after 3 attempts" in req.failure_reason
    assert len(mimecast_env.calls) == calls_before


def test_the_sweeper_publishes_an_outbox_row_left_behind(analyst, approver, settings, monkeypatch):
    published = []
    monkeypatch.setattr(services, "_publish", published.append)
    req = pending_request(analyst)
    t0 = timezone.now()
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go", now=t0)
    # The web process died between commit and publish: the on-commit hook never ran.
    assert services.remediation_sweep(now=t0 + timedelta(seconds=5)) == 0
    assert services.remediation_sweep(now=t0 + timedelta(seconds=settings.REMEDIATION_REDISPATCH_AFTER_SECONDS)) == 1
    assert published == [req.pk]
    req.refresh_from_db()
    assert req.state == State.QUEUED
    assert RemediationOutbox.objects.get(request=req).published_at is not None


def test_the_sweeper_republishes_a_request_whose_worker_died(analyst, approver, monkeypatch):
    published = []
    monkeypatch.setattr(services, "_publish", published.append)
    req = pending_request(analyst)
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    services.remediation_dispatch(outbox_id=RemediationOutbox.objects.get(request=req).pk)
    now = timezone.now()
    assert services.remediation_mark_running(request_id=req.pk, now=now) == 1
    # A second delivery while the claim holds does nothing.
    assert services.remediation_mark_running(request_id=req.pk, now=now) is None
    published.clear()
    lapsed = now + timedelta(seconds=3600)
    assert services.remediation_sweep(now=lapsed) == 1
    assert published == [req.pk]
    assert services.remediation_mark_running(request_id=req.pk, now=lapsed) == 2


def test_the_requester_is_emailed_on_approval_rejection_and_failure(
    analyst, approver, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(services, "_publish", lambda request_id: None)
    first, second = pending_request(analyst), pending_request(analyst)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.remediation_request_approve(actor=approver, request_id=first.pk, reason="bad stuff")
        services.remediation_request_reject(actor=approver, request_id=second.pk, reason="not malicious")
        services.remediation_fail(request_id=first.pk, reason="Mimecast refused the request: nope.")
    assert [(m.to, m.subject.rsplit(" ", 1)[-1]) for m in mail.outbox] == [
        ([analyst.email], "approved"),
        ([analyst.email], "rejected"),
        ([analyst.email], "failed"),
    ]
    assert "nope" in mail.outbox[2].body


def test_counts_that_never_settle_are_taken_as_final_after_the_give_up_time(analyst, approver, mimecast_env, settings):
    settings.REMEDIATION_POLL_GIVE_UP_SECONDS = 60
    mimecast_env.configure(incident_settle_ms=600_000)
    try:
        req = pending_request(analyst, values=macro_values(mimecast_env))
        t0 = timezone.now()
        services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go", now=t0)
        services.remediation_execute(request_id=req.pk)
        # The counts are still half done (the simulator settles them only after ten minutes).
        RemediationRequest.objects.filter(pk=req.pk).update(decided_at=t0 - timedelta(minutes=5))
        assert services.remediation_poll(request_id=req.pk) is True
    finally:
        mimecast_env.configure(incident_settle_ms=1500)
    req.refresh_from_db()
    assert req.state == State.SUCCEEDED


# ------------------------------------------------------------------------------------ editing


@pytest.mark.parametrize("kind", ["remediate", "restore_code"])
def test_an_edit_with_the_forms_values_saves_and_voids_the_pending_approval(analyst, approver, kind):
    """The form always hands over restore_of (None unless a restore names its remediation)."""
    if kind == "remediate":
        data = {"kind": "remediate", "search_by": "hash", "search_value": "b" * 64, "reason": "Changed: other hash"}
        values = None
    else:
        data = {"kind": "restore", "restore_code": "RC-NEW-CODE", "reason": "Changed: other restore code"}
        values = {"kind": "restore", "restore_code": "RC-OLD-CODE", "reason": "Restore what was removed"}
    req = pending_request(analyst, values=values)
    form = RemediationRequestForm(data)
    assert form.is_valid(), form.errors
    assert "restore_of" in form.cleaned_data and form.cleaned_data["restore_of"] is None
    services.remediation_request_edit(actor=analyst, request_id=req.pk, values=form.cleaned_data)
    req.refresh_from_db()
    assert req.state == State.DRAFT and req.reason == data["reason"] and req.restore_of_id is None
    changed, expected = ("search_value", "b" * 64) if kind == "remediate" else ("restore_code", "RC-NEW-CODE")
    assert getattr(req, changed) == expected
    edited = AuditEvent.objects.get(action=AuditAction.REMEDIATION_EDITED, target_id=str(req.pk))
    assert edited.data["approval_voided"] is True


# ------------------------------------------------------------------------------------ restore


def _succeeded_remediation(analyst, approver, simulator):
    req = pending_request(analyst, values=macro_values(simulator))
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="go")
    assert services.remediation_execute(request_id=req.pk).status == "recorded"
    for _ in range(5):
        if services.remediation_poll(request_id=req.pk):
            break
    req.refresh_from_db()
    assert req.state == State.SUCCEEDED and req.incident_restore_code
    return req


def _approved_restore(analyst, approver, source):
    values = {
        "kind": RemediationRequest.Kind.RESTORE,
        "restore_of": source,
        "restore_code": source.incident_restore_code,
        "reason": "False positive: the invoice was genuine",
    }
    restore = pending_request(analyst, values=values)
    services.remediation_request_approve(actor=approver, request_id=restore.pk, reason="agreed")
    return restore


def _run_to_the_end(request_id):
    services.remediation_execute(request_id=request_id)
    for _ in range(5):
        if services.remediation_poll(request_id=request_id):
            break
    return RemediationRequest.objects.get(pk=request_id)


def test_a_restore_gets_its_own_incident_and_counts_what_it_put_back(analyst, approver, mimecast_env):
    source = _succeeded_remediation(analyst, approver, mimecast_env)
    restore = _run_to_the_end(_approved_restore(analyst, approver, source).pk)
    assert restore.state == State.SUCCEEDED, restore.failure_reason
    assert restore.incident_id != source.incident_id and restore.incident_type == "restored"
    assert restore.restored == source.successful > 0


def test_a_restore_answered_with_the_remediated_incident_is_not_marked_succeeded(analyst, approver, mimecast_env):
    """Some tenants answer the restore with the original incident (type manual, restored 0)."""
    source = _succeeded_remediation(analyst, approver, mimecast_env)
    original = dict(mimecast_client().get_incident(source.incident_id).raw)
    assert original["type"] == "manual" and original["restored"] == 0
    restore = _approved_restore(analyst, approver, source)
    body = {"meta": {"status": 200}, "data": [original], "fail": []}
    mimecast_env.faults.add(path="/api/ttp/remediation/create", kind="raw", content=json.dumps(body), count=1)
    restore = _run_to_the_end(restore.pk)
    assert restore.state == State.FAILED
    assert "not a restore incident" in restore.failure_reason and source.incident_code in restore.failure_reason
    assert audited(restore)[-1] == AuditAction.REMEDIATION_FAILED


def test_a_restore_that_put_nothing_back_fails_with_the_counts(analyst, approver, mimecast_env):
    source = _succeeded_remediation(analyst, approver, mimecast_env)
    # The messages were put back already (in Mimecast's console, say): this restore finds nothing.
    mimecast_client().restore_remediation_incident(reason="Restored by hand", restore_code=source.incident_restore_code)
    restore = _run_to_the_end(_approved_restore(analyst, approver, source).pk)
    assert restore.state == State.FAILED
    assert "restored nothing" in restore.failure_reason and restore.restored == 0
    assert restore.counts_final and restore.incident_type == "restored"
    assert audited(restore)[-1] == AuditAction.REMEDIATION_FAILED
