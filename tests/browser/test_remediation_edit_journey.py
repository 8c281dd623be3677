"""Changing a request in the browser: the requester submits the real edit form, for a remediation
and for a restore, while an approver has the decision page open; the change sends the request back
to draft and the approver's approval of the page they saw no longer counts."""

import pytest

from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.browser.pages import sign_in
from tests.factories import UserFactory
from tests.remediation.support import hash_values, pending_request

State = RemediationRequest.State

REQUESTS = {
    "remediate": (hash_values(reason="A macro attachment seen in finance"), "#id_search_value", "b" * 64),
    "restore": (
        {"kind": "restore", "restore_code": "RC-CSND1A7780-00001-M", "reason": "The invoice was genuine"},
        "#id_restore_code",
        "RC-CSND1A7780-00002-M",
    ),
}


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_the_requester_changes_a_pending_request_and_the_open_approval_is_void(
    page, chromium, live_server, mimecast_env, transactional_db, kind
):
    values, field, changed = REQUESTS[kind]
    analyst = UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])
    req = pending_request(analyst, values=values)

    # The approver opens the decision page (signed in just now: no password needed).
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    try:
        approver_page = context.new_page()
        sign_in(approver_page, "carol")
        approver_page.goto(f"/remediation/{req.pk}/decide/")
        approver_page.fill("#id_reason", "Looked at the preview")

        # Meanwhile the requester changes the request through its edit form.
        sign_in(page, "alice")
        page.goto(f"/remediation/{req.pk}/")
        page.click(f"a[href='/remediation/{req.pk}/edit/']")
        page.wait_for_selector("text=This request is waiting for approval")
        assert page.input_value("#id_reason") == values["reason"]
        page.fill(field, changed)
        page.fill("#id_reason", f"{values['reason']}, changed")
        page.click("text=Save and preview")
        page.wait_for_selector("#rem-state[data-state=draft]")
        assert page.url.endswith(f"/remediation/{req.pk}/")
        assert "voided" in page.inner_text("#rem-timeline")

        # The approver's page is of the version before the change: approving it changes nothing.
        approver_page.click("#approve")
        approver_page.wait_for_selector("text=no longer waiting for approval")
    finally:
        context.close()

    req.refresh_from_db()
    assert req.state == State.DRAFT and req.approved_by is None and req.previewed_at is not None
    assert req.reason == f"{values['reason']}, changed"
    assert getattr(req, field.removeprefix("#id_")) == changed
    edited = AuditEvent.objects.get(action=AuditAction.REMEDIATION_EDITED, target_id=str(req.pk))
    assert edited.data["approval_voided"] is True
    assert not AuditEvent.objects.filter(action=AuditAction.REMEDIATION_APPROVED).exists()
    assert page.console_errors == []
