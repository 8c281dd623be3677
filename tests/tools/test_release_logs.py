"""The held-message release logs read the record as real tenants send it: no status, subject, recipients
or separate message id; the subject is in messageInfo, a rejection has a rejectReason, and the record's
id is the message's."""

import csv
import io

import pytest
from django.urls import reverse

from mimecast_simulator.data import public
from tests.workspace.message_page import load_message_page

REAL_RECORD_LACKS = {"status", "subject", "to", "messageId"}


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


def _answered_records(sim):
    """The seeded records as the simulator sends them (all within the last 30 days)."""
    return [public(r) for r in sim.state.release_logs]


def _one_of_each(records):
    rejected = next(r for r in records if r.get("rejectReason"))
    released = next(r for r in records if not r.get("rejectReason"))
    return rejected, released


def test_the_page_shows_status_and_subject_and_opens_the_message(signed_in, sim):
    response = signed_in.get(reverse("tools-release-logs"), {"window": "30d"})
    assert response.status_code == 200
    records = _answered_records(sim)
    assert records and not any(REAL_RECORD_LACKS & set(r) for r in records)  # the real shape
    rows = {r["message_id"]: r for r in response.context["rows"]}
    headers = response.context["headers"]
    for record, status in zip(_one_of_each(records), ("rejected", "released"), strict=True):
        row = rows[record["id"]]
        cells = {h: c["text"] for h, c in zip(headers, row["cells"], strict=True)}
        assert cells["Status"] == status
        assert cells["Subject"] == record["messageInfo"] != ""
        assert row["message_href"] == reverse("message-detail", args=[record["id"]])
    rejected = _one_of_each(records)[0]
    assert rows[rejected["id"]]["cells"][headers.index("Status")]["badge"] == "failure"
    assert rows[rejected["id"]]["message_href"] == reverse("message-detail", args=[rejected["id"]])
    # The page is a shell; its detail section holds the message (loaded as the browser would).
    message_page = load_message_page(signed_in, rejected["id"])
    assert message_page.context["detail"].subject == rejected["messageInfo"]


def test_a_status_filter_keeps_only_that_outcome(signed_in, sim):
    response = signed_in.get(reverse("tools-release-logs"), {"window": "30d", "status": "rejected"})
    statuses = {r["cells"][response.context["headers"].index("Status")]["text"] for r in response.context["rows"]}
    assert statuses == {"rejected"}


def test_the_csv_has_status_subject_and_the_message_id(signed_in, sim):
    response = signed_in.get(reverse("tools-release-logs-export"), {"window": "30d"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:]
    records = _answered_records(sim)
    rejected, released = _one_of_each(records)
    by_id = {line[header.index("Message id")]: line for line in body}
    assert set(by_id) == {r["id"] for r in records}
    for record, status in ((rejected, "rejected"), (released, "released")):
        line = by_id[record["id"]]
        assert line[header.index("Status")] == status
        assert line[header.index("Subject")] == record["messageInfo"]
        assert line[header.index("Reject reason")] == (record.get("rejectReason") or "")


def test_a_record_in_the_real_shape_fills_every_column_and_the_link():
    from investigations.mimecast.types import HeldReleaseLog, Page, parse_list
    from investigations.tools.logs import LOG_KINDS, csv_header, csv_row
    from investigations.tools.presenters import log_rows

    record = {
        "id": "eNpRealMessageId_0123",
        "fromEnv": {"address": "bounce@sender.example", "domain": "sender.example"},
        "fromHdr": {"address": "sales@sender.example", "domain": "sender.example"},
        "heldReason": "Spam Signature",
        "messageInfo": "Your invoice is overdue",
        "operator": {"email": "alex@acme-corp.com"},
        "rejectReason": "MESSAGE_CONTAINS_UNDESIRABLE_CONTENT",
        "released": "2026-11-20T09:14:05+0000",
        "route": "inbound",
    }
    kind = LOG_KINDS["release-logs"]
    items = parse_list(HeldReleaseLog, [record, {**record, "rejectReason": ""}])
    rows = log_rows(kind, Page(items=items))
    headers = [c.header for c in kind.columns]
    texts = [{h: c["text"] for h, c in zip(headers, row["cells"], strict=True)} for row in rows]
    assert [t["Status"] for t in texts] == ["rejected", "released"]
    assert {t["Subject"] for t in texts} == {"Your invoice is overdue"}
    assert all(row["message_href"] == reverse("message-detail", args=[record["id"]]) for row in rows)
    line = dict(zip(csv_header(kind), csv_row(kind, items[0]), strict=True))
    assert (line["Status"], line["Subject"], line["Message id"]) == (
        "rejected",
        "Your invoice is overdue",
        record["id"],
    )
