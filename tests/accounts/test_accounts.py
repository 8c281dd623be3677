import io

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from investigations.accounts.services import session_proof_at
from investigations.models import AuditAction, AuditEvent
from tests.factories import PASSWORD


def _events(action):
    return list(AuditEvent.objects.filter(action=action))


def _sign_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_signing_in_reaches_home_and_writes_one_login_event(client, analyst):
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    events = _events(AuditAction.LOGIN)
    assert len(events) == 1
    assert events[0].actor_label == "alice"
    assert events[0].client_ip == "127.0.0.1"
    assert events[0].request_id


def test_a_sign_in_is_the_proof_of_its_own_session_only(client, analyst):
    assert _sign_in(client, "alice", PASSWORD).status_code == 302
    first = session_proof_at(client.session)
    assert first is not None
    elsewhere = Client()
    assert _sign_in(elsewhere, "alice", PASSWORD).status_code == 302
    assert session_proof_at(elsewhere.session) > first
    # The other sign-in moved last_login, not this session's proof.
    assert session_proof_at(client.session) == first
    assert get_user_model().objects.get(username="alice").last_login > first


@pytest.mark.parametrize("username", ["A" * 100_000, "\U0001f600" * 300, "alice\x00"])
def test_a_username_no_account_can_have_is_a_wrong_sign_in_not_an_error(client, analyst, username):
    response = _sign_in(client, username, PASSWORD)
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_failed_sign_in_writes_one_failure_event_without_the_password(client, analyst):
    response = _sign_in(client, "alice", "wrong-password-123")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    events = _events(AuditAction.LOGIN_FAILED)
    assert len(events) == 1
    assert events[0].outcome == "failure"
    assert events[0].data == {"username": "alice", "known_user": True}
    assert "wrong-password-123" not in str(AuditEvent.objects.values_list())


def test_repeated_failures_lock_the_account_with_one_lockout_event(client, analyst):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        _sign_in(client, "alice", "nope-nope-nope")
    assert _events(AuditAction.LOCKOUT) == []
    response = _sign_in(client, "alice", "nope-nope-nope")
    assert response.status_code == 429
    assert b"Account temporarily locked" in response.content
    assert len(_events(AuditAction.LOCKOUT)) == 1
    assert len(_events(AuditAction.LOGIN_FAILED)) == limit
    # Even the right password is refused while the lock holds.
    response = _sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert _events(AuditAction.LOGIN) == []


def test_signing_out_is_a_post_and_is_audited(client, analyst):
    _sign_in(client, "alice", PASSWORD)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert len(_events(AuditAction.LOGOUT)) == 1
    assert client.get(reverse("home")).status_code == 302


def test_sign_in_needs_a_csrf_token(analyst):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert b"The form expired" in response.content


def test_sessions_expire_after_the_idle_timeout(settings):
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_AGE == 30 * 60


def test_the_user_command_creates_a_user_with_roles_and_audits_it(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase-9\n"))
    out = io.StringIO()
    call_command("portal_user", "create", "zoe", "--roles", "analyst,approver", "--password-stdin", stdout=out)
    user = get_user_model().objects.get(username="zoe")
    assert sorted(user.groups.values_list("name", flat=True)) == ["analyst", "approver"]
    assert user.check_password("a-long-enough-passphrase-9")
    event = AuditEvent.objects.get(action=AuditAction.USER_CREATED)
    assert event.actor_label.startswith("operator:")
    assert event.data == {"username": "zoe", "roles": ["analyst", "approver"]}


def test_the_user_command_changes_roles_and_audits_before_and_after(analyst):
    call_command("portal_user", "roles", "alice", "--add", "approver", stdout=io.StringIO())
    call_command("portal_user", "roles", "alice", "--remove", "analyst", stdout=io.StringIO())
    assert list(analyst.groups.values_list("name", flat=True)) == ["approver"]
    changes = [e.data for e in _events(AuditAction.USER_ROLES_CHANGED)]
    assert changes[-1] == {"username": "alice", "before": ["analyst", "approver"], "after": ["approver"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["roles", "nobody", "--set", "analyst"], "No user named 'nobody'"),
        (["roles", "alice", "--set", "wizard"], "Unknown role(s): wizard"),
    ],
)
def test_the_user_command_explains_bad_input(analyst, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("portal_user", *args, stdout=io.StringIO())


def test_the_user_command_refuses_a_weak_password(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="too common"):
        call_command("portal_user", "create", "weak", "--roles", "analyst", "--password-stdin", stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="weak").exists()


def test_dates_show_in_the_users_time_zone_with_utc_on_hover(client, analyst):
    analyst.time_zone = "Asia/Tokyo"
    analyst.save()
    _sign_in(client, "alice", PASSWORD)
    body = client.get(reverse("home")).content.decode()
    assert "JST" in body
    assert 'title="' in body and ' UTC">' in body
