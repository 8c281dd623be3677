"""Scenario 4: "more details" for every hit of an archive page, against a rate budget.

The simulator adds 100 ms to every call and allows 20 calls/s per user (a token bucket of 1,200 a
minute that holds 20 calls: one second's budget, so no minute-long burst hides the limit). An
analyst opens the archive page's "more details" for 100 hits through the portal's own view (the
htmx request the page makes), which calls get-message-detail for each hit through the process's
Mimecast client. The figure is its wall time divided by the rate-limit bound, 100 calls / 20 per s =
5 s. A bucket that starts full lets the first 20 calls through at once, so the floor is
(100 - 20) / 20 s plus one call's latency, 4.1 s (a ratio of 0.82). refused_429 counts the calls the
simulator refused (the client paces itself from the X-RateLimit headers, so there should be few).
"""

import time
from urllib.parse import urlencode

from bench import harness

TITLE = "Archive more details: 100 hits, 100 ms latency, 20 calls/s"

LATENCY_MS = 100
CALLS_PER_SECOND = 20
DETAIL_PATH = "/api/archive/get-message-detail"


def _archive_hits(server, count):
    """The ids an archive search shows: archived messages, newest first."""
    from mimecast_simulator.handlers import archived

    hits = [m.id for m in reversed(server.state.messages) if archived(m)]
    return hits[:count]


def run(ctx):
    from django.test import Client
    from django.urls import reverse

    hits_wanted = 5 if ctx.tiny else 100
    server = ctx.simulator(
        latency_ms=LATENCY_MS,
        rate_limit_per_minute=CALLS_PER_SECOND * 60,
        rate_limit_burst=CALLS_PER_SECOND,
    )
    harness.use_simulator(server.base_url)
    analyst = harness.portal_user("bench-archive-analyst", ["analyst"])
    browser = Client()
    browser.force_login(analyst)
    hits = _archive_hits(server, hits_wanted)
    url = reverse("archive-details") + "?" + urlencode({"id": hits}, doseq=True)

    server.calls.clear()
    started = time.monotonic()
    response = browser.get(url, headers={"HX-Request": "true"})
    wall = time.monotonic() - started
    if response.status_code != 200:
        raise RuntimeError(f"the details view answered {response.status_code}")

    calls = server.calls_to(DETAIL_PATH)
    statuses = [c.status for c in calls]
    bound = len(hits) / CALLS_PER_SECOND
    ratio = round(wall / bound, 3)
    return {
        "figures": {
            "wall_s": round(wall, 3),
            "bound_s": bound,
            "ratio": ratio,
            "calls": len(calls),
            "refused_429": statuses.count(429),
        },
        "goals": {"ratio": harness.goal(ratio, "<=", 1.2)},
        "info": {
            "hits": len(hits),
            "latency_ms": LATENCY_MS,
            "budget": f"{CALLS_PER_SECOND} calls/s (bucket of {CALLS_PER_SECOND}, refilled {CALLS_PER_SECOND}/s)",
            "floor_s": round((len(hits) - min(len(hits), CALLS_PER_SECOND)) / CALLS_PER_SECOND + LATENCY_MS / 1000, 3),
            "details_answered": statuses.count(200),
            "achieved_calls_per_s": round(len(calls) / wall, 2) if wall else None,
        },
    }
