"""What a signed-in results page asks the database: the session comes from the shared cache and is
not written back while unchanged, the user's roles are read once, the case switch list once. A count
can fail where a time cannot be asserted."""

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

REASON = "User reported phishing, ticket INC-4242"


def _results_page(client, story):
    query = {"window": "7d", "reason": REASON, "sender": f"no-reply@{story['phishing_domain']}"}
    return client.get(reverse("track-trace") + "?" + urlencode(query))


def _tables(queries):
    return [q["sql"] for q in queries.captured_queries]


@pytest.fixture
def story(mimecast_env):
    return mimecast_env.state.story


def test_the_session_store_is_the_cached_one_when_redis_is_the_broker():
    assert settings.CELERY_BROKER_URL.startswith("redis")
    assert settings.SESSION_ENGINE == "investigations.accounts.sessions"
    assert settings.CACHES[settings.SESSION_CACHE_ALIAS]["BACKEND"].endswith("RedisCache")


def test_a_signed_in_results_page_makes_seven_queries(client, analyst, story):
    client.force_login(analyst)
    _results_page(client, story)  # the first request writes the session's row ("my sessions")
    with CaptureQueriesContext(connection) as queries:
        response = _results_page(client, story)
    assert response.status_code == 200
    assert "45 messages" in response.content.decode()
    sql = _tables(queries)
    assert not [q for q in sql if "django_session" in q], "the session was read or written in the table"
    assert len([q for q in sql if '"auth_group"' in q]) == 1, "the roles were read more than once"
    assert len([q for q in sql if 'INSERT INTO "investigations_auditevent"' in q]) == 1
    # The user, the roles, the Mimecast connection's settings, the audit event (BEGIN, INSERT,
    # COMMIT) and the header's list of cases to switch to.
    assert len(sql) == 7, "\n".join(sql)


def test_a_changed_session_is_written_through_to_the_table(client, analyst, story):
    client.force_login(analyst)
    _results_page(client, story)
    session = client.session
    session["user_session"] = {**session["user_session"], "seen": 0}  # "last seen" is due again
    session.save()
    with CaptureQueriesContext(connection) as queries:
        _results_page(client, story)
    assert [q for q in _tables(queries) if q.startswith('UPDATE "django_session"')]
