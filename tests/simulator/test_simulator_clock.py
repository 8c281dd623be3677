"""The simulator's "today" moves with its clock: a simulator started before midnight answers a client that
reads the wall clock after it."""

import time
from datetime import UTC, datetime, timedelta

from mimecast_simulator import handlers, siem
from mimecast_simulator.data import State

BEFORE_MIDNIGHT = datetime(2026, 11, 26, 23, 59, 58, tzinfo=UTC)


def _started_before_midnight():
    # Data anchored two seconds before midnight, started five seconds ago: its clock reads 00:00:03.
    return State(seed=1, now=BEFORE_MIDNIGHT, started_monotonic=time.monotonic() - 5)


def test_the_event_stream_takes_the_new_day_as_today():
    st = _started_before_midnight()
    today = (BEFORE_MIDNIGHT + timedelta(days=1)).date().isoformat()
    status, body = siem.batch(st, {"type": "web security", "dateRangeStartsAt": today}, "http://sim", b"k")
    assert status == 200, body
    assert body["isCaughtUp"] and body["value"] == []  # no events yet on a day three seconds old


def test_today_starts_at_the_clocks_midnight():
    assert handlers.start_of_today(_started_before_midnight()) == datetime(2026, 11, 27, tzinfo=UTC)
