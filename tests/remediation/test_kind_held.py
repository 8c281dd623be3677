"""Release and reject held messages: the forms, the preview against the simulator's hold queue and TTP
logs, the Mimecast calls and their confirmation, the hold-queue page, and one request carried out by a
real Celery worker."""

from types import SimpleNamespace

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from investigations.connection.services import mimecast_client
from investigations.mimecast.types import HeldMessage
from investigations.models import ApprovalRules, AuditAction, RemediationItem, RemediationRequest
from investigations.remediation import services
from investigations.remediation.forms.held import MAX_HELD_IDS, RejectHeldForm, ReleaseHeldForm
from investigations.remediation.kinds import ItemFailed, kind_for
from investigations.remediation.kinds.held import (
    confirm_reject,
    confirm_release,
    do_reject,
    do_release,
    hold_reason_flag,
    release_rules,
)
from tests.polling import poll_until
from tests.remediation.support import CARRIED_OUT, audited, audited_once_confirmed, signed_in

Kind = RemediationRequest.Kind
State = RemediationRequest.State
REASON = "Checked with the recipient: this one is wanted"
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}


def held(simulator, story=""):
    return [m for m in simulator.state.messages if m.status == "held" and m.story == story]


def fake_id(n=0):
    return "eNp" + "A" * 40 + str(n)


# ---------------------------------------------------------------------------------------- forms


def test_the_release_form_takes_message_ids_one_a_line_and_refuses_anything_else():
    ok = ReleaseHeldForm({"held_ids": f"{fake_id(1)}\n\n {fake_id(2)} \n{fake_id(1)}", "reason": REASON})
    assert ok.is_valid(), ok.errors
    assert ok.to_values() == {"params": {"held_ids": [fake_id(1), fake_id(2)]}, "reason": REASON, "ticket_id": ""}

    bad = ReleaseHeldForm({"held_ids": f"{fake_id(1)}\nnot-an-id", "reason": REASON})
    assert not bad.is_valid()
    assert "not-an-id" in bad.errors["held_ids"][0] and "not a Mimecast message id" in bad.errors["held_ids"][0]

    too_many = ReleaseHeldForm({"held_ids": "\n".join(fake_id(n) for n in range(MAX_HELD_IDS + 1)), "reason": REASON})
    assert not too_many.is_valid() and "at most 100" in too_many.errors["held_ids"][0]

    no_reason = ReleaseHeldForm({"held_ids": fake_id(1), "reason": "short"})
    assert not no_reason.is_valid() and "reason" in no_reason.errors

    control = ReleaseHeldForm({"held_ids": fake_id(1) + "\u202e", "reason": REASON})
    assert not control.is_valid() and "control characters" in control.errors["held_ids"][0]


def test_the_reject_form_takes_mimecasts_reason_types_and_words_only_with_a_notice():
    base = {"held_ids": fake_id(1), "reason": REASON}
    form = RejectHeldForm(
        {**base, "reason_type": "REVIEWER_DISAPPROVES_OF_CONTENT", "notify": "on", "message": "Not for us."}
    )
    assert form.is_valid(), form.errors
    assert form.to_values()["params"] == {
        "held_ids": [fake_id(1)],
        "reason_type": "REVIEWER_DISAPPROVES_OF_CONTENT",
        "message": "Not for us.",
        "notify": True,
    }
    assert "reason_type" in RejectHeldForm({**base, "reason_type": "BECAUSE"}).errors
    silent = RejectHeldForm({**base, "reason_type": "INAPPROPRIATE_COMMUNICATION", "message": "Nobody reads this"})
    assert not silent.is_valid() and "only with a notice" in silent.errors["message"][0]


def test_the_prefill_takes_the_held_ids_of_the_query_and_ignores_junk():
    query = QueryDict(mutable=True)
    query.setlist("held_id", [fake_id(1), "<script>", fake_id(1), "", fake_id(2)])
    assert ReleaseHeldForm.initial_from_query(query) == {"held_ids": f"{fake_id(1)}\n{fake_id(2)}"}
    assert RejectHeldForm.initial_from_query(QueryDict("held_id=x&held_id=%00")) == {}


# ------------------------------------------------------------------------------ flags and rules


