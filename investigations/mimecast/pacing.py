"""Pacing calls to the rate budget Mimecast reports, so the portal waits before it would be refused.

Mimecast answers every call with ``X-RateLimit-Remaining`` (calls left in the bucket) and
``X-RateLimit-Reset`` (milliseconds until at least one call is added back), and refuses a call over
the budget with HTTP 429 without running it. It does not publish the numbers, so the pacer learns
them from those headers: while the budget lasts, calls start at once (as many at a time as callers
run concurrently); once it is spent, calls start one per reset interval, which is the rate at which
Mimecast adds calls back. A 429 still happens now and then (the headers are as old as the answer's
round trip); its retry gets the next slot after the reset, in line with everyone else's, and the
starts booked after a refusal are spaced wider until answers come back unrefused.

Every client that shares a Mimecast budget (the budget is per user for API 1.0 and per application
for API 2.0) must share one pacer, or each would hammer the budget and back off. With Redis, web and
Celery processes all book through ``shared_pacer`` (the budget kept in Redis); without it (the demo)
one in-process ``RatePacer`` serves the process. The connection service's client factory chooses.

Two lanes share the budget. A foreground call (the default: a page someone is waiting for, the first
call that carries out an approved action) books the next start in turn. A background call (reading
an incident's counts again, which may as well wait) never books ahead: it starts only when the budget
has a start free at once, so every start foreground calls have booked goes before it, and otherwise
it is told when to ask again, with nothing booked. A poll therefore never pushes a create back.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

logger = logging.getLogger("investigations.mimecast")

# How many recent reset figures the interval is taken from (the largest of them): a reset is the
# time to the *next* call added back, so one figure can be anywhere between 0 and a full interval.
_RESET_SAMPLES = 16
# Booked starts are spaced this much wider than the interval. The largest recent reset is short of
# the true interval by however late after a refill our calls arrive, so starts spaced by it alone
# run a little ahead of Mimecast's refills, drift into them and are refused (seen: four 429s in a
# row for one call, with calls spaced 45 ms apart against a 50 ms refill). A little slower than the
# budget is self-correcting (the calls left over show up as "remaining" and start at once).
SPACING = 1.05
# A refusal is proof that the starts were still booked too close together (all the recent resets fell
# short of the interval): each 429 widens the spacing by STRETCH_UP, up to STRETCH_MAX, and each
# answer narrows it back by STRETCH_DECAY, towards SPACING alone. Without it a short estimate holds
# for the next _RESET_SAMPLES answers, and a call refused in that time can be refused on every retry
# (seen: five in a row, then the analyst's detail was lost).
STRETCH_UP = 1.2
STRETCH_MAX = 1.5
STRETCH_DECAY = 0.99

FOREGROUND = "foreground"
BACKGROUND = "background"
LANES = (FOREGROUND, BACKGROUND)
# The shortest "ask again" a background call is told, so a caller with a clock that does not move
# (or a start due this very instant) cannot spin.
_MIN_RETRY_S = 0.005

_lane: contextvars.ContextVar[str] = contextvars.ContextVar("mimecast_pacing_lane", default=FOREGROUND)


def current_lane() -> str:
    """The lane the calls made here book in (FOREGROUND unless inside ``lane(BACKGROUND)``)."""
    return _lane.get()


@contextmanager
def lane(name: str) -> Iterator[None]:
    """Make the Mimecast calls inside the block in ``name``'s lane (the transport reads it)."""
    if name not in LANES:
        raise ValueError(f"unknown pacing lane {name!r}")
    token = _lane.set(name)
    try:
        yield
    finally:
        _lane.reset(token)


class Turn(NamedTuple):
    """A call's turn: ``booked`` with the seconds to wait before starting; or, for a background call
    that would have to wait behind booked starts, not booked, and ``wait`` is when to ask again."""

    wait: float
    booked: bool


class Headroom(NamedTuple):
    """What a pacer knows of the budget, for people to read: the calls that may still start at once
    by the newest answer (None: no answer yet, or none recently), the seconds between calls once they
    are spent, and the calls in flight."""

    remaining: float | None
    interval: float
    in_flight: int


