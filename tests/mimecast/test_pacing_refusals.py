"""After a 429 the pacer books starts wider apart (pacing.STRETCH_UP), and narrows back as answers come
in, for the in-process pacer and the Redis-kept one; and a model of the archive page's "more details"
(four callers, 100 calls, 100 ms answers, a 20 calls/s bucket, the simulator's own token bucket) in
which no detail is lost to refusals, on any of 300 seeded runs."""

import heapq
import itertools
import os
import random
import uuid

import pytest
import redis

from investigations.mimecast import pacing
from investigations.mimecast.pacing import SPACING, STRETCH_MAX, STRETCH_UP, RatePacer, SharedRatePacer
from mimecast_simulator.server import RateLimiter
from tests.mimecast.test_client_pacing import Clock


def spent(reset_ms=100):
    return {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_ms)}


def booked_gaps(pacer, n=3):
    """The gaps between n more booked starts (the budget is spent, so each books a slot)."""
    starts = []
    for _ in range(n + 1):
        turn = pacer.book()
        starts.append(pacer.booked_start(turn))
    return [round(b - a, 6) for a, b in itertools.pairwise(starts)]


@pytest.fixture(params=["in-process", "redis"])
def pacer(request):
    if request.param == "in-process":
        pacer = RatePacer(Clock())
        # The test's clock stands still, so a booked start's wait is the start itself.
        pacer.booked_start = lambda turn: turn.wait
        return pacer
    client, key = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]), f"test:pacer:{uuid.uuid4().hex}"
    pacer = SharedRatePacer(client, key)
    # Redis's clock runs on between two bookings (by milliseconds on a loaded machine), so the
    # waits' gaps are short by that time: compare the starts the script booked, which it keeps as
    # the next free slot, one booking's gap after the start it just gave out.
    pacer.booked_start = lambda turn: float(client.hget(key, "next_at"))
    return pacer


def test_a_refusal_widens_the_booked_starts_and_answers_narrow_them_back(pacer):
    pacer.book()
    pacer.release(spent())
    assert booked_gaps(pacer) == pytest.approx([0.1 * SPACING] * 3, abs=2e-3)

    pacer.reserve_after_429(0.1)  # one of those calls was refused
    assert booked_gaps(pacer) == pytest.approx([0.1 * SPACING * STRETCH_UP] * 3, abs=2e-3)

    for _ in range(200):  # answers that were not refused
        pacer.release(spent())
    assert booked_gaps(pacer) == pytest.approx([0.1 * SPACING] * 3, abs=2e-3)


def test_refusals_in_a_row_widen_the_starts_no_further_than_the_cap(pacer):
    pacer.book()
    pacer.release(spent())
    for _ in range(20):
        pacer.reserve_after_429(0.1)
    assert booked_gaps(pacer) == pytest.approx([0.1 * SPACING * STRETCH_MAX] * 3, abs=2e-3)


# ------------------------------------------------------------------ the archive page's fan-out


def details_page(seed, *, callers=4, calls=100, latency=0.1, per_second=20, retries=4):
    """One "more details" page, event by event, on a clock of its own: `callers` threads take the
    next call, book a start in the pacer, reach the simulator's bucket a little later, are answered
    after `latency` (a refusal at once) and release; a refused call books its retry after the reset,
    as the transport does, and is lost after `retries` retries. Returns (refused, lost, worst
    streak of refusals for one call)."""
    rng = random.Random(seed)
    now = [0.0]
    pacer = RatePacer(lambda: now[0])
    bucket = RateLimiter(per_second * 60, per_second, lambda: now[0])
    events, order = [], iter(range(10**9))
    todo = list(range(calls))
    tally = {"refused": 0, "lost": 0, "streak": 0}

    def at(when, what):
        heapq.heappush(events, (when, next(order), what))

    def take_next():
        if todo:
            todo.pop()
            send(0, pacer.book().wait)

    def send(attempt, wait):
        def arrive():
            allowed, headers = bucket.take("analyst")
            answered = latency if allowed else 0.002
            at(now[0] + answered + rng.uniform(0, 0.003), lambda: answer(attempt, allowed, headers))

        at(now[0] + wait + rng.uniform(0.0005, 0.003), arrive)

    def answer(attempt, allowed, headers):
        pacer.release(headers)
        if allowed:
            return take_next()
        tally["refused"] += 1
        tally["streak"] = max(tally["streak"], attempt + 1)
        if attempt >= retries:
            tally["lost"] += 1
            return take_next()
        send(attempt + 1, pacer.reserve_after_429(int(headers["X-RateLimit-Reset"]) / 1000))

    for _ in range(callers):
        at(rng.uniform(0, 0.002), take_next)
    while events:
        now[0], _, what = heapq.heappop(events)
        what()
    return tally["refused"], tally["lost"], tally["streak"]


def test_no_detail_is_lost_to_refusals_when_four_callers_share_a_20_per_second_budget():
    pages = [details_page(seed) for seed in range(300)]
    assert sum(lost for _, lost, _ in pages) == 0
    assert max(streak for *_, streak in pages) <= 4
    # Refusals stay rare: the starts follow the budget, they do not bounce off it.
    assert sum(refused for refused, *_ in pages) / len(pages) < 3


def test_the_model_loses_details_when_a_refusal_does_not_widen_the_starts(monkeypatch):
    # The same pages with the spacing left as it was: the model is able to see the loss.
    monkeypatch.setattr(pacing, "STRETCH_UP", 1.0)
    pages = [details_page(seed) for seed in range(300)]
    assert sum(lost for _, lost, _ in pages) > 0