def test_the_flag_rule_follows_the_hold_reason():
    spam = HeldMessage(reason="Spam Signature", reason_id="MESSAGE_HOLD_APPLIED_SPAM_SIGNATURE_POLICY")
    macro = HeldMessage(reason="Attachment Protection", reason_code="message_hold_applied_attachment_protect_policy")
    words_only = HeldMessage(reason="Malware")
    plain = HeldMessage(reason="Policy hold", reason_id="MESSAGE_HOLD_APPLIED_CONTENT_POLICY")
    assert hold_reason_flag(spam) == "held by Spam Signature"
    assert hold_reason_flag(macro) == "held by Attachment Protection"
    assert hold_reason_flag(words_only) == "held by Malware"
    assert hold_reason_flag(plain) == ""


def test_a_flagged_release_needs_the_approvers_the_admin_set_and_unknown_verdicts_count_as_flagged():
    two, one = SimpleNamespace(flagged_release_approvers=2), SimpleNamespace(flagged_release_approvers=1)
    flagged = SimpleNamespace(preview={"messages": [{}], "flagged": 3, "ttp_checked": True})
    clean = SimpleNamespace(preview={"messages": [{}], "flagged": 0, "ttp_checked": True})
    unknown = SimpleNamespace(preview={"messages": [{}], "flagged": 0, "ttp_checked": False})
    assert release_rules(flagged, two) == (
        2,
        False,
        ["3 of the messages are flagged by TTP, malware or spam checks: two approvers"],
    )
    assert release_rules(flagged, one) == (1, False, [])
    assert release_rules(clean, two) == (1, False, [])
    assert release_rules(unknown, two)[0] == 2
    assert kind_for(Kind.REJECT_HELD).approval_rules(flagged, two) == (1, False, [])
    assert kind_for(Kind.RELEASE_HELD).irreversible and kind_for(Kind.REJECT_HELD).irreversible
    assert not kind_for(Kind.RELEASE_HELD).undo_kind


# ---------------------------------------------------------------------- preview (the simulator)


def draft(analyst, kind, ids, **params):
    values = {"kind": kind, "params": {"held_ids": ids, **params}, "reason": REASON, "ticket_id": ""}
    return services.remediation_request_create(actor=analyst, values=values)


def previewed(analyst, req):
    services.remediation_request_preview(actor=analyst, request_id=req.pk)
    return RemediationRequest.objects.get(pk=req.pk)


def test_the_preview_shows_each_held_message_with_its_reason_policy_and_ttp_verdicts(analyst, sim):
    macro, spam = held(sim, "macro"), held(sim)
    ids = [macro[0].id, spam[0].id]
    req = previewed(analyst, draft(analyst, Kind.RELEASE_HELD, ids))
    preview = req.preview
    assert preview["errors"] == [] and preview["ttp_checked"] is True
    by_id = {m["id"]: m for m in preview["messages"]}
    assert list(by_id) == ids
    m = by_id[macro[0].id]
    assert m["reason"] == "Attachment Protection" and m["policy"] == "Default Attachment Protect"
    assert m["to"] == macro[0].to[0][1] and m["subject"] == macro[0].subject
    # The sandbox's malicious verdict for that copy, from the Attachment Protect log.
    assert [t["verdict"] for t in m["ttp"]] == ["malicious"]
    assert "Attachment Protect verdict malicious" in m["flags"]
    s = by_id[spam[0].id]
    assert s["reason"] == "Spam Signature" and s["ttp"] == [] and s["flags"] == ["held by Spam Signature"]
    assert preview["flagged"] == 2
    assert any("2 of the messages are flagged" in w for w in preview["warnings"])

    page = Client()
    page.force_login(analyst)
    html = page.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert 'id="held-preview"' in html and "Default Attachment Protect" in html

    services.remediation_request_submit(actor=analyst, request_id=req.pk)
    req.refresh_from_db()
    assert req.approvals_required == 2 and not req.admin_approval_required
    assert req.approval_rule_reasons == ["2 of the messages are flagged by TTP, malware or spam checks: two approvers"]
    items = list(req.items.order_by("position"))
    assert [i.key for i in items] == ids
    assert items[0].label == f"{macro[0].subject} / {macro[0].from_addr}"


