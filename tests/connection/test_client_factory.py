"""One Mimecast client factory for the web and the workers, pacing through one budget."""

import pytest
import redis

from investigations.connection.services import mimecast_client, mimecast_client_forget
from investigations.mimecast.pacing import RatePacer, SharedRatePacer
from investigations.remediation import services as remediation


@pytest.fixture
def redis_broker(settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "tests run against a real Redis broker"
    return settings.CELERY_BROKER_URL


def test_web_and_task_clients_with_redis_pace_through_one_shared_budget(db, mimecast_env, redis_broker):
    web, task = mimecast_client(), remediation._task_client()
    assert web is not task and task.config.max_retries == 0  # the task retries by itself
    assert isinstance(web.pacer, SharedRatePacer) and web.pacer is task.pacer
    store = redis.Redis.from_url(redis_broker)
    store.delete(web.pacer._key)
    web.find_incidents(page_size=1)
    task.find_incidents(page_size=1)
    # Both calls were booked in the one Redis queue every process of this budget shares.
    assert store.exists(web.pacer._key)
    assert int(store.hget(web.pacer._key, "in_flight")) == 0


def test_without_redis_every_client_of_the_process_shares_one_in_process_pacer(db, mimecast_env, settings):
    settings.CELERY_BROKER_URL = "filesystem://"
    web, task = mimecast_client(), remediation._task_client()
    assert type(web.pacer) is RatePacer and web.pacer is task.pacer
    assert mimecast_client(fresh=True).pacer is web.pacer


def test_a_client_is_reused_until_the_connection_changes(db, mimecast_env, settings):
    web = mimecast_client()
    assert mimecast_client() is web
    assert remediation._task_client() is remediation._task_client()
    fresh = mimecast_client(fresh=True)
    assert fresh is not web and mimecast_client() is web  # the connection test signs in anew
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "2"}
    changed = mimecast_client()
    assert changed is not web and changed.config.max_retries == 2
    mimecast_client_forget()
    assert mimecast_client() is not changed
