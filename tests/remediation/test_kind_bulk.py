"""Remove chosen messages mailbox by mailbox, and put them back: the form, the preview against
Message Finder, one incident per item narrowed to its mailbox, each item's outcome once Mimecast's
counts settle (removed, failed, not found), the request page, the restore of the removed ones, and
one request carried out by a real Celery worker."""

import time
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from investigations.models import AuditAction, AuditEvent, RemediationItem, RemediationRequest
from investigations.remediation import services
from investigations.remediation.forms.bulk import RemediateMessagesForm, parse_target
from investigations.remediation.kinds import kind_for
from investigations.remediation.kinds.bulk import MAX_TARGETS, item_marker
from tests.polling import poll_until
from tests.remediation.support import audited, signed_in

Kind = RemediationRequest.Kind
State = RemediationRequest.State
ItemState = RemediationItem.State
REASON = "Phishing wave: pull the selected copies"
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}
LITIGATION = "Mailbox is on litigation hold"


@pytest.fixture
def people(db, analyst, approver):
    return {"analyst": analyst, "approver": approver}


def delivered_copies(simulator, count, *, per_message=None):
    """(mailbox, Message-ID, subject) of copies the simulator delivered inside the default window."""
    st = simulator.state
    since = st.now - timedelta(days=29)
    out = []
    for m in st.messages:
        if m.route != "inbound" or m.status != "archived" or m.received < since or m.id in st.removed:
            continue
        mine = [r for r in m.recipients if r in st.mailbox_by_email][:per_message]
        out += [(r, m.mime_id, m.subject) for r in mine]
        if len(out) >= count:
            return out[:count]
    raise AssertionError("the simulator delivered too few copies")


def values(targets, **extra):
    lines = "\n".join(f"{mailbox}|{message_id}" for mailbox, message_id, *_ in targets)
    form = RemediateMessagesForm({"targets": lines, "reason": REASON, **extra})
    assert form.is_valid(), form.errors
    return {"kind": Kind.REMEDIATE_MESSAGES, **form.to_values()}


def approved(people, kind_values):
    req = services.remediation_request_create(actor=people["analyst"], values=kind_values)
    req = services.remediation_request_preview(actor=people["analyst"], request_id=req.pk)
    services.remediation_request_submit(actor=people["analyst"], request_id=req.pk)
    return services.remediation_request_approve(actor=people["approver"], request_id=req.pk, reason="Go")


def carried_out_here(request_id, timeout=30):
    """The worker's two tasks run in this process: the items, then the polls until final."""
    services.remediation_execute(request_id=request_id)
    deadline = time.monotonic() + timeout
    while not RemediationRequest.objects.get(pk=request_id).is_final:
        assert time.monotonic() < deadline, "the outcomes never settled"
        services.remediation_poll(request_id=request_id)
        time.sleep(0.1)
    return RemediationRequest.objects.get(pk=request_id)


# ---------------------------------------------------------------------------------------- form


def test_the_form_takes_mailbox_and_message_id_one_a_line_and_refuses_anything_else():
    ok = RemediateMessagesForm(
        {
            "targets": "Bob@Acme-Corp.com|<a1@mail.example>\n\nbob@acme-corp.com|<a1@mail.example>\nann@x.com|b2@h",
            "reason": REASON,
        }
    )
    assert ok.is_valid(), ok.errors
    values = ok.to_values()
    assert [(t["mailbox"], t["message_id"]) for t in values["params"]["targets"]] == [
        ("bob@acme-corp.com", "<a1@mail.example>"),
        ("ann@x.com", "<b2@h>"),
    ]
    assert values["params"]["start"] < values["params"]["end"] and values["reason"] == REASON

    for bad_line in ("bob@acme-corp.com", "not-a-mailbox|<a@b>", "bob@acme-corp.com|no id here", "|<a@b>"):
        bad = RemediateMessagesForm({"targets": bad_line, "reason": REASON})
        assert not bad.is_valid() and "is not mailbox|<Message-ID>" in bad.errors["targets"][0], bad_line

    lines = "\n".join(f"u{n}@acme-corp.com|<m{n}@h>" for n in range(MAX_TARGETS + 1))
    too_many = RemediateMessagesForm({"targets": lines, "reason": REASON})
    assert not too_many.is_valid() and f"at most {MAX_TARGETS}" in too_many.errors["targets"][0]

    future = RemediateMessagesForm(
        {"targets": "bob@acme-corp.com|<a@b>", "reason": REASON, "start": "2999-01-01T00:00"}
    )
    assert not future.is_valid()
    assert not RemediateMessagesForm({"targets": "bob@acme-corp.com|<a@b>", "reason": "short"}).is_valid()


def test_the_form_is_prefilled_from_repeated_target_and_skips_what_is_not_one():
    query = QueryDict(mutable=True)
    query.setlist("target", ["bob@acme-corp.com|<a1@mail.example>", "<script>|x", "ann@acme-corp.com|<b@h>", ""])
    assert RemediateMessagesForm.initial_from_query(query) == {
        "targets": "bob@acme-corp.com|<a1@mail.example>\nann@acme-corp.com|<b@h>"
    }
    assert RemediateMessagesForm.initial_from_query(QueryDict("")) == {}
    assert parse_target("bob@acme-corp.com|<a|b@h>|Invoice | March")["subject"] == "Invoice | March"


