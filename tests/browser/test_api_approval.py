"""Automation asks, a person approves: a playbook requests a sender block through the API with its
token; an approver sees it in the queue marked with the integration, approves it in the browser with
the password again, the worker carries it out, and the audit trail names each of them for its part."""

import json
import urllib.request
import uuid

from investigations.integrations.services import token_create
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.browser.pages import age_sign_in, screenshot, sign_in
from tests.factories import PASSWORD, UserFactory
from tests.remediation.samples import REASON

WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1}


def api_post(base_url, path, payload, secret):
    """What a SOAR playbook sends: JSON, its token and an idempotency key, over real HTTP."""
    request = urllib.request.Request(  # noqa: S310 (the test's own live server, over http)
        base_url + path,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {secret}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_a_request_made_through_the_api_is_approved_by_a_person_in_the_browser_and_runs(
    page, live_server, worker, mimecast_env
):
    admin = UserFactory(username="erin", roles=["admin"])
    approver = UserFactory(username="carol", roles=["approver"])
    token, secret = token_create(actor=admin, name="Cortex XSOAR", scopes=["read", "request_actions"])
    block = {"target_type": "email_address", "value": "api-journey@bulk-offers.example", "from_part": "both"}

    status, created = api_post(
        live_server.url, "/api/v1/requests", {"kind": "block_sender", "reason": REASON, "params": block}, secret
    )
    assert status == 201 and created["state"] == "pending_approval", created
    request_id = created["id"]

    sign_in(page, "carol")
    age_sign_in(page)
    page.click("nav >> text=Approvals")
    row = page.locator("#approval-queue tr", has=page.locator(f"a[href='/remediation/{request_id}/']"))
    assert "via Cortex XSOAR" in row.inner_text()
    assert "integration:Cortex XSOAR" in row.inner_text()
    screenshot(page, "api-approval-1-queue")

    row.locator(f"a[href='/remediation/{request_id}/decide/']").click()
    page.wait_for_selector("#fresh-auth")
    assert page.inner_text("#via-integration") == "via Cortex XSOAR"
    page.fill("#id_reason", "The SOAR's verdict checks out")
    page.fill("#id_password", PASSWORD)
    page.click("#approve")
    page.wait_for_selector("#rem-state")
    assert page.url.endswith(f"/remediation/{request_id}/")
    assert page.inner_text("#via-integration") == "via Cortex XSOAR"

    page.locator("#rem-state[data-state=succeeded]").wait_for(timeout=60_000)
    screenshot(page, "api-approval-2-succeeded")
    assert page.console_errors == []
    req = RemediationRequest.objects.get(pk=request_id)
    assert req.approved_by_id == approver.pk and req.approver_authenticated_at is not None

    def actor_of(action):
        event = AuditEvent.objects.get(action=action, target_type="remediationrequest", target_id=str(request_id))
        return event.actor_id

    assert actor_of(AuditAction.REMEDIATION_DRAFTED) == str(token.service_user_id)
    assert actor_of(AuditAction.REMEDIATION_REQUESTED) == str(token.service_user_id)
    assert actor_of(AuditAction.REMEDIATION_APPROVED) == str(approver.pk)
