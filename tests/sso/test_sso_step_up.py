"""Step-up at the provider before a decision: a single sign-on user whose proof is stale is sent to the
test provider with prompt=login and max_age=0, and only a fresh sign-in there, for the same subject,
newer than the step-up's start and in a token that passes every check, lets them decide; the decision's
audit event records the method and the provider's auth_time. Local users keep the password."""

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.accounts.services import FRESH_AUTH_SESSION_KEY, session_proof_at
from investigations.accounts.sso import SESSION_AUTH_TIME
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.remediation.samples import values
from tests.remediation.support import kind_draft, pending_request, stale_client
from tests.sso.test_sso_sign_in import sso_sign_in

pytestmark = pytest.mark.django_db
State = RemediationRequest.State


@pytest.fixture
def client():
    # The test provider sends browsers back to loopback addresses only.
    return Client(HTTP_HOST="127.0.0.1")


def _signed_in(client, provider, username, groups):
    provider.set_user(username, email=f"{username}@soc.example", groups=groups)
    assert sso_sign_in(client, provider, username).status_code == 302
    return get_user_model().objects.get(email=f"{username}@soc.example")


def _aged(client):
    """This session's proof and its sign-in at the provider both an hour old (a controlled clock)."""
    stale_client(client, minutes=60)
    session = client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - 3600
    session.save()


def _step_up(client, provider, username, next_url, *, before_return=None):
    """The "Confirm at" button, the provider's login form, and the callback: the portal's last answer."""
    started = client.get(reverse("sso-step-up"), {"next": next_url})
    assert started.status_code == 302
    if before_return is not None:
        before_return()
    # prompt=login: the provider shows its login form whatever session the browser holds there.
    back = urlsplit(provider.sign_in(started["Location"], username))
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def ann(client, sso_settings, oidc_provider):
    return _signed_in(client, oidc_provider, "ann", ["soc-approvers"])


def test_a_stale_sso_approver_is_offered_the_provider_not_a_password_and_cannot_decide_without_it(
    client, ann, second_analyst
):
    req = pending_request(second_analyst)
    url = reverse("remediation-decide", args=[req.pk])
    _aged(client)
    page = client.get(url).content.decode()
    assert 'id="sso-step-up"' in page and "Confirm at Test provider" in page
    assert 'id="fresh-auth"' not in page
    response = client.post(url, {"decision": "approve", "reason": "looks bad", "version": req.version})
    assert response.status_code == 400
    assert "Confirm who you are at Test provider first" in response.content.decode()
    # No password can stand in for the provider: an SSO user has none, and the field is not read.
    response = client.post(url, {"decision": "reject", "reason": "no", "password": "x" * 20, "version": req.version})
    assert response.status_code == 400
    assert RemediationRequest.objects.get(pk=req.pk).state == State.PENDING_APPROVAL
    assert not AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED).exists()


def test_an_approval_after_a_sign_in_again_at_the_provider_records_the_new_auth_time(
    client, ann, second_analyst, oidc_provider
):
    req = pending_request(second_analyst)
    url = reverse("remediation-decide", args=[req.pk])
    _aged(client)
    old_auth_time = client.session[SESSION_AUTH_TIME]
    started = int(time.time())

    response = _step_up(client, oidc_provider, "ann", url)

    assert response.status_code == 302 and response["Location"] == url
    asked = oidc_provider.authorize_requests()[-1]
    assert asked["prompt"] == "login" and asked["max_age"] == "0"
    assert asked["redirect_uri"].endswith(reverse("sso-step-up-callback"))
    new_auth_time = client.session[SESSION_AUTH_TIME]
    assert new_auth_time >= started > old_auth_time
    assert int(session_proof_at(client.session).timestamp()) == new_auth_time
    step_up = AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP)
    assert step_up.actor_label == ann.username and step_up.data["method"] == "oidc"

    page = client.get(url).content.decode()
    assert 'id="sso-step-up"' not in page
    response = client.post(url, {"decision": "approve", "reason": "looks bad", "version": req.version})
    assert response.status_code == 302
    assert RemediationRequest.objects.get(pk=req.pk).approved_by == ann
    approved = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    auth_time = datetime.fromtimestamp(new_auth_time, tz=UTC).isoformat()
    assert approved.data["proof"] == {"method": "oidc", "auth_time": auth_time}
    assert approved.data["fresh_authentication_at"] == client.session[FRESH_AUTH_SESSION_KEY]


