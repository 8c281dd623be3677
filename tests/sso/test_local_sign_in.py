"""Local passwords switched off (LOCAL_SIGN_IN=off) but for the break-glass accounts, whose every sign-in is
audited and flagged on the admins' home page until an admin acknowledges it or a week has passed."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.accounts.services import break_glass_sign_ins_open
from investigations.models import AuditAction, AuditEvent, AuditOutcome
from tests.factories import PASSWORD, UserFactory


def _sign_in(client, username, password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.fixture
def local_off(settings):
    settings.LOCAL_SIGN_IN = False
    settings.BREAK_GLASS_USERS = ["glass"]
    settings.OIDC_PROVIDER_NAME = "Contoso Entra ID"
    return settings


@pytest.mark.parametrize("password", [PASSWORD, "a wrong one"])
def test_with_local_sign_in_off_a_password_signs_nobody_in_but_the_break_glass_accounts(
    client, analyst, local_off, password
):
    response = _sign_in(client, "alice", password)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sign-in with a password is switched off here: sign in with Contoso Entra ID." in page
    assert "_auth_user_id" not in client.session
    # The right password and a wrong one get the same answer: the password is never checked.
    refused = AuditEvent.objects.get(action=AuditAction.LOCAL_SIGN_IN_REFUSED)
    assert (refused.outcome, refused.data["username"]) == (AuditOutcome.DENIED, "alice")
    assert not AuditEvent.objects.filter(action__in=[AuditAction.LOGIN, AuditAction.LOGIN_FAILED]).exists()
    assert password not in str(refused.data)


def test_a_break_glass_admin_signs_in_with_local_sign_in_off_audited_and_flagged(client, local_off, admin_user):
    UserFactory(username="glass", roles=["admin"])
    response = _sign_in(client, "glass")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.BREAK_GLASS_SIGN_IN)
    assert event.actor_label == "glass"
    assert event.data["local_sign_in"] is False
    assert event.data["session"] == client.session["user_session"]["id"]

    erin = Client()
    erin.force_login(admin_user)
    home = erin.get(reverse("home")).content.decode()
    assert f'id="break-glass-sign-in-{event.seq}"' in home
    assert "Break-glass account <strong>glass</strong> signed in" in home

    acknowledged = erin.post(reverse("break-glass-sign-in-acknowledge", args=[event.seq]))
    assert acknowledged.status_code == 302
    ack = AuditEvent.objects.get(action=AuditAction.BREAK_GLASS_SIGN_IN_ACKNOWLEDGED)
    assert (ack.actor_label, ack.target_id, ack.data["username"]) == ("erin", str(event.seq), "glass")
    assert "break-glass-sign-in-" not in erin.get(reverse("home")).content.decode()


def test_a_break_glass_sign_in_is_flagged_for_a_week_and_to_admins_only(client, local_off, analyst):
    UserFactory(username="glass", roles=["admin"])
    assert _sign_in(client, "glass").status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.BREAK_GLASS_SIGN_IN)
    assert [e.seq for e in break_glass_sign_ins_open()] == [event.seq]
    assert break_glass_sign_ins_open(now=timezone.now() + timedelta(days=7, minutes=1)) == []

    alice = Client()
    alice.force_login(analyst)
    assert "break-glass-sign-in-" not in alice.get(reverse("home")).content.decode()
    assert alice.post(reverse("break-glass-sign-in-acknowledge", args=[event.seq])).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS_SIGN_IN_ACKNOWLEDGED).exists()


def test_acknowledging_what_is_no_break_glass_sign_in_is_not_found(admin_user, client):
    client.force_login(admin_user)
    other = AuditEvent.objects.order_by("-seq").first()
    seq = other.seq if other else 1
    assert client.post(reverse("break-glass-sign-in-acknowledge", args=[seq])).status_code == 404


def test_with_local_sign_in_on_everyone_signs_in_and_a_break_glass_account_is_still_flagged(client, analyst, settings):
    settings.BREAK_GLASS_USERS = ["glass"]
    UserFactory(username="glass", roles=["admin"])
    assert _sign_in(client, "alice").status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS_SIGN_IN).exists()
    assert _sign_in(Client(), "glass").status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS_SIGN_IN, actor_label="glass").count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.LOCAL_SIGN_IN_REFUSED).exists()
