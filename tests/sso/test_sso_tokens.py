"""Every bad ID token the test provider can issue is refused: back on the sign-in page with a message
that says what was wrong, an `auth.sso_refused` event with the reason (never the token), nobody
signed in, never a server error. Tokens the provider would never issue (our own key, the client
secret as an HMAC key) are refused by the same check."""

import logging
import time
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from investigations.accounts.services import session_proof_at
from investigations.accounts.sso import SsoRefused, sso_verify_id_token
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.sso.conftest import FAULTS

pytestmark = pytest.mark.django_db

REFUSALS = {
    "wrong_aud": "issued for another application",
    "wrong_iss": "comes from another issuer",
    "wrong_nonce": "answers another sign-in",
    "missing_nonce": "no nonce",
    "bad_signature": "signature does not verify",
    "alg_none": "is not signed",
    "expired": "has expired",
}


@pytest.fixture
def client():
    # The test provider sends browsers back to loopback addresses only.
    return Client(HTTP_HOST="127.0.0.1")


def _callback_after_sign_in(client, provider, username):
    started = client.get(reverse("sso-start"))
    back = urlsplit(provider.sign_in(started["Location"], username))
    return client.get(f"{back.path}?{back.query}")


def test_every_fault_of_the_provider_is_covered():
    assert {*REFUSALS, "missing_auth_time"} == set(FAULTS)


def test_a_sign_in_without_auth_time_proves_nothing_for_a_decision(client, sso_settings, oidc_provider):
    """auth_time is required only when max_age was asked (the step-up); a sign-in without it is let in,
    but the session gets no proof of a recent sign-in, so a decision asks for one."""
    oidc_provider.set_user("dan", email="dan@soc.example", groups=["soc-approvers"])
    oidc_provider.next_id_token_fault("missing_auth_time")

    assert _callback_after_sign_in(client, oidc_provider, "dan")["Location"] == reverse("home")
    assert client.session["sso_auth_time"] is None
    assert session_proof_at(client.session) is None


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_a_bad_id_token_is_refused_with_a_clear_message(client, sso_settings, oidc_provider, fault, caplog):
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-admins"])
    oidc_provider.next_id_token_fault(fault)

    with caplog.at_level(logging.DEBUG):
        response = _callback_after_sign_in(client, oidc_provider, "ann")

    assert response.status_code == 302 and response["Location"] == reverse("login")
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert REFUSALS[fault] in page.content.decode()
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(email="ann@soc.example").exists()
    assert not UserSession.objects.exists()
    refused = AuditEvent.objects.get(action=AuditAction.SSO_REFUSED)
    assert refused.data == {"reason": fault, "who": ""}
    assert refused.outcome == "denied"
    # Nothing the provider sent (a token has three dot-separated base64url parts) reached the logs.
    assert not [record for record in caplog.records if "eyJ" in record.getMessage()]


def test_the_sign_in_after_a_refused_one_works(client, sso_settings, oidc_provider):
    oidc_provider.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    oidc_provider.next_id_token_fault("bad_signature")
    assert _callback_after_sign_in(client, oidc_provider, "ben")["Location"] == reverse("login")

    assert _callback_after_sign_in(client, oidc_provider, "ben")["Location"] == reverse("home")


def test_an_unreachable_provider_is_a_message_not_an_error(client, sso_settings, free_tcp_port):
    sso_settings.OIDC_ISSUER = f"http://127.0.0.1:{free_tcp_port}"

    response = client.get(reverse("sso-start"))

    assert response["Location"] == reverse("login")
    assert "could not be read. Try again later." in client.get(reverse("login")).content.decode()
    assert AuditEvent.objects.get(action=AuditAction.SSO_REFUSED).data["reason"] == "provider_unreachable"


def _claims(provider, **changes):
    now = int(time.time())
    claims = {"iss": provider.issuer, "sub": "s1", "aud": provider.client_id, "iat": now, "exp": now + 300}
    claims["nonce"] = "n1"
    return {**claims, **changes}


def _refusal(raw, **kwargs):
    with pytest.raises(SsoRefused) as refused:
        sso_verify_id_token(raw, **kwargs)
    return refused.value.reason


def test_a_token_signed_with_the_client_secret_is_refused(sso_settings, oidc_provider):
    # Whoever holds the client secret could mint these: only the provider's public keys are trusted.
    raw = jwt.encode(_claims(oidc_provider), oidc_provider.client_secret, algorithm="HS256")

    assert _refusal(raw, nonce="n1") == "alg_not_allowed"


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(sso_settings, oidc_provider):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raw = jwt.encode(_claims(oidc_provider), key, algorithm="RS256", headers={"kid": "not-the-providers"})

    assert _refusal(raw, nonce="n1") == "unknown_key"


@pytest.mark.parametrize("raw", ["", "not-a-token", "a.b.c"])
def test_garbage_is_refused(sso_settings, raw):
    assert _refusal(raw, nonce="n1") in {"no_token", "malformed"}
