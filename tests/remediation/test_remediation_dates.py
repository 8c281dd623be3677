"""Remediation windows and the dates around them: a window outside what Mimecast accepts is a field
error and nothing is written; a row with an absurd window already stored breaks no page; the
default window and an edit keep whole days; the preview shows its times with their zone."""

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from investigations.models import AuditAction, AuditEvent, RemediationRequest
from investigations.remediation import services
from investigations.remediation.forms import RemediationRequestForm
from tests.factories import UserFactory
from tests.remediation.support import hash_values, pending_request

NEW_YORK = ZoneInfo("America/New_York")
REQUEST = {
    "kind": "remediate",
    "search_by": "hash",
    "search_value": "b" * 64,
    "reason": "Pull the reported attachment, ticket INC-12",
}


@pytest.fixture
def west_analyst(db):
    """An analyst behind UTC: 9999-12-31 23:59 in New York is in the year 10000 in UTC."""
    return UserFactory(username="west", roles=["analyst"], time_zone="America/New_York")


def _field_error(response, field):
    match = re.search(rf'<p class="field-error" id="id_{field}-error">(.*?)</p>', response.content.decode())
    return match.group(1) if match else ""


BAD_WINDOWS = {
    "end in the year 9999": ({"end": "9999-12-31T23:59"}, "end", "between the years 2000 and 2100"),
    "start in the year 1": ({"start": "0001-01-01T00:00"}, "start", "between the years 2000 and 2100"),
    "start before 2000": ({"start": "1999-12-31T23:59"}, "start", "between the years 2000 and 2100"),
    "start in the future": ({"start": "2099-01-01T00:00", "end": "2099-01-02T00:00"}, "start", "in the future"),
    "end far ahead": ({"end": "2100-01-01T00:00"}, "end", "end of today"),
}


@pytest.mark.parametrize(("window", "field", "message"), BAD_WINDOWS.values(), ids=BAD_WINDOWS.keys())
def test_a_window_mimecast_would_not_take_is_a_field_error_and_nothing_is_written(
    client, west_analyst, window, field, message
):
    client.force_login(west_analyst)
    response = client.post(reverse("remediation-new"), {**REQUEST, **window})
    assert response.status_code == 400
    assert message in _field_error(response, field)
    assert not RemediationRequest.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.REMEDIATION_DRAFTED).exists()


def test_the_pages_still_list_requests_after_the_year_9999_attempt(client, west_analyst, approver):
    client.force_login(west_analyst)
    client.post(reverse("remediation-new"), {**REQUEST, "end": "9999-12-31T23:59"})
    for user in (west_analyst, approver):
        client.force_login(user)
        assert client.get(reverse("home")).status_code == 200
        assert client.get(reverse("home"), {"panel": "requests"}, headers={"HX-Request": "true"}).status_code == 200
        assert client.get(reverse("remediation-list")).status_code == 200


def _store_absurd_window(req):
    # As such a row was written before windows were bounded: straight into the table, since
    # nothing in the portal writes it any more.
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE investigations_remediationrequest SET "end" = %s, start = %s WHERE id = %s',
            ["10000-01-01 04:59:00+00", "0001-01-01 00:00:00+00 BC", req.pk],
        )


def test_a_row_with_an_unreadable_window_breaks_no_page(client, analyst, approver):
    good = pending_request(analyst)
    bad = pending_request(analyst, values=hash_values(search_value="c" * 64))
    _store_absurd_window(bad)
    for user in (analyst, approver):
        client.force_login(user)
        home = client.get(reverse("home"))
        assert home.status_code == 200
        panel = client.get(reverse("home"), {"panel": "requests"}, headers={"HX-Request": "true"})
        assert panel.status_code == 200
        listing = client.get(reverse("remediation-list"))
        assert listing.status_code == 200
        # Both rows are listed: the bad one does not hide the others.
        for req in (good, bad):
            assert reverse("remediation-detail", args=[req.pk]) in listing.content.decode()
        assert client.get(reverse("remediation-detail", args=[bad.pk])).status_code == 200
    client.force_login(approver)
    queue = client.get(reverse("remediation-approvals"))
    assert queue.status_code == 200
    assert client.get(reverse("remediation-decide", args=[bad.pk])).status_code == 200


def test_the_selectors_read_an_unreadable_window_as_none(analyst):
    from investigations.remediation import selectors

    req = pending_request(analyst)
    _store_absurd_window(req)
    detail = selectors.remediation_request_detail(request_id=req.pk)
    assert (detail.start, detail.end, detail.window_unreadable) == (None, None, True)
    (row,) = selectors.remediation_requests()
    assert (row.start, row.end) == (None, None)
    fine = pending_request(analyst, values=hash_values(search_value="d" * 64))
    read = selectors.remediation_request_detail(request_id=fine.pk)
    assert read.start is not None and read.end is not None and read.window_unreadable is False


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_the_list_filter_refuses_year_1_next_to_its_field(client, db, zone):
    client.force_login(UserFactory(username="far", roles=["analyst"], time_zone=zone))
    for params, field in (({"date_from": "0001-01-01"}, "date_from"), ({"date_to": "9999-12-31"}, "date_to")):
        response = client.get(reverse("remediation-list"), params)
        assert response.status_code == 400
        assert "between the years 2000 and 2100" in response.content.decode(), field


