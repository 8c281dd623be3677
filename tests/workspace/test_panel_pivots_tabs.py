"""The workspace's density features: the search panel folded after a search with its criteria as chips
(open while there is nothing searched or the form is wrong), one page of 100 rows at a time, the time
window kept when the analyst pivots from a result or the message page to another search, and the
message page's tabs with every section loaded into its panel."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.core.context import CURRENT_CASE_SESSION_KEY
from investigations.core.validators import preset_range
from investigations.mimecast.types import EmailAddress, TrackedEmail
from investigations.models import AuditAction, AuditEvent
from investigations.workspace.pivots import Pivots
from investigations.workspace.rows import track_trace_rows
from mimecast_simulator.handlers import archived
from tests.factories import InvestigationFactory
from tests.workspace.message_page import load_message_page, section_urls

REASON = "User reported phishing, ticket INC-4242"
PANEL = re.compile(r'<details class="search-panel" id="search-panel"( open)?>')
CHIP = re.compile(r'<span class="chip" title="[^"]*">([^<]*)</span>')
PIVOT = re.compile(r'<a class="pivot" href="([^"]+)" title="([^"]*)"></a>')
MESSAGE_LINK = re.compile(r'<a href="(/messages/[^"]+)" class="msg-link">')


def _get(client, name, **params):
    return client.get(reverse(name) + "?" + urlencode(params, doseq=True))


def _panel(html):
    found = PANEL.findall(html)
    assert len(found) == 1, found
    return "open" if found[0] else "folded"


def _query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(unescape(url)).query).items()}


@pytest.fixture
def story(mimecast_env):
    return mimecast_env.state.story


# ------------------------------------------------------------------------------ the search panel


def test_before_a_search_the_panel_is_open_and_shows_no_chips(signed_in, mimecast_env):
    for name in ("track-trace", "archive-search", "mailbox-view"):
        html = signed_in.get(reverse(name)).content.decode()
        assert _panel(html) == "open", name
        assert 'id="search-chips"' not in html


def test_after_a_search_the_panel_folds_to_its_criteria_as_chips(signed_in, story):
    sender = f"no-reply@{story['phishing_domain']}"
    html = _get(signed_in, "track-trace", sender=sender, route="inbound", window="7d", reason=REASON).content.decode()
    assert _panel(html) == "folded"
    assert CHIP.findall(html) == [f"From (address or domain): {sender}", "Route: Inbound", "Window: Last 7 days"]
    assert 'id="tt-results"' in html

    html = _get(signed_in, "archive-search", text="invoice", period="last_month", reason=REASON).content.decode()
    assert _panel(html) == "folded"
    assert CHIP.findall(html) == ["Text (anywhere): invoice", "Period: Last month"]


def test_a_custom_window_chip_gives_its_dates_in_the_viewers_time_zone(signed_in, analyst, story):
    analyst.time_zone = "Europe/Paris"
    analyst.save()
    end = timezone.now().replace(microsecond=0)
    start = end - timedelta(days=2)
    html = _get(
        signed_in,
        "track-trace",
        sender=story["phishing_domain"],
        window="custom",
        start=start.isoformat(),
        end=end.isoformat(),
        reason=REASON,
    ).content.decode()
    paris = timezone.localtime(start, timezone=ZoneInfo("Europe/Paris"))
    window = [chip for chip in CHIP.findall(html) if chip.startswith("Window: ")]
    assert window and window[0].startswith(f"Window: {paris:%Y-%m-%d %H:%M} to ")


def test_a_mailbox_search_folds_to_its_mailbox_view_and_window(signed_in, story, mimecast_env):
    state = mimecast_env.state
    mailbox = state.message_by_id[story["phishing_message_ids"][0]].to[0][1]
    html = _get(signed_in, "mailbox-view", mailbox=mailbox, window="7d", reason=REASON).content.decode()
    assert _panel(html) == "folded"
    assert CHIP.findall(html) == [f"Mailbox: {mailbox}", "View: Received", "Window: Last 7 days"]


def test_the_panel_is_open_again_when_the_form_has_errors(signed_in, mimecast_env):
    html = _get(signed_in, "track-trace", sender="not an address", window="7d", reason=REASON).content.decode()
    assert _panel(html) == "open"
    assert 'class="field-error"' in html and 'id="search-chips"' not in html
    html = _get(signed_in, "archive-search", reason=REASON).content.decode()  # no criterion at all
    assert _panel(html) == "open" and "Give some text" in html
    html = _get(signed_in, "mailbox-view", mailbox="x@example.com", reason="short").content.decode()
    assert _panel(html) == "open" and "at least 10 characters" in html
    assert mimecast_env.calls_to("/api/message-finder/search") == []


def test_a_chip_shows_markup_as_text(signed_in, mimecast_env):
    html = _get(signed_in, "track-trace", subject='<img src=x onerror="alert(1)">', window="7d", reason=REASON)
    html = html.content.decode()
    assert '<img src=x onerror="alert(1)">' not in html
    assert "Subject contains: &lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


# ------------------------------------------------------------------------------------- paging


def test_a_long_track_and_trace_result_is_shown_a_hundred_rows_a_page(signed_in, mimecast_env):
    first = _get(signed_in, "track-trace", route="inbound", window="30d", reason=REASON)
    rows = first.context["rows"]
    assert len(rows) > 100, "the simulator has more than 100 inbound messages in 30 days"
    html = first.content.decode()
    assert len(MESSAGE_LINK.findall(html)) == 100
    assert f"1\u2013100 of {len(rows)} messages" in html
    # "Remediate all" still names every copy of the whole result, not only this page's.
    assert len(first.context["every"]) == sum(len(r.to) for r in rows if r.id)
    next_url = unescape(first.context["next_url"])
    assert "p=2" in next_url
    second = signed_in.get(next_url, headers={"HX-Request": "true"})
    shown = MESSAGE_LINK.findall(second.content.decode())
    assert len(shown) == min(100, len(rows) - 100)
    assert set(shown).isdisjoint(MESSAGE_LINK.findall(html))
    assert "p=" not in unescape(second.context["previous_url"])  # back to the first page
    # The audit trail's query reruns the search from its first page.
    assert all("p=" not in e.data["query"] for e in AuditEvent.objects.filter(action=AuditAction.SEARCH_TRACK_TRACE))


@pytest.mark.parametrize("page", ["0", "-1", "x", "999", "2" * 3, "\u00b2", "\u0662"])
def test_a_wrong_page_number_is_the_first_or_last_page_never_an_error(signed_in, mimecast_env, page):
    response = _get(signed_in, "track-trace", route="inbound", window="30d", reason=REASON, p=page)
    assert response.status_code == 200
    assert len(MESSAGE_LINK.findall(response.content.decode())) >= 1


def test_sorting_starts_again_on_the_first_page(signed_in, mimecast_env):
    response = _get(signed_in, "track-trace", route="inbound", window="30d", reason=REASON, p="2")
    assert all("p=" not in unescape(link["url"]) for link in response.context["sort_links"].values())


# --------------------------------------------------------------------- the window kept on pivots


def test_pivots_from_a_result_keep_its_window_and_reason(signed_in, story):
    sender = f"no-reply@{story['phishing_domain']}"
    html = _get(signed_in, "track-trace", sender=sender, window="7d", reason=REASON).content.decode()
    pivots = PIVOT.findall(html)
    assert pivots
    kinds = set()
    for url, title in pivots:
        query = _query(url)
        assert urlsplit(unescape(url)).path == reverse("track-trace")
        assert query["window"] == "7d" and query["reason"] == REASON, url
        kinds.update(k for k in ("sender", "recipient", "sender_ip") if k in query)
        assert "this time window" in title
    assert kinds == {"sender", "recipient", "sender_ip"}
    # The messages open with the window too, for the pivots on their page.
    links = MESSAGE_LINK.findall(html)
    assert len(links) == 45 and all(_query(link) == {"window": "7d"} for link in links)


def test_following_a_pivot_searches_the_same_window(signed_in, story):
    end = timezone.now().replace(microsecond=0)
    start = end - timedelta(days=3, hours=5)
    window = {"window": "custom", "start": start.isoformat(), "end": end.isoformat()}
    html = _get(signed_in, "track-trace", sender=story["phishing_domain"], reason=REASON, **window).content.decode()
    recipient = next(url for url, _ in PIVOT.findall(html) if "recipient=" in url)
    followed = signed_in.get(unescape(recipient))
    assert followed.status_code == 200
    assert followed.context["range"] == (start, end)
    event = AuditEvent.objects.filter(action=AuditAction.SEARCH_TRACK_TRACE).order_by("-seq").first()
    assert event.data["criteria"]["recipient"] == _query(recipient)["recipient"]
    assert (event.data["criteria"]["start"], event.data["criteria"]["end"]) == (start.isoformat(), end.isoformat())


def test_pivots_from_the_message_page_keep_the_window_it_was_opened_with(signed_in, story, phishing_id):
    html = _get(signed_in, "track-trace", sender=story["phishing_domain"], window="30d", reason=REASON)
    link = next(url for url in MESSAGE_LINK.findall(html.content.decode()) if phishing_id in url)
    page = load_message_page(signed_in, phishing_id, query=_query(link))
    # The sections are asked for with the window.
    assert all(_query(url)["window"] == "30d" for url in section_urls(page.shell.content.decode()).values())
    pivots = PIVOT.findall(page.html)
    fields = set()
    for url, _ in pivots:
        query = _query(url)
        assert query["window"] == "30d" and query["reason"] == REASON, url
        fields.update(k for k in ("sender", "recipient", "sender_ip") if k in query)
    assert fields == {"sender", "recipient", "sender_ip"}
    domain = [url for url, title in pivots if "the domain" in title]
    assert domain and _query(domain[0])["sender"] == story["phishing_domain"]


def test_a_mailbox_window_rides_to_the_message_page_as_dates(signed_in, mimecast_env):
    # Yesterday, not today: today is minutes old just after midnight and may hold no mail yet.
    day_start, day_end = preset_range("yesterday", timezone.localtime())
    message = next(m for m in mimecast_env.state.messages if archived(m) and day_start <= m.received <= day_end)
    response = _get(signed_in, "mailbox-view", mailbox=message.recipients[0], window="yesterday", reason=REASON)
    start, _ = response.context["range"]
    links = MESSAGE_LINK.findall(response.content.decode())
    assert links
    for link in links:
        query = _query(link)
        assert query["window"] == "custom" and query["start"] == start.isoformat(timespec="seconds")


def test_inside_a_case_pivots_carry_the_window_but_no_reason(client, analyst, story):
    case = InvestigationFactory(owner=analyst)
    case.members.add(analyst)
    client.force_login(analyst)
    session = client.session
    session[CURRENT_CASE_SESSION_KEY] = case.pk
    session.save()
    html = _get(client, "track-trace", sender=story["phishing_domain"], window="7d").content.decode()
    pivots = PIVOT.findall(html)
    assert pivots and all("reason" not in _query(url) and _query(url)["window"] == "7d" for url, _ in pivots)


@pytest.mark.parametrize(
    "window",
    [
        {"window": "1y"},
        {"window": "custom", "start": "yesterday"},
        {"window": "custom", "start": "1999-01-01T00:00"},
        {"start": "2026-01-01T00:00", "end": "2025-01-01T00:00"},
        {"window": "<script>"},
    ],
)
def test_a_wrong_window_on_the_message_page_is_dropped_not_shown(signed_in, phishing_id, window):
    page = load_message_page(signed_in, phishing_id, query=window)
    assert page.context["window"] == {}
    assert all("window=" not in url for url, _ in PIVOT.findall(page.html))
    assert "<script>" not in page.html


def test_pivot_links_escape_what_they_name():
    pivots = Pivots({"window": "7d"}, {"reason": 'a "quoted" <reason>'})
    link = pivots.link("sender", '"><script>alert(1)</script>@example.com')
    assert "<script>" not in link and "&lt;script&gt;" in link
    url = PIVOT.search(link).group(1)
    assert _query(url) == {
        "sender": '"><script>alert(1)</script>@example.com',
        "window": "7d",
        "reason": 'a "quoted" <reason>',
    }
    assert pivots.link("ip", "") == ""


def test_rows_with_pivots_link_each_address_once_per_value(db):
    row = TrackedEmail(
        id="abc",
        status="Delivered",
        from_hdr=EmailAddress(email_address="a@example.com"),
        from_env=EmailAddress(email_address="a@example.com"),
        to=[EmailAddress(email_address="b@example.com"), EmailAddress(email_address="c@example.com")],
        sender_ip="192.0.2.1",
    )
    html = track_trace_rows([row, row], {}, selectable=False, pivots=Pivots({"window": "24h"}))
    assert len(PIVOT.findall(html)) == 6  # sender, first recipient, IP on each row
    assert "+1</span>" in html and 'title="c@example.com"' in html
    assert MESSAGE_LINK.findall(html) == ["/messages/abc/?window=24h"] * 2


# ----------------------------------------------------------------------------- the message page


TABS = ("summary", "delivery", "attachments", "headers", "related")


def test_the_message_page_has_a_tab_for_each_section_and_each_loads(signed_in, phishing_id):
    page = load_message_page(signed_in, phishing_id)
    shell = page.shell.content.decode()
    nav = re.search(r'<nav class="tabs message-tabs" role="tablist"[^>]*>(.*?)</nav>', shell, re.S).group(1)
    tabs = re.findall(
        r'<a role="tab" id="tab-([a-z]+)" href="#panel-\1" aria-controls="panel-\1" aria-selected="(true|false)"', nav
    )
    assert [name for name, _ in tabs] == list(TABS)
    assert [selected for _, selected in tabs] == ["true", "false", "false", "false", "false"]
    for name in TABS:
        assert f'role="tabpanel" id="panel-{name}" aria-labelledby="tab-{name}"' in shell
    # The shell holds a placeholder for each part; the two sections' answers fill every one of them.
    detail, related = page.sections["message-detail"].content.decode(), page.sections["related"].content.decode()
    for part in ("message-head", "delivery", "attachments", "urls", "headers", "count-delivery", "count-headers"):
        assert re.search(rf'id="{part}"[^>]* hx-swap-oob="true"', detail), part
    assert 'id="message-detail"' in detail and 'id="summary"' in detail
    for part in ("verdict-banner", "timeline", "count-related"):
        assert re.search(rf'id="{part}"[^>]* hx-swap-oob="true"', related), part
    assert 'id="who-else-table"' in related
    # The counts on the tabs come with the sections.
    assert re.search(r'id="count-headers" hx-swap-oob="true">\(\d+\)</span>', detail)
    assert 'id="count-related" hx-swap-oob="true">(45 copies)</span>' in related


def test_without_javascript_each_placeholder_links_to_its_section(signed_in, phishing_id):
    shell = signed_in.get(reverse("message-detail", args=[phishing_id])).content.decode()
    detail_url = reverse("message-detail-section", args=[phishing_id])
    for part in ("delivery", "attachments", "urls", "headers"):
        assert f'<a href="{detail_url}#{part}">Open it on its own page</a>' in shell, part
    # The section's own page is whole, with every panel filled.
    page = signed_in.get(detail_url).content.decode()
    assert "<html" in page and 'id="tab-summary"' in page
    for part in ("summary", "delivery", "attachments", "urls", "headers"):
        assert f'id="{part}"' in page
    assert page.count("Open it on its own page") == 2  # the timeline and the related section, loaded apart