def header_number(headers, name: str, *, clamp: bool = False) -> float | None:
    """A rate-limit header as a number; a negative one is None, or 0 with ``clamp``."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if clamp:
        return max(0.0, number)
    return number if number >= 0 else None


class RatePacer:
    """Thread-safe. ``book(lane)`` before each call (its turn), ``release()`` with the answer's
    headers after it, ``reserve_after_429()`` to book a refused call's retry. ``acquire()`` is the
    foreground ``book`` that returns only the wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._allowance: float | None = None  # calls that may start without waiting; None: no news yet
        self._next_at = 0.0  # once the budget is spent, the next call starts no sooner than this
        self._refill_at = 0.0  # when the latest answer said the next call is added back
        self._hold_until = 0.0  # after a 429: until its reset, starts go only by booked slots
        self._resets: deque[float] = deque(maxlen=_RESET_SAMPLES)
        self._stretch = 1.0  # how much wider than SPACING the starts are booked, after refusals
        self._in_flight = 0

    @property
    def interval(self) -> float:
        """Seconds between calls once the budget is spent (the largest recent reset figure)."""
        return max(self._resets, default=0.0)

    def headroom(self) -> Headroom:
        """A snapshot of the budget; books nothing."""
        with self._lock:
            return Headroom(self._allowance, self.interval, self._in_flight)

    def acquire(self) -> float:
        """Book a foreground start for one call; returns the seconds to wait before starting it."""
        return self.book(FOREGROUND).wait

    def book(self, lane: str = FOREGROUND) -> Turn:
        """A turn for one call in ``lane`` (see the module's docstring)."""
        with self._lock:
            if self._allowance is None or self._allowance >= 1:
                self._in_flight += 1
                if self._allowance is not None:
                    self._allowance -= 1
                return Turn(0.0, True)
            now = self._clock()
            if lane == BACKGROUND:
                free_at = max(now, self._next_at, self._refill_at)
                if free_at > now:
                    return Turn(max(_MIN_RETRY_S, free_at - now), False)
            self._in_flight += 1
            return Turn(self._book_slot(now), True)

    def time_for(self, calls: int) -> float:
        """Seconds until ``calls`` more foreground calls could all have started, by the budget left
        and the starts already booked (0: at once, or no news of the budget)."""
        with self._lock:
            if self._allowance is None or calls <= self._allowance:
                return 0.0
            now = self._clock()
            first = max(now, self._next_at, self._refill_at)
            return first - now + (calls - max(0.0, self._allowance) - 1) * self.interval

    def cancel(self) -> None:
        """A booked call that is not made after all (it would have waited too long)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def release(self, headers=None) -> None:
        """The call is over; ``headers`` are its answer's (None when there was no answer)."""
        remaining = header_number(headers, "X-RateLimit-Remaining")
        reset_ms = header_number(headers, "X-RateLimit-Reset")
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if remaining is not None or reset_ms is not None:
                self._stretch = max(1.0, self._stretch * STRETCH_DECAY)
            if reset_ms is not None and reset_ms > 0:
                self._resets.append(reset_ms / 1000.0)
            if remaining is not None:
                # Calls still in flight may already have been counted by Mimecast, or not yet:
                # assume not, so the budget is never overspent by our own concurrency. Until a
                # refusal's reset has passed, an answer counted before the refusal is stale news:
                # it must not let calls jump ahead of the retry booked after the reset.
                self._allowance = remaining - self._in_flight
                if self._clock() < self._hold_until:
                    self._allowance = min(self._allowance, 0)
            if reset_ms is not None:
                # Mimecast adds the next call back this long after it counted this one (and so no
                # later than this long after now).
                self._refill_at = self._clock() + reset_ms / 1000.0

    def reserve_after_429(self, reset_s: float | None, lane: str = FOREGROUND) -> float:
        """A call was refused (already released): book its retry no sooner than the reset, after
        the starts already booked. Returns the seconds to wait before retrying. A background call's
        retry is not booked: it waits for the reset and then asks for a turn like any other."""
        with self._lock:
            now = self._clock()
            self._allowance = 0
            self._stretch = min(STRETCH_MAX, self._stretch * STRETCH_UP)
            if reset_s:
                self._resets.append(reset_s)
                self._refill_at = max(self._refill_at, now + reset_s)
            self._hold_until = max(self._hold_until, self._refill_at)
            if lane == BACKGROUND:
                return max(0.0, self._refill_at - now)
            self._in_flight += 1
            return self._book_slot(now)

    def _book_slot(self, now: float) -> float:
        slot = max(now, self._next_at, self._refill_at)
        self._next_at = slot + self.interval * SPACING * self._stretch
        return slot - now


