"""Portal overhead: a 100-row track & trace results page against the same client call made directly.

The simulator adds no latency. A signed-in analyst searches Message Finder (track & trace) with
Django's test client, for criteria and a custom window chosen so that Mimecast returns exactly 100
messages; the rendered page is checked to hold 100 rows. The same search is made directly through
the portal's Mimecast client, interleaved with the pages. What the page costs beyond the call is the
portal's own work: the session, the form, the audit event (a hash-chained insert), sorting and the
template.
"""

import logging
import re
import time
from datetime import timedelta

from bench import harness

TITLE = "Portal overhead"
ROWS = 100
REASON = "Benchmark: portal overhead on a 100-row result page"
# The portal's own time on the page, over the call it makes: the rendering goal (ms, median).
OVERHEAD_GOAL_MS = 5
_ROW = re.compile(r'<a href="/messages/[^"]+" class="msg-link">')


def _window_with(server, rows, criteria):
    """A custom window (whole minutes, ending now) in which the simulator holds exactly `rows`
    messages matching `criteria`, or None."""
    messages = sorted((m for m in server.state.messages if criteria(m)), key=lambda m: m.received, reverse=True)
    if len(messages) <= rows:
        return None
    start = messages[rows - 1].received.replace(second=0, microsecond=0)
    if messages[rows].received >= start:
        return None  # the 101st shares the minute
    return start


def _search(server):
    """Criteria and window that give exactly ROWS rows: inbound mail, over however many minutes."""
    for route in ("inbound", "outbound", "internal"):
        start = _window_with(server, ROWS, lambda m, route=route: m.route == route)
        if start is not None:
            return route, start
    raise RuntimeError(f"no route has exactly {ROWS} messages in a whole-minute window")


def interleaved(client, url, params, direct, runs, profiler=None):
    """Page and direct call in turn, `runs` times each: their times, and the last page. A `profiler`
    (bench/profile.py's cProfile) is on for the pages only."""
    page_times, direct_times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        response = client.get(url, params)
        if profiler is not None:
            profiler.disable()
        page_times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"the results page answered {response.status_code}")
        started = time.perf_counter()
        direct()
        direct_times.append(time.perf_counter() - started)
    return page_times, direct_times, response


def _report(page_times, direct_times, info):
    page = harness.summary_ms(page_times)
    call = harness.summary_ms(direct_times)
    ratio = round(page["median_ms"] / call["median_ms"], 3)
    overhead = round(page["median_ms"] - call["median_ms"], 2)
    return {
        "figures": {
            "page_median_ms": page["median_ms"],
            "page_p95_ms": page["p95_ms"],
            "direct_median_ms": call["median_ms"],
            "direct_p95_ms": call["p95_ms"],
            "median_ratio": ratio,
            "median_overhead_ms": overhead,
        },
        "goals": {
            "median_ratio": harness.goal(ratio, "<=", 1.3),
            "median_overhead_ms": harness.goal(overhead, "<=", OVERHEAD_GOAL_MS),
        },
        "info": info,
    }


def prepared(ctx):
    """A signed-in analyst's client, the results page's URL and parameters, and the direct call,
    checked to give 100 rows each (the profiler makes the same request)."""
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from investigations.connection.services import mimecast_client

    logging.getLogger("investigations.mimecast").setLevel(logging.WARNING)  # a log line per call
    server = ctx.simulator()
    harness.use_simulator(server.base_url)
    client = Client()
    client.force_login(harness.portal_user("bench-overhead", ["analyst"]))

    route, start = _search(server)
    end = timezone.now().replace(microsecond=0)
    if end > server.anchor + timedelta(minutes=5):
        raise RuntimeError("the simulator's clock and ours disagree")
    params = {
        "route": route,
        "window": "custom",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "reason": REASON,
    }
    url = reverse("track-trace")
    mimecast = mimecast_client()

    def direct():
        return mimecast.search_messages(route=[route], start=start, end=end, search_reason=REASON)

    # Warm up, and check the page really is the 100-row page.
    response = client.get(url, params)
    page_rows = len(_ROW.findall(response.content.decode()))
    direct_rows = len(direct())
    if response.status_code != 200 or page_rows != ROWS or direct_rows != ROWS:
        raise RuntimeError(f"expected {ROWS} rows: page {response.status_code} with {page_rows}, direct {direct_rows}")
    direct.search = {"route": route, "window": [start.isoformat(), end.isoformat()]}
    return client, url, params, direct


def run(ctx):
    runs = 3 if ctx.tiny else 100
    client, url, params, direct = prepared(ctx)
    page_times, direct_times, response = interleaved(client, url, params, direct, runs)
    info = {
        "runs": runs,
        "rows": ROWS,
        "search": direct.search,
        "page_bytes": len(response.content),
    }
    return _report(page_times, direct_times, info)
