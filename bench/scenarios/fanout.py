"""Detail fan-out: the message page when every Mimecast call takes 100 ms.

The simulator adds 100 ms to every call. A signed-in analyst opens the phishing campaign's message
page with Django's test client (API 1.0, access and secret keys configured directly, as in
production: no login round trip), as a browser with htmx does: the shell first, then every section
the shell asks htmx to load, all of them at once (one thread each), and any section those load in
turn. Two figures:

- first byte: the shell's answer. It must wait on no Mimecast call (0 calls is checked too).
- the complete page: from asking for the shell to the last section's answer, the related section
  included. Divided by one upstream call, measured directly through the same client: the median of
  several calls of each endpoint the first round uses, taking the slowest endpoint.

The bound of the complete page is fixed by the work, not by the run: "who else received it" searches
by the Message-ID and by the sender and subject, which only the first round (get-message-info, the
archive detail) can tell, so the page needs two calls one after the other and no fewer
(``WORK_CHAIN``). Every other call can run beside one of those two. The goal is 1.3 x that chain of
one call each. The run also measures the longest chain of calls it made (from the simulator's own
record of when each call began and ended): a longer chain than the work needs fails its goal.

Before the page loaded its sections this way, ``page_*`` figures were the first answer alone, the
related section apart (in info); they now measure the complete page, related section included.

The scenario fails (incomplete) unless every section answered 200 with its content and without a
failed call shown in it: a section that failed fast must not make the page look fast.
"""

import logging
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html import unescape

from bench import harness

TITLE = "Detail fan-out"
LATENCY_MS = 100
# The first round, then the searches that need what it learnt: see the module's docstring.
WORK_CHAIN = 2
COMPLETE_GOAL = round(1.3 * WORK_CHAIN, 3)
FIRST_BYTE_GOAL_MS = 50
# What each section must hold once it has arrived (ids from templates/workspace/message_detail.html
# and message_related.html), beyond answering 200.
SECTION_CONTENT = {
    "message-detail": ('id="msg-subject"', 'id="summary"', 'id="delivery"', 'id="header-rows"'),
    "related": ('id="verdict-banner" role="status"', 'id="timeline-events"', 'id="who-else-table"', 'id="clicks"'),
}
# The one partial that shows a failed Mimecast call (templates/core/_problem.html).
_PROBLEM = 'class="error" role="alert"'
_LOADS = re.compile(r'<[a-z]+ id="([a-z-]+)" hx-get="([^"]+)" hx-trigger="load"')
_WORKERS = 4


def _direct_calls(mimecast, message_id, runs):
    """Each endpoint of the first round, made directly `runs` times (after one to warm the pool)."""
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


def longest_chain(calls):
    """The most calls of ``calls`` that ran one after another, each beginning after the one before
    it ended (the simulator's own times)."""
    spans = sorted((c.time, c.time + c.duration_ms / 1000) for c in calls)
    chain = []
    for i, (start, _end) in enumerate(spans):
        chain.append(1 + max((chain[j] for j in range(i) if spans[j][1] <= start), default=0))
    return max(chain, default=0)


def _check_section(name, response):
    html = response.content.decode()
    harness.require(response.status_code == 200, f"section {name} answered {response.status_code}")
    missing = [marker for marker in SECTION_CONTENT.get(name, ("",)) if marker not in html]
    harness.require(name in SECTION_CONTENT, f"the page loads a section the bench does not know: {name}")
    harness.require(not missing, f"section {name} arrived without {missing}")
    harness.require(_PROBLEM not in html, f"section {name} shows a failed Mimecast call")
    return html