# The same bookkeeping as RatePacer, kept in Redis so that every process spending one budget (the
# Celery workers' children, gunicorn's workers) books its starts in one queue. Times come from the
# Redis server's clock, the one clock they all share. Each call refreshes the key's expiry, so the
# count of calls in flight left by a process killed mid-call is forgotten once the budget is idle.
_REDIS_SCRIPT = """
local SPACING = _SPACING_
local STRETCH_UP, STRETCH_MAX, STRETCH_DECAY = _STRETCH_UP_, _STRETCH_MAX_, _STRETCH_DECAY_
local key, resets_key = KEYS[1], KEYS[2]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[4])
local function num(name, default)
  local v = redis.call('HGET', key, name)
  if v then return tonumber(v) end
  return default
end
local function interval()
  local best = 0
  for _, v in ipairs(redis.call('LRANGE', resets_key, 0, -1)) do
    local x = tonumber(v)
    if x > best then best = x end
  end
  return best
end
local function note_reset(reset)
  if reset > 0 then
    redis.call('LPUSH', resets_key, tostring(reset))
    redis.call('LTRIM', resets_key, 0, tonumber(ARGV[5]) - 1)
  end
end
local function book()
  local slot = math.max(now, num('next_at', 0), num('refill_at', 0))
  redis.call('HSET', key, 'next_at', tostring(slot + interval() * SPACING * num('stretch', 1)))
  return slot - now
end
local background = ARGV[6] == 'background'
local wait, booked = 0, 1
if op == 'acquire' then
  local allowance = num('allowance', nil)
  if allowance == nil or allowance >= 1 then
    redis.call('HINCRBY', key, 'in_flight', 1)
    if allowance ~= nil then redis.call('HSET', key, 'allowance', tostring(allowance - 1)) end
  else
    local free_at = math.max(now, num('next_at', 0), num('refill_at', 0))
    if background and free_at > now then
      wait, booked = math.max(tonumber(ARGV[7]), free_at - now), 0
    else
      redis.call('HINCRBY', key, 'in_flight', 1)
      wait = book()
    end
  end
elseif op == 'cancel' or op == 'release' then
  local in_flight = math.max(0, num('in_flight', 0) - 1)
  redis.call('HSET', key, 'in_flight', in_flight)
  if op == 'release' then
    local remaining, reset = ARGV[2], ARGV[3]
    if remaining ~= '' or reset ~= '' then
      redis.call('HSET', key, 'stretch', tostring(math.max(1, num('stretch', 1) * STRETCH_DECAY)))
    end
    if reset ~= '' then note_reset(tonumber(reset)) end
    if remaining ~= '' then
      -- until a refusal's reset has passed, an older answer's budget is stale (see RatePacer.release)
      local allowance = tonumber(remaining) - in_flight
      if now < num('hold_until', 0) then allowance = math.min(allowance, 0) end
      redis.call('HSET', key, 'allowance', tostring(allowance))
    end
    if reset ~= '' then redis.call('HSET', key, 'refill_at', tostring(now + tonumber(reset))) end
  end
elseif op == 'reserve' then
  redis.call('HSET', key, 'allowance', '0')
  redis.call('HSET', key, 'stretch', tostring(math.min(STRETCH_MAX, num('stretch', 1) * STRETCH_UP)))
  local reset = tonumber(ARGV[3])
  if reset and reset > 0 then
    note_reset(reset)
    redis.call('HSET', key, 'refill_at', tostring(math.max(num('refill_at', 0), now + reset)))
  end
  redis.call('HSET', key, 'hold_until', tostring(math.max(num('hold_until', 0), num('refill_at', 0))))
  if background then
    wait, booked = math.max(0, num('refill_at', 0) - now), 0
  else
    redis.call('HINCRBY', key, 'in_flight', 1)
    wait = book()
  end
elseif op == 'time_for' then
  local allowance, calls = num('allowance', nil), tonumber(ARGV[2])
  if allowance ~= nil and calls > allowance then
    local first = math.max(now, num('next_at', 0), num('refill_at', 0))
    wait = first - now + (calls - math.max(0, allowance) - 1) * interval()
  end
end
redis.call('EXPIRE', key, ttl)
redis.call('EXPIRE', resets_key, ttl)
return {tostring(wait), booked}
"""
_REDIS_SCRIPT = (
    _REDIS_SCRIPT.replace("_SPACING_", repr(SPACING))
    .replace("_STRETCH_UP_", repr(STRETCH_UP))
    .replace("_STRETCH_MAX_", repr(STRETCH_MAX))
    .replace("_STRETCH_DECAY_", repr(STRETCH_DECAY))
)


