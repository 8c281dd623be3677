"""Working inside an investigation: its reason and ticket go to Mimecast and the audit trail without
being asked again, every event carries the case's id, and a case the user may no longer work in is
left by itself."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse

from investigations.core.context import CURRENT_CASE_SESSION_KEY
from investigations.core.links import portal_url
from investigations.models import AuditAction, AuditEvent, Investigation, RemediationRequest
from tests.factories import InvestigationFactory
from tests.workspace.message_page import load_message_page

CASE_REASON = "Phishing wave against finance reported by three users"
CASE_TICKET = "INC-7781"
SENT_REASON = f"{CASE_REASON} [ticket {CASE_TICKET}]"
FINDER = "/api/message-finder/search"


@pytest.fixture
def story(mimecast_env):
    return mimecast_env.state.story


@pytest.fixture
def case(analyst):
    return InvestigationFactory(
        title="Invoice phishing <wave>", reason=CASE_REASON, ticket_id=CASE_TICKET, owner=analyst
    )


def enter(client, case):
    """What the case's "work in it" button leaves in the session."""
    session = client.session
    session[CURRENT_CASE_SESSION_KEY] = case.pk
    session.save()


@pytest.fixture
def in_case(client, analyst, case):
    client.force_login(analyst)
    enter(client, case)
    return client


def new_events(after):
    return list(AuditEvent.objects.filter(seq__gt=after).order_by("seq"))


def last_seq():
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def asks_reason(response):
    page = response.content.decode()
    return 'name="reason"' in page or "Give a reason" in page


# ------------------------------------------------------------------------- searches, views, downloads


def test_track_and_trace_in_a_case_sends_its_reason_and_files_the_event_under_it(in_case, case, story, sim):
    response = in_case.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "45 messages" in page
    assert not asks_reason(response)
    assert "Working in investigation “Invoice phishing &lt;wave&gt;”" in page
    assert sim.calls_to(FINDER)[-1].json["data"][0]["searchReason"] == SENT_REASON
    event = AuditEvent.objects.get(action=AuditAction.SEARCH_TRACK_TRACE)
    assert (event.reason, event.data["case"]) == (SENT_REASON, case.pk)


def test_a_reason_typed_in_a_case_is_not_what_is_sent(in_case, story, sim):
    in_case.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d", "reason": "x" * 20})
    assert sim.calls_to(FINDER)[-1].json["data"][0]["searchReason"] == SENT_REASON


def test_archive_and_mailbox_run_without_a_reason_in_a_case(in_case, case, story, sim):
    archive = in_case.get(reverse("archive-search"), {"text": "invoice"})
    mailbox = in_case.get(reverse("mailbox-view"), {"mailbox": story["ceo"], "window": "30d"})
    assert not asks_reason(archive) and not asks_reason(mailbox)
    assert archive.context["searched"] and mailbox.context["searched"]
    assert sim.calls_to("/api/archive/search") and sim.calls_to("/api/archive/get-message-list")
    events = AuditEvent.objects.filter(action__in=[AuditAction.SEARCH_ARCHIVE, AuditAction.SEARCH_MAILBOX])
    assert sorted((e.action, e.reason, e.data["case"]) for e in events) == [
        (AuditAction.SEARCH_ARCHIVE, SENT_REASON, case.pk),
        (AuditAction.SEARCH_MAILBOX, SENT_REASON, case.pk),
    ]


