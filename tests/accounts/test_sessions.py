"""My sessions, revoking them (one, all others, all of a user's from the users page), and the row each
signed-in browser session keeps: revocation takes effect on the session's next request."""

import json
import logging
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.accounts.selectors import user_agent_summary
from investigations.accounts.services import SESSION_ROW_KEY, SESSION_SEEN_EVERY
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.factories import PASSWORD

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _signed_in(username, user_agent=FIREFOX):
    client = Client(headers={"User-Agent": user_agent})
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _row(client):
    return UserSession.objects.get(session_key=client.session.session_key)


def _is_signed_in(client, **headers):
    response = client.get(reverse("home"), headers=headers)
    return response.status_code == 200


def _lands_on_sign_in(response):
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_sign_in_keeps_a_row_and_a_sign_out_ends_it(analyst):
    client = _signed_in("alice", user_agent="A" * 2000)
    row = _row(client)
    assert (row.user, row.method, row.ip, row.end, row.ended_at) == (analyst, "password", "127.0.0.1", "", None)
    assert row.user_agent == "A" * 512
    login = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert login.data == {"session": row.pk, "method": "password"}
    client.post(reverse("logout"))
    row.refresh_from_db()
    assert row.end == UserSession.End.SIGNED_OUT and row.ended_by == analyst and row.ended_at is not None


def test_last_seen_is_written_at_most_once_a_minute(analyst):
    client = _signed_in("alice")
    row = _row(client)
    long_ago = timezone.now() - timedelta(hours=1)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)
    # Seen within the minute (at sign-in): a request reads the session's own timestamp and writes nothing.
    assert _is_signed_in(client)
    row.refresh_from_db()
    assert row.last_seen_at == long_ago
    session = client.session
    session[SESSION_ROW_KEY] = {
        **session[SESSION_ROW_KEY],
        "seen": session[SESSION_ROW_KEY]["seen"] - SESSION_SEEN_EVERY,
    }
    session.save()
    before = timezone.now()
    assert _is_signed_in(client)
    row.refresh_from_db()
    assert row.last_seen_at >= before