def test_the_default_window_runs_from_midnight_a_month_back_to_the_end_of_today(client, west_analyst, sim):
    client.force_login(west_analyst)
    response = client.post(reverse("remediation-new"), REQUEST)
    assert response.status_code in (200, 204, 302), response.content[:500]
    req = RemediationRequest.objects.get()
    start, end = req.start.astimezone(NEW_YORK), req.end.astimezone(NEW_YORK)
    today = timezone.now().astimezone(NEW_YORK).date()
    assert (start.date(), start.time()) == (today - timedelta(days=30), time(0, 0, 0))
    assert (end.date(), end.time()) == (today, time(23, 59, 59))


def _edit_form_values(page):
    """The values the edit page's form would send back unchanged."""
    html = page.content.decode()
    values = {}
    for name in ("kind", "search_by", "search_value", "start", "end", "reason"):
        match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html) or re.search(
            rf'<select[^>]*name="{name}".*?<option value="([^"]*)"[^>]*selected', html, re.S
        )
        if match:
            values[name] = match.group(1)
    textarea = re.search(r'<textarea[^>]*name="reason"[^>]*>\s*(.*?)</textarea>', html, re.S)
    if textarea:
        values["reason"] = textarea.group(1)
    return values


def test_saving_an_edit_unchanged_keeps_the_window_to_the_second(client, west_analyst, sim):
    client.force_login(west_analyst)
    client.post(reverse("remediation-new"), REQUEST)
    req = RemediationRequest.objects.get()
    before = (req.start, req.end)
    assert req.end.astimezone(NEW_YORK).time() == time(23, 59, 59)
    values = _edit_form_values(client.get(reverse("remediation-edit", args=[req.pk])))
    assert values["end"].endswith("23:59")
    # The form alone: what the edit page sends back means the same window.
    with timezone.override(NEW_YORK):
        form = RemediationRequestForm(values)
        assert form.is_valid(), form.errors
    assert (form.cleaned_data["start"], form.cleaned_data["end"]) == before
    # And the whole edit.
    response = client.post(reverse("remediation-edit", args=[req.pk]), values)
    assert response.status_code in (200, 204, 302), response.content[:500]
    req.refresh_from_db()
    assert req.version > 1
    assert (req.start, req.end) == before


def test_an_end_to_the_minute_covers_the_minute_and_a_bare_date_the_day(db):
    with timezone.override(NEW_YORK):
        today = timezone.localdate()
        minute = RemediationRequestForm({**REQUEST, "start": f"{today}T00:00", "end": f"{today}T08:30"})
        day = RemediationRequestForm({**REQUEST, "start": f"{today}", "end": f"{today}"})
        exact = RemediationRequestForm({**REQUEST, "start": f"{today}T00:00", "end": f"{today}T08:30:10"})
        for form in (minute, day, exact):
            assert form.is_valid(), form.errors
        local = timezone.localtime
        assert local(minute.cleaned_data["end"]).time() == time(8, 30, 59)
        assert local(day.cleaned_data["end"]).time() == time(23, 59, 59)
        assert local(day.cleaned_data["start"]).time() == time(0, 0, 0)
        assert local(exact.cleaned_data["end"]).time() == time(8, 30, 10)


def test_the_preview_shows_its_times_with_their_zone(client, west_analyst):
    req = services.remediation_request_create(actor=west_analyst, values=hash_values())
    preview = {
        "messages": [
            {
                "id": "m1",
                "subject": "Invoice",
                "from": "x@evil.test",
                "to": ["a@corp.test"],
                "status": "delivered",
                "received": "2026-11-20T09:14:05+00:00",
            },
            {
                "id": "m2",
                "subject": "Garbled",
                "from": "x@evil.test",
                "to": ["b@corp.test"],
                "status": "delivered",
                "received": "9999-99-99",
            },
        ],
        "message_total": 2,
        "mailboxes": ["a@corp.test", "b@corp.test"],
        "errors": [],
        "notes": [],
    }
    RemediationRequest.objects.filter(pk=req.pk).update(preview=preview, previewed_at=timezone.now())
    client.force_login(west_analyst)
    html = client.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    table = html[html.index("rem-preview-table") :]
    assert 'datetime="2026-11-20T09:14:05+00:00"' in table
    assert "2026-11-20 04:14:05 EST" in table  # the viewer's zone, as every other time on the page
    assert "2026-11-20T09:14:05</td>" not in table
    assert "invalid date" in table


def test_the_service_rejects_nothing_the_form_lets_through(west_analyst):
    """What the form accepts at the edges of the range is a window the pages can show."""
    with timezone.override(NEW_YORK):
        form = RemediationRequestForm({**REQUEST, "start": "2000-01-01T00:00"})
        assert form.is_valid(), form.errors
    req = services.remediation_request_create(actor=west_analyst, values=form.cleaned_data)
    assert req.start == datetime(2000, 1, 1, tzinfo=NEW_YORK)