def test_the_new_request_page_prefills_and_bad_input_is_a_message_not_a_500(people):
    client = signed_in(people["analyst"])
    url = reverse("remediation-new")
    page = client.get(url, {"kind": Kind.REMEDIATE_MESSAGES, "target": ["bob@acme-corp.com|<a1@mail.example>"]})
    assert page.status_code == 200 and "bob@acme-corp.com|&lt;a1@mail.example&gt;" in page.content.decode()
    bad = client.post(
        f"{url}?kind={Kind.REMEDIATE_MESSAGES}", {"targets": "<img src=x onerror=alert(1)>", "reason": REASON}
    )
    assert bad.status_code == 400 and "<img src=x" not in bad.content.decode()
    assert not RemediationRequest.objects.filter(kind=Kind.REMEDIATE_MESSAGES).exists()


# ------------------------------------------------------------------------------------- preview


def test_the_preview_shows_each_copy_as_message_finder_sees_it(people, mimecast_env):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 2, per_message=2)
    targets = [*copies, ("bob@acme-corp.com", "<nothing-like-it@nowhere.example>", "")]
    req = services.remediation_request_create(actor=people["analyst"], values=values(targets))
    req = services.remediation_request_preview(actor=people["analyst"], request_id=req.pk)
    preview = req.preview
    assert preview["errors"] == [] and preview["total"] == 3 and preview["delivered"] == 2
    assert [t["state"] for t in preview["targets"]] == ["delivered", "delivered", "not found"]
    assert "does not find this message" in preview["targets"][2]["detail"]
    # Nothing was removed by looking.
    assert not simulator.effects("remediate")


# ------------------------------------------------------------------- items, outcomes and restore


