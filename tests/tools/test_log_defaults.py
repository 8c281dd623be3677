"""The threat tools' logs open on the last 7 days (a shorter window is usually empty), show that window
in the picker, page on, and keep a row on one line however long its values are."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.models import AuditAction, AuditEvent


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


def _text(response):
    return response.content.decode()


@pytest.mark.parametrize(
    "slug", ["url-logs", "attachment-logs", "impersonation-logs", "held", "rejections", "web-security"]
)
def test_a_log_opened_without_a_window_searches_and_shows_the_last_7_days(signed_in, sim, slug):
    before = timezone.now()
    response = signed_in.get(reverse(f"tools-{slug}"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.is_valid(), form.errors
    assert form["window"].value() == "7d"
    # The picker shows the window searched (not its first choice, the last hour).
    assert '<option value="7d" selected>' in _text(response)
    start = form.cleaned_data["start"]
    assert timedelta(days=7) - timedelta(minutes=1) <= before - start <= timedelta(days=7, minutes=1)


def test_the_default_window_is_what_mimecast_is_asked_for(signed_in, sim):
    signed_in.get(reverse("tools-url-logs"))
    asked = sim.calls_to("/api/ttp/url/get-logs")[-1].json["data"][0]
    start = datetime.fromisoformat(asked["from"].replace("+0000", "+00:00"))
    end = datetime.fromisoformat(asked["to"].replace("+0000", "+00:00"))
    assert timedelta(days=7) - timedelta(minutes=1) <= end - start <= timedelta(days=7, minutes=1)


def test_a_window_the_user_chose_is_kept(signed_in, sim):
    response = signed_in.get(reverse("tools-url-logs"), {"window": "24h"})
    assert response.context["form"]["window"].value() == "24h"
    assert '<option value="24h" selected>' in _text(response)
    custom = signed_in.get(reverse("tools-url-logs"), {"start": "2026-01-01T00:00"})
    assert custom.context["form"].cleaned_data.get("window") in ("", "custom")


def test_page_two_of_the_default_window_shows_the_next_rows(signed_in, sim):
    # Enough clicks in the last 7 days for a second page of 100: seeded ones again, a minute apart.
    now = timezone.now()
    sim.state.click_logs.extend(
        dict(
            c,
            date=(now - timedelta(minutes=i + 1)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            _dt=now - timedelta(minutes=i + 1),
        )
        for i, c in enumerate(sim.state.click_logs[:120])
    )
    sim.state.click_logs.sort(key=lambda c: c["_dt"])
    first = signed_in.get(reverse("tools-url-logs"))
    assert len(first.context["rows"]) == 100
    assert first.context["next_url"]
    second = signed_in.get(first.context["next_url"])
    assert second.status_code == 200
    assert second.context["form"]["window"].value() == "7d"
    firsts = {tuple(c["text"] for c in r["cells"]) for r in first.context["rows"]}
    seconds = {tuple(c["text"] for c in r["cells"]) for r in second.context["rows"]}
    assert seconds and not seconds <= firsts
    assert second.context["first_url"]
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_URL_LOGS).count() == 1


@pytest.mark.parametrize("page", ["<script>", "x" * 5000, "a\x00b"])
def test_a_damaged_page_link_is_an_error_in_place_never_a_500(signed_in, sim, page):
    response = signed_in.get(reverse("tools-attachment-logs"), {"page": page})
    assert response.status_code == 200
    assert response.context["result"] is None
    assert 'class="error" role="alert"' in _text(response)


def test_a_sha256_is_cut_short_with_its_whole_value_in_the_title_and_a_copy_button(signed_in, sim):
    macro = sim.state.story["macro_sha256"]
    response = signed_in.get(reverse("tools-attachment-logs"), {"q": macro})
    body = _text(response)
    assert response.context["rows"]
    assert f'data-copy="{macro}"' in body and f'title="{macro}"' in body
    assert f'<code class="hash-short">{macro[:10]}…</code>' in body
    assert f">{macro}<" not in body  # never the unbroken 64 characters as a cell's text
    assert "css/tools.css" in body


def test_long_text_cells_keep_their_whole_value_in_the_title(signed_in, sim):
    story = sim.state.story
    response = signed_in.get(reverse("tools-url-logs"), {"q": story["phishing_domain"]})
    row = response.context["rows"][0]
    subject = next(c["text"] for c, h in zip(row["cells"], response.context["headers"], strict=True) if h == "Subject")
    assert f'<span class="truncate" title="{subject}">{subject}</span>' in _text(response)
