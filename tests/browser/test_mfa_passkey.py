"""Passkeys in headless Chromium with a virtual authenticator (the DevTools WebAuthn domain): an approver
registers one on the two-step sign-in page, signs in with it as the second step, and confirms an
approval with it; the approval's audit event names the passkey. django-otp-webauthn's own script runs
under the portal's strict CSP (no console error, no refused resource)."""

import json
import logging

from django.urls import reverse
from django_otp_webauthn.models import WebAuthnCredential

from investigations.accounts import mfa
from investigations.models import AuditEvent, UserSession
from tests.browser.journeys import approve_on_decision_page
from tests.browser.pages import age_sign_in, screenshot, sign_in
from tests.factories import PASSWORD
from tests.remediation.support import pending_request


def _virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
    }
    return cdp, cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def test_a_passkey_registers_signs_in_and_confirms_an_approval(
    page, live_server, transactional_db, settings, approver, analyst, caplog
):
    settings.MFA_REQUIRED_ROLES = ["approver", "admin"]
    caplog.set_level(logging.DEBUG)
    ceremonies = []
    page.on("request", lambda request: "/passkey/" in request.url and request.post_data and ceremonies.append(request))
    failed, page_errors = [], []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    cdp, authenticator = _virtual_authenticator(page)

    # Registration: the approver without a device signs in with the password and adds a passkey.
    sign_in(page, approver.username)
    page.goto(reverse("account-security"))
    page.wait_for_selector("#mfa-required")
    page.click("#passkey-register-button")
    page.wait_for_selector("text=Registration successful")
    credential = WebAuthnCredential.objects.get(user=approver)
    assert mfa.user_has_mfa(approver)
    added = AuditEvent.objects.get(action=mfa.MFA_DEVICE_ADDED)
    assert added.data["method"] == "passkey" and added.actor_label == approver.username
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    screenshot(page, "mfa_passkey_registered")

    # Sign-in: after the password, the passkey is the second step.
    page.click("text=Sign out")
    page.goto("/accounts/login/")
    page.fill("#id_username", approver.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#second-factor")
    page.click("#passkey-verification-button")
    page.wait_for_selector(f"text=Welcome, {approver.username}")
    assert UserSession.objects.filter(user=approver, ended_at__isnull=True).get().method == "password+passkey"
    credential.refresh_from_db()
    assert credential.sign_count >= 1 or credential.last_used_at is not None

    # Step-up: the proof ages; the decision page offers the passkey, which brings the approver back.
    req = pending_request(analyst)
    age_sign_in(page)
    page.goto(reverse("remediation-decide", args=[req.pk]))
    page.wait_for_selector("#step-up-code")
    page.click("#step-up-passkey")
    page.wait_for_selector("#passkey-verification-button")
    page.click("#passkey-verification-button")
    page.wait_for_url(f"**{reverse('remediation-decide', args=[req.pk])}")
    page.wait_for_selector("#approve")
    assert page.locator("#step-up-code").count() == 0
    event = approve_on_decision_page(page, req, approver, "Confirmed with a passkey")
    assert event.data["proof"] == {"method": "passkey"}

    assert failed == [] and page.console_errors == [] and page_errors == []
    # No assertion, attestation or signature in any log line.
    posted = [json.loads(request.post_data) for request in ceremonies if "/complete/" in request.url]
    assert len(posted) == 3
    for body in posted:
        for value in body["response"].values():
            if isinstance(value, str) and len(value) > 16:
                assert value not in caplog.text
