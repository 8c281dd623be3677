"""The remediation dashboard and the approver's home: their tables are what their services return."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from investigations.dashboards import services
from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation.selectors import remediation_approval_queue
from tests.dashboards.tables import data_table
from tests.factories import RemediationRequestFactory

Kind, State = RemediationRequest.Kind, RemediationRequest.State


@pytest.fixture
def requests(analyst):
    now = timezone.now()
    for state in (State.PENDING_APPROVAL, State.PENDING_APPROVAL, State.REJECTED, State.DRAFT):
        RemediationRequestFactory(requested_by=analyst, state=state, submitted_at=now - timedelta(hours=5))
    # A removal whose preview found copies delivered three hours before it was done, and one week-old.
    delivered = now - timedelta(hours=3)
    RemediationRequestFactory(
        requested_by=analyst,
        state=State.SUCCEEDED,
        finished=True,
        successful=3,
        preview={"messages": [{"mailbox": "a@acme-corp.com", "received": delivered.isoformat()}]},
    )
    RemediationRequestFactory(
        requested_by=analyst,
        state=State.SUCCEEDED,
        finished=True,
        at=now - timedelta(days=7),
        successful=1,
        preview={"messages": [{"received": (now - timedelta(days=12)).isoformat()}]},
    )
    # Mailbox by mailbox: two copies removed, one not found; no delivery time known.
    bulk = RemediationRequestFactory(
        requested_by=analyst, kind=Kind.REMEDIATE_MESSAGES, state=State.SUCCEEDED, finished=True
    )
    for position, outcome in enumerate(("removed", "removed", "not found")):
        RemediationItem.objects.create(
            request=bulk,
            position=position,
            key=f"m{position}@acme-corp.com|<id@x>",
            state=RemediationItem.State.DONE,
            result={"outcome": outcome},
            updated_at=now,
        )
    return now


def test_each_remediation_chart_table_equals_its_service(client, auditor, requests):
    client.force_login(auditor)
    html = client.get(reverse("remediation-dashboard")).content.decode()
    expected = {
        "chart-requests-by-state": services.requests_by_state(),
        "chart-dwell": services.remediation_dwell(),
        "chart-cleaned": services.mailboxes_cleaned_by_week(),
    }
    for chart_id, tally in expected.items():
        assert data_table(html, chart_id) == tally.table(), chart_id
    assert html.count('role="img"') == 3


def _counts(tally):
    return dict(zip(tally.labels, tally.series[0].values, strict=True))


def test_the_remediation_counts_follow_the_requests(requests):
    by_state = _counts(services.requests_by_state())
    assert by_state == {"Draft": 1, "Pending approval": 2, "Succeeded": 3, "Rejected": 1}
    dwell = services.remediation_dwell()
    assert _counts(dwell)["1 to 4 h"] == 1
    assert _counts(dwell)["over 3 days"] == 1
    assert "1 removal left out" in dwell.note
    cleaned = services.mailboxes_cleaned_by_week()
    # This week: the incident's 3 copies and the two mailboxes the per-mailbox removal cleaned.
    assert cleaned.series[0].values[-1] == 5
    assert sum(cleaned.series[0].values) == 6


def test_an_empty_portal_draws_no_bars_but_keeps_the_tables(client, admin_user, db):
    client.force_login(admin_user)
    html = client.get(reverse("remediation-dashboard")).content.decode()
    assert "Nothing to show for this period." in html
    assert data_table(html, "chart-cleaned") == services.mailboxes_cleaned_by_week().table()


def test_the_approvers_home_charts_the_queue_and_the_time_to_decision(client, approver, analyst, requests):
    now = requests
    RemediationRequestFactory(
        requested_by=analyst,
        state=State.APPROVED,
        approved_by=approver,
        submitted_at=now - timedelta(hours=2),
        decided_at=now - timedelta(hours=1),
    )
    client.force_login(approver)
    html = client.get(reverse("home")).content.decode()
    queue = remediation_approval_queue()
    header, rows = data_table(html, "chart-queue-ages")
    expected_header, expected_rows = services.approval_queue_ages(queue=queue).table()
    assert header == expected_header
    assert [r[0] for r in rows] == [r[0] for r in expected_rows] and len(rows) == 2
    # Waits are in hours with one decimal: a second between the two reads cannot move them.
    assert all(abs(float(a[1]) - float(b[1])) <= 0.1 for a, b in zip(rows, expected_rows, strict=True))
    times = services.decision_times()
    # The three removals were decided as they were submitted, the approval after 1 h (the rejected
    # request has no decision time: the factory leaves it out).
    assert (times.count, times.median, times.p90) == (4, timedelta(0), timedelta(hours=1))
    assert "<dt>Median</dt><dd>0 s</dd>" in html and "<dt>90th percentile</dt><dd>1 h 0 min</dd>" in html
