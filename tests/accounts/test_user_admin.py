"""Users and roles managed by admins in the browser: create a user (who sets their own password through a
one-time link), set roles behind the step-up, deactivate and reactivate, reset a password. Every change
is audited with its actor, target and source; an admin cannot change their own account, nor the roles
the single sign-on provider gives."""

import json
import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.accounts import mfa
from investigations.accounts.services import (
    USER_CHANGE_REFUSED,
    USER_DEACTIVATED,
    USER_PASSWORD_RESET,
    USER_REACTIVATED,
    UserChangeRefused,
    user_deactivate,
    user_password_reset,
    user_reactivate,
    user_set_roles,
)
from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, UserFactory
from tests.remediation.support import stale_client

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-for-zoe-7"


@pytest.fixture
def admin(admin_user):
    # tests/conftest.py requires two-step sign-in of no role: the password typed again is the step-up.
    client = Client()
    client.post(reverse("login"), {"username": admin_user.username, "password": PASSWORD})
    return client


def _signed_in(username, password=PASSWORD):
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    return client if response.status_code == 302 else None


def _is_signed_in(client):
    return client.get(reverse("home")).status_code == 200


def _roles(user):
    return set(user_roles(get_user_model().objects.get(pk=user.pk)))


def _events(action, user):
    return list(AuditEvent.objects.filter(action=action, target_type="user", target_id=str(user.pk)).order_by("seq"))


def _link_path(page):
    start = page.index('id="link">') + len('id="link">')
    return page[start : page.index("<", start)].removeprefix("http://testserver")


def _set_password_through(link, password=NEW_PASSWORD):
    visitor = Client()
    form = visitor.get(link)
    assert form.status_code == 302  # the token leaves the URL at once, kept in the session
    page = visitor.get(form["Location"])
    assert 'id="password-set-form"' in page.content.decode()
    return visitor.post(form["Location"], {"new_password1": password, "new_password2": password})


def test_the_users_page_lists_people_and_offers_to_create_one(admin, admin_user, analyst):
    page = admin.get(reverse("user-list")).content.decode()
    assert reverse("user-create") in page and reverse("user-detail", args=[analyst.pk]) in page
    assert "manage.py" not in page


def test_an_admin_creates_a_user_who_sets_their_own_password_through_a_one_time_link(admin, admin_user, caplog):
    with caplog.at_level(logging.DEBUG):
        response = admin.post(
            reverse("user-create"), {"username": "zoe", "email": "zoe@example.test", "roles": ["analyst", "auditor"]}
        )
        assert response.status_code == 200
        link = _link_path(response.content.decode())
        zoe = get_user_model().objects.get(username="zoe")
        assert _roles(zoe) == {"analyst", "auditor"} and not zoe.has_usable_password()
        assert response["Cache-Control"].startswith("max-age=0")

        done = _set_password_through(link)
        assert done.status_code == 302 and done["Location"] == reverse("login")

    assert _signed_in("zoe", NEW_PASSWORD) is not None
    # Used once: the token was bound to the password it replaced.
    assert 'id="link-invalid"' in Client().get(link, follow=True).content.decode()
    created = _events(AuditAction.USER_CREATED, zoe)[0]
    assert (created.actor_label, created.data["source"], created.data["roles"]) == (
        "erin",
        "admin",
        ["analyst", "auditor"],
    )
    assert created.data["proof"]["method"] == "password"
    password_set = _events(AuditAction.USER_PASSWORD_SET, zoe)[0]
    assert password_set.actor_label == "zoe"
    token = link.rstrip("/").rsplit("/", 1)[1]
    trail = json.dumps([event.data for event in AuditEvent.objects.all()])
    assert NEW_PASSWORD not in trail and token not in trail
    assert not [r for r in caplog.records if NEW_PASSWORD in r.getMessage() or token in r.getMessage()]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"username": "zoe smith", "email": "zoe@example.test"}, "Enter a valid username"),
        ({"username": "ERIN", "email": "zoe@example.test"}, "exists already"),
        ({"username": "zoe", "email": "not-an-address"}, "email"),
        ({"username": "zoe", "email": "zoe@example.test", "roles": ["root"]}, "not one of the available choices"),
        ({"username": "z" * 5000, "email": "zoe@example.test"}, "at most 150 characters"),
    ],
)
def test_bad_input_to_create_a_user_is_a_message_next_to_its_field(admin, admin_user, form, error):
    response = admin.post(reverse("user-create"), form)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not get_user_model().objects.filter(username="zoe").exists()


