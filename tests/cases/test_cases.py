"""Investigations (cases): opening, changing, entering and leaving one; evidence with its live state;
the timeline from the audit trail; who may read and who may change."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.cases import selectors
from investigations.cases.services import case_create, evidence_add
from investigations.core.context import CURRENT_CASE_SESSION_KEY, audit_context
from investigations.models import AuditAction, AuditEvent, Evidence, Investigation, RemediationItem
from tests.factories import RemediationRequestFactory

SHA = "a" * 64
REASON = "Phishing wave reported by finance"


@pytest.fixture
def case(analyst):
    return case_create(actor=analyst, values={"title": "Invoice phish", "reason": REASON, "ticket_id": "INC-42"})


def _events(action, case=None):
    rows = AuditEvent.objects.filter(action=action)
    return rows.filter(target_type="investigation", target_id=str(case.pk)) if case else rows


# ---- create, edit, status, members ----


def test_an_analyst_opens_a_case_from_the_quick_search_prefill(client, analyst):
    client.force_login(analyst)
    page = client.get(reverse("case-new"), {"q": "evil@phish.example", "reason": REASON, "ticket": "INC-7"})
    assert page.status_code == 200
    assert b'value="Investigation: evil@phish.example"' in page.content
    assert b'value="INC-7"' in page.content
    response = client.post(reverse("case-new"), {"title": "Invoice phish", "reason": REASON, "ticket_id": "INC-7"})
    case = Investigation.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("case-detail", args=[case.pk])
    assert case.owner == analyst and list(case.members.all()) == [analyst]
    event = _events(AuditAction.CASE_CREATED, case).get()
    assert event.reason == REASON and event.data["case"] == case.pk and event.data["ticket_id"] == "INC-7"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "", "reason": REASON}, "title"),
        ({"title": "X", "reason": "too short"}, "reason"),
        ({"title": "X", "reason": REASON, "ticket_id": "bad ticket!"}, "ticket_id"),
        ({"title": "X\x00", "reason": REASON}, "title"),
        ({"title": "\u202eexe.pdf", "reason": REASON}, "title"),
    ],
)
def test_bad_case_fields_are_refused_next_to_the_field(client, analyst, values, field):
    client.force_login(analyst)
    response = client.post(reverse("case-new"), values)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not Investigation.objects.exists()


def test_the_owner_changes_status_and_members_audited_with_before_and_after(client, analyst, second_analyst, case):
    client.force_login(analyst)
    url = reverse("case-edit", args=[case.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "title": "Invoice phish",
            "reason": REASON,
            "ticket_id": "INC-42",
            "status": "closed",
            "members": [second_analyst.pk],
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "closed" and case.closed_at is not None
    assert set(case.members.values_list("username", flat=True)) == {"alice", "bob"}  # the owner stays
    event = _events(AuditAction.CASE_UPDATED, case).get()
    assert event.data["changed"] == ["members", "status"]
    assert event.data["before"] == {"status": "open", "members": ["alice"]}
    assert event.data["after"] == {"status": "closed", "members": ["alice", "bob"]}
    # Reopened: closed_at goes.
    client.post(url, {"title": "Invoice phish", "reason": REASON, "ticket_id": "INC-42", "status": "open"})
    case.refresh_from_db()
    assert case.status == "open" and case.closed_at is None


def test_saving_without_a_change_audits_nothing(client, analyst, case):
    client.force_login(analyst)
    values = {"title": "Invoice phish", "reason": REASON, "ticket_id": "INC-42", "status": "open"}
    values["members"] = [analyst.pk]
    client.post(reverse("case-edit", args=[case.pk]), values)
    assert not _events(AuditAction.CASE_UPDATED).exists()


def test_a_member_who_is_not_an_analyst_cannot_be_added(client, analyst, approver, case):
    client.force_login(analyst)
    values = {"title": "T", "reason": REASON, "status": "open", "members": [approver.pk]}
    response = client.post(reverse("case-edit", args=[case.pk]), values)
    assert response.status_code == 200 and response.context["form"].errors["members"]


# ---- enter and leave ----


def test_enter_and_leave_keep_the_case_in_the_session_and_are_audited(client, analyst, case):
    client.force_login(analyst)
    response = client.post(reverse("case-enter", args=[case.pk]), {"next": reverse("track-trace")})
    assert response.status_code == 302 and response["Location"] == reverse("track-trace")
    assert client.session[CURRENT_CASE_SESSION_KEY] == case.pk
    page = client.get(reverse("case-list"))
    assert b'id="current-case"' in page.content and b"Invoice phish" in page.content
    assert _events(AuditAction.CASE_ENTERED, case).get().data["case"] == case.pk
    response = client.post(reverse("case-leave"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("case-list")  # never off-site
    assert CURRENT_CASE_SESSION_KEY not in client.session
    assert _events(AuditAction.CASE_LEFT, case).get().data["case"] == case.pk


def test_a_closed_case_cannot_be_entered(client, analyst, case):
    Investigation.objects.filter(pk=case.pk).update(status="closed")
    client.force_login(analyst)
    client.post(reverse("case-enter", args=[case.pk]))
    assert CURRENT_CASE_SESSION_KEY not in client.session
    assert not _events(AuditAction.CASE_ENTERED).exists()


def test_the_header_offers_my_other_open_cases_to_switch_to(client, analyst, case):
    other = case_create(actor=analyst, values={"title": "Second wave", "reason": REASON})
    client.force_login(analyst)
    client.post(reverse("case-enter", args=[case.pk]))
    page = client.get(reverse("home")).content.decode()
    assert reverse("case-enter", args=[other.pk]) in page
    assert reverse("case-leave") in page and reverse("case-new") in page


# ---- evidence ----


def test_evidence_single_and_bulk_with_a_note_and_duplicates(client, analyst, case):
    client.force_login(analyst)
    url = reverse("case-evidence-add")
    client.post(url, {"case": case.pk, "kind": "sender", "value": "Evil@Phish.Example", "note": "From the report"})
    response = client.post(
        url,
        {
            "case": case.pk,
            "kind": "sender",
            "value": ["evil@phish.example", "two@phish.example", "two@phish.example", "not an address"],
            "label": ["", "Second sender", "", ""],
            "note": "Same campaign",
        },
        headers={"HX-Request": "true"},
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Added 1 item" in text and "2 already there" in text and "not an address" in text
    rows = {e.value: e for e in Evidence.objects.filter(investigation=case)}
    assert set(rows) == {"evil@phish.example", "two@phish.example"}
    assert rows["evil@phish.example"].note == "From the report"
    assert rows["two@phish.example"].label == "Second sender" and rows["two@phish.example"].note == "Same campaign"
    events = list(_events(AuditAction.CASE_EVIDENCE_ADDED, case).order_by("seq"))
    assert [e.data["count"] for e in events] == [1, 1]
    assert events[1].data["duplicates"] == 2 and events[1].reason == "Same campaign"


def test_evidence_goes_to_the_current_case_by_default_and_back_to_next(client, analyst, case):
    client.force_login(analyst)
    client.post(reverse("case-enter", args=[case.pk]))
    response = client.post(
        reverse("case-evidence-add"),
        {"kind": "hash", "value": SHA.upper(), "next": reverse("tools-hash-search")},
    )
    assert response.status_code == 302 and response["Location"] == reverse("tools-hash-search")
    assert Evidence.objects.get(investigation=case).value == SHA


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "sender"},  # no value
        {"kind": "nonsense", "value": "x@y.example"},
        {"kind": "ip", "value": "999.1.1.1"},
        {"kind": "url", "value": "javascript:alert(1)"},
        {"kind": "hash", "value": "\x00"},
        {"kind": "domain", "value": "A" * 100_000},
        {"kind": "message", "value": "<script>alert(1)</script>"},
        {"kind": "sender", "value": "x@y.example", "note": "bad\x00note"},
        {"kind": "sender", "value": "x@y.example", "case": "9223372036854775808"},
        {"kind": "sender", "value": "x@y.example", "case": "987654"},
    ],
)
def test_bad_evidence_becomes_a_message_never_a_500(analyst, case, fields):
    client = Client(raise_request_exception=False)
    client.force_login(analyst)
    data = {"case": case.pk, **fields}
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(reverse("case-evidence-add"), data, headers=headers)
        assert response.status_code in (200, 302), response.status_code
    assert not Evidence.objects.exists()


def test_evidence_without_a_case_says_to_choose_one(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("case-evidence-add"), {"kind": "ip", "value": "192.0.2.1"}, follow=True)
    assert "Open or choose an investigation first" in response.content.decode()


def test_evidence_cannot_be_added_to_a_closed_case(client, analyst, case):
    Investigation.objects.filter(pk=case.pk).update(status="closed")
    client.force_login(analyst)
    response = client.post(
        reverse("case-evidence-add"), {"case": case.pk, "kind": "ip", "value": "192.0.2.1"}, follow=True
    )
    assert "is closed" in response.content.decode()
    assert not Evidence.objects.exists()


def test_removing_evidence_is_audited(client, analyst, case):
    evidence_add(actor=analyst, case_id=case.pk, kind="domain", values=["phish.example"])
    item = Evidence.objects.get()
    client.force_login(analyst)
    client.post(reverse("case-evidence-remove"), {"evidence": item.pk})
    assert not Evidence.objects.exists()
    assert _events(AuditAction.CASE_EVIDENCE_REMOVED, case).get().data["value"] == "phish.example"


def test_the_xss_corpus_in_title_note_and_evidence_is_shown_as_text(client, analyst):
    markup = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    case = case_create(actor=analyst, values={"title": markup, "reason": f"{markup} reason"})
    evidence_add(
        actor=analyst, case_id=case.pk, kind="sender", values=["x@phish.example"], labels=[markup], note=markup
    )
    client.force_login(analyst)
    client.post(reverse("case-enter", args=[case.pk]))
    for url in (reverse("case-detail", args=[case.pk]), reverse("case-list"), reverse("home")):
        page = client.get(url).content.decode()
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# ---- live state ----


def _request(analyst, kind, *, state="succeeded", finished=0, **fields):
    now = timezone.now() + timedelta(seconds=finished)
    return RemediationRequestFactory(
        kind=kind, state=state, reason=REASON, requested_by=analyst, at=now, finished_at=now, **fields
    )


def _item(req, key, *, state="done", mimecast_id="", seconds=0):
    return RemediationItem.objects.create(
        request=req,
        position=req.items.count(),
        key=key,
        state=state,
        mimecast_id=mimecast_id,
        updated_at=timezone.now() + timedelta(seconds=seconds),
    )


def _live(case):
    return {(e.kind, e.value): e.live for e in selectors.evidence_with_state(case=case)}


def test_live_state_of_each_kind_from_our_requests(analyst, case, django_assert_max_num_queries):
    add = evidence_add
    add(actor=analyst, case_id=case.pk, kind="hash", values=[SHA, "b" * 64])
    add(
        actor=analyst, case_id=case.pk, kind="sender", values=["boss@phish.example", "ceo@other.example", "x@y.example"]
    )
    add(actor=analyst, case_id=case.pk, kind="domain", values=["phish.example"])
    add(actor=analyst, case_id=case.pk, kind="url", values=["https://bad.example/a", "https://ok.example/b"])
    add(
        actor=analyst,
        case_id=case.pk,
        kind="message",
        values=["<one@mail.example>", "<two@mail.example>"],
    )
    add(actor=analyst, case_id=case.pk, kind="ip", values=["192.0.2.1"])

    # A hash remediated; another remediated and then restored; a failed one counts for nothing.
    _request(analyst, "remediate", search_by="hash", search_value=SHA)
    _request(analyst, "remediate", search_by="hash", search_value="b" * 64)
    _request(analyst, "restore", search_by="hash", search_value="b" * 64, finished=5)
    _request(analyst, "remediate", state="failed", search_by="hash", search_value="c" * 64)
    # The domain blocked (which covers boss@); ceo@ blocked and the block then removed.
    domain_block = _request(analyst, "block_sender", params={"value": "phish.example"})
    _item(domain_block, "phish.example", mimecast_id="pol-1")
    ceo = _request(analyst, "block_sender", params={"value": "ceo@other.example"})
    _item(ceo, "ceo@other.example", mimecast_id="pol-2")
    _item(_request(analyst, "unblock_sender", restore_of=ceo), "pol-2")
    # One URL blocked, another permitted.
    _item(_request(analyst, "manage_url", params={"action": "block"}), "https://bad.example/a", mimecast_id="m1")
    _item(_request(analyst, "manage_url", params={"action": "permit"}), "https://ok.example/b", mimecast_id="m2")
    # A message pulled from two mailboxes, one of them put back; a failed item does not count.
    pull = _request(analyst, "remediate_messages", state="failed")
    _item(pull, "a@corp.example|<one@mail.example>")
    _item(pull, "b@corp.example|<one@mail.example>")
    _item(pull, "c@corp.example|<one@mail.example>", state="failed")
    _item(_request(analyst, "restore_messages"), "b@corp.example|<one@mail.example>", seconds=5)

    with django_assert_max_num_queries(4):
        live = _live(case)
    text = {key: state.text for key, state in live.items()}
    assert text[("hash", SHA)] == "remediated"
    assert text[("hash", "b" * 64)] == "restored"
    assert text[("domain", "phish.example")] == "blocked"
    assert text[("sender", "boss@phish.example")] == "blocked (the domain phish.example)"
    assert text[("sender", "ceo@other.example")] == "block removed"
    assert text[("sender", "x@y.example")] == "no action yet"
    assert text[("url", "https://bad.example/a")] == "blocked"
    assert text[("url", "https://ok.example/b")] == "permitted"
    assert text[("message", "<one@mail.example>")] == "remediated from 1 of 2 mailboxes, the rest restored"
    assert text[("message", "<two@mail.example>")] == "no action yet"
    assert text[("ip", "192.0.2.1")] == "no action yet"
    assert live[("hash", SHA)].request_id is not None


def test_a_message_known_by_its_mimecast_id_is_matched_by_its_message_id(client, analyst, case):
    mimecast_id = "eN" + "x" * 40
    client.force_login(analyst)
    client.post(
        reverse("case-evidence-add"),
        {
            "case": case.pk,
            "kind": "message",
            "value": mimecast_id,
            "label": "Invoice due",
            "message_id": "<abc@mail.example>",
        },
    )
    assert Evidence.objects.get().details == {"message_id": "<abc@mail.example>"}
    _request(analyst, "remediate", search_by="message_id", search_value="<abc@mail.example>")
    assert _live(case)[("message", mimecast_id)].text == "remediated"
    page = client.get(reverse("case-detail", args=[case.pk])).content.decode()
    assert "Invoice due" in page and "remediated" in page


# ---- the timeline ----


def test_the_timeline_shows_events_made_in_the_case_and_its_own_in_order(client, analyst, approver, case):
    other = case_create(actor=analyst, values={"title": "Other", "reason": REASON})
    with audit_context(case_id=case.pk):
        audit_record(actor=analyst, action=AuditAction.SEARCH_TRACK_TRACE, target=None, reason=REASON)
    with audit_context(case_id=other.pk):
        audit_record(actor=analyst, action=AuditAction.SEARCH_ARCHIVE, target=None)
    req = _request(analyst, "remediate", search_by="hash", search_value=SHA, investigation=case)
    with audit_context(case_id=case.pk):
        audit_record(actor=approver, action=AuditAction.REMEDIATION_APPROVED, target=req)
    client.force_login(approver)
    response = client.get(reverse("case-detail", args=[case.pk]))
    events = response.context["events"]
    assert [e.action for e in events] == [
        AuditAction.CASE_CREATED,
        AuditAction.SEARCH_TRACK_TRACE,
        AuditAction.REMEDIATION_APPROVED,
    ]
    page = response.content.decode()
    assert "Track &amp; trace search" in page and "Remediation approved" in page
    assert reverse("remediation-detail", args=[req.pk]) in page
    assert "Archive search" not in page
    # Opening the page is audited, under the case.
    viewed = _events(AuditAction.CASE_VIEWED, case).get()
    assert viewed.actor_label == "carol" and viewed.data["case"] == case.pk


def test_the_timeline_is_capped_with_a_link_to_older_events(client, analyst, case, monkeypatch):
    monkeypatch.setattr(selectors, "TIMELINE_LIMIT", 3)
    with audit_context(case_id=case.pk):
        for _ in range(5):
            audit_record(actor=analyst, action=AuditAction.SEARCH_TRACK_TRACE, target=None)
    seqs = list(AuditEvent.objects.filter(data__case=case.pk).order_by("seq").values_list("seq", flat=True))
    events, older = selectors.case_timeline(case=case, limit=3)
    assert [e.seq for e in events] == seqs[-3:]
    events, still_older = selectors.case_timeline(case=case, before=older, limit=3)
    assert [e.seq for e in events] == seqs[:3] and still_older is None


# ---- permissions ----


@pytest.mark.parametrize(
    ("role", "read", "work"),
    [
        ("analyst", True, True),
        ("approver", True, False),
        ("auditor", True, False),
        ("admin", False, False),
        ("outsider", False, False),
    ],
)
def test_who_reads_and_who_works_cases(personas, second_analyst, role, read, work):
    case = case_create(actor=second_analyst, values={"title": "Bob's", "reason": REASON})
    user = personas[role]
    client = Client()
    client.force_login(user)
    expected_read = 200 if read else 403
    assert client.get(reverse("case-list")).status_code == expected_read
    assert client.get(reverse("case-detail", args=[case.pk])).status_code == expected_read
    assert client.get(reverse("case-new")).status_code == (200 if work else 403)
    # Nobody but the owner and members changes it, analysts included.
    assert client.get(reverse("case-edit", args=[case.pk])).status_code == 403
    assert client.post(reverse("case-enter", args=[case.pk])).status_code == 403
    add = client.post(reverse("case-evidence-add"), {"case": case.pk, "kind": "ip", "value": "192.0.2.1"})
    assert add.status_code == 403
    assert not Evidence.objects.exists()


def test_approvers_and_auditors_see_every_case_analysts_their_own(personas, second_analyst):
    case_create(actor=second_analyst, values={"title": "Bob's", "reason": REASON})
    for role, count in (("approver", 1), ("auditor", 1), ("analyst", 0)):
        client = Client()
        client.force_login(personas[role])
        assert len(client.get(reverse("case-list")).context["cases"]) == count, role
    client = Client()
    client.force_login(personas["analyst"])
    assert len(client.get(reverse("case-list"), {"scope": "all"}).context["cases"]) == 1


@pytest.mark.parametrize(
    ("name", "args", "data"),
    [
        ("case-new", [], {"title": "T", "reason": REASON}),
        ("case-leave", [], {}),
        ("case-evidence-add", [], {"kind": "ip", "value": "192.0.2.1"}),
        ("case-evidence-remove", [], {"evidence": 1}),
        ("case-enter", ["CASE"], {}),
        ("case-edit", ["CASE"], {"title": "T", "reason": REASON, "status": "open"}),
    ],
)
def test_every_post_needs_the_csrf_token(analyst, case, name, args, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    url = reverse(name, args=[case.pk if a == "CASE" else a for a in args])
    assert client.post(url, {**data, "case": case.pk}).status_code == 403
