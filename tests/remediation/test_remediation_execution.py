"""Remediation carried out by a real Celery worker (real Redis, PostgreSQL, the simulator)."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from investigations.connection.services import mimecast_client
from investigations.models import AuditAction, AuditEvent, RemediationOutbox, RemediationRequest
from tests.factories import UserFactory
from tests.polling import poll_until
from tests.remediation.support import CARRIED_OUT, HANDED_TO_WORKER, MACRO_REASON, audited, signed_in

State = RemediationRequest.State
CREATE = "/api/ttp/remediation/create"


# The worker fixture's settings: polls and retries quick enough for a test to watch them.
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}


@pytest.fixture
def people(transactional_db, analyst, approver):
    return {"analyst": analyst, "approver": approver}


def wait_for_final(request_id, timeout=60):
    def read():
        return RemediationRequest.objects.get(pk=request_id)

    return poll_until(read, lambda req: req.is_final, timeout=timeout, interval=0.25)


def macro_sender(simulator):
    return next(m for m in simulator.state.messages if m.story == "macro").from_addr


def request_and_approve(analyst_client, approver_client, form):
    response = analyst_client.post(reverse("remediation-new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    req = RemediationRequest.objects.order_by("-id").first()
    assert req.previewed_at is not None
    assert analyst_client.post(reverse("remediation-submit", args=[req.pk])).status_code == 302
    response = approver_client.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "Confirmed malicious by sandbox", "version": req.version},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return req


def macro_statuses(simulator):
    return {m.status for m in simulator.state.messages if m.story == "macro" and m.status != "held"}


def test_an_approved_remediation_removes_the_macro_and_a_restore_brings_it_back(worker, people, mimecast_env):
    simulator = mimecast_env
    analyst, approver = signed_in(people["analyst"]), signed_in(people["approver"])
    created_before = simulator.incidents_created
    sender = macro_sender(simulator)
    req = request_and_approve(
        analyst,
        approver,
        {
            "kind": "remediate",
            "search_by": "hash",
            "search_value": simulator.state.story["macro_sha256"],
            "sender": sender,
            "reason": MACRO_REASON,
        },
    )
    req = wait_for_final(req.pk)
    assert req.state == State.SUCCEEDED, req.failure_reason
    assert simulator.incidents_created == created_before + 1
    assert req.counts_final and req.successful + req.failed_count == req.identified == 24
    assert req.incident_restore_code
    # Message Finder shows what the mailboxes now hold: every delivered copy remediated.
    found = mimecast_client().search_messages(sender=sender, start=req.start, end=req.end)
    assert {e.status for e in found if e.status != "held"} == {"remediated"}
    assert macro_statuses(simulator) == {"remediated"}

    # The restore, requested and approved the same way, from the remediation's page.
    page = analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert f"restore_of={req.pk}" in page
    restore = request_and_approve(
        analyst,
        approver,
        {"kind": "restore", "restore_of": req.pk, "reason": "False positive: the invoice was genuine"},
    )
    restore = wait_for_final(restore.pk)
    assert restore.state == State.SUCCEEDED, restore.failure_reason
    assert restore.restore_of_id == req.pk and restore.restore_code == req.incident_restore_code
    assert simulator.incidents_created == created_before + 2
    assert restore.restored == req.successful
    assert macro_statuses(simulator) == {"archived"}
    # The two pages link to each other.
    assert (
        f'href="/remediation/{req.pk}/"'
        in analyst.get(reverse("remediation-detail", args=[restore.pk])).content.decode()
    )
    assert (
        f'href="/remediation/{restore.pk}/"'
        in analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    )
    incident = {AuditAction.TASK_ATTEMPT, AuditAction.REMEDIATION_INCIDENT_CREATED}
    assert CARRIED_OUT | incident <= set(audited(req)), audited(req)
    assert HANDED_TO_WORKER & set(audited(req)), audited(req)


def test_fifty_concurrent_approvals_give_one_approval_one_task_and_one_incident(worker, people, mimecast_env):
    simulator = mimecast_env
    from tests.remediation.support import macro_values, pending_request

    req = pending_request(people["analyst"], values=macro_values(simulator))
    approvers = [UserFactory(username=f"approver{n}", roles=["approver"]) for n in range(50)]
    clients = [signed_in(user) for user in approvers]
    created_before = simulator.incidents_created
    barrier = threading.Barrier(len(clients))
    statuses = []

    def approve(client):
        try:
            barrier.wait()
            response = client.post(
                reverse("remediation-decide", args=[req.pk]),
                {"decision": "approve", "reason": "Looks bad to me", "version": req.version},
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == 50
    req = wait_for_final(req.pk)
    assert req.state == State.SUCCEEDED
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_APPROVED).count() == 1
    assert RemediationOutbox.objects.filter(request=req).count() == 1
    assert req.steps.filter(action=AuditAction.TASK_ATTEMPT, data__phase="claimed").count() == 1
    assert simulator.incidents_created == created_before + 1


def test_a_429_is_retried_after_its_reset_within_the_attempt_and_two_503s_are_audited_attempts(
    worker, people, mimecast_env
):
    simulator = mimecast_env
    from investigations.remediation import services
    from tests.remediation.support import macro_values, pending_request

    simulator.faults.add(path=CREATE, kind="rate_limit", reset_ms=3000, count=1)
    simulator.faults.add(path=CREATE, kind="status", status=503, count=2, skip=1)
    req = pending_request(people["analyst"], values=macro_values(simulator))
    started = time.monotonic()
    services.remediation_request_approve(actor=people["approver"], request_id=req.pk, reason="go")
    req = wait_for_final(req.pk, timeout=90)
    assert req.state == State.SUCCEEDED, req.failure_reason
    assert time.monotonic() - started >= 3.0
    failures = list(
        AuditEvent.objects.filter(action=AuditAction.TASK_ATTEMPT, outcome="failure", target_id=str(req.pk)).order_by(
            "seq"
        )
    )
    # Mimecast did not run the refused call: the client retries it after the reset (not a failed
    # attempt); the 503s are failures the task retries and audits.
    # (A 401 first, when the worker's client still holds keys from an earlier test: it logs in again.)
    creates = [c for c in simulator.calls_to(CREATE) if c.status != 401]
    assert [c.status for c in creates] == [429, 503, 503, 200]
    assert creates[1].time - creates[0].time >= 3.0  # X-RateLimit-Reset honoured
    assert [e.data["attempt"] for e in failures] == [1, 2]
    assert [e.data["status"] for e in failures] == [503, 503]
    assert all(e.data["retry_in_seconds"] > 0 for e in failures)
    assert req.attempts == 3


def test_a_permanent_refusal_fails_the_request_with_mimecasts_message(worker, people, mimecast_env):
    simulator = mimecast_env
    from investigations.remediation import services
    from tests.remediation.support import macro_values, pending_request

    simulator.faults.add(
        path=CREATE, kind="fail", status=400, code="err_remediation_forbidden", message="Remediation is not licensed"
    )
    req = pending_request(people["analyst"], values=macro_values(simulator))
    services.remediation_request_approve(actor=people["approver"], request_id=req.pk, reason="go")
    req = wait_for_final(req.pk)
    simulator.faults.clear()
    assert req.state == State.FAILED
    assert "Remediation is not licensed" in req.failure_reason
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_FAILED, target_id=str(req.pk))
    assert "Remediation is not licensed" in event.reason
    assert req.attempts == 1
