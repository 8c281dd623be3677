"""Blast radius before approval: a remediation's preview joins every source that names the messages
and mailboxes it will touch (search-hash, the Attachment and URL Protect logs, Message Finder), and
the approver decides on that same stored list.

The expected sets are computed here from the client's own answers (the same Mimecast calls, read
whole, without the preview's bounds), so a source the preview drops or a join it gets wrong shows."""

from collections import Counter

import pytest
from django.urls import reverse

from investigations.connection.services import mimecast_client
from investigations.models import AuditAction, AuditEvent, AuditOutcome, RemediationRequest
from investigations.remediation import services
from investigations.remediation.kinds import incident
from tests.remediation.support import macro_values, signed_in

SearchBy = RemediationRequest.SearchBy
ATTACHMENT_LOGS_PATH = "/api/ttp/attachment/get-logs"
FINDER_PATH = "/api/message-finder/search"


def bare(message_id):
    return message_id.strip().strip("<>").lower()


def previewed(actor, values):
    req = services.remediation_request_create(actor=actor, values=values)
    return services.remediation_request_preview(actor=actor, request_id=req.pk)


def hash_logs(client, req, sha256):
    """Every Attachment Protect log entry of the request's window that names this file."""
    logs = client.iter_items(client.get_attachment_logs, start=req.start, end=req.end)
    return [log for log in logs if log.file_hash.lower() == sha256]


def finder_recipients(client, req, message_ids):
    """Message Finder's recipients of these messages, over the request's window."""
    found = set()
    for message_id in message_ids:
        for email in client.search_messages(message_id=message_id, start=req.start, end=req.end):
            found |= {a.email_address.lower() for a in email.to if a.email_address}
    return found


def rows_by_mailbox(req):
    return {row["mailbox"]: row for row in req.preview["messages"]}


def test_a_hash_remediation_previews_every_mailbox_the_hash_search_and_the_attachment_logs_find(
    analyst, approver, mimecast_env
):
    sha256 = mimecast_env.state.story["macro_sha256"]
    req = previewed(analyst, macro_values(mimecast_env))
    client = mimecast_client()

    assert client.search_hashes([sha256]).detected == [sha256]
    assert req.preview["hash"] == [{"hash": sha256, "detected": True}]
    logs = hash_logs(client, req, sha256)
    mailboxes = {log.recipient_address.lower() for log in logs}
    messages = {bare(log.message_id) for log in logs}
    assert len(mailboxes) >= 24  # the demo's macro story: a real list, not an empty one that matches
    assert len(req.preview["mailboxes"]) == len(mailboxes)
    assert set(req.preview["mailboxes"]) == mailboxes
    assert req.preview["message_total"] == len(messages)
    assert req.preview["copy_total"] == len({(bare(log.message_id), log.recipient_address.lower()) for log in logs})
    assert req.preview["errors"] == []
    for row in req.preview["messages"]:
        assert row["sources"] == ["attachment log", "Message Finder"]
        assert bare(row["message_id"]) in messages

    # The two held copies were never delivered; every other copy still is.
    held = {bare(m.mime_id) for m in mimecast_env.state.messages if m.story == "macro" and m.status == "held"}
    assert held
    for row in req.preview["messages"]:
        assert row["delivered"] is (bare(row["message_id"]) not in held)

    previewed_event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_PREVIEWED, target_id=str(req.pk))
    assert previewed_event.data["messages"] == len(messages)
    assert previewed_event.data["mailboxes"] == len(mailboxes)

    # The approver decides on the same list, with its size.
    req = services.remediation_request_submit(actor=analyst, request_id=req.pk)
    stored = req.preview
    page = signed_in(approver).get(reverse("remediation-decide", args=[req.pk])).content.decode()
    summary = f"<strong>{len(messages)}</strong> messages in <strong>{len(mailboxes)}</strong> mailboxes"
    assert summary in page
    table = page[page.index("rem-preview-table") :]
    for mailbox in mailboxes:
        assert mailbox in table
    services.remediation_request_approve(actor=approver, request_id=req.pk, reason="Seen the list")
    req.refresh_from_db()
    assert req.preview == stored