def test_the_message_page_body_and_downloads_need_no_reason_in_a_case(in_case, case, story, sim):
    message_id = story["macro_message_ids"][0]
    detail = load_message_page(in_case, message_id)
    assert detail.status_code == 200

    form = in_case.get(reverse("message-body", args=[message_id]))
    assert not asks_reason(form) and "Working in investigation" in form.content.decode()
    body = in_case.post(reverse("message-body", args=[message_id]), {})
    assert "<iframe sandbox" in body.content.decode()
    assert in_case.get(reverse("message-body-frame", args=[message_id])).status_code == 200

    eml = in_case.post(reverse("message-download", args=[message_id]), {"context": "RECEIVED"})
    assert eml["Content-Disposition"].startswith("attachment;")
    attachment = next(a for a in detail.context["detail"].attachments if a.sha256 == story["macro_sha256"])
    file = in_case.post(reverse("attachment-download", args=[message_id, attachment.download_id]), {})
    assert file["Content-Disposition"] == 'attachment; filename="INV-20931.docm"'

    actions = [
        AuditAction.MESSAGE_VIEWED,
        AuditAction.MESSAGE_BODY_VIEWED,
        AuditAction.MESSAGE_DOWNLOADED,
        AuditAction.ATTACHMENT_DOWNLOADED,
    ]
    events = {e.action: e for e in AuditEvent.objects.filter(action__in=actions)}
    assert set(events) == set(actions)
    assert all(e.data["case"] == case.pk for e in events.values())
    assert all(events[a].reason == SENT_REASON for a in actions[1:])


def test_who_else_received_it_tells_mimecast_the_cases_reason(in_case, story, sim):
    message_id = story["phishing_message_ids"][0]
    before = len(sim.calls_to(FINDER))
    load_message_page(in_case, message_id)  # the related section arrives with the page's second section
    assert len(sim.calls_to(FINDER)) > before
    reasons = {call.json["data"][0]["searchReason"] for call in sim.calls_to(FINDER)[before:]}
    assert reasons == {SENT_REASON}


def test_five_pivots_in_a_row_never_ask_for_a_reason(in_case, case, story, sim):
    phish = in_case.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d"})
    recipient = phish.context["rows"][0].to[0].email_address
    pivots = [
        portal_url("track-trace", sender=f"no-reply@{story['phishing_domain']}", window="7d"),  # the sender
        portal_url("track-trace", sender=story["phishing_domain"], window="7d"),  # its domain
        portal_url("tools-hash-search", hashes=story["macro_sha256"]),  # a hash
        portal_url("tools-url-logs", q=story["phishing_url"], window="30d"),  # the URL logs
        portal_url("track-trace", recipient=recipient, window="7d"),  # a recipient
    ]
    after = last_seq()
    for url in pivots:
        response = in_case.get(url)
        assert response.status_code == 200, url
        assert not asks_reason(response), url
    events = new_events(after)
    assert len(events) >= len(pivots)
    assert {e.data.get("case") for e in events} == {case.pk}
    searches = [e for e in events if e.action == AuditAction.SEARCH_TRACK_TRACE]
    assert [e.reason for e in searches] == [SENT_REASON] * 3
    assert [c.json["data"][0]["searchReason"] for c in sim.calls_to(FINDER)[-3:]] == [SENT_REASON] * 3


def test_the_quick_search_in_a_case_goes_straight_to_the_results(in_case, story, sim):
    response = in_case.get(reverse("quick-search"), {"q": story["phishing_domain"]}, follow=True)
    assert "reason=" not in response.redirect_chain[0][0]
    assert response.context["searched"] and not asks_reason(response)
    assert sim.calls_to(FINDER)[-1].json["data"][0]["searchReason"] == SENT_REASON


def test_a_request_made_in_a_case_belongs_to_it(in_case, case, sim):
    values = {"kind": "remediate", "search_by": "hash", "search_value": "b" * 64, "reason": "Pull the attachment"}
    response = in_case.post(reverse("remediation-new"), values)
    assert response.status_code in (200, 302)
    req = RemediationRequest.objects.get()
    assert req.investigation == case
    drafted = AuditEvent.objects.get(action=AuditAction.REMEDIATION_DRAFTED)
    assert drafted.data["case"] == case.pk


# ------------------------------------------------------------------------------------ outside a case


