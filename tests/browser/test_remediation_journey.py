"""The remediation journey in two real browsers: an analyst requests, an approver approves after
entering the password again, and the analyst's request page turns to succeeded without a reload."""

from investigations.models import RemediationRequest
from tests.browser.pages import age_sign_in, screenshot, sign_in
from tests.factories import PASSWORD, UserFactory
from tests.remediation.support import MACRO_REASON, pending_request

WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1}  # the request page sees the outcome within seconds


def test_an_analyst_requests_an_approver_approves_and_the_page_turns_succeeded(
    page, chromium, live_server, worker, mimecast_env
):
    simulator = mimecast_env
    UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])
    macro_hash = simulator.state.story["macro_sha256"]
    sender = next(m for m in simulator.state.messages if m.story == "macro").from_addr

    # The analyst starts from the link the message page gives (prefilled by GET parameters).
    sign_in(page, "alice")
    page.goto(f"/remediation/new/?file_hash={macro_hash}&from={sender}")
    assert page.input_value("#id_search_value") == macro_hash
    page.fill("#id_reason", MACRO_REASON)
    page.click("text=Save and preview")
    page.wait_for_selector("#rem-state[data-state=draft]")
    assert "mailboxes" in page.inner_text("#preview")
    screenshot(page, "remediation-1-preview")
    page.click("#submit-for-approval")
    page.wait_for_selector("#rem-state[data-state=pending_approval]")
    req = RemediationRequest.objects.get()
    page.evaluate("window.remediationPageMarker = 42")

    # The approver, in a second browser context, signed in more than 10 minutes ago.
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    try:
        approver_page = context.new_page()
        sign_in(approver_page, "carol")
        age_sign_in(approver_page)
        approver_page.click("nav >> text=Approvals")
        approver_page.wait_for_selector("#approval-queue")
        assert "alice" in approver_page.inner_text("#approval-queue")
        approver_page.click(f"a[href='/remediation/{req.pk}/decide/']")
        approver_page.wait_for_selector("#fresh-auth")
        approver_page.fill("#id_reason", "Sandbox verdict: malicious macro")
        approver_page.click("#approve")
        # Without the password the approval does not count.
        approver_page.wait_for_selector("#fresh-auth .field-error")
        assert RemediationRequest.objects.get().state == RemediationRequest.State.PENDING_APPROVAL
        approver_page.fill("#id_reason", "Sandbox verdict: malicious macro")
        approver_page.fill("#id_password", PASSWORD)
        screenshot(approver_page, "remediation-2-approval")
        approver_page.click("#approve")
        approver_page.wait_for_selector("#rem-state")
        assert approver_page.url.endswith(f"/remediation/{req.pk}/")
    finally:
        context.close()

    # The analyst's page, never reloaded, follows the work through htmx polling.
    page.locator("#rem-state[data-state=succeeded]").wait_for(timeout=60_000)
    assert page.evaluate("window.remediationPageMarker") == 42
    assert "Remediation succeeded" in page.inner_text("#rem-timeline")
    assert page.locator("#request-restore").count() == 1
    screenshot(page, "remediation-3-succeeded")
    assert page.console_errors == []


def test_reject_asks_for_confirmation_and_a_cancelled_dialog_decides_nothing(page, transactional_db):
    analyst = UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])
    req = pending_request(analyst)
    sign_in(page, "carol")
    page.goto(f"/remediation/{req.pk}/decide/")
    page.fill("#id_reason", "Not malicious after all")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.click("#reject")  # returns once a navigation the click started has begun
    assert posts == []
    assert questions == [f"Reject request #{req.pk}? The requester will have to start a new request."]
    assert page.url.endswith(f"/remediation/{req.pk}/decide/")
    assert RemediationRequest.objects.get(pk=req.pk).state == RemediationRequest.State.PENDING_APPROVAL

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.click("#reject")
    page.wait_for_selector("#rem-state[data-state=rejected]")
    assert len(questions) == 2 and len(posts) == 1
    assert RemediationRequest.objects.get(pk=req.pk).state == RemediationRequest.State.REJECTED
    assert page.console_errors == []
