"""The pacer's two lanes (pacing.py): foreground calls book their starts in turn, a background call
starts only when no foreground start is booked ahead of it and never pushes one back. The in-process
pacer with a clock the test moves, the Redis-kept one against the test run's Redis, and the client
waiting in the background lane."""

import os
import uuid

import pytest
import redis

from investigations.mimecast import MimecastClient
from investigations.mimecast.errors import MimecastRateLimited
from investigations.mimecast.pacing import (
    BACKGROUND,
    FOREGROUND,
    SPACING,
    STRETCH_UP,
    RatePacer,
    SharedRatePacer,
    current_lane,
    lane,
)
from mimecast_simulator import SimulatorServer
from tests.mimecast.client_sim import calls_to, sim_config
from tests.mimecast.test_client_pacing import Clock as StillClock

SUMMARY = "/api/awareness-training/company/get-safe-score-summary"


class Clock(StillClock):
    """The pacer tests' clock, moved on by the client's sleeps."""

    def sleep(self, seconds):
        self.now += seconds


def spent(remaining=0, reset_ms=100):
    """An answer's headers saying the budget is spent, a call coming back every reset_ms."""
    return {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset_ms)}


# Booked starts follow each other this far apart: the 0.1 s interval, a little wider (pacing.SPACING).
STEP = 0.1 * SPACING


def spent_pacer(pacer):
    pacer.book(FOREGROUND)
    pacer.release(spent())
    return pacer


# ------------------------------------------------------------------------------- in one process


def test_a_background_call_starts_at_once_while_the_budget_lasts():
    pacer = RatePacer(Clock())
    pacer.book(FOREGROUND)
    pacer.release(spent(remaining=2))
    assert pacer.book(BACKGROUND) == (0.0, True)
    assert pacer.book(BACKGROUND) == (0.0, True)
    assert pacer.book(BACKGROUND).booked is False


def test_a_background_call_waits_behind_every_booked_foreground_start_without_booking():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    foreground = [pacer.book(FOREGROUND).wait for _ in range(3)]
    assert foreground == pytest.approx([0.1, 0.1 + STEP, 0.1 + 2 * STEP])
    turn = pacer.book(BACKGROUND)
    assert turn.booked is False
    assert turn.wait == pytest.approx(0.1 + 3 * STEP)  # when the last booked foreground start has gone
    # A foreground call arriving meanwhile takes the next start, as if the background one were not there.
    assert pacer.book(FOREGROUND).wait == pytest.approx(0.1 + 3 * STEP)
    clock.now += 0.1 + 3 * STEP
    assert pacer.book(BACKGROUND).booked is False  # still behind the one booked last
    clock.now += STEP + 1e-9
    assert pacer.book(BACKGROUND) == (0.0, True)
    # Once booked it holds its start: the next foreground call comes one step after it.
    assert pacer.book(FOREGROUND).wait == pytest.approx(STEP)


def test_two_background_calls_in_one_free_moment_take_turns():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    clock.now += 1
    assert pacer.book(BACKGROUND) == (0.0, True)
    second = pacer.book(BACKGROUND)
    assert second.booked is False and second.wait == pytest.approx(STEP)


def test_a_background_call_is_told_to_ask_again_after_a_short_while_at_least():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    pacer.book(FOREGROUND)
    clock.now = 100.1 + STEP - 1e-9  # the start after the booked one is due this very instant
    turn = pacer.book(BACKGROUND)
    assert turn.booked is False and turn.wait >= 0.005


def test_a_refused_background_call_waits_for_the_reset_and_books_nothing():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    clock.now += 1
    pacer.book(BACKGROUND)
    pacer.release(spent(reset_ms=100))
    assert pacer.reserve_after_429(0.2, BACKGROUND) == pytest.approx(0.2)
    # The refused background call took no start: a foreground call goes first once the reset is over.
    assert pacer.book(FOREGROUND).wait == pytest.approx(0.2)
    assert pacer.book(BACKGROUND).booked is False


def test_a_refused_foreground_call_still_books_its_retry():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    retry = pacer.reserve_after_429(0.2, FOREGROUND)
    assert retry == pytest.approx(0.2)
    # Behind it, at the largest reset heard (the refusal's 0.2 s), a little wider, and wider again
    # since a call was refused (STRETCH_UP).
    assert pacer.book(FOREGROUND).wait == pytest.approx(0.2 + 0.2 * SPACING * STRETCH_UP)


def test_the_time_for_more_foreground_calls_counts_the_budget_left_and_the_starts_booked():
    clock = Clock()
    pacer = RatePacer(clock)
    assert pacer.time_for(100) == 0.0  # no news of the budget
    pacer.book(FOREGROUND)
    pacer.release(spent(remaining=2))
    assert pacer.time_for(2) == 0.0
    assert pacer.time_for(5) == pytest.approx(0.1 + 2 * 0.1)  # three beyond the two left, a start each 0.1 s
    pacer.book(FOREGROUND)
    pacer.book(FOREGROUND)
    pacer.book(FOREGROUND)  # the budget is spent: this one starts at 100.1
    assert pacer.time_for(1) == pytest.approx(0.1 + STEP)