def test_my_sessions_lists_my_open_sessions_with_this_one_marked(analyst, second_analyst):
    mine = _signed_in("alice")
    other = _signed_in("alice", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
    _signed_in("bob")
    page = mine.get(reverse("account-sessions")).content.decode()
    assert page.count('<tr id="session-') == 2
    assert page.count(">this session</span>") == 1
    assert f'id="session-{_row(mine).pk}" class="current-session"' in page
    assert reverse("account-session-revoke", args=[_row(other).pk]) in page
    assert reverse("account-session-revoke", args=[_row(mine).pk]) not in page
    assert "Firefox on Windows" in page and "Safari on iOS" in page
    assert "127.0.0.1" in page and 'title="' in page and "UTC" in page
    assert "Sign out all other sessions" in page
    for client in (mine, other):
        assert client.session.session_key not in page
    # The htmx refresh asks for the list alone.
    partial = mine.get(reverse("account-sessions"), headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<section id="sessions">') and "<html" not in partial


def test_a_revoked_session_is_refused_on_its_next_request_page_or_partial(analyst):
    mine, other = _signed_in("alice"), _signed_in("alice")
    row = _row(other)
    response = mine.post(reverse("account-session-revoke", args=[row.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("account-sessions")
    assert _lands_on_sign_in(other.get(reverse("home")))
    htmx = other.get(reverse("account-sessions"), headers={"HX-Request": "true"})
    assert _lands_on_sign_in(htmx)
    # htmx follows that redirect itself; the sign-in page then sends the whole page there.
    followed = other.get(htmx["Location"], headers={"HX-Request": "true"})
    assert followed["HX-Redirect"] == htmx["Location"]
    row.refresh_from_db()
    assert (row.end, row.ended_by) == (UserSession.End.REVOKED, analyst)
    event = AuditEvent.objects.get(action=AuditAction.SESSION_REVOKED)
    assert (event.actor_label, event.target_type, event.target_id) == ("alice", "usersession", str(row.pk))
    assert event.data == {"session": row.pk, "user_id": analyst.pk, "username": "alice", "by": "owner"}
    assert _is_signed_in(mine)


def test_nobody_revokes_another_users_session_or_their_own_current_one_by_id(analyst, second_analyst):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    for session_id in (_row(bob).pk, _row(alice).pk, 999_999):
        assert alice.post(reverse("account-session-revoke", args=[session_id])).status_code == 404
    assert _is_signed_in(bob) and _is_signed_in(alice)
    assert not AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).exists()
    assert alice.get(reverse("account-session-revoke", args=[_row(bob).pk])).status_code == 405


def test_signing_out_all_other_sessions_keeps_this_one(analyst, second_analyst):
    mine, others = _signed_in("alice"), [_signed_in("alice"), _signed_in("alice")]
    bob = _signed_in("bob")
    response = mine.post(reverse("account-sessions-revoke-others"))
    assert response.status_code == 302
    assert "2 other session(s) signed out." in mine.get(reverse("account-sessions")).content.decode()
    assert _is_signed_in(mine) and _is_signed_in(bob)
    assert not any(_is_signed_in(client) for client in others)
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).count() == 2


def test_an_admin_revokes_all_of_a_users_sessions(admin_user, analyst):
    admin = _signed_in("erin")
    alice_sessions = [_signed_in("alice"), _signed_in("alice")]
    users_page = admin.get(reverse("user-list")).content.decode()
    assert reverse("user-sessions-revoke", args=[analyst.pk]) in users_page and "2 open" in users_page
    assert 'data-confirm="Revoke every session of alice?' in users_page
    response = admin.post(reverse("user-sessions-revoke", args=[analyst.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("user-list")
    assert not any(_is_signed_in(client) for client in alice_sessions)
    assert set(UserSession.objects.filter(user=analyst).values_list("end", "ended_by")) == {("revoked", admin_user.pk)}
    events = AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED)
    assert [(e.actor_label, e.data["by"], e.data["username"]) for e in events] == [("erin", "admin", "alice")] * 2
    assert "0 open" in admin.get(reverse("user-list")).content.decode()


def test_an_admin_revoking_their_own_sessions_keeps_the_current_one(admin_user):
    admin, elsewhere = _signed_in("erin"), _signed_in("erin")
    assert "but this one" in admin.get(reverse("user-list")).content.decode()
    admin.post(reverse("user-sessions-revoke", args=[admin_user.pk]))
    assert _is_signed_in(admin) and not _is_signed_in(elsewhere)


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "outsider"])
def test_only_admins_revoke_a_users_sessions(personas, persona):
    target = personas["analyst"]
    victim = Client()
    victim.force_login(target)
    client = Client()
    client.force_login(personas[persona])
    assert client.post(reverse("user-sessions-revoke", args=[target.pk])).status_code == 403
    assert _is_signed_in(victim)
    # Any signed-in user, even one without a role, has their own sessions page.
    assert client.get(reverse("account-sessions")).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(client, analyst):
    row_owner = _signed_in("alice")
    for url in (
        reverse("account-sessions"),
        reverse("account-session-revoke", args=[_row(row_owner).pk]),
        reverse("account-sessions-revoke-others"),
        reverse("user-sessions-revoke", args=[analyst.pk]),
    ):
        assert _lands_on_sign_in(client.post(url)), url
        assert _lands_on_sign_in(client.get(url, headers={"HX-Request": "true"})), url
    assert _is_signed_in(row_owner)


def test_revoking_needs_a_csrf_token(analyst):
    mine = Client(enforce_csrf_checks=True)
    mine.force_login(analyst)
    other = _signed_in("alice")
    assert mine.post(reverse("account-session-revoke", args=[_row(other).pk])).status_code == 403
    assert mine.post(reverse("account-sessions-revoke-others")).status_code == 403
    assert _is_signed_in(other)


def test_a_session_gone_idle_shows_as_expired_when_next_looked_at(analyst, settings):
    mine, idle = _signed_in("alice"), _signed_in("alice")
    row = _row(idle)
    last_seen = timezone.now() - timedelta(hours=2)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=last_seen)
    Session.objects.filter(session_key=idle.session.session_key).update(expire_date=timezone.now() - timedelta(hours=1))
    page = mine.get(reverse("account-sessions")).content.decode()
    assert page.count('<tr id="session-') == 1
    row.refresh_from_db()
    assert row.end == UserSession.End.EXPIRED
    assert row.ended_at == last_seen + timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_a_session_whose_row_ended_is_refused_even_if_its_store_entry_survived(analyst):
    client = _signed_in("alice")
    row = _row(client)
    UserSession.objects.filter(pk=row.pk).update(ended_at=timezone.now(), end=UserSession.End.REVOKED)
    session = client.session
    session[SESSION_ROW_KEY] = {**session[SESSION_ROW_KEY], "seen": 0}
    session.save()
    assert _lands_on_sign_in(client.get(reverse("home")))
    assert _lands_on_sign_in(client.get(reverse("home")))


def test_a_session_from_before_rows_were_kept_gets_one_and_can_be_revoked(analyst):
    old, mine = _signed_in("alice"), _signed_in("alice")
    UserSession.objects.filter(pk=_row(old).pk).delete()
    session = old.session
    del session[SESSION_ROW_KEY]
    session.save()
    assert _is_signed_in(old)
    adopted = _row(old)
    assert (adopted.user, adopted.method, adopted.ip) == (analyst, "password", "127.0.0.1")
    mine.post(reverse("account-sessions-revoke-others"))
    assert not _is_signed_in(old)


def test_a_key_cycled_under_the_row_is_followed_at_once(analyst):
    mine, other = _signed_in("alice"), _signed_in("alice")
    row = _row(other)
    session = other.session
    session.cycle_key()
    other.cookies["sessionid"] = session.session_key
    assert _is_signed_in(other)
    row.refresh_from_db()
    assert row.session_key == session.session_key
    mine.post(reverse("account-session-revoke", args=[row.pk]))
    assert not _is_signed_in(other)


def test_no_session_key_reaches_the_logs_or_the_audit_trail(analyst, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    mine, other, third = _signed_in("alice"), _signed_in("alice"), _signed_in("alice")
    keys = [client.session.session_key for client in (mine, other, third)]
    mine.post(reverse("account-session-revoke", args=[_row(other).pk]))
    admin = _signed_in("erin")
    keys.append(admin.session.session_key)
    admin.post(reverse("user-sessions-revoke", args=[analyst.pk]))
    admin.post(reverse("logout"))
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).count() == 3
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    for key in keys:
        assert key and key not in trail and key not in logged


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (FIREFOX, "Firefox on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0", "Edge on Linux"),
        ("curl/8.5.0", "curl"),
        ("", "unknown"),
    ],
)
def test_a_user_agent_in_short(agent, summary):
    assert user_agent_summary(agent) == summary


def test_signing_in_again_in_the_same_session_keeps_one_row(analyst):
    client = Client()
    client.force_login(analyst)
    first = _row(client)
    client.force_login(analyst)
    assert UserSession.objects.filter(user=analyst).count() == 1
    assert _row(client).created_at > first.created_at
    assert _is_signed_in(client)
