"""Pacing to the rate budget Mimecast reports (pacing.py): the pacer's bookkeeping with a clock the
test moves, the client waiting before a call it knows would be refused instead of after, and the
Redis-kept pacer that processes spending one budget share (against the test run's Redis)."""

import os
import uuid

import pytest
import redis

from investigations.mimecast import MimecastClient, MimecastConfig
from investigations.mimecast.errors import MimecastRateLimited, MimecastServerError
from investigations.mimecast.pacing import SPACING, RatePacer, SharedRatePacer, shared_pacer
from mimecast_simulator import SIM_CREDENTIALS, SimulatorServer
from tests.mimecast.client_sim import calls_to, sim_config

SUMMARY = "/api/awareness-training/company/get-safe-score-summary"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def headers(remaining, reset_ms):
    return {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset_ms)}


def test_without_news_of_the_budget_every_call_starts_at_once():
    pacer = RatePacer(Clock())
    assert [pacer.acquire() for _ in range(50)] == [0.0] * 50
    for _ in range(50):
        pacer.release(None)
    assert pacer.acquire() == 0.0


def test_calls_start_at_once_while_the_reported_budget_lasts_then_wait_for_the_reset():
    clock = Clock()
    pacer = RatePacer(clock)
    pacer.acquire()
    pacer.release(headers(3, 50))
    assert [pacer.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    # The fourth would be refused: it waits until Mimecast said the next call comes back.
    assert pacer.acquire() == pytest.approx(0.05)


def test_once_the_budget_is_spent_calls_are_spaced_by_the_largest_recent_reset():
    pacer = RatePacer(Clock())
    for reset_ms in (20, 50, 35):  # answers to earlier calls; a reset is the time to the *next* call back
        pacer.release(headers(0, reset_ms))
    waits = [pacer.acquire() for _ in range(4)]
    # The first when the newest answer said; then one 50 ms interval apart, a little wider (SPACING).
    step = 0.05 * SPACING
    assert waits == pytest.approx([0.035, 0.035 + step, 0.035 + 2 * step, 0.035 + 3 * step])


def test_calls_in_flight_count_against_the_reported_budget():
    pacer = RatePacer(Clock())
    for _ in range(3):
        pacer.acquire()
    pacer.release(headers(2, 50))  # two others are still in flight: they may not be counted yet
    assert pacer.acquire() > 0


def test_a_refused_call_is_booked_after_the_reset_and_behind_the_calls_already_waiting():
    clock = Clock()
    pacer = RatePacer(clock)
    pacer.acquire()
    pacer.release(headers(0, 100))
    first = pacer.acquire()
    pacer.acquire()  # a second caller waits for the slot after it
    pacer.release(headers(0, 100))
    retry = pacer.reserve_after_429(0.1)
    assert first == pytest.approx(0.1)
    assert retry >= 0.3 - 1e-9


def test_the_budget_comes_back_when_mimecast_reports_it():
    clock = Clock()
    pacer = RatePacer(clock)
    pacer.acquire()
    pacer.release(headers(0, 1000))
    clock.now += 1
    pacer.acquire()
    pacer.release(headers(10, 100))
    assert [pacer.acquire() for _ in range(10)] == [0.0] * 10


class RecordingSleep(list):
    """Records each wait the client asks for with how many calls the simulator had received by
    then, without sleeping through it."""

    def __init__(self, srv):
        super().__init__()
        self.srv = srv

    def __call__(self, seconds):
        self.append((seconds, len(calls_to(self.srv, SUMMARY))))


@pytest.fixture
def srv_plain():
    with SimulatorServer(port=0, seed=1) as srv:
        yield srv


def sim_config_for_keys():
    c = SIM_CREDENTIALS
    keys = {"app_id": c.app_id, "app_key": c.app_key, "access_key": c.access_key, "secret_key": c.secret_key}
    return MimecastConfig(base_url="http://127.0.0.1:9", allowed_hosts=("127.0.0.1:9",), **keys)


@pytest.fixture
def small_budget():
    # Three calls a minute: nothing comes back while the test runs.
    with SimulatorServer(port=0, seed=1, rate_limit_per_minute=3) as srv:
        yield srv


def test_the_client_waits_before_a_call_the_budget_would_refuse(small_budget):
    srv = small_budget
    sleeps = RecordingSleep(srv)
    client = MimecastClient(sim_config(srv, "keys"), sleep=sleeps)
    for _ in range(3):
        client.get_safe_score_summary()
    assert sleeps == []
    # The fourth call is paced before it is sent (the fake sleep lets it go, so it is refused then).
    with pytest.raises(MimecastRateLimited):
        client.get_safe_score_summary()
    wait, calls_by_then = sleeps[0]
    assert calls_by_then == 3
    assert wait > 10  # one call back every 20 s


def test_a_wait_longer_than_the_client_accepts_is_reported_without_calling(small_budget):
    srv = small_budget
    client = MimecastClient(sim_config(srv, "keys", max_rate_limit_wait=5.0), sleep=RecordingSleep(srv))
    for _ in range(3):
        client.get_safe_score_summary()
    with pytest.raises(MimecastRateLimited) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.retry_after > 5
    assert len(calls_to(srv, SUMMARY)) == 3


def test_clients_sharing_a_pacer_share_the_budget(small_budget):
    srv = small_budget
    first = MimecastClient(sim_config(srv, "keys", max_rate_limit_wait=5.0))
    second = MimecastClient(sim_config(srv, "keys", max_rate_limit_wait=5.0), pacer=first.pacer)
    for _ in range(3):
        first.get_safe_score_summary()
    with pytest.raises(MimecastRateLimited):
        second.get_safe_score_summary()
    assert len(calls_to(srv, SUMMARY)) == 3


def test_a_429_is_retried_after_the_reset_even_by_a_client_that_retries_nothing_else(srv_plain):
    srv = srv_plain
    client = MimecastClient(sim_config(srv, "keys", max_retries=0, max_rate_limit_retries=2), sleep=lambda s: None)
    before = len(calls_to(srv, SUMMARY))
    srv.faults.add(path=SUMMARY, kind="rate_limit", reset_ms=10, count=1)
    client.get_safe_score_summary()
    srv.faults.add(path=SUMMARY, kind="status", status=503, count=1)
    with pytest.raises(MimecastServerError):
        client.get_safe_score_summary()
    assert [c.status for c in calls_to(srv, SUMMARY)[before:]] == [429, 200, 503]


# ------------------------------------------------------------------ one queue for many processes


@pytest.fixture
def redis_url():
    return os.environ["CELERY_BROKER_URL"]


def shared_pair(redis_url):
    """Two pacers on one key, as two worker processes spending one budget would have."""
    key = f"test:pacer:{uuid.uuid4().hex}"
    return SharedRatePacer(redis.Redis.from_url(redis_url), key), SharedRatePacer(redis.Redis.from_url(redis_url), key)


def test_processes_sharing_a_budget_book_their_calls_in_one_queue(redis_url):
    one, other = shared_pair(redis_url)
    assert one.acquire() == 0.0  # no news of the budget yet
    one.release(headers(2, 50))
    assert [one.acquire(), other.acquire()] == [0.0, 0.0]
    # The budget is spent, whoever asks next: each later start is booked after the one before.
    waits = [other.acquire(), one.acquire(), other.acquire()]
    assert 0 < waits[0] < waits[1] < waits[2]


def test_a_refused_call_books_its_retry_behind_the_other_process(redis_url):
    one, other = shared_pair(redis_url)
    one.acquire()
    one.release(headers(0, 100))
    queued = other.acquire()
    one.release(headers(0, 100))
    assert one.reserve_after_429(0.1) > queued


def test_without_redis_calls_go_unpaced():
    pacer = SharedRatePacer(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1), "test:pacer:x")
    pacer.release(headers(0, 1000))
    assert pacer.acquire() == 0.0


def test_the_shared_key_names_no_credential(redis_url):
    config = sim_config_for_keys()
    pacer = shared_pacer(redis_url, config)
    assert config.access_key not in pacer._key
    assert shared_pacer(redis_url, config) is pacer