def test_one_incident_per_mailbox_with_each_outcome_and_the_injected_failure_shown(people, mimecast_env):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 3, per_message=3)
    assert len({message_id for _, message_id, _ in copies}) == 1, "three recipients of one message"
    failing = copies[1][0]
    simulator.fail_remediation(failing, LITIGATION)
    ghost = ("bob@acme-corp.com", "<gone-before-we-acted@nowhere.example>", "")
    req = approved(people, values([*copies[::2], copies[1], ghost]))
    req = carried_out_here(req.pk)

    items = list(req.items.order_by("position"))
    outcomes = [(i.key.split("|")[0], i.result.get("outcome"), i.state) for i in items]
    assert outcomes == [
        (copies[0][0], "removed", ItemState.DONE),
        (copies[2][0], "removed", ItemState.DONE),
        (failing, "failed", ItemState.FAILED),
        (ghost[0], "not found", ItemState.DONE),
    ]
    assert "Mimecast gave no reason" in items[2].error
    # The request fails naming the failed mailbox, with the count of every outcome.
    assert req.state == State.FAILED
    assert "4 items: 2 removed, 1 failed, 1 not found" in req.failure_reason and failing in req.failure_reason
    # One incident per item, found by the item's own marker, each narrowed to its one mailbox.
    for item in items:
        found = [i for i in simulator.state.incidents if item_marker(req, item) in i["reason"]]
        assert len(found) == 1 and found[0]["id"] == item.mimecast_id, item.key
        effects = simulator.effects("remediate", id=item.mimecast_id)
        assert [e["target"] for e in effects] == ([item.key] if item.result["outcome"] != "not found" else [])
    # The simulator's reason stays in its journal: Mimecast's incident has no field for it.
    assert simulator.effects("remediate", target=items[2].key)[0]["reason"] == LITIGATION
    failed_events = AuditEvent.objects.filter(
        action=AuditAction.REMEDIATION_ITEM_FAILED, target_type="remediationrequest", target_id=str(req.pk)
    )
    assert failed_events.count() == 1 and failing in failed_events.get().reason

    # The request page: each mailbox's outcome, its incident and reason, and the preview-result line.
    page = signed_in(people["approver"]).get(reverse("remediation-detail", args=[req.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'id="bulk-outcomes"' in html
    assert (
        "The preview listed 4 copies (3 still delivered then); the result: 4 items: 2 removed, 1 failed, 1 not found"
        in html
    )
    assert 'data-outcome="failed"' in html and "Mimecast gave no reason" in html and items[0].result["code"] in html
    assert "Not found: Mimecast found no copy in that mailbox" in html


def test_the_removed_copies_are_restored_one_restore_incident_each(people, mimecast_env):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 2, per_message=2)
    ghost = ("bob@acme-corp.com", "<never-here@nowhere.example>", "")
    req = carried_out_here(approved(people, values([*copies, ghost])).pk)
    assert req.state == State.SUCCEEDED, req.failure_reason
    message = simulator.state.message_by_id[next(m.id for m in simulator.state.messages if m.mime_id == copies[0][1])]
    assert set(simulator.state.removed[message.id]) == {copies[0][0], copies[1][0]}

    undo = services.remediation_request_undo(actor=people["analyst"], request_id=req.pk)
    assert undo.kind == Kind.RESTORE_MESSAGES and undo.restore_of_id == req.pk
    # Only what was removed is put back: the copy that was not found is not part of the restore.
    assert [t["mailbox"] for t in undo.params["targets"]] == [copies[0][0], copies[1][0]]
    undo = services.remediation_request_preview(actor=people["analyst"], request_id=undo.pk)
    services.remediation_request_submit(actor=people["analyst"], request_id=undo.pk)
    services.remediation_request_approve(actor=people["approver"], request_id=undo.pk, reason="Go")
    undo = carried_out_here(undo.pk)
    assert undo.state == State.SUCCEEDED, undo.failure_reason
    assert [i.result["outcome"] for i in undo.items.order_by("position")] == ["restored", "restored"]
    assert message.id not in simulator.state.removed
    for item in undo.items.all():
        assert len(simulator.effects("restore", id=item.mimecast_id)) == 1
        assert [i["type"] for i in simulator.state.incidents if item_marker(undo, item) in i["reason"]] == ["restored"]


def test_an_item_left_calling_by_a_dead_attempt_is_adopted_not_remediated_twice(people, mimecast_env):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 2, per_message=2)
    req = approved(people, values(copies))
    # The first attempt's call reached Mimecast, then the worker died before recording it.
    attempt = services.remediation_mark_running(request_id=req.pk)
    item = req.items.order_by("position").first()
    services._item_calling(req.pk, item, attempt=attempt, now=timezone.now())
    kind_for(req.kind).do_item(services.mimecast_client(), req, item)
    RemediationRequest.objects.filter(pk=req.pk).update(lease_until=timezone.now())

    req = carried_out_here(req.pk)
    assert req.state == State.SUCCEEDED, req.failure_reason
    first = req.items.get(position=1)
    assert first.adopted and first.result["outcome"] == "removed"
    assert len([i for i in simulator.state.incidents if item_marker(req, first) in i["reason"]]) == 1


def test_the_bulk_kind_polls_until_every_outcome_is_final(people, mimecast_env):
    simulator = mimecast_env
    simulator.configure(incident_settle_ms=60_000)
    try:
        req = approved(people, values(delivered_copies(simulator, 2, per_message=2)))
        services.remediation_execute(request_id=req.pk)
        req.refresh_from_db()
        # Called, not final: handed to polling (no lease for a sweeper to take for a dead attempt).
        assert req.state == State.RUNNING and req.lease_until is None and req.next_poll_at is not None
        assert req.pk in services.remediation_poll_due_ids(now=timezone.now() + timedelta(seconds=1))
        assert services.remediation_poll(request_id=req.pk) is False  # the first read shows half the counts
        assert not req.items.filter(result__has_key="outcome").exists()
        assert services.remediation_poll(request_id=req.pk) is True
    finally:
        simulator.configure(incident_settle_ms=1500)
    req.refresh_from_db()
    assert req.state == State.SUCCEEDED and req.finished_at is not None


# ------------------------------------------------------------------------------ the real worker


def test_a_bulk_request_carried_out_by_the_worker(worker, people, mimecast_env):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 3, per_message=2)
    req = approved(people, values(copies))
    req = poll_until(lambda: RemediationRequest.objects.get(pk=req.pk), lambda r: r.is_final, timeout=60, interval=0.25)
    assert req.state == State.SUCCEEDED, req.failure_reason
    assert {i.result["outcome"] for i in req.items.all()} == {"removed"}
    assert len(simulator.effects("remediate")) == 3
    assert {
        AuditAction.REMEDIATION_ITEM_DONE,
        AuditAction.REMEDIATION_POLLED,
        AuditAction.REMEDIATION_SUCCEEDED,
    } <= set(audited(req))


def test_a_refusal_for_one_mailbox_fails_that_item_with_mimecasts_reason_and_the_rest_can_be_restored(
    people, mimecast_env
):
    simulator = mimecast_env
    copies = delivered_copies(simulator, 3, per_message=3)
    refused = copies[1][0]
    simulator.fail_remediation(refused, LITIGATION, refuse=True)
    req = carried_out_here(approved(people, values(copies)).pk)
    items = list(req.items.order_by("position"))
    assert [i.state for i in items] == [ItemState.DONE, ItemState.FAILED, ItemState.DONE]
    # Mimecast refused that one incident and said why: the reason reaches the item and the page.
    assert LITIGATION in items[1].error
    assert req.state == State.FAILED and refused in req.failure_reason
    html = signed_in(people["approver"]).get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert LITIGATION in html
    # The two removed copies can still be put back, though the request as a whole failed.
    undo = services.remediation_request_undo(actor=people["analyst"], request_id=req.pk)
    assert [t["mailbox"] for t in undo.params["targets"]] == [copies[0][0], copies[2][0]]
