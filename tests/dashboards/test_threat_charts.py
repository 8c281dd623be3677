"""The threat charts: counted from the simulator's TTP logs, drawn, and the same numbers in their tables."""

import pytest
from django.urls import reverse

from investigations.dashboards import services
from tests.dashboards.tables import data_table

HTMX = {"HX-Request": "true"}


def _section(client):
    response = client.get(reverse("dashboard-threats"), headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_each_threat_chart_table_equals_what_its_service_counts(client, analyst, sim):
    counts = services.threat_counts()
    client.force_login(analyst)
    html = _section(client)
    assert "<html" not in html  # the section alone, for home to swap in
    for log in services.THREAT_LOGS:
        tally = counts[log.key].value
        assert tally is not None, counts[log.key].problem
        header, rows = data_table(html, f"chart-{log.key}")
        assert (header, rows) == tally.table()
        assert len(rows) == services.THREAT_DAYS
    # The seeded organisation's week is not empty: the charts draw something to compare.
    assert not counts["url_clicks"].value.empty
    assert html.count('role="img"') >= 1


def test_the_counts_are_per_day_and_verdict_of_the_log_entries(db, sim):
    clicks = services.threat_counts()["url_clicks"].value
    names = [s.name for s in clicks.series]
    # Known verdicts come first, in a fixed order, so colours keep their meaning from day to day.
    assert names == sorted(names, key=lambda n: list(services.VERDICT_TONES).index(n.lower()))
    assert sum(clicks.totals) == sum(sum(s.values) for s in clicks.series) > 0


def test_a_failed_log_read_shows_the_problem_partial_and_the_other_charts(client, analyst, sim):
    sim.faults.add(path="/api/ttp/attachment/get-logs", kind="status", status=503, count=None)
    client.force_login(analyst)
    html = _section(client)
    assert 'class="error" role="alert"' in html and "These counts could not be read." in html
    assert data_table(html, "chart-attachment_verdicts") is None
    assert data_table(html, "chart-url_clicks") is not None


def test_mimecast_down_everywhere_is_a_page_with_problems_not_a_500(client, approver, sim):
    for path in ("/api/ttp/url/get-logs", "/api/ttp/attachment/get-logs", "/api/ttp/impersonation/get-logs"):
        sim.faults.add(path=path, kind="status", status=503, count=None)
    client.force_login(approver)
    response = client.get(reverse("dashboard-threats"))
    assert response.status_code == 200
    assert response.content.decode().count("These counts could not be read.") == len(services.THREAT_LOGS)


def test_home_paints_first_and_loads_the_threats_as_a_section(client, analyst, sim):
    client.force_login(analyst)
    before = len(sim.calls)
    page = client.get(reverse("home")).content.decode()
    # No Mimecast call for the page itself; the section asks on load.
    assert len(sim.calls) == before
    assert f'hx-get="{reverse("dashboard-threats")}" hx-trigger="load"' in page


@pytest.mark.slow  # the client waits out Mimecast's 7 s reset
def test_a_rate_limited_count_asks_again_once_mimecast_s_wait_is_over(client, analyst, sim):
    sim.faults.add(path="/api/ttp/impersonation/get-logs", kind="rate_limit", reset_ms=7000, count=None)
    client.force_login(analyst)
    html = _section(client)
    assert "These counts could not be read." in html
    assert html.count('hx-trigger="load delay:') == 1
    assert f'hx-get="{reverse("dashboard-threats")}" hx-trigger="load delay:7s" hx-target="#home-threats"' in html