def test_message_finder_adds_the_recipients_a_log_does_not_name(analyst, mimecast_env):
    """A log entry names one recipient; the message may have more, and the incident removes every copy."""
    client = mimecast_client()
    probe = services.remediation_request_create(actor=analyst, values=macro_values(mimecast_env))
    window_logs = list(client.iter_items(client.get_attachment_logs, start=probe.start, end=probe.end))
    macro = mimecast_env.state.story["macro_sha256"]
    counts = Counter(log.file_hash.lower() for log in window_logs if log.file_hash.lower() != macro)
    sha256 = next(h for h, n in counts.most_common() if n <= incident.FINDER_LOOKUPS)

    req = previewed(analyst, macro_values(mimecast_env, search_value=sha256))
    logs = hash_logs(client, req, sha256)
    logged = {log.recipient_address.lower() for log in logs}
    expected = logged | finder_recipients(client, req, {log.message_id for log in logs})
    assert expected > logged  # this file reached people no log entry names
    assert set(req.preview["mailboxes"]) == expected
    assert req.preview["message_total"] == len({bare(log.message_id) for log in logs})
    pairs = {(bare(log.message_id), log.recipient_address.lower()) for log in logs}
    rows = req.preview["messages"]
    for row in rows:
        logged_pair = (bare(row["message_id"]), row["mailbox"]) in pairs
        assert row["sources"] == (["attachment log", "Message Finder"] if logged_pair else ["Message Finder"])
    assert len(rows) > len(pairs)


def test_a_url_remediation_previews_the_clicks_and_the_campaign_they_belong_to(analyst, approver, mimecast_env):
    story = mimecast_env.state.story
    url = story["phishing_url"]
    values = {**macro_values(mimecast_env), "search_by": SearchBy.URL, "search_value": url}
    req = previewed(analyst, values)
    client = mimecast_client()

    clicks = [c for c in client.iter_items(client.get_url_logs, start=req.start, end=req.end) if c.url == url]
    clicked = {c.user_email_address.lower() for c in clicks}
    assert clicked
    campaign = set()
    for sender, subject in {(c.from_user_email_address, c.subject) for c in clicks}:
        for email in client.search_messages(sender=sender, subject=subject, start=req.start, end=req.end):
            campaign |= {a.email_address.lower() for a in email.to}
    assert set(req.preview["mailboxes"]) == clicked | campaign
    assert len(req.preview["mailboxes"]) == len(story["phishing_message_ids"])  # the 45 recipients of the wave
    assert req.preview["message_total"] == len(story["phishing_message_ids"])
    rows = rows_by_mailbox(req)
    for mailbox in clicked:
        assert "URL log" in rows[mailbox]["sources"] and "Message Finder" in rows[mailbox]["sources"]
    unclicked = set(rows) - clicked
    assert unclicked and all(rows[m]["sources"] == ["Message Finder: same sender and subject"] for m in unclicked)
    assert any("only the clicked messages" in note for note in req.preview["notes"])


def test_a_message_id_remediation_lists_each_recipient_from_message_finder(analyst, mimecast_env):
    message = next(m for m in mimecast_env.state.messages if m.story == "macro" and m.status != "held")
    values = {**macro_values(mimecast_env), "search_by": SearchBy.MESSAGE_ID, "search_value": message.mime_id}
    req = previewed(analyst, values)
    assert set(req.preview["mailboxes"]) == {r.lower() for r in message.recipients}
    assert req.preview["message_total"] == 1
    assert all(r["delivered"] is True and r["sources"] == ["Message Finder"] for r in req.preview["messages"])


