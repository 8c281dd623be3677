"""Scenario 4: "more details" for every hit of an archive page, against a rate budget.

The simulator adds 100 ms to every call and allows 20 calls/s per user (a token bucket of 1,200 a
minute that holds 20 calls: one second's budget, so no minute-long burst hides the limit). An
analyst opens the archive page's "more details" for 100 hits through the portal's own view (the
htmx request the page makes), which calls get-message-detail for each hit through the process's
Mimecast client.

The work is complete only when every one of the 100 hits is answered with its own content: the page
shows each hit's link and Message-ID, shows no problem, and Mimecast answered get-message-detail for
each id. Anything less fails the scenario (harness.require): a detail that failed would otherwise
make the run shorter, and so look faster.

The bound is fixed by the work, never by what the run did: the 100 calls the page needs at 20 per
second, 5 s, whatever calls the run made or was refused. The figure is the wall time over that bound.
A bucket that starts full lets the first 20 calls through at once, so the floor no client can beat
is (100 - 20) / 20 s plus one call's latency, 4.1 s (a ratio of 0.82). refused_429 counts the calls
the simulator refused (the client paces itself from the X-RateLimit headers, so there should be few;
each one is a retry the budget pays for).
"""

import time
from urllib.parse import urlencode

from django.utils.html import escape

from bench import harness

TITLE = "Archive more details: 100 hits, 100 ms latency, 20 calls/s"

LATENCY_MS = 100
CALLS_PER_SECOND = 20
DETAIL_PATH = "/api/archive/get-message-detail"


def _archive_hits(server, count):
    """The archived messages an archive search shows, newest first."""
    from mimecast_simulator.handlers import archived

    hits = [m for m in reversed(server.state.messages) if archived(m)]
    return hits[:count]


def _answered_ids(calls):
    """The ids Mimecast answered get-message-detail for (200, one per call)."""
    answered = set()
    for call in calls:
        if call.status == 200 and isinstance(call.json, dict):
            answered.update(item.get("id") for item in call.json.get("data") or [] if isinstance(item, dict))
    return answered


def _shown(html, message):
    """Whether the details table shows this hit's own content: its link and its Message-ID."""
    from django.urls import reverse

    return reverse("message-detail", args=[message.id]) in html and escape(message.mime_id) in html


def run(ctx):
    from django.test import Client
    from django.urls import reverse

    hits_wanted = 5 if ctx.tiny else 100
    # Fixed by the work: the calls the page needs at the budget's rate.
    bound = hits_wanted / CALLS_PER_SECOND
    floor = (hits_wanted - min(hits_wanted, CALLS_PER_SECOND)) / CALLS_PER_SECOND + LATENCY_MS / 1000
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
    harness.require(len(hits) == hits_wanted, f"the simulator holds {len(hits)} archived messages, not {hits_wanted}")
    url = reverse("archive-details") + "?" + urlencode({"id": [m.id for m in hits]}, doseq=True)

    server.calls.clear()
    started = time.monotonic()
    response = browser.get(url, headers={"HX-Request": "true"})
    wall = time.monotonic() - started
    harness.require(response.status_code == 200, f"the details view answered {response.status_code}")

    html = response.content.decode()
    calls = server.calls_to(DETAIL_PATH)
    statuses = [c.status for c in calls]
    answered = _answered_ids(calls)
    shown = sum(1 for m in hits if _shown(html, m))
    unanswered = [m.id for m in hits if m.id not in answered]
    harness.require(not unanswered, f"Mimecast answered {hits_wanted - len(unanswered)} of {hits_wanted} details")
    harness.require(shown == hits_wanted, f"the page shows {shown} of {hits_wanted} details")
    harness.require('role="alert"' not in html, "the page shows a problem beside the details")

    ratio = round(wall / bound, 3)
    return {
        "figures": {
            "details_shown": shown,
            "wall_s": round(wall, 3),
            "bound_s": bound,
            "ratio": ratio,
            "calls": len(calls),
            "refused_429": statuses.count(429),
        },
        "goals": {"ratio": harness.goal(ratio, "<=", 1.2)},
        "info": {
            "hits": hits_wanted,
            "latency_ms": LATENCY_MS,
            "budget": f"{CALLS_PER_SECOND} calls/s (bucket of {CALLS_PER_SECOND}, refilled {CALLS_PER_SECOND}/s)",
            "bound": f"{hits_wanted} calls / {CALLS_PER_SECOND} per s",
            "floor_s": round(floor, 3),
            "achieved_calls_per_s": round(len(calls) / wall, 2) if wall else None,
        },
    }
