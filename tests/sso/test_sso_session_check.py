"""The periodic check of a single sign-on session against the test provider: due every
OIDC_SESSION_CHECK_SECONDS (the clock is the session's own timestamps, moved back instead of waiting), the
groups read again with the refresh token give the roles again, audited with the source "sso-session-check";
a user gone, a bad token or no role left ends the session; every session ends OIDC_SESSION_MAX_SECONDS after
its sign-in; between checks nothing is asked."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from investigations.accounts.sso import SESSION_CHECKED_AT, SESSION_SIGNED_IN_AT
from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.factories import PASSWORD
from tests.sso.test_sso_sign_in import sso_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    # The test provider sends browsers back to loopback addresses only.
    return Client(HTTP_HOST="127.0.0.1")


@pytest.fixture
def ann(client, sso_settings, oidc_provider):
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-analysts", "soc-approvers"])
    assert sso_sign_in(client, oidc_provider, "ann").status_code == 302
    return get_user_model().objects.get(email="ann@soc.example")


def _session_moved_back(client, key, seconds):
    session = client.session
    session[key] = int(time.time()) - seconds
    session.save()


def _roles(user):
    return set(user_roles(get_user_model().objects.get(pk=user.pk)))


def _role_changes(user):
    return AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED, target_id=str(user.pk)).order_by("seq")


def test_a_group_removed_at_the_provider_removes_the_role_at_the_next_check(client, ann, oidc_provider):
    assert _roles(ann) == {"analyst", "approver"}
    oidc_provider.set_groups("ann", ["soc-analysts"])

    # Between checks the provider is not asked: the role stays until the check is due.
    assert client.get(reverse("remediation-approvals")).status_code == 200
    assert _roles(ann) == {"analyst", "approver"}

    _session_moved_back(client, SESSION_CHECKED_AT, 901)
    assert client.get(reverse("remediation-approvals")).status_code == 403
    assert _roles(ann) == {"analyst"}
    change = _role_changes(ann).last()
    assert change.data["source"] == "sso-session-check"
    assert (change.data["before"], change.data["after"], change.data["groups"]) == (
        ["analyst", "approver"],
        ["analyst"],
        ["soc-analysts"],
    )
    assert int(time.time()) - client.session[SESSION_CHECKED_AT] < 60
    # The session goes on (still signed in), and the next check is 15 minutes away again.
    assert client.get(reverse("home")).status_code == 200
    assert _role_changes(ann).count() == 2


def test_a_check_that_finds_the_same_groups_changes_and_audits_nothing(client, ann):
    _session_moved_back(client, SESSION_CHECKED_AT, 901)
    before = client.session[SESSION_CHECKED_AT]
    assert client.get(reverse("home")).status_code == 200
    assert client.session[SESSION_CHECKED_AT] > before
    assert _role_changes(ann).count() == 1  # the sign-in's


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda provider: provider.remove_user("ann"), "token_refused"),
        (lambda provider: provider.set_groups("ann", ["marketing"]), "no_role"),
        (lambda provider: provider.next_id_token_fault("bad_signature"), "bad_signature"),
        (lambda provider: provider.next_id_token_fault("wrong_iss"), "wrong_iss"),
    ],
)
def test_a_refused_check_ends_the_session_on_that_request(client, ann, oidc_provider, change, reason):
    row = UserSession.objects.get(user=ann)
    change(oidc_provider)
    _session_moved_back(client, SESSION_CHECKED_AT, 901)

    response = client.get(reverse("home"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    ended = AuditEvent.objects.get(action=AuditAction.SSO_SESSION_ENDED)
    assert ended.data == {"reason": reason, "session": row.pk}
    row.refresh_from_db()
    assert row.ended_at is not None and row.end == UserSession.End.EXPIRED
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "Your single sign-on session ended" in page
    if reason == "no_role":
        assert _roles(ann) == set()


def test_a_session_ends_at_its_maximum_lifetime_whatever_the_provider_says(client, ann, sso_settings):
    _session_moved_back(client, SESSION_SIGNED_IN_AT, sso_settings.OIDC_SESSION_MAX_SECONDS + 1)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert AuditEvent.objects.get(action=AuditAction.SSO_SESSION_ENDED).data["reason"] == "max_lifetime"
    assert client.get(reverse("home")).status_code == 302


def test_a_local_session_is_never_checked_at_the_provider(sso_settings, analyst):
    client = Client()
    assert client.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.SSO_SESSION_ENDED).exists()