class SharedRatePacer:
    """RatePacer's interface, its state in Redis under ``key`` (one key per Mimecast budget).

    When Redis cannot be reached the call is not held up: it goes unpaced, and a 429 is still
    retried after Mimecast's reset, as without a pacer."""

    IDLE_TTL_SECONDS = 60

    def __init__(self, redis_client, key: str) -> None:
        self._redis = redis_client
        self._key = key
        self._script = redis_client.register_script(_REDIS_SCRIPT)

    def _run(
        self, op: str, remaining: float | None = None, reset_s: float | None = None, lane: str = FOREGROUND
    ) -> Turn:
        args = [op, "" if remaining is None else repr(remaining), "" if reset_s is None else repr(reset_s)]
        try:
            wait, booked = self._script(
                keys=[self._key, self._key + ":resets"],
                args=[*args, self.IDLE_TTL_SECONDS, _RESET_SAMPLES, lane, _MIN_RETRY_S],
            )
        except Exception as error:  # redis.RedisError and friends: pacing is an optimisation
            logger.warning("mimecast pacing unavailable (%s); calling without it", type(error).__name__)
            return Turn(0.0, True)
        return Turn(max(0.0, float(wait)), bool(int(booked)))

    def time_for(self, calls: int) -> float:
        return self._run("time_for", calls).wait

    def headroom(self) -> Headroom:
        """A snapshot of the shared budget, read without the script (it books nothing). The keys
        lapse after IDLE_TTL_SECONDS without calls: then there is no news, as at start."""
        try:
            allowance, in_flight = self._redis.hmget(self._key, "allowance", "in_flight")
            resets = self._redis.lrange(self._key + ":resets", 0, -1)
        except Exception as error:  # redis.RedisError and friends, as in _run
            logger.warning("mimecast pacing unavailable (%s); no budget to show", type(error).__name__)
            return Headroom(None, 0.0, 0)
        interval = max((float(r) for r in resets), default=0.0)
        return Headroom(None if allowance is None else float(allowance), interval, int(in_flight or 0))

    def acquire(self) -> float:
        return self.book(FOREGROUND).wait

    def book(self, lane: str = FOREGROUND) -> Turn:
        return self._run("acquire", lane=lane)

    def cancel(self) -> None:
        self._run("cancel")

    def release(self, headers=None) -> None:
        remaining = header_number(headers, "X-RateLimit-Remaining")
        reset_ms = header_number(headers, "X-RateLimit-Reset")
        self._run("release", remaining, None if reset_ms is None else reset_ms / 1000.0)

    def reserve_after_429(self, reset_s: float | None, lane: str = FOREGROUND) -> float:
        return self._run("reserve", None, reset_s, lane).wait


_shared_lock = threading.Lock()
_shared: dict[tuple[str, str], SharedRatePacer] = {}


def shared_pacer(redis_url: str, config) -> SharedRatePacer:
    """The pacer every process using ``redis_url`` shares for the budget ``config`` spends (API 1.0:
    per user; API 2.0: per application). The key is a digest, so no credential is stored in Redis."""
    import redis

    who = config.client_id if config.api_version == 2 else (config.access_key or config.username)
    identity = "|".join((str(config.api_version), config.base_url, config.app_id, who))
    key = "mimecast:pacer:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
    with _shared_lock:
        pacer = _shared.get((redis_url, key))
        if pacer is None:
            pacer = _shared[(redis_url, key)] = SharedRatePacer(redis.Redis.from_url(redis_url), key)
        return pacer
