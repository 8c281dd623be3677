"""Pacing to the rate budget Mimecast reports (pacing.py): the pacer's bookkeeping with a clock the
test moves, and the client waiting before a call it knows would be refused instead of after."""

import pytest

from investigations.mimecast import MimecastClient
from investigations.mimecast.errors import MimecastRateLimited
from investigations.mimecast.pacing import RatePacer
from investigations.mimecast.simulator import SimulatorServer

from .client_sim import calls_to, sim_config

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
    assert waits == pytest.approx([0.035, 0.085, 0.135, 0.185])


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