class _Browser:
    """One signed-in analyst whose htmx loads a page's sections concurrently, a client per thread
    sharing the session cookie."""

    def __init__(self, client):
        from django.test import Client

        self.client = client
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=_WORKERS)
        self._client_class = Client

    def _thread_client(self):
        if not hasattr(self.local, "client"):
            self.local.client = self._client_class()
            self.local.client.cookies = self.client.cookies
        return self.local.client

    def _section(self, name, url):
        response = self._thread_client().get(url, headers={"HX-Request": "true", "HX-Target": name})
        return name, response

    def open(self, url, server):
        """(first byte s, complete s, shell calls, every call, {section: html})."""
        before = len(server.calls)
        started = time.perf_counter()
        shell = self.client.get(url)
        first_byte = time.perf_counter() - started
        harness.require(shell.status_code == 200, f"the shell answered {shell.status_code}")
        shell_calls = len(server.calls) - before
        sections, pending = {}, dict(_LOADS.findall(shell.content.decode()))
        harness.require(set(pending) == set(SECTION_CONTENT), f"the shell loads {sorted(pending)}")
        while pending:
            futures = [self.pool.submit(self._section, name, unescape(u)) for name, u in pending.items()]
            pending = {}
            for future in futures:
                name, response = future.result()
                sections[name] = _check_section(name, response)
                pending.update({n: u for n, u in _LOADS.findall(sections[name]) if n not in sections})
        complete = time.perf_counter() - started
        return first_byte, complete, shell_calls, server.calls[before:], sections

    def close(self):
        """Each worker closes its own database connection."""
        from django.db import connections

        barrier = threading.Barrier(_WORKERS)

        def close_own():
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [self.pool.submit(close_own) for _ in range(_WORKERS)]:
            future.result()
        self.pool.shutdown()


def _report(runs, direct, first_bytes, completes, shell_calls, page_calls, chains):
    one_call_ms = max(statistics.median(times) for times in direct.values()) * 1000
    first = harness.summary_ms(first_bytes)
    page = harness.summary_ms(completes)
    median_ratio = round(page["median_ms"] / one_call_ms, 3)
    p95_ratio = round(page["p95_ms"] / one_call_ms, 3)
    chain = max(chains)
    return {
        "figures": {
            "first_byte_ms": first["median_ms"],
            "complete_over_one_call": median_ratio,
            "page_median_over_one_call": median_ratio,
            "page_p95_over_one_call": p95_ratio,
            "page_upstream_calls": max(page_calls),
            "page_median_ms": page["median_ms"],
            "shell_upstream_calls": max(shell_calls),
            "longest_chain": chain,
            "one_call_ms": round(one_call_ms, 2),
        },
        "goals": {
            "first_byte_ms": harness.goal(first["median_ms"], "<=", FIRST_BYTE_GOAL_MS),
            "shell_upstream_calls": harness.goal(max(shell_calls), "<=", 0),
            "complete_over_one_call": harness.goal(median_ratio, "<=", COMPLETE_GOAL),
            "page_p95_over_one_call": harness.goal(p95_ratio, "<=", COMPLETE_GOAL),
            "longest_chain": harness.goal(chain, "<=", WORK_CHAIN),
        },
        "info": {
            "latency_ms": LATENCY_MS,
            "runs": runs,
            "first_byte": first,
            "complete_page": page,
            "work_chain": f"{WORK_CHAIN} calls one after another: the first round, then the searches it makes possible",
            "complete_goal": f"1.3 x {WORK_CHAIN} calls = {COMPLETE_GOAL} x one call",
            "one_call": (
                "the slowest median of the first round's endpoints, called directly through the portal's client"
            ),
            "direct_calls": {name: harness.summary_ms(times) for name, times in direct.items()},
            "page_upstream_calls": "every call of the shell and its sections, the related section included",
            "sections": sorted(SECTION_CONTENT),
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

    browser = _Browser(client)
    try:
        browser.open(url, server)  # warm up imports, templates, the connection pool and the SAFE cache
        first_bytes, completes, shell_calls, page_calls, chains = [], [], [], [], []
        for _ in range(runs):
            first_byte, complete, shell, calls, _sections = browser.open(url, server)
            first_bytes.append(first_byte)
            completes.append(complete)
            shell_calls.append(shell)
            page_calls.append(len(calls))
            chains.append(longest_chain(calls))
    finally:
        browser.close()
    return _report(runs, direct, first_bytes, completes, shell_calls, page_calls, chains)
