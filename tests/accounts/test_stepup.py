"""The step-up gate in front of every decision: an approver or admin without two-step sign-in cannot
decide on any path (approve, reject, break-glass; the API has no decision route a token could reach);
one with it gives a code or a passkey, not the password; the proof's method goes into the audit event."""

import logging

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from investigations.accounts import mfa
from investigations.accounts.services import decisions_locked_until, session_proof_record
from investigations.api.views import api
from investigations.core.roles import HUMAN_ONLY, user_can
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.factories import PASSWORD
from tests.remediation.samples import Kind, values
from tests.remediation.support import kind_draft, pending_request, stale_client

KEY = "3132333435363738393031323334353637383930"
State = RemediationRequest.State


@pytest.fixture
def mfa_required(settings):
    settings.MFA_REQUIRED_ROLES = ["approver", "admin"]
    # django-otp makes the next try after a wrong code wait a second; these tests type the right one at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def _app(user):
    return TOTPDevice.objects.create(user=user, key=KEY, confirmed=True)


def _decide(client, req, **extra):
    form = {"decision": "approve", "reason": "Looks right", "version": req.version, **extra}
    return client.post(reverse("remediation-decide", args=[req.pk]), form)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_approver_without_two_step_sign_in_cannot_decide(client, mfa_required, analyst, approver, decision):
    req = pending_request(analyst)
    client.force_login(approver)
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert 'id="mfa-required"' in page and reverse("account-security") in page
    # However fresh the session, and with the right password.
    response = _decide(client, req, decision=decision, password=PASSWORD)
    assert response.status_code == 400 and "Set up two-step sign-in" in response.content.decode()
    assert RemediationRequest.objects.get(pk=req.pk).state == State.PENDING_APPROVAL


def test_an_admin_without_two_step_sign_in_cannot_break_glass(client, mfa_required, admin_user, sim):
    req = kind_draft(admin_user, values(Kind.MANAGE_URL, sim))
    client.force_login(admin_user)
    form = {"reason": "The phishing URL is live right now", "version": req.version, "password": PASSWORD}
    response = client.post(reverse("remediation-break-glass", args=[req.pk]), form)
    assert response.status_code == 400 and "Set up two-step sign-in" in response.content.decode()
    assert RemediationRequest.objects.get(pk=req.pk).state == State.DRAFT


def test_no_api_route_decides_and_no_token_may(db):
    # The API's routes (its OpenAPI schema, the same list the router serves): none approves, rejects or
    # carries out a request; a token's identity is never granted a decision.
    schema = api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        for method in operations:
            if method == "post":
                assert not any(word in path for word in ("approve", "reject", "decide", "break")), path
    assert {"approve", "approve_as_admin", "decide", "break_glass"} <= HUMAN_ONLY


def test_with_an_app_the_password_is_not_enough_and_a_code_is(client, mfa_required, analyst, approver):
    device = _app(approver)
    req = pending_request(analyst)
    client.force_login(approver)
    # force_login is a password sign-in: not a proof for a user with two-step sign-in.
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert 'id="step-up-code"' in page and 'id="fresh-auth"' not in page
    response = _decide(client, req, password=PASSWORD)
    assert response.status_code == 400 and "authenticator app" in response.content.decode()
    wrong = _decide(client, req, otp_code="000000")
    assert wrong.status_code == 400 and "not correct" in wrong.content.decode()
    assert AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED, data__method="code").count() == 1
    done = _decide(client, req, otp_code=mfa.totp_code_at(device, timezone.now()))
    assert done.status_code == 302
    assert RemediationRequest.objects.get(pk=req.pk).approved_by == approver
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    assert event.data["proof"] == {"method": "totp"}
    assert event.data["fresh_authentication_at"]


def test_a_recovery_code_is_a_proof_once(client, mfa_required, analyst, second_analyst, approver):
    _app(approver)
    codes = mfa.recovery_codes_create(actor=approver)
    first, second = pending_request(analyst), pending_request(second_analyst)
    client.force_login(approver)
    assert _decide(client, first, otp_code=codes[0]).status_code == 302
    assert AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED).data["proof"] == {"method": "recovery"}
    stale_client(client)
    assert _decide(client, second, otp_code=codes[0]).status_code == 400
    assert RemediationRequest.objects.get(pk=second.pk).state == State.PENDING_APPROVAL


def test_a_fresh_passkey_proof_decides_without_a_code(client, mfa_required, analyst, approver):
    _app(approver)
    req = pending_request(analyst)
    client.force_login(approver)
    session = client.session
    session_proof_record(session=session, at=timezone.now(), method=mfa.PASSKEY_METHOD)
    session.save()
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert 'id="step-up-code"' not in page
    assert _decide(client, req).status_code == 302
    assert AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED).data["proof"] == {"method": "passkey"}


def test_wrong_codes_lock_only_this_approvers_decisions(client, mfa_required, settings, analyst, approver, caplog):
    caplog.set_level(logging.DEBUG)
    device = _app(approver)
    req = pending_request(analyst)
    client.force_login(approver)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _decide(client, req, otp_code="000000")
    assert decisions_locked_until(user=approver) is not None
    code = mfa.totp_code_at(device, timezone.now())
    response = _decide(client, req, otp_code=code)
    assert response.status_code == 400 and "locked until" in response.content.decode()
    assert RemediationRequest.objects.get(pk=req.pk).state == State.PENDING_APPROVAL
    # Neither what was typed nor the key in a log line or an event.
    assert code not in caplog.text and "000000" not in caplog.text
    assert not AuditEvent.objects.filter(data__icontains="000000").exists()


def test_a_break_glass_with_an_app_asks_for_a_code(client, mfa_required, admin_user, sim):
    device = _app(admin_user)
    req = kind_draft(admin_user, values(Kind.MANAGE_URL, sim))
    client.force_login(admin_user)
    stale_client(client)
    url = reverse("remediation-break-glass", args=[req.pk])
    form = {"reason": "The phishing URL is live right now", "version": req.version}
    response = client.post(url, {**form, "password": PASSWORD})
    assert response.status_code == 400 and "authenticator app" in response.content.decode()
    response = client.post(url, {**form, "otp_code": mfa.totp_code_at(device, timezone.now())})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.break_glass
    assert AuditEvent.objects.get(action=AuditAction.REMEDIATION_BREAK_GLASS).data["proof"] == {"method": "totp"}


def test_a_user_whose_role_does_not_require_it_still_types_the_password(client, analyst, approver):
    # MFA_REQUIRED_ROLES is empty here: the approver without a device decides with the password again.
    req = pending_request(analyst)
    client.force_login(approver)
    stale_client(client)
    assert 'id="fresh-auth"' in client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert _decide(client, req, password=PASSWORD).status_code == 302
    assert user_can(approver, "decide")


def test_a_user_the_provider_signs_in_is_exempt(client, mfa_required, analyst, approver):
    # No usable password: only a provider (OpenID Connect or SAML) signs this user in, and asks its own MFA.
    approver.set_unusable_password()
    approver.save()
    req = pending_request(analyst)
    client.force_login(approver)
    assert 'id="mfa-required"' not in client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert _decide(client, req).status_code == 302