def test_the_preview_says_which_messages_left_the_queue_and_how(analyst, sim):
    gone = next(m for m in sim.state.messages if m.status == "rejected")
    req = previewed(
        analyst, draft(analyst, Kind.REJECT_HELD, [gone.id, fake_id(9)], reason_type="INAPPROPRIATE_COMMUNICATION")
    )
    assert req.preview["messages"] == []
    [error] = req.preview["errors"]
    assert error.startswith("2 of the selected messages are no longer in the hold queue")
    assert "rejected by" in error and "not found" in error


def test_a_hold_queue_mimecast_cannot_read_is_an_error_in_the_preview(analyst, sim):
    sim.faults.add(path="/api/gateway/get-hold-message-list", kind="status", status=403, count=5)
    req = previewed(analyst, draft(analyst, Kind.RELEASE_HELD, [held(sim)[0].id]))
    [error] = req.preview["errors"]
    assert error.startswith("The hold queue could not be read:")


def test_unreadable_ttp_logs_leave_the_verdicts_unknown_and_a_release_needs_two(analyst, sim):
    sim.faults.add(path="/api/ttp/attachment/get-logs", kind="status", status=403, count=5)
    req = previewed(analyst, draft(analyst, Kind.RELEASE_HELD, [held(sim)[0].id]))
    assert req.preview["ttp_checked"] is False
    assert any("TTP logs could not be read" in w for w in req.preview["warnings"])
    assert release_rules(req, ApprovalRules(flagged_release_approvers=2))[0] == 2


# ------------------------------------------------------------------- the calls (the simulator)


def item_for(key):
    return SimpleNamespace(key=key)


def test_release_then_confirm_and_a_second_call_adopts_instead_of_failing(db, sim):
    client, message = mimecast_client(), held(sim)[0]
    req = SimpleNamespace(params={"held_ids": [message.id]})
    assert confirm_release(client, req, item_for(message.id)) is None  # still held: not done yet
    assert do_release(client, req, item_for(message.id)) == {"mimecast_id": "", "released": True}
    assert sim.state.message_by_id[message.id].status == "delivered"
    assert not any(h.id == message.id for h in client.iter_items(client.get_held_messages, admin=True))
    confirmed = confirm_release(client, req, item_for(message.id))
    assert confirmed["released"] is True and confirmed["at"]
    # A retried call after a lost answer: Mimecast says "not held"; the release log says it was released.
    again = do_release(client, req, item_for(message.id))
    assert again["released"] is True
    assert len(sim.effects("hold-release", id=message.id)) == 1


def test_reject_passes_the_reason_type_and_a_release_of_a_rejected_message_fails_saying_so(db, sim):
    client, message = mimecast_client(), held(sim)[1]
    params = {
        "held_ids": [message.id],
        "reason_type": "REVIEWER_DISAPPROVES_OF_CONTENT",
        "message": "",
        "notify": False,
    }
    req = SimpleNamespace(params=params)
    assert do_reject(client, req, item_for(message.id))["rejected"] is True
    [effect] = sim.effects("hold-reject", id=message.id)
    assert effect["reasonType"] == "REVIEWER_DISAPPROVES_OF_CONTENT" and effect["notify"] is False
    assert confirm_reject(client, req, item_for(message.id))["reject_reason"] == "REVIEWER_DISAPPROVES_OF_CONTENT"
    with pytest.raises(ItemFailed, match=r"rejected by .* instead: nothing was released"):
        confirm_release(client, req, item_for(message.id))
    with pytest.raises(ItemFailed, match="rejected by"):
        do_release(client, req, item_for(message.id))
    with pytest.raises(ItemFailed, match="neither in the hold queue nor in the release log"):
        confirm_reject(client, req, item_for(fake_id(5)))


# ----------------------------------------------------------------------------- the queue page


def test_the_hold_queue_lists_reasons_and_flags_and_offers_release_and_reject(personas, sim):
    analyst, auditor = Client(), Client()
    analyst.force_login(personas["analyst"])
    auditor.force_login(personas["auditor"])
    url = reverse("tools-held")
    assert url == "/tools/held/"
    html = analyst.get(url, {"window": "30d"}).content.decode()
    macro = held(sim, "macro")[0]
    assert f'name="held_id" value="{macro.id}"' in html
    assert "Release selected" in html and "Reject selected" in html
    assert 'action="/remediation/new/"' in html and 'value="release_held"' in html
    assert "badge-warn" in html and "Attachment Protection" in html
    assert " checked" not in html
    assert "checked" in analyst.get(url, {"window": "30d", "select": "all"}).content.decode()

    # Whoever may investigate may also ask for a release (analysts and approvers); anyone else gets no page.
    assert auditor.get(url, {"window": "30d"}).status_code == 403