def test_a_provider_answer_older_than_the_step_up_is_refused(client, ann, second_analyst, oidc_provider):
    req = pending_request(second_analyst)
    url = reverse("remediation-decide", args=[req.pk])
    _aged(client)

    def started_later():
        # As if the provider had answered from a sign-in made before the step-up began.
        session = client.session
        session["sso_step_up"]["started"] += 3600
        session.save()

    response = _step_up(client, oidc_provider, "ann", url, before_return=started_later)

    assert response.status_code == 302 and response["Location"] == url
    refused = AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP_REFUSED)
    assert refused.data == {"reason": "not_fresh"}
    page = client.get(url).content.decode()
    assert "the provider did not ask you to sign in again" in page
    assert 'id="sso-step-up"' in page
    response = client.post(url, {"decision": "approve", "reason": "looks bad", "version": req.version})
    assert response.status_code == 400


@pytest.mark.parametrize("fault", ["wrong_nonce", "bad_signature", "wrong_aud", "expired"])
def test_a_bad_token_at_the_step_up_is_refused_with_a_message_never_a_500(
    client, ann, second_analyst, oidc_provider, fault
):
    req = pending_request(second_analyst)
    url = reverse("remediation-decide", args=[req.pk])
    _aged(client)
    response = _step_up(
        client, oidc_provider, "ann", url, before_return=lambda: oidc_provider.next_id_token_fault(fault)
    )
    assert response.status_code == 302 and response["Location"] == url
    refused = AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP_REFUSED)
    assert refused.data == {"reason": fault}
    assert "Single sign-on refused" in client.get(url).content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.SSO_STEP_UP).exists()
    assert session_proof_at(client.session) < timezone.now() - timedelta(minutes=30)


def test_somebody_else_at_the_provider_is_no_step_up(client, ann, second_analyst, oidc_provider):
    oidc_provider.set_user("zed", email="zed@soc.example", groups=["soc-approvers"])
    _aged(client)
    url = reverse("remediation-approvals")
    response = _step_up(client, oidc_provider, "zed", url)
    assert response.status_code == 302 and response["Location"] == url
    assert AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP_REFUSED).data == {"reason": "other_user"}


def test_the_step_up_returns_only_to_this_portal(client, ann, oidc_provider):
    response = _step_up(client, oidc_provider, "ann", "https://evil.example/")
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_a_callback_without_a_step_up_started_is_refused(client, ann):
    response = client.get(reverse("sso-step-up-callback"), {"code": "x", "state": "y"})
    assert response.status_code == 302
    assert AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP_REFUSED).data == {"reason": "no_step_up"}


def test_a_local_user_keeps_the_password_and_has_no_step_up(client, sso_settings, approver, second_analyst):
    req = pending_request(second_analyst)
    client.force_login(approver)
    stale_client(client)
    page = client.get(reverse("remediation-decide", args=[req.pk])).content.decode()
    assert 'id="fresh-auth"' in page and 'id="sso-step-up"' not in page
    # A local session sent to the step-up goes back where it came from, never to the provider.
    assert client.get(reverse("sso-step-up"), {"next": "/"})["Location"] == "/"
    assert client.get(reverse("sso-step-up-callback"))["Location"] == reverse("home")
    assert "sso_step_up" not in client.session


def test_break_glass_by_an_sso_admin_asks_the_provider(client, sso_settings, oidc_provider, sim):
    admin = _signed_in(client, oidc_provider, "ada", ["soc-admins"])
    req = kind_draft(admin, values(RemediationRequest.Kind.MANAGE_URL, sim))
    detail = reverse("remediation-detail", args=[req.pk])
    _aged(client)
    page = client.get(detail).content.decode()
    assert 'id="break-glass"' in page and 'id="sso-step-up"' in page
    form = {"reason": "The phishing URL is live right now", "version": req.version}
    response = client.post(reverse("remediation-break-glass", args=[req.pk]), form)
    assert response.status_code == 400 and "Confirm who you are at Test provider first" in response.content.decode()
    assert not RemediationRequest.objects.get(pk=req.pk).break_glass

    assert _step_up(client, oidc_provider, "ada", detail)["Location"] == detail
    assert client.post(reverse("remediation-break-glass", args=[req.pk]), form).status_code == 302
    assert RemediationRequest.objects.get(pk=req.pk).break_glass
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_BREAK_GLASS)
    assert event.data["proof"]["method"] == "oidc"
    auth_time = datetime.fromtimestamp(client.session[SESSION_AUTH_TIME], tz=UTC).isoformat()
    assert event.data["proof"]["auth_time"] == auth_time
