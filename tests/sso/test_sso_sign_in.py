"""Signing in at the test OpenID Connect provider: users created and linked by the provider's subject,
roles from the groups claim at every sign-in (audited with their source), allowed email domains, the
session's row, proof and keys, and the sign-in page with single sign-on off."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from investigations.accounts.services import session_proof_at
from investigations.accounts.sso import SESSION_AUTH_TIME, SESSION_SUB, sso_username
from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    # The test provider sends browsers back to loopback addresses only.
    return Client(HTTP_HOST="127.0.0.1")


def sso_sign_in(client, provider, username, *, start=None):
    """The button, the provider's login form, and the callback: the portal's last answer."""
    started = client.get(start or reverse("sso-start"))
    assert started.status_code == 302
    back = urlsplit(provider.sign_in(started["Location"], username))
    return client.get(f"{back.path}?{back.query}")


def test_sign_in_creates_the_user_with_the_roles_of_their_groups(client, sso_settings, oidc_provider):
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors", "marketing"])

    response = sso_sign_in(client, oidc_provider, "ann")

    assert response.status_code == 302 and response["Location"] == reverse("home")
    user = get_user_model().objects.get(email="ann@soc.example")
    assert user.username == sso_username(client.session[SESSION_SUB])
    assert not user.has_usable_password()
    assert set(user_roles(user)) == {"approver", "auditor"}
    assert client.get(reverse("home")).status_code == 200
    change = AuditEvent.objects.get(action=AuditAction.USER_ROLES_CHANGED, target_id=str(user.pk))
    assert change.data["source"] == "sso-sign-in"
    assert change.data["after"] == ["approver", "auditor"]
    assert change.data["groups"] == ["marketing", "soc-approvers", "soc-auditors"]
    assert AuditEvent.objects.filter(action=AuditAction.USER_CREATED, target_id=str(user.pk)).exists()


def test_sign_in_keeps_the_session_row_proof_and_keys(client, sso_settings, oidc_provider):
    oidc_provider.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])

    sso_sign_in(client, oidc_provider, "ben")

    session = client.session
    row = UserSession.objects.get(session_key=session.session_key)
    assert row.method == "oidc"
    login = AuditEvent.objects.filter(action=AuditAction.LOGIN).latest("seq")
    assert login.data["method"] == "oidc"
    # The proof is the provider's auth_time, which the login form just set.
    assert int(session_proof_at(session).timestamp()) == session[SESSION_AUTH_TIME]
    assert "sso_refresh_token" in session


def test_the_next_sign_in_applies_the_groups_changed_at_the_provider(client, sso_settings, oidc_provider):
    oidc_provider.set_user("cat", email="cat@soc.example", groups=["soc-analysts"])
    sso_sign_in(client, oidc_provider, "cat")
    user = get_user_model().objects.get(email="cat@soc.example")
    assert set(user_roles(user)) == {"analyst"}
    client.logout()

    oidc_provider.set_groups("cat", ["soc-admins"])
    sso_sign_in(client, oidc_provider, "cat")

    user = get_user_model().objects.get(pk=user.pk)  # the same user, found by the provider's subject
    assert set(user_roles(user)) == {"admin"}
    changes = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED, target_id=str(user.pk))
    assert [(event.data["before"], event.data["after"]) for event in changes.order_by("seq")] == [
        ([], ["analyst"]),
        (["analyst"], ["admin"]),
    ]
    assert get_user_model().objects.filter(email="cat@soc.example").count() == 1


def test_an_unchanged_sign_in_audits_no_role_change(client, sso_settings, oidc_provider):
    oidc_provider.set_user("dan", email="dan@soc.example", groups=["soc-auditors"])
    sso_sign_in(client, oidc_provider, "dan")
    client.logout()
    sso_sign_in(client, oidc_provider, "dan")

    assert AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN).count() == 2


def test_a_user_in_no_mapped_group_is_refused_and_never_created(client, sso_settings, oidc_provider):
    oidc_provider.set_user("eve", email="eve@soc.example", groups=["marketing"])

    response = sso_sign_in(client, oidc_provider, "eve")

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert not get_user_model().objects.filter(email="eve@soc.example").exists()
    page = client.get(reverse("login"))
    assert "none of your groups at the provider gives a role" in page.content.decode()
    refused = AuditEvent.objects.get(action=AuditAction.SSO_REFUSED)
    assert refused.data["reason"] == "no_role"


def test_a_user_removed_from_every_mapped_group_loses_the_roles_and_is_refused(client, sso_settings, oidc_provider):
    oidc_provider.set_user("fay", email="fay@soc.example", groups=["soc-approvers"])
    sso_sign_in(client, oidc_provider, "fay")
    client.logout()
    oidc_provider.set_groups("fay", [])

    response = sso_sign_in(client, oidc_provider, "fay")

    assert response["Location"] == reverse("login")
    user = get_user_model().objects.get(email="fay@soc.example")
    assert set(user_roles(user)) == set()
    assert "_auth_user_id" not in client.session
    last_change = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED).latest("seq")
    assert last_change.data["after"] == [] and last_change.data["source"] == "sso-sign-in"


def test_an_email_outside_the_allowed_domains_is_refused(client, sso_settings, oidc_provider):
    sso_settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["soc.example"]
    oidc_provider.set_user("gus", email="gus@elsewhere.example", groups=["soc-admins"])

    response = sso_sign_in(client, oidc_provider, "gus")

    assert response["Location"] == reverse("login")
    assert not get_user_model().objects.filter(email="gus@elsewhere.example").exists()
    assert "is not allowed to sign in" in client.get(reverse("login")).content.decode()
    refused = AuditEvent.objects.get(action=AuditAction.SSO_REFUSED)
    assert refused.data["reason"] == "email_domain"
    assert refused.outcome == "denied"


def test_an_allowed_domain_signs_in(client, sso_settings, oidc_provider):
    sso_settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["SOC.example"]
    oidc_provider.set_user("hal", email="hal@soc.example", groups=["soc-analysts"])

    assert sso_sign_in(client, oidc_provider, "hal")["Location"] == reverse("home")


def test_a_local_account_is_never_taken_over_by_its_email(client, sso_settings, oidc_provider, admin_user):
    admin_user.email = "erin@soc.example"
    admin_user.save()
    oidc_provider.set_user("erin", email="erin@soc.example", groups=["soc-analysts"])

    sso_sign_in(client, oidc_provider, "erin")

    session_user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    assert session_user != admin_user and session_user.username.startswith("oidc:")
    assert set(user_roles(session_user)) == {"analyst"}


def test_next_is_kept_through_the_provider(client, sso_settings, oidc_provider):
    oidc_provider.set_user("ivy", email="ivy@soc.example", groups=["soc-analysts"])
    start = reverse("sso-start") + "?next=/account/sessions/"

    assert sso_sign_in(client, oidc_provider, "ivy", start=start)["Location"] == "/account/sessions/"


def test_next_off_site_is_not_followed(client, sso_settings, oidc_provider):
    oidc_provider.set_user("jon", email="jon@soc.example", groups=["soc-analysts"])
    start = reverse("sso-start") + "?next=https://evil.example/"

    assert sso_sign_in(client, oidc_provider, "jon", start=start)["Location"] == reverse("home")


def test_a_callback_with_an_unknown_state_is_refused(client, sso_settings, oidc_provider):
    response = client.get(reverse("sso-callback"), {"code": "x", "state": "never-sent"})

    assert response["Location"] == reverse("login")
    assert "was not started here" in client.get(reverse("login")).content.decode()
    assert AuditEvent.objects.get(action=AuditAction.SSO_REFUSED).data["reason"] == "unknown_state"


def test_a_replayed_callback_is_refused(client, sso_settings, oidc_provider):
    oidc_provider.set_user("kim", email="kim@soc.example", groups=["soc-analysts"])
    started = client.get(reverse("sso-start"))
    back = urlsplit(oidc_provider.sign_in(started["Location"], "kim"))
    assert client.get(f"{back.path}?{back.query}")["Location"] == reverse("home")
    client.logout()

    assert client.get(f"{back.path}?{back.query}")["Location"] == reverse("login")
    assert AuditEvent.objects.get(action=AuditAction.SSO_REFUSED).data["reason"] == "unknown_state"


def test_the_providers_own_error_is_shown(client, sso_settings):
    response = client.get(reverse("sso-callback"), {"error": "access_denied", "state": "s"})

    assert response["Location"] == reverse("login")
    assert "refused by the provider: access_denied" in client.get(reverse("login")).content.decode()


def test_the_button_shows_only_with_single_sign_on_on(client, sso_settings, settings):
    assert "Sign in with Test provider" in client.get(reverse("login")).content.decode()
    settings.OIDC_ISSUER = ""
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with" not in page
    assert 'name="password"' in page
    assert client.get(reverse("sso-start")).status_code == 404
    assert client.get(reverse("sso-callback")).status_code == 404


def test_a_password_sign_in_still_works_with_single_sign_on_on(client, sso_settings, analyst):
    analyst.set_password("a-long-test-password")
    analyst.save()

    response = client.post(reverse("login"), {"username": analyst.username, "password": "a-long-test-password"})

    assert response.status_code == 302
    assert UserSession.objects.get(user=analyst).method == "password"


def test_the_group_mapping_shows_on_the_users_page(client, sso_settings, admin_user):
    client.force_login(admin_user)

    page = client.get(reverse("user-list")).content.decode()

    assert "soc-approvers" in page and "Test provider" in page