def test_setting_roles_on_a_stale_session_needs_the_password_again(admin, admin_user, analyst):
    stale_client(admin)
    url = reverse("user-roles", args=[analyst.pk])

    response = admin.post(url, {"roles": ["analyst", "approver"]})
    assert response.status_code == 400 and "Enter your password again" in response.content.decode()
    response = admin.post(url, {"roles": ["analyst", "approver"], "password": "wrong"})
    assert response.status_code == 400 and "That password is not correct." in response.content.decode()
    assert _roles(analyst) == {"analyst"}

    response = admin.post(url, {"roles": ["analyst", "approver"], "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("user-detail", args=[analyst.pk])
    assert _roles(analyst) == {"analyst", "approver"}
    change = _events(AuditAction.USER_ROLES_CHANGED, analyst)[-1]
    assert change.actor_label == "erin" and change.data["source"] == "admin"
    assert (change.data["before"], change.data["after"]) == (["analyst"], ["analyst", "approver"])
    assert change.data["proof"]["method"] == "password"
    assert timezone.now() - timezone.datetime.fromisoformat(change.data["proof"]["at"]) < timedelta(minutes=1)


def test_an_admin_with_two_step_sign_in_sets_roles_with_a_code(admin_user, analyst):
    device = mfa.totp_device_create_confirmed(
        actor=None, user=admin_user, key_hex="3132333435363738393031323334353637383930"
    )
    client = Client()
    client.force_login(admin_user)  # a proof by password alone: not enough once a second factor exists
    url = reverse("user-roles", args=[analyst.pk])

    response = client.post(url, {"roles": ["auditor"], "password": PASSWORD})
    assert response.status_code == 400 and "authenticator app" in response.content.decode()
    response = client.post(url, {"roles": ["auditor"], "otp_code": mfa.totp_code_at(device, timezone.now())})

    assert response.status_code == 302 and _roles(analyst) == {"auditor"}
    assert _events(AuditAction.USER_ROLES_CHANGED, analyst)[-1].data["proof"]["method"] == mfa.TOTP_METHOD


def test_an_admin_whose_role_requires_two_step_sign_in_and_has_none_cannot_set_roles(admin_user, analyst, settings):
    settings.MFA_REQUIRED_ROLES = ["approver", "admin"]
    client = Client()
    client.force_login(admin_user)
    response = client.post(reverse("user-roles", args=[analyst.pk]), {"roles": ["approver"], "password": PASSWORD})
    assert response.status_code == 400 and "Set up two-step sign-in" in response.content.decode()
    assert _roles(analyst) == {"analyst"}


def test_an_admin_cannot_change_their_own_roles_even_with_a_hand_made_post(admin, admin_user):
    page = admin.get(reverse("user-detail", args=[admin_user.pk])).content.decode()
    assert 'id="user-roles-form"' not in page and 'id="user-deactivate"' not in page

    response = admin.post(reverse("user-roles", args=[admin_user.pk]), {"roles": ["admin", "approver"]}, follow=True)

    assert "You cannot change your own account" in response.content.decode()
    assert _roles(admin_user) == {"admin"}
    refused = _events(USER_CHANGE_REFUSED, admin_user)[0]
    assert (refused.outcome, refused.actor_label, refused.data["change"]) == ("denied", "erin", "roles")
    assert not _events(AuditAction.USER_ROLES_CHANGED, admin_user)


@pytest.mark.parametrize(
    "change",
    [
        lambda admin: user_set_roles(actor=admin, user=admin, roles=["analyst"]),
        lambda admin: user_deactivate(actor=admin, user=admin),
        lambda admin: user_reactivate(actor=admin, user=admin),
        lambda admin: user_password_reset(actor=admin, user=admin),
    ],
)
def test_the_services_refuse_an_admin_their_own_account(admin_user, change):
    with pytest.raises(UserChangeRefused):
        change(admin_user)
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.has_usable_password() and _roles(admin_user) == {"admin"}
    assert len(_events(USER_CHANGE_REFUSED, admin_user)) == 1


def test_deactivating_revokes_every_session_and_reactivating_lets_them_back(admin, admin_user, analyst):
    alice_browsers = [_signed_in("alice"), _signed_in("alice")]
    response = admin.post(reverse("user-active", args=[analyst.pk]), {"active": "0"}, follow=True)
    assert "alice deactivated; 2 session(s) revoked." in response.content.decode()

    assert not any(_is_signed_in(browser) for browser in alice_browsers)
    assert _signed_in("alice") is None
    deactivated = _events(USER_DEACTIVATED, analyst)[0]
    assert (deactivated.actor_label, deactivated.data["sessions_revoked"], deactivated.data["source"]) == (
        "erin",
        2,
        "admin",
    )
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).count() == 2

    admin.post(reverse("user-active", args=[analyst.pk]), {"active": "1"})
    assert _signed_in("alice") is not None
    assert _events(USER_REACTIVATED, analyst)[0].actor_label == "erin"


def test_a_password_reset_stops_the_old_password_revokes_sessions_and_hands_out_one_link(admin, admin_user, analyst):
    browser = _signed_in("alice")
    first = _link_path(admin.post(reverse("user-password-reset", args=[analyst.pk])).content.decode())
    second = _link_path(admin.post(reverse("user-password-reset", args=[analyst.pk])).content.decode())

    assert not _is_signed_in(browser)
    assert _signed_in("alice") is None
    # The newer link replaced the first.
    assert 'id="link-invalid"' in Client().get(first, follow=True).content.decode()
    assert _set_password_through(second).status_code == 302
    assert _signed_in("alice", NEW_PASSWORD) is not None
    resets = _events(USER_PASSWORD_RESET, analyst)
    assert [(e.actor_label, e.data["sessions_revoked"]) for e in resets] == [("erin", 1), ("erin", 0)]


def test_a_forged_or_mangled_link_is_a_message_not_an_error(analyst):
    for path in (
        "/accounts/password/MQ/nonsense/",
        "/accounts/password/%FF%FE/x-y/",
        "/accounts/password/x/set-password/",
    ):
        response = Client().get(path, follow=True)
        assert response.status_code == 200 and 'id="link-invalid"' in response.content.decode()


def test_a_single_sign_on_users_roles_are_read_only_with_their_source(admin, admin_user, settings):
    settings.OIDC_ISSUER = "https://idp.example.test"
    settings.OIDC_PROVIDER_NAME = "Entra ID"
    settings.OIDC_GROUP_ROLES = "soc-analysts=analyst"
    sso_user = UserFactory(username="oidc:0f3a", roles=["analyst"])
    sso_user.set_unusable_password()
    sso_user.save()

    page = admin.get(reverse("user-detail", args=[sso_user.pk])).content.decode()
    assert 'id="roles-source"' in page and "from Entra ID" in page
    assert 'id="user-roles-form"' not in page and 'id="user-password-reset"' not in page
    assert "soc-analysts" in admin.get(reverse("user-list")).content.decode()

    response = admin.post(reverse("user-roles", args=[sso_user.pk]), {"roles": ["admin"]}, follow=True)
    assert "groups give their roles" in response.content.decode()
    assert _roles(sso_user) == {"analyst"}
    assert _events(USER_CHANGE_REFUSED, sso_user)[0].data["change"] == "roles"
    # Deactivating is the portal's own decision, whatever the provider says.
    admin.post(reverse("user-active", args=[sso_user.pk]), {"active": "0"})
    sso_user.refresh_from_db()
    assert not sso_user.is_active


def test_integration_identities_are_not_managed_here(admin, admin_user):
    service = UserFactory(username="soar-bot", is_integration=True)
    assert admin.get(reverse("user-detail", args=[service.pk])).status_code == 404
    assert admin.post(reverse("user-active", args=[service.pk]), {"active": "0"}).status_code == 404
    with pytest.raises(UserChangeRefused):
        user_deactivate(actor=admin_user, user=service)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("user-create", {"username": "zoe", "email": "zoe@example.test"}),
        ("user-roles", {"roles": ["admin"]}),
        ("user-active", {"active": "0"}),
        ("user-password-reset", {}),
    ],
)
def test_every_post_needs_the_csrf_token(admin_user, analyst, name, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse(name) if name == "user-create" else reverse(name, args=[analyst.pk])
    assert client.post(url, data).status_code == 403
    analyst.refresh_from_db()
    assert analyst.is_active and analyst.has_usable_password() and _roles(analyst) == {"analyst"}


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "outsider"])
def test_only_admins_manage_users(personas, persona):
    target = UserFactory(username="target", roles=["analyst"])
    client = Client()
    client.force_login(personas[persona])
    assert client.post(reverse("user-roles", args=[target.pk]), {"roles": ["admin"]}).status_code == 403
    assert client.post(reverse("user-active", args=[target.pk]), {"active": "0"}).status_code == 403
    assert client.post(reverse("user-password-reset", args=[target.pk])).status_code == 403
    assert client.post(reverse("user-create"), {"username": "zoe", "email": "z@example.test"}).status_code == 403
    assert _roles(target) == {"analyst"} and not get_user_model().objects.filter(username="zoe").exists()
