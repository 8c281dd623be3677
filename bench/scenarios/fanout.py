"""Detail fan-out: the message page when every Mimecast call takes 100 ms.

The simulator adds 100 ms to every call. A signed-in analyst opens the phishing campaign's message
page with Django's test client (API 1.0, access and secret keys configured directly, as in
production: no login round trip). The page's time is divided by the time of one upstream call,
measured directly through the same client: the median of several calls of each endpoint the page
uses, taking the slowest endpoint. Calls made concurrently score about 1.0; calls made one after
another score the number of calls.

The related-activity section, which htmx loads right after the page (TTP logs, SAFE scores, "who
else received it"), is measured the same way and reported in info.
"""

import logging
import re
import statistics
import time
from html import unescape

from bench import harness

TITLE = "Detail fan-out"
LATENCY_MS = 100
_RELATED = re.compile(r'<div id="related" hx-get="([^"]+)"')


def _timed(client, url, server, **kwargs):
    before = len(server.calls)
    started = time.perf_counter()
    response = client.get(url, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return elapsed, len(server.calls) - before, response


def _direct_calls(mimecast, message_id, runs):
    """Each endpoint the page calls, made directly `runs` times (after one to warm the pool)."""
    endpoints = {
        "get-message-info": lambda: mimecast.get_message_info(message_id),
        "get-message-detail (archive)": lambda: mimecast.get_archive_message_detail(message_id),
    }
    direct = {}
    for name, call in endpoints.items():
        call()  # warm the connection pool
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        direct[name] = times
    return direct


def _report(page_times, page_calls, related_times, related_calls, direct, runs):
    # One upstream call: the slowest of the endpoints' medians.
    one_call_ms = max(statistics.median(times) for times in direct.values()) * 1000
    page = harness.summary_ms(page_times)
    related = harness.summary_ms(related_times)
    median_ratio = round(page["median_ms"] / one_call_ms, 3)
    p95_ratio = round(page["p95_ms"] / one_call_ms, 3)
    return {
        "figures": {
            "page_median_over_one_call": median_ratio,
            "page_p95_over_one_call": p95_ratio,
            "page_upstream_calls": page_calls,
            "page_median_ms": page["median_ms"],
            "one_call_ms": round(one_call_ms, 2),
        },
        "goals": {
            "page_median_over_one_call": harness.goal(median_ratio, "<=", 1.3),
            "page_p95_over_one_call": harness.goal(p95_ratio, "<=", 1.3),
        },
        "info": {
            "latency_ms": LATENCY_MS,
            "runs": runs,
            "page": page,
            "one_call": "the slowest median of the page's endpoints, called directly through the portal's client",
            "direct_calls": {name: harness.summary_ms(times) for name, times in direct.items()},
            "related_section": {**related, "upstream_calls": related_calls},
        },
    }


def run(ctx):
    from django.test import Client
    from django.urls import reverse

    from investigations.connection.services import mimecast_client

    logging.getLogger("investigations.mimecast").setLevel(logging.WARNING)  # a log line per call
    runs = 3 if ctx.tiny else 30
    direct_runs = 3 if ctx.tiny else 15
    server = ctx.simulator(latency_ms=LATENCY_MS)
    harness.use_simulator(server.base_url)
    client = Client()
    client.force_login(harness.portal_user("bench-fanout", ["analyst"]))
    message_id = server.state.story["phishing_message_ids"][0]
    url = reverse("message-detail", args=[message_id])
    direct = _direct_calls(mimecast_client(), message_id, direct_runs)

    first = client.get(url)  # warm up imports, templates and the connection pool
    related_match = _RELATED.search(first.content.decode())
    if related_match is None:
        raise RuntimeError("the message page has no related-activity section")
    related_url = unescape(related_match.group(1))
    page_times, related_times = [], []
    page_calls = related_calls = 0
    for _ in range(runs):
        elapsed, page_calls, _response = _timed(client, url, server)
        page_times.append(elapsed)
        elapsed, related_calls, _response = _timed(client, related_url, server, headers={"HX-Request": "true"})
        related_times.append(elapsed)
    return _report(page_times, page_calls, related_times, related_calls, direct, runs)
