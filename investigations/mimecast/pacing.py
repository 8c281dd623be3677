"""Pacing calls to the rate budget Mimecast reports, so the portal waits before it would be refused.

Mimecast answers every call with ``X-RateLimit-Remaining`` (calls left in the bucket) and
``X-RateLimit-Reset`` (milliseconds until at least one call is added back), and refuses a call over
the budget with HTTP 429 without running it. It does not publish the numbers, so the pacer learns
them from those headers: while the budget lasts, calls start at once (as many at a time as callers
run concurrently); once it is spent, calls start one per reset interval, which is the rate at which
Mimecast adds calls back. A 429 still happens now and then (the headers are as old as the answer's
round trip); its retry gets the next slot after the reset, in line with everyone else's.

One pacer serves every client of one process that shares a Mimecast budget (the budget is per user
for API 1.0 and per application for API 2.0): the service layer hands the cached client's pacer to
the short-lived clients it makes, so threads and tasks of one process queue for the same budget
instead of each hammering it and backing off.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# How many recent reset figures the interval is taken from (the largest of them): a reset is the
# time to the *next* call added back, so one figure can be anywhere between 0 and a full interval.
_RESET_SAMPLES = 16


def _header_number(headers, name: str) -> float | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None


class RatePacer:
    """Thread-safe. ``acquire()`` before each call (returns how long to wait first), ``release()``
    with the answer's headers after it, ``reserve_after_429()`` to book a refused call's retry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._allowance: float | None = None  # calls that may start without waiting; None: no news yet
        self._next_at = 0.0  # once the budget is spent, the next call starts no sooner than this
        self._refill_at = 0.0  # when the latest answer said the next call is added back
        self._resets: deque[float] = deque(maxlen=_RESET_SAMPLES)
        self._in_flight = 0

    @property
    def interval(self) -> float:
        """Seconds between calls once the budget is spent (the largest recent reset figure)."""
        return max(self._resets, default=0.0)

    def acquire(self) -> float:
        """Book a start for one call; returns the seconds to wait before starting it (0: go now)."""
        with self._lock:
            self._in_flight += 1
            if self._allowance is None or self._allowance >= 1:
                if self._allowance is not None:
                    self._allowance -= 1
                return 0.0
            return self._book_slot(self._clock())

    def cancel(self) -> None:
        """A booked call that is not made after all (it would have waited too long)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def release(self, headers=None) -> None:
        """The call is over; ``headers`` are its answer's (None when there was no answer)."""
        remaining = _header_number(headers, "X-RateLimit-Remaining")
        reset_ms = _header_number(headers, "X-RateLimit-Reset")
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if reset_ms is not None and reset_ms > 0:
                self._resets.append(reset_ms / 1000.0)
            if remaining is not None:
                # Calls still in flight may already have been counted by Mimecast, or not yet:
                # assume not, so the budget is never overspent by our own concurrency.
                self._allowance = remaining - self._in_flight
            if reset_ms is not None:
                # Mimecast adds the next call back this long after it counted this one (and so no
                # later than this long after now).
                self._refill_at = self._clock() + reset_ms / 1000.0

    def reserve_after_429(self, reset_s: float | None) -> float:
        """A call was refused (already released): book its retry no sooner than the reset, after
        the starts already booked. Returns the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            self._in_flight += 1
            self._allowance = 0
            if reset_s:
                self._resets.append(reset_s)
                self._refill_at = max(self._refill_at, now + reset_s)
            return self._book_slot(now)

    def _book_slot(self, now: float) -> float:
        slot = max(now, self._next_at, self._refill_at)
        self._next_at = slot + self.interval
        return slot - now