def test_until_a_refusal_has_reset_an_older_answer_lets_no_call_start_ahead_of_the_retry():
    clock = Clock()
    pacer = spent_pacer(RatePacer(clock))
    pacer.book(FOREGROUND)  # a call already on its way, counted by Mimecast before the refusal
    retry = pacer.reserve_after_429(0.2, FOREGROUND)
    pacer.release(spent(remaining=5))  # its answer, older news than the refusal
    assert pacer.book(FOREGROUND).wait > retry
    clock.now += 0.5  # past the reset: answers count again
    pacer.release(spent(remaining=5))
    assert pacer.book(FOREGROUND) == (0.0, True)


def test_the_lane_is_foreground_unless_a_block_says_otherwise():
    assert current_lane() == FOREGROUND
    with lane(BACKGROUND):
        assert current_lane() == BACKGROUND
    assert current_lane() == FOREGROUND
    with pytest.raises(ValueError), lane("urgent"):
        pass


# ------------------------------------------------------------------- one queue for many processes


@pytest.fixture
def shared_pair():
    """Two pacers on one key in the test run's Redis, as two worker processes spending one budget."""
    key = f"test:pacer:{uuid.uuid4().hex}"
    url = os.environ["CELERY_BROKER_URL"]
    store = redis.Redis.from_url(url)
    yield SharedRatePacer(redis.Redis.from_url(url), key), SharedRatePacer(redis.Redis.from_url(url), key)
    store.delete(key, key + ":resets")


def test_in_redis_a_background_call_yields_to_the_foreground_starts_another_process_booked(shared_pair):
    one, other = shared_pair
    spent_pacer(one)
    assert other.time_for(1) == pytest.approx(0.1, abs=0.05)
    booked = [one.book(FOREGROUND).wait for _ in range(3)]
    assert 0 < booked[0] < booked[1] < booked[2]
    turn = other.book(BACKGROUND)
    assert turn.booked is False
    assert turn.wait == pytest.approx(booked[2] + 0.1, abs=0.05)
    # Nothing was booked for it: the other process's next foreground call comes right after the others.
    assert other.book(FOREGROUND).wait == pytest.approx(booked[2] + 0.1, abs=0.05)
    assert one.time_for(2) == pytest.approx(booked[2] + 0.3, abs=0.05)


def test_in_redis_a_refused_background_call_books_nothing_and_counts_nothing_in_flight(shared_pair):
    one, other = shared_pair
    spent_pacer(one)
    store = one._redis
    in_flight = int(store.hget(one._key, "in_flight"))
    wait = other.reserve_after_429(0.5, BACKGROUND)
    assert wait == pytest.approx(0.5, abs=0.01)
    assert int(store.hget(one._key, "in_flight")) == in_flight
    assert other.book(BACKGROUND).booked is False
    assert one.book(FOREGROUND).booked is True


def test_in_redis_an_answer_older_than_a_refusal_lets_no_call_start_ahead_of_the_retry(shared_pair):
    one, other = shared_pair
    spent_pacer(one)
    one.book(FOREGROUND)  # on its way in one process
    retry = other.reserve_after_429(0.5, FOREGROUND)  # refused in the other
    one.release(spent(remaining=5))
    assert other.book(FOREGROUND).wait > retry


# ----------------------------------------------------------------------------------- the client


@pytest.fixture
def srv():
    with SimulatorServer(port=0, seed=1) as server:
        yield server


def test_the_client_makes_a_background_call_after_the_foreground_starts_booked_before_it(srv):
    clock = Clock()
    client = MimecastClient(sim_config(srv, "keys"), sleep=clock.sleep, clock=clock)
    spent_pacer(client.pacer)
    for _ in range(3):
        client.pacer.book(FOREGROUND)  # three callers elsewhere in the process, booked
    started = clock.now
    with lane(BACKGROUND):
        client.get_safe_score_summary()
    assert clock.now - started >= 0.4 - 1e-9
    assert len(calls_to(srv, SUMMARY)) == 1


def test_a_background_call_that_would_wait_too_long_is_not_sent(srv):
    clock = Clock()
    client = MimecastClient(sim_config(srv, "keys", max_rate_limit_wait=1.0), sleep=clock.sleep, clock=clock)
    spent_pacer(client.pacer)
    for _ in range(30):
        client.pacer.book(FOREGROUND)  # three seconds of foreground starts booked
    with lane(BACKGROUND), pytest.raises(MimecastRateLimited) as refused:
        client.get_safe_score_summary()
    assert refused.value.status is None and refused.value.retry_after > 0
    assert calls_to(srv, SUMMARY) == []
    # A foreground call is still served in turn.
    assert client.pacer.book(FOREGROUND).wait == pytest.approx(0.1 + 30 * STEP)
