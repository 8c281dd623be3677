"""Two-step sign-in for local accounts: setting up an authenticator app (its code checked against a
controlled clock), recovery codes good once, removal, the second step of a password sign-in, and the
security page's permissions. Every change audited; no code or key in any event or log."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from investigations.accounts import mfa
from investigations.accounts.mfa_views import PENDING_SESSION_KEY, SIGN_IN_AGAIN
from investigations.accounts.services import session_proof, session_proof_record
from investigations.models import AuditEvent, UserSession
from tests.factories import PASSWORD, UserFactory

KEY = "3132333435363738393031323334353637383930"  # RFC 6238's test key, "12345678901234567890"


def test_a_totp_code_is_the_one_for_its_time_step_and_no_other(db, settings):
    # django-otp makes the next try after a wrong code wait a second; this test tries again at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = UserFactory(username="tina", roles=["approver"])
    device = TOTPDevice.objects.create(user=user, key=KEY, confirmed=True)
    # RFC 6238, appendix B, SHA-1, at T = 59 s: 94287082 in eight digits, 287082 in six.
    assert mfa.totp_code_at(device, datetime(1970, 1, 1, 0, 0, 59, tzinfo=UTC)) == "287082"
    assert mfa.totp_code_at(device, datetime(2005, 3, 18, 1, 58, 29, tzinfo=UTC)) == "081804"
    now = timezone.now()
    # A code of ten minutes ago (or ten minutes ahead) is not accepted.
    assert mfa.mfa_code_verify(user=user, code=mfa.totp_code_at(device, now - timedelta(minutes=10))) is None
    assert mfa.mfa_code_verify(user=user, code=mfa.totp_code_at(device, now + timedelta(minutes=10))) is None
    # The device's clock starts later (t0): the code of "now" is the code of its own time step.
    device.t0 = 300
    device.save()
    assert mfa.totp_code_at(device, now) == mfa.totp_code_at(TOTPDevice(key=KEY), now - timedelta(seconds=300))
    assert mfa.mfa_code_verify(user=user, code=mfa.totp_code_at(device, now)) == mfa.TOTP_METHOD


def test_a_totp_code_is_accepted_once(approver):
    device = TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    code = mfa.totp_code_at(device, timezone.now())
    assert mfa.mfa_code_verify(user=approver, code=f" {code[:3]} {code[3:]} ") == mfa.TOTP_METHOD
    # django-otp keeps the last time step used: the same code again is refused.
    assert mfa.mfa_code_verify(user=approver, code=code) is None


def test_recovery_codes_are_single_use_and_a_new_set_replaces_the_old(approver, settings):
    # django-otp makes the next try after a wrong code wait a second; this test tries again at once.
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    codes = mfa.recovery_codes_create(actor=approver)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert mfa.mfa_code_verify(user=approver, code=codes[0]) == mfa.RECOVERY_METHOD
    assert mfa.mfa_code_verify(user=approver, code=codes[0]) is None
    assert mfa.recovery_codes_left(approver) == 9
    # Typed without the dash, in capitals: the same code.
    assert mfa.mfa_code_verify(user=approver, code=codes[1].replace("-", "").upper()) == mfa.RECOVERY_METHOD
    fresh = mfa.recovery_codes_create(actor=approver)
    assert mfa.mfa_code_verify(user=approver, code=codes[2]) is None
    assert mfa.mfa_code_verify(user=approver, code=fresh[0]) == mfa.RECOVERY_METHOD
    # Recovery codes alone are not two-step sign-in.
    assert not mfa.user_has_mfa(approver)


def test_setting_up_an_authenticator_app_shows_the_qr_as_svg_and_needs_a_right_code(client, approver, caplog, settings):
    # django-otp makes the next try after a wrong code wait a second; this test types the right one at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(approver)
    caplog.set_level(logging.DEBUG)
    assert client.post(reverse("mfa-totp-start")).status_code == 302
    page = client.get(reverse("account-security"))
    device = TOTPDevice.objects.get(user=approver, confirmed=False)
    secret = mfa.totp_secret_base32(device)
    html = page.content.decode()
    assert "<svg" in html and secret in html
    # No inline script or style the CSP would refuse.
    assert "<style" not in html and " style=" not in html.split('id="totp-qr"', 1)[1].split("</div>", 1)[0]
    wrong = client.post(reverse("mfa-totp-confirm"), {"device": device.pk, "otp_code": "000000"})
    assert wrong.status_code == 400 and "not correct" in wrong.content.decode()
    assert not mfa.user_has_mfa(approver)
    code = mfa.totp_code_at(device, timezone.now())
    done = client.post(reverse("mfa-totp-confirm"), {"device": device.pk, "otp_code": code})
    assert done.status_code == 302
    assert mfa.user_has_mfa(approver)
    event = AuditEvent.objects.get(action=mfa.MFA_DEVICE_ADDED)
    assert event.data["method"] == "totp" and event.actor_label == approver.username
    # Neither the key nor the code in any event or log line.
    for event in AuditEvent.objects.all():
        assert secret not in str(event.data) and code not in str(event.data)
    assert secret not in caplog.text and code not in caplog.text


def test_recovery_codes_are_shown_once_and_their_creation_audited(client, approver, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(approver)
    response = client.post(reverse("mfa-recovery-create"))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="recovery-codes"' in html
    shown = html.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    codes = [part.split("</code>", 1)[0] for part in shown.split("<code>")[1:]]
    assert len(codes) == 10
    stored = set(StaticToken.objects.filter(device__user=approver).values_list("token", flat=True))
    for code in codes:
        # Neither in a log line, nor in an event, nor as it is in the table (a digest is kept).
        assert code not in caplog.text and not AuditEvent.objects.filter(data__icontains=code).exists()
        assert code not in stored and code.replace("-", "") not in stored
    assert mfa.mfa_code_verify(user=approver, code=codes[0]) == mfa.RECOVERY_METHOD
    assert 'id="recovery-codes"' not in client.get(reverse("account-security")).content.decode()
    event = AuditEvent.objects.get(action=mfa.MFA_RECOVERY_CODES_CREATED)
    assert event.data["count"] == 10


def test_removing_a_device_is_audited_and_only_your_own(client, approver, second_approver):
    mine = TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    theirs = TOTPDevice.objects.create(user=second_approver, key=KEY, confirmed=True)
    client.force_login(approver)
    _proved_with_code_now(client)
    client.post(reverse("mfa-device-remove"), {"kind": "totp", "device": theirs.pk})
    assert TOTPDevice.objects.filter(pk=theirs.pk).exists()
    client.post(reverse("mfa-device-remove"), {"kind": "totp", "device": mine.pk})
    assert not TOTPDevice.objects.filter(pk=mine.pk).exists()
    assert AuditEvent.objects.filter(action=mfa.MFA_DEVICE_REMOVED, actor_label=approver.username).count() == 1
    # Bad input is a message, never a 500.
    assert client.post(reverse("mfa-device-remove"), {"kind": "nope", "device": "x"}).status_code == 302


def _proved_with_code_now(client):
    session = client.session
    session_proof_record(session=session, at=timezone.now(), method=mfa.TOTP_METHOD)
    session.save()


@pytest.mark.parametrize(
    ("route", "data"),
    [
        ("mfa-device-remove", {"kind": "totp", "device": "0"}),
        ("mfa-totp-start", {}),
        ("mfa-recovery-create", {}),
    ],
)
def test_a_stale_session_cannot_change_its_factors_and_is_sent_to_sign_in_again(client, approver, route, data):
    # A stolen session must not enrol its own authenticator and then pass every step-up with it.
    device = TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    data = {**data, "device": str(device.pk)} if "device" in data else data
    client.force_login(approver)  # its proof is the password alone: stale for a user with an app
    response = client.post(reverse(route), data)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert TOTPDevice.objects.filter(user=approver).count() == 1
    assert not StaticToken.objects.filter(device__user=approver).exists()
    follow = client.get(response["Location"])
    assert SIGN_IN_AGAIN in follow.content.decode()
    assert client.get(reverse("account-security")).status_code == 302  # signed out


def test_a_new_passkey_registration_needs_a_fresh_proof(client, approver):
    TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    client.force_login(approver)
    response = client.post(reverse("mfa-passkey-register-begin"))
    assert response.status_code == 403 and response.json()["detail"] == SIGN_IN_AGAIN


def _sign_in(client, user):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD})


def test_a_user_with_an_app_gives_the_second_step_before_any_page(client, approver):
    device = TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    response = _sign_in(client, approver)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login-second-factor"))
    # Every other page, htmx included, sends the session back to the second step.
    assert client.get(reverse("home"))["Location"].startswith(reverse("login-second-factor"))
    assert client.get(reverse("home"), headers={"HX-Request": "true"})["HX-Redirect"].startswith(
        reverse("login-second-factor")
    )
    wrong = client.post(reverse("login-second-factor"), {"otp_code": "12345", "next": "/"})
    assert wrong.status_code == 400
    assert AuditEvent.objects.filter(action=mfa.MFA_FAILED).count() == 1
    code = mfa.totp_code_at(device, timezone.now())
    done = client.post(reverse("login-second-factor"), {"otp_code": code, "next": "/"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert PENDING_SESSION_KEY not in client.session
    assert session_proof(client.session)["method"] == "totp"
    assert UserSession.objects.get(user=approver).method == "password+totp"
    assert client.get(reverse("home")).status_code == 200


def test_a_recovery_code_signs_in_once(client, approver):
    TOTPDevice.objects.create(user=approver, key=KEY, confirmed=True)
    codes = mfa.recovery_codes_create(actor=approver)
    _sign_in(client, approver)
    assert client.post(reverse("login-second-factor"), {"otp_code": codes[0], "next": "/"}).status_code == 302
    assert session_proof(client.session)["method"] == "recovery"
    client.post(reverse("logout"))
    _sign_in(client, approver)
    assert client.post(reverse("login-second-factor"), {"otp_code": codes[0], "next": "/"}).status_code == 400


def test_a_user_without_a_device_signs_in_with_the_password_alone(client, analyst):
    response = _sign_in(client, analyst)
    assert response.status_code == 302 and not response["Location"].startswith(reverse("login-second-factor"))
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "admin", "outsider"])
def test_every_signed_in_user_opens_their_security_page(client, personas, persona):
    client.force_login(personas[persona])
    assert client.get(reverse("account-security")).status_code == 200
    client.logout()
    assert client.get(reverse("account-security"))["Location"].startswith(reverse("login"))