def test_the_sender_and_recipient_narrowing_applies_to_every_source(analyst, mimecast_env):
    client = mimecast_client()
    probe = previewed(analyst, macro_values(mimecast_env))
    one = sorted(probe.preview["mailboxes"])[0]
    req = previewed(analyst, macro_values(mimecast_env, recipient=one))
    assert req.preview["mailboxes"] == [one]
    assert {r["mailbox"] for r in req.preview["messages"]} == {one}

    sha256 = mimecast_env.state.story["macro_sha256"]
    sender = hash_logs(client, req, sha256)[0].sender_address
    other = previewed(analyst, macro_values(mimecast_env, sender="someone@elsewhere.example"))
    assert other.preview["mailboxes"] == [] and other.preview["messages"] == []
    assert other.preview["hash"] == [{"hash": sha256, "detected": True}]
    by_domain = previewed(analyst, macro_values(mimecast_env, sender=sender.split("@")[1]))
    assert by_domain.preview["mailboxes"] == probe.preview["mailboxes"]


def test_a_failing_attachment_log_is_named_and_the_hash_search_still_shows(analyst, mimecast_env):
    mimecast_env.faults.add(path=ATTACHMENT_LOGS_PATH, kind="fail", code="err_simulated_failure", message="boom")
    req = previewed(analyst, macro_values(mimecast_env))
    assert [e for e in req.preview["errors"] if e.startswith("Attachment logs: ")]
    assert req.preview["hash"] == [{"hash": mimecast_env.state.story["macro_sha256"], "detected": True}]
    assert req.preview["mailboxes"] == []
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_PREVIEWED, target_id=str(req.pk))
    assert event.outcome == AuditOutcome.FAILURE

    page = signed_in(analyst).get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert "Attachment logs: " in page and "seen in the last year" in page


def test_a_failing_message_finder_leaves_the_logged_copies_listed(analyst, mimecast_env):
    mimecast_env.faults.add(path=FINDER_PATH, kind="fail", code="err_simulated_failure", message="boom")
    req = previewed(analyst, macro_values(mimecast_env))
    client = mimecast_client()
    mimecast_env.faults.clear()
    logs = hash_logs(client, req, mimecast_env.state.story["macro_sha256"])
    assert set(req.preview["mailboxes"]) == {log.recipient_address.lower() for log in logs}
    assert [e for e in req.preview["errors"] if e.startswith("Message Finder could not look up 10 of the messages")]
    assert all(r["sources"] == ["attachment log"] and r["delivered"] is None for r in req.preview["messages"])

    page = signed_in(analyst).get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert "Message Finder could not look up" in page and "unknown" in page


def test_a_bounded_read_says_so(analyst, mimecast_env, monkeypatch):
    monkeypatch.setattr(incident, "LOG_PAGES", 2)
    req = previewed(analyst, macro_values(mimecast_env))
    assert any("only the newest 200 entries" in note for note in req.preview["notes"])
    assert any("over 2 pages" in line for line in req.preview["searched"])


@pytest.mark.parametrize("hostile", ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>'])
def test_a_stored_preview_is_shown_escaped(analyst, mimecast_env, hostile):
    req = previewed(analyst, macro_values(mimecast_env))
    preview = dict(req.preview)
    preview["messages"] = [{**preview["messages"][0], "subject": hostile, "mailbox": hostile, "from": hostile}]
    RemediationRequest.objects.filter(pk=req.pk).update(preview=preview)
    page = signed_in(analyst).get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert hostile not in page


def test_an_outbound_message_is_in_no_mailbox_of_ours(analyst, mimecast_env):
    probe = services.remediation_request_create(actor=analyst, values=macro_values(mimecast_env))
    message = next(
        m for m in reversed(mimecast_env.state.messages) if m.route == "outbound" and probe.start <= m.received
    )
    values = {**macro_values(mimecast_env), "search_by": SearchBy.MESSAGE_ID, "search_value": message.mime_id}
    req = previewed(analyst, values)
    assert req.preview["mailboxes"] == [] and req.preview["messages"] == []
    assert (
        "1 outbound message matched as well; outbound mail is in no mailbox of ours, so it is not listed."
        in req.preview["notes"]
    )