# ------------------------------------------------------------------------------------ end to end


@pytest.fixture
def people(transactional_db, analyst, approver, second_approver):
    return {"analyst": analyst, "approver": approver, "second": second_approver}


def decide(client, req):
    req.refresh_from_db()
    response = client.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "Checked the message", "version": req.version},
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def wait_for_final(request_id):
    return poll_until(
        lambda: RemediationRequest.objects.get(pk=request_id), lambda r: r.is_final, timeout=60, interval=0.25
    )


def request_from_queue(analyst, kind, ids, **extra):
    """What the queue's buttons do: open the form prefilled, then send it (saved and previewed)."""
    query = QueryDict(mutable=True)
    query["kind"] = kind
    query.setlist("held_id", ids)
    page = analyst.get(f"{reverse('remediation-new')}?{query.urlencode()}").content.decode()
    assert all(i in page for i in ids)
    response = analyst.post(
        f"{reverse('remediation-new')}?kind={kind}", {"held_ids": "\n".join(ids), "reason": REASON, **extra}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    req = RemediationRequest.objects.order_by("-id").first()
    if req.previewed_at is None:
        assert analyst.post(reverse("remediation-preview", args=[req.pk])).status_code in (200, 302)
        req.refresh_from_db()
    assert req.kind == kind and req.previewed_at is not None and req.preview["errors"] == []
    response = analyst.post(reverse("remediation-submit", args=[req.pk]), follow=True)
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL, response.content.decode()[:4000]
    return req


def test_a_flagged_release_needs_two_approvers_then_the_worker_releases_and_a_reject_follows(
    worker, people, mimecast_env
):
    sim = mimecast_env
    analyst = signed_in(people["analyst"])
    macro = held(sim, "macro")
    ids = [m.id for m in macro]
    req = request_from_queue(analyst, Kind.RELEASE_HELD, ids)
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL and req.approvals_required == 2

    decide(signed_in(people["approver"]), req)
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL and req.first_approved_by == people["approver"]
    assert {sim.state.message_by_id[i].status for i in ids} == {"held"}  # one approval is not enough

    decide(signed_in(people["second"]), req)
    req = wait_for_final(req.pk)
    assert req.state == State.SUCCEEDED, req.failure_reason
    assert {sim.state.message_by_id[i].status for i in ids} == {"delivered"}
    assert [len(sim.effects("hold-release", id=i)) for i in ids] == [1, 1]
    assert set(RemediationItem.objects.filter(request=req).values_list("state", flat=True)) == {"done"}
    page = analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert "Mimecast cannot undo a release" in page

    spam = held(sim)[0]
    reject = request_from_queue(
        analyst,
        Kind.REJECT_HELD,
        [spam.id],
        reason_type="MESSAGE_GOES_AGAINST_EMAIL_POLICIES",
        notify="on",
        message="Please use the portal instead.",
    )
    reject.refresh_from_db()
    assert reject.approvals_required == 1
    decide(signed_in(people["approver"]), reject)
    reject = wait_for_final(reject.pk)
    assert reject.state == State.SUCCEEDED, reject.failure_reason
    assert sim.state.message_by_id[spam.id].status == "rejected"
    [effect] = sim.effects("hold-reject", id=spam.id)
    assert effect["reasonType"] == "MESSAGE_GOES_AGAINST_EMAIL_POLICIES" and effect["notify"] is True
    assert effect["message"] == "Please use the portal instead."

    for request, done in ((req, 2), (reject, 1)):
        actions = audited_once_confirmed(request)
        assert CARRIED_OUT | {AuditAction.REMEDIATION_CONFIRMED} <= set(actions), (request.pk, actions)
        assert actions.count(AuditAction.REMEDIATION_ITEM_DONE) == done
    assert AuditAction.REMEDIATION_FIRST_APPROVAL in audited(req)
