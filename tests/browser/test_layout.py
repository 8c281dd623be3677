"""Every list page at 1440x900 in Chromium, on the demo data and again with long unbroken strings and
the XSS corpus in everything the lists show: the page is never wider than the window.

The corpus goes into the simulator's answers (message subjects and display names, every log's free
text, group and campaign names, policy descriptions) and into the portal's own rows (a user whose
name is one unbroken 150-character word, cases, and requests whose reasons hold the vectors)."""

from itertools import cycle
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from investigations.cases.services import case_create
from tests.browser.crawl import VIEWPORT, sign_in
from tests.browser.pages import hundred_row_search
from tests.browser.xss_vectors import xss_vectors
from tests.factories import UserFactory
from tests.remediation.support import hash_values, pending_request

REASON = "Layout check of every list page, ticket INC-4242"
LONG_WORD = "Unbroken" + "x" * 240
LONG_URL = "https://very-long-host-name-" + "a" * 60 + ".example/" + "path-segment/" * 20 + "?q=" + "b" * 120
LONG_HASH = "ab" * 128  # longer than any digest: wider than a SHA-256 cell must ever get
LONG_USERNAME = "u" * 150  # the longest username Django allows, one word
# Something of the corpus, as it stands in the page's HTML (escaped vectors keep these parts).
CORPUS_MARKS = (LONG_WORD[:40], LONG_URL[:40], LONG_HASH[:40], LONG_USERNAME, "alert(1)")


def _corpus():
    return cycle([LONG_WORD, LONG_URL, LONG_HASH, *xss_vectors()])


# Free text each simulator log shows, by log: only text, never an address or id the portal looks up.
LOG_TEXT = {
    "click_logs": ("url", "subject", "category", "ttpDefinition"),
    "attachment_logs": ("fileName", "subject", "details", "definition", "fileHash"),
    "impersonation_logs": ("subject", "definition"),
    "rejections": ("description", "info", "remoteName", "remoteEhlo"),
    "release_logs": ("messageInfo", "heldReason", "policy"),
    "managed_urls": ("comment", "path"),
    "incidents": ("reason",),
    "web_events": ("url", "category", "policy"),
    "phishing_campaigns": ("name",),
    "groups": ("description",),
}


def _plant_simulator(state):
    values = _corpus()
    for message in state.messages:
        message.subject = next(values)
        message.from_name = next(values)
    for log, keys in LOG_TEXT.items():
        for entry in getattr(state, log):
            for key in keys:
                entry[key] = next(values)
    for mailbox in state.mailboxes:
        mailbox.name, mailbox.department, mailbox.title = next(values), next(values), next(values)
    for results in state.phishing_results.values():
        for row in results:
            row["name"], row["department"], row["templateName"] = next(values), next(values), next(values)
    for policy in state.policies:
        policy["policy"]["description"] = next(values)


def _plant_portal(analyst):
    values = _corpus()
    long_user = UserFactory(
        username=LONG_USERNAME, roles=["analyst"], first_name=LONG_WORD[:150], last_name=LONG_WORD[:150]
    )
    xss_user = UserFactory(username="x<script>alert(1)</script>", roles=["analyst"])
    for requester in (long_user, xss_user, analyst):
        for _ in range(3):
            pending_request(requester, values=hash_values(reason=next(values) + " " + next(values)))
    for n in range(3):
        case_create(
            actor=analyst, values={"title": next(values)[:200], "reason": next(values), "ticket_id": f"INC-{n}"}
        )


def _stage(personas):
    """The rows the demo's first hour leaves: a case, and a request waiting for approval."""
    case_create(
        actor=personas["analyst"],
        values={"title": "Credential phishing wave", "reason": REASON, "ticket_id": "INC-4242"},
    )
    return pending_request(personas["analyst"])


def _list_pages(simulator):
    """(persona, URL) of every list page, each as full of rows as the data allows."""
    mailbox = next(m.email for m in simulator.state.mailboxes)
    logs = [
        "tools-url-logs",
        "tools-attachment-logs",
        "tools-impersonation-logs",
        "tools-release-logs",
        "tools-rejections",
        "tools-managed-urls",
        "tools-incidents",
        "tools-held",
    ]
    searched = {
        "track-trace": hundred_row_search(simulator),
        "archive-search": {"text": "invoice"},
        "mailbox-view": {"mailbox": mailbox, "window": "30d"},
    }
    pages = [
        ("analyst", f"{reverse(name)}?{urlencode({**query, 'reason': REASON})}") for name, query in searched.items()
    ]
    pages += [("analyst", f"{reverse(name)}?window=30d") for name in logs]
    pages += [
        ("analyst", reverse("tools-web-security")),
        ("analyst", reverse("awareness")),
        ("analyst", reverse("directory-groups")),
        ("analyst", reverse("directory-policies")),
        ("analyst", reverse("remediation-list")),
        ("analyst", reverse("case-list")),
        ("approver", reverse("remediation-approvals")),
        ("auditor", reverse("audit-list")),
        ("admin", reverse("user-list")),
    ]
    return pages


# The page's width and the window's, and the elements that stick out first (their parent fits): what
# the failure names.
_OVERFLOW = """() => {
  const limit = window.innerWidth;
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\\s+/).join(".") : "");
  const out = [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > limit + 1
    && !(e.parentElement && e.parentElement.getBoundingClientRect().right > limit + 1));
  return [document.scrollingElement.scrollWidth, limit,
          out.slice(0, 3).map(e => `${name(e)} (${Math.round(e.getBoundingClientRect().width)}px)`)];
}"""


def _overflow(page):
    return page.evaluate(_OVERFLOW)


@pytest.mark.parametrize("data", ["demo", "corpus"])
def test_no_list_page_is_wider_than_the_window_at_1440x900(data, chromium, live_server, personas, sim_v2):
    _stage(personas)
    if data == "corpus":
        _plant_simulator(sim_v2.state)
        _plant_portal(personas["analyst"])
    contexts = {}
    dialogs = []
    too_wide = []
    not_planted = []
    try:
        for role, url in _list_pages(sim_v2):
            if role not in contexts:
                contexts[role] = chromium.new_context(base_url=live_server.url, viewport=VIEWPORT).new_page()
                contexts[role].on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
                sign_in(contexts[role], personas[role].get_username())
            page = contexts[role]
            response = page.goto(url)
            assert response.status == 200, f"{role} {url}: {response.status}"
            page.wait_for_load_state("networkidle")
            if data == "corpus" and not any(mark in page.content() for mark in CORPUS_MARKS):
                not_planted.append(f"{role} {url}")
            width, window, culprits = _overflow(page)
            if width > window:
                too_wide.append(
                    f"{role} {url}: {width}px wide in a {window}px window; first out: {', '.join(culprits)}"
                )
    finally:
        for page in contexts.values():
            page.context.close()
    assert not_planted == [], "pages the corpus did not reach: " + ", ".join(not_planted)
    assert too_wide == [], f"{len(too_wide)} pages wider than the window ({data}):\n" + "\n".join(too_wide)
    assert dialogs == []  # the corpus is shown, never run


# Twenty result rows above the fold on track & trace at 1440x900: tests/browser/test_workspace_density.py.
# Reject asking first, from the approval queue at 1440x900: tests/browser/test_keyboard.py walks the
# queue by keyboard to the decision and dismisses the question.