def test_outside_a_case_the_reason_is_still_asked(client, analyst, story, sim):
    client.force_login(analyst)
    after = last_seq()
    response = client.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d"})
    assert "Give a reason" in response.content.decode()
    assert sim.calls_to(FINDER) == []
    body = client.post(reverse("message-body", args=[story["phishing_message_ids"][0]]), {})
    assert "Give a reason" in body.content.decode()
    assert new_events(after) == []


def test_the_reason_typed_outside_a_case_is_not_replaced_by_the_cases(client, analyst, case, story, sim):
    client.force_login(analyst)
    typed = "Checking a report from the helpdesk"
    client.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d", "reason": typed})
    enter(client, case)
    client.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d"})
    session = client.session
    del session[CURRENT_CASE_SESSION_KEY]
    session.save()
    form = client.get(reverse("track-trace")).context["form"]
    assert form["reason"].value() == typed
    outside = AuditEvent.objects.filter(action=AuditAction.SEARCH_TRACK_TRACE).order_by("seq").first()
    assert "case" not in outside.data


# ------------------------------------------------------------------------------- leaving by itself


def test_a_closed_case_is_left_with_a_message(in_case, case, story, sim):
    Investigation.objects.filter(pk=case.pk).update(status=Investigation.Status.CLOSED)
    response = in_case.get(reverse("track-trace"), {"sender": story["phishing_domain"], "window": "7d"})
    page = response.content.decode()
    assert "Give a reason" in page
    assert "“Invoice phishing &lt;wave&gt;” is closed; you are no longer working in it" in page
    assert sim.calls_to(FINDER) == []
    assert CURRENT_CASE_SESSION_KEY not in in_case.session


def test_a_deleted_case_is_left(in_case, case):
    case.delete()
    page = in_case.get(reverse("home")).content.decode()
    assert CURRENT_CASE_SESSION_KEY not in in_case.session
    assert "no longer exists" in page


def test_a_user_who_lost_the_right_to_read_cases_leaves_the_case(in_case, analyst, case):
    analyst.groups.clear()
    after = last_seq()
    page = in_case.get(reverse("home")).content.decode()
    assert CURRENT_CASE_SESSION_KEY not in in_case.session
    assert "You may no longer read investigations" in page
    assert all("case" not in e.data for e in new_events(after))


def test_a_case_id_in_an_outsiders_session_files_nothing_under_it(client, outsider, case):
    client.force_login(outsider)
    enter(client, case)
    after = last_seq()
    client.get(reverse("home"))
    assert CURRENT_CASE_SESSION_KEY not in client.session
    assert all("case" not in e.data for e in new_events(after))


@pytest.mark.parametrize("forged", ["1; DROP TABLE x", 10**12, [1], None])
def test_a_malformed_case_id_in_the_session_is_dropped_without_an_error(in_case, forged):
    session = in_case.session
    session[CURRENT_CASE_SESSION_KEY] = forged
    session.save()
    response = in_case.get(reverse("track-trace") + "?" + urlencode({"sender": "example.com", "reason": "r" * 12}))
    assert response.status_code == 200
    assert CURRENT_CASE_SESSION_KEY not in in_case.session


def test_the_message_page_adds_the_message_to_the_case_with_a_note(in_case, case, story, sim):
    message_id = story["phishing_message_ids"][0]
    page = load_message_page(in_case, message_id)
    assert 'id="message-add-evidence"' in page.content.decode()
    form = page.context["detail"]
    response = in_case.post(
        reverse("case-evidence-add"),
        {
            "kind": "message",
            "value": message_id,
            "label": form.subject,
            "message_id": form.mime_id,
            "note": "The first copy reported",
            "next": reverse("message-detail", args=[message_id]),
        },
    )
    assert response.status_code == 302
    evidence = case.evidence.get(kind="message")
    assert (evidence.value, evidence.note) == (message_id, "The first copy reported")
    assert evidence.details.get("message_id") == form.mime_id
