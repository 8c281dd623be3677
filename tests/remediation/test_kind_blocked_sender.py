"""Blocking a sender or a domain, and removing the block: the request forms, the preview against the
simulator, the Mimecast calls and their confirmation, and one request carried out by a real worker."""

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.connection.services import mimecast_client
from investigations.models import ApprovalRules, AuditAction, RemediationItem, RemediationRequest
from investigations.remediation import services
from investigations.remediation.forms.blocked_sender import BlockSenderForm, UnblockSenderForm
from investigations.remediation.kinds import kind_for
from investigations.remediation.kinds.blocked_sender import DESCRIPTION_MAX, policy_description
from tests.factories import UserFactory
from tests.polling import poll_until
from tests.remediation.support import CARRIED_OUT, audited, signed_in
from tests.workspace.message_page import load_message_page

Kind = RemediationRequest.Kind
State = RemediationRequest.State
GET_POLICY = "/api/policy/blockedsenders/get-policy"
SEARCH = "/api/message-finder/search"
REASON = "Credential phishing from this sender, confirmed by the SOC"

# The seeded organisation: a phishing domain with a few dozen messages, a busy newsletter domain,
# and the policies that already name some senders.
PHISH_DOMAIN = "m365-secure-login.com"
BUSY_DOMAIN = "techdigest-news.com"
BLOCKED_ADDRESS = "winner@prize-claims.example"
BLOCKED_DOMAIN = "cheap-hosting.example"


def block_form(**overrides):
    data = {"target_type": "email_domain", "value": PHISH_DOMAIN, "from_part": "both", "reason": REASON}
    data.update(overrides)
    return BlockSenderForm(data=data)


def draft(user, kind, params, *, restore_of=None):
    values = {"kind": kind, "params": params, "reason": REASON, "ticket_id": "SOC-1"}
    if restore_of is not None:
        values["restore_of"] = restore_of
    return services.remediation_request_create(actor=user, values=values)


def block_params(value, target_type="email_domain", from_part="both"):
    return {"target_type": target_type, "value": value, "from_part": from_part}


def item_of(req, key, position=0):
    return RemediationItem.objects.create(request=req, position=position, key=key, updated_at=timezone.now())


def sent_from(simulator, value):
    """The seeded messages Message Finder lists for a sender or domain over the last 30 days."""
    end = timezone.now()
    start = end - timedelta(days=30)

    def matches(address):
        address = (address or "").lower()
        return address == value if "@" in value else address.endswith("@" + value) or address.endswith("." + value)

    return [
        m
        for m in simulator.state.messages
        if start <= m.received <= end and (matches(m.from_addr) or matches(m.env_from))
    ]


# ---------------------------------------------------------------------------------------- the forms


def test_a_domain_block_form_gives_the_kind_params():
    form = block_form(value="  M365-Secure-Login.COM ", ticket_id="INC-42")
    assert form.is_valid(), form.errors
    assert form.to_values() == {
        "params": {"target_type": "email_domain", "value": PHISH_DOMAIN, "from_part": "both"},
        "reason": REASON,
        "ticket_id": "INC-42",
    }


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"target_type": "email_address", "value": PHISH_DOMAIN}, "value", "give the address"),
        ({"value": "ceo@" + PHISH_DOMAIN}, "value", f"give the domain only ({PHISH_DOMAIN})"),
        ({"value": "not a sender"}, "value", "email address"),
        ({"value": ""}, "value", "required"),
        ({"value": "a" * 300 + ".com"}, "value", "at most"),
        ({"value": "evil\u202e.com"}, "value", "control characters"),
        ({"target_type": "everyone"}, "target_type", "valid choice"),
        ({"from_part": "subject"}, "from_part", "valid choice"),
        ({"reason": "bad"}, "reason", "at least 10"),
        ({"reason": ""}, "reason", "required"),
        ({"ticket_id": "no spaces allowed"}, "ticket_id", "ticket id"),
    ],
)
def test_bad_block_input_is_refused_next_to_its_field(overrides, field, words):
    form = block_form(**overrides)
    assert not form.is_valid()
    assert words.lower() in " ".join(form.errors[field]).lower(), form.errors


@pytest.mark.parametrize(
    ("query", "initial"),
    [
        # The message page's "Block domain" passes the sender's address: the form offers its domain.
        (
            "value=Ceo@M365-Secure-Login.com&target_type=email_domain",
            {"target_type": "email_domain", "value": PHISH_DOMAIN},
        ),
        (
            "value=ceo@example.com&target_type=email_address",
            {"target_type": "email_address", "value": "ceo@example.com"},
        ),
        # The policy page passes whatever sender was checked; the type follows from the value.
        ("value=example.com", {"target_type": "email_domain", "value": "example.com"}),
        ("value=ceo@example.com", {"target_type": "email_address", "value": "ceo@example.com"}),
        # Junk is dropped, never a 500.
        ("value=<script>&target_type=<x>", {}),
        ("value=" + "a" * 400 + "@example.com", {}),
        ("target_type=email_address&value=%00", {"target_type": "email_address"}),
        ("", {}),
    ],
)
def test_the_block_form_is_prefilled_from_a_link_and_ignores_junk(query, initial):
    assert BlockSenderForm.initial_from_query(QueryDict(query)) == initial


@pytest.mark.django_db
def test_an_unblock_form_names_the_policies_of_a_succeeded_block(personas):
    block = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    data = {"restore_of": block.pk, "reason": "False positive: the domain is a partner's"}
    form = UnblockSenderForm(data=data)
    assert not form.is_valid()
    assert "succeeded" in " ".join(form.errors["restore_of"])

    RemediationRequest.objects.filter(pk=block.pk).update(state=State.SUCCEEDED)
    form = UnblockSenderForm(data=data)
    assert not form.is_valid()
    assert "created no policy" in " ".join(form.errors["restore_of"])

    item = item_of(block, PHISH_DOMAIN)
    RemediationItem.objects.filter(pk=item.pk).update(state=RemediationItem.State.DONE, mimecast_id="eNo1jrPOLICY")
    form = UnblockSenderForm(data=data)
    assert form.is_valid(), form.errors
    values = form.to_values()
    assert values["params"] == {"policy_ids": ["eNo1jrPOLICY"], "value": PHISH_DOMAIN, "target_type": "email_domain"}
    assert values["restore_of"].pk == block.pk

    assert "There is no request" in " ".join(
        UnblockSenderForm(data={**data, "restore_of": 999999}).errors["restore_of"]
    )
    assert UnblockSenderForm.initial_from_query(QueryDict(f"restore_of={block.pk}")) == {"restore_of": block.pk}
    assert UnblockSenderForm.initial_from_query(QueryDict("restore_of=-1x")) == {}
    assert UnblockSenderForm.initial_from_query(QueryDict("restore_of=99999999999999")) == {}


# ---------------------------------------------------------------------------------------- the preview


def test_the_preview_counts_the_domains_mail_of_the_last_30_days(personas, sim):
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    preview = kind_for(Kind.BLOCK_SENDER).preview(mimecast_client(), req)

    sent = sent_from(sim, PHISH_DOMAIN)
    assert sent, "the seeded phishing domain sent mail in the last 30 days"
    assert preview["errors"] == []
    assert preview["message_count"] == len(sent)
    assert preview["delivered"] == sum(m.status in ("archived", "delivered") for m in sent)
    assert preview["held"] == sum(m.status == "held" for m in sent)
    assert preview["rejected"] == sum(m.status == "rejected" for m in sent)
    assert preview["recipients"] == len({r.lower() for m in sent for _, r in m.to + m.cc})
    assert sum(preview["statuses"].values()) == len(sent)
    assert preview["covering"] == [] and preview["conflicting"] == []
    # The search went to Message Finder for the sender, over 30 days.
    [item] = sim.calls_to(SEARCH)[-1].json["data"]
    assert item["advancedTrackAndTraceOptions"]["from"] == PHISH_DOMAIN


def test_the_preview_lists_the_policies_that_already_block_the_sender(personas, sim):
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(BLOCKED_ADDRESS, "email_address"))
    preview = kind_for(Kind.BLOCK_SENDER).preview(mimecast_client(), req)

    covering = {p["description"]: p["why"] for p in preview["covering"]}
    assert covering == {
        "Prize scam sender": "names this address",
        "Blocked Senders group": "the sender is a member of its group",
    }
    assert any("already blocked by 2 enabled policies" in w for w in preview["warnings"])


def test_the_preview_names_an_exception_that_conflicts_with_the_block(personas, sim):
    permitted = next(g for g in sim.state.groups if g["description"] == "Permitted Senders")
    partner = permitted["members"][0]["emailAddress"]
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(partner, "email_address"))
    preview = kind_for(Kind.BLOCK_SENDER).preview(mimecast_client(), req)

    assert [p["description"] for p in preview["conflicting"]] == ["Permitted partners exception"]
    assert preview["conflicting"][0]["option"] == "no_action"
    assert any("exception policy" in w and partner in w for w in preview["warnings"])


def test_a_failed_read_is_in_the_preview_in_plain_words(personas, sim):
    sim.faults.add(path=GET_POLICY, kind="status", status=500, count=5)
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    preview = kind_for(Kind.BLOCK_SENDER).preview(mimecast_client(), req)

    assert preview["message_count"] == len(sent_from(sim, PHISH_DOMAIN))
    assert len(preview["errors"]) == 1
    assert preview["errors"][0].startswith("The blocked-sender policies could not be read: ")


def test_a_busy_domain_needs_an_admin_approver_and_a_quiet_one_does_not(personas, sim):
    rules = ApprovalRules()
    kind = kind_for(Kind.BLOCK_SENDER)
    client = mimecast_client()
    busy = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(BUSY_DOMAIN))
    busy.preview = kind.preview(client, busy)
    quiet = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    quiet.preview = kind.preview(client, quiet)
    assert busy.preview["delivered"] > rules.domain_block_admin_threshold >= quiet.preview["delivered"]

    assert kind.approval_rules(busy, rules) == (
        1,
        True,
        [f"{BUSY_DOMAIN} sent {busy.preview['delivered']} delivered messages in 30 days: an admin must approve"],
    )
    assert kind.approval_rules(quiet, rules) == (1, False, [])
    # The threshold is the admin's setting.
    rules.domain_block_admin_threshold = quiet.preview["delivered"] - 1
    assert kind.approval_rules(quiet, rules)[1] is True
    # One address is never a domain block; a count that could not be read is treated as high.
    address = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params("ceo@" + BUSY_DOMAIN, "email_address"))
    address.preview = {"delivered": 10_000}
    assert kind.approval_rules(address, rules) == (1, False, [])
    quiet.preview = {"errors": ["Message Finder failed"]}
    assert kind.approval_rules(quiet, rules)[:2] == (1, True)


# ------------------------------------------------------------------------ the calls and their confirmation


def policy_ids(client):
    return {p.id for p in client.get_blocked_sender_policies()}


def test_a_block_creates_one_policy_a_retry_adopts_it_and_the_undo_removes_it(personas, sim):
    client = mimecast_client()
    block_kind, unblock_kind = kind_for(Kind.BLOCK_SENDER), kind_for(Kind.UNBLOCK_SENDER)
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    assert block_kind.items(req) == [(PHISH_DOMAIN, f"Block the domain {PHISH_DOMAIN}")]
    item = item_of(req, PHISH_DOMAIN)
    before = policy_ids(client)

    assert block_kind.confirm_item(client, req, item) is None
    result = block_kind.do_item(client, req, item)
    created = policy_ids(client) - before
    assert created == {result["mimecast_id"]}
    policy = next(p for p in client.get_blocked_sender_policies() if p.id == result["mimecast_id"])
    assert req.marker in policy.description
    assert (policy.option, policy.from_.type, policy.from_.value, policy.from_part, policy.to.type) == (
        "block_sender",
        "email_domain",
        PHISH_DOMAIN,
        "both",
        "everyone",
    )
    # An attempt that lost the answer finds the same policy by its marker instead of creating another.
    assert block_kind.confirm_item(client, req, item) == result
    assert len(sim.effects("create-policy", target=PHISH_DOMAIN)) == 1

    RemediationItem.objects.filter(pk=item.pk).update(
        state=RemediationItem.State.DONE, mimecast_id=result["mimecast_id"]
    )
    params = block_kind.undo_params(req)
    assert params == {"policy_ids": [result["mimecast_id"]], "value": PHISH_DOMAIN, "target_type": "email_domain"}

    undo = draft(personas["analyst"], Kind.UNBLOCK_SENDER, params, restore_of=req)
    preview = unblock_kind.preview(client, undo)
    assert [p["id"] for p in preview["policies"]] == [result["mimecast_id"]]
    assert preview["errors"] == [] and preview["warnings"] == [] and preview["missing"] == []
    [(key, label)] = unblock_kind.items(undo)
    assert key == result["mimecast_id"] and PHISH_DOMAIN in label
    undo_item = item_of(undo, key)
    assert unblock_kind.confirm_item(client, undo, undo_item) is None
    assert unblock_kind.do_item(client, undo, undo_item) == {"removed": True}
    assert result["mimecast_id"] not in policy_ids(client)
    assert unblock_kind.confirm_item(client, undo, undo_item) == {"removed": True}
    # Deleting again (a retry whose first answer was lost) finds it gone: done, not failed.
    assert unblock_kind.do_item(client, undo, undo_item) == {"removed": True, "already_gone": True}
    # The undo's preview now says there is nothing left to remove.
    preview = unblock_kind.preview(client, undo)
    assert preview["policies"] == [] and preview["missing"] == [result["mimecast_id"]]
    assert unblock_kind.irreversible and not unblock_kind.undo_kind
    assert block_kind.break_glass and block_kind.undo_kind == Kind.UNBLOCK_SENDER


def test_the_description_keeps_the_marker_and_fits_on_one_line(personas, db):
    req = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(PHISH_DOMAIN))
    req.reason = "Line one\nline two   " + "x" * 500
    text = policy_description(req)
    assert text.startswith(req.marker + " Line one line two x")
    assert len(text) <= DESCRIPTION_MAX and "\n" not in text


def test_a_policy_someone_changed_is_flagged_in_the_undo_preview(personas, sim):
    client = mimecast_client()
    seeded = next(p for p in client.get_blocked_sender_policies() if p.description == "Prize scam sender")
    block = draft(personas["analyst"], Kind.BLOCK_SENDER, block_params(BLOCKED_ADDRESS, "email_address"))
    undo = draft(
        personas["analyst"],
        Kind.UNBLOCK_SENDER,
        {"policy_ids": [seeded.id], "value": BLOCKED_ADDRESS, "target_type": "email_address"},
        restore_of=block,
    )
    preview = kind_for(Kind.UNBLOCK_SENDER).preview(client, undo)
    assert [p["description"] for p in preview["policies"]] == ["Prize scam sender"]
    assert preview["warnings"] == [
        f"Policy {seeded.id} no longer carries the block request's marker: someone changed it in Mimecast."
    ]


# ------------------------------------------------------------------------------- the start points


def test_the_message_page_and_the_policy_page_link_to_a_prefilled_block(personas, sim_env):
    message = next(m for m in sim_env.state.messages if m.from_addr.endswith("@" + PHISH_DOMAIN))
    analyst = Client()
    analyst.force_login(personas["analyst"])
    page = load_message_page(analyst, message.id).content.decode()
    new = reverse("remediation-new")
    sender = message.from_addr.replace("@", "%40")
    assert f'href="{new}?kind=block_sender&amp;value={sender}&amp;target_type=email_address"' in page
    assert f'href="{new}?kind=block_sender&amp;value={sender}&amp;target_type=email_domain"' in page

    page = analyst.get(reverse("directory-policies"), {"sender": BLOCKED_DOMAIN}).content.decode()
    assert f'href="{new}?kind=block_sender&amp;value={BLOCKED_DOMAIN}"' in page

    # An auditor may read neither page's actions: no block link for someone who may not request one.
    auditor = Client()
    auditor.force_login(personas["auditor"])
    assert "block_sender" not in auditor.get(reverse("message-detail", args=[message.id])).content.decode()


def test_the_request_page_shows_the_preview_escaped_and_bad_input_is_a_message(personas, sim):
    hostile = "<script>alert(1)</script> partner exception"
    mimecast_client().create_blocked_sender_policy(
        option="no_action", description=hostile, from_type="email_address", from_value="boss@" + PHISH_DOMAIN
    )
    analyst = Client()
    analyst.force_login(personas["analyst"])
    form = {"kind": "block_sender", "target_type": "email_domain", "value": PHISH_DOMAIN, "reason": REASON}

    response = analyst.post(reverse("remediation-new"), {**form, "value": "boss@" + PHISH_DOMAIN})
    assert response.status_code == 400
    assert f"give the domain only ({PHISH_DOMAIN})" in response.content.decode()
    assert not RemediationRequest.objects.exists()

    response = analyst.post(reverse("remediation-new"), {**form, "from_part": "both"})
    assert response.status_code == 302, response.content.decode()[:2000]
    req = RemediationRequest.objects.get()
    assert req.params == {"target_type": "email_domain", "value": PHISH_DOMAIN, "from_part": "both"}
    page = analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert 'id="block-traffic"' in page
    assert f'id="block-delivered">{req.preview["delivered"]}<' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; partner exception" in page and hostile not in page
    assert f"names boss@{PHISH_DOMAIN}, one address in this domain" in page


# ------------------------------------------------------------------ end to end with a real worker

WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}


def wait_for_final(request_id, timeout=60):
    return poll_until(
        lambda: RemediationRequest.objects.get(pk=request_id), lambda req: req.is_final, timeout=timeout, interval=0.25
    )


def request_and_approve(requester, approver, form):
    response = requester.post(reverse("remediation-new"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    req = RemediationRequest.objects.order_by("-id").first()
    assert req.previewed_at is not None and req.preview["errors"] == []
    assert requester.post(reverse("remediation-submit", args=[req.pk])).status_code == 302
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL
    response = approver.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "Checked the preview", "version": req.version},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return req


def test_a_domain_block_is_approved_carried_out_and_undone_by_a_real_worker(worker, mimecast_env):
    simulator = mimecast_env
    analyst = signed_in(UserFactory(username="alice", roles=["analyst"]))
    approver = signed_in(UserFactory(username="carol", roles=["approver"]))

    page = analyst.get(
        reverse("remediation-new"),
        {"kind": "block_sender", "value": "ceo@" + PHISH_DOMAIN, "target_type": "email_domain"},
    )
    assert page.status_code == 200 and f'value="{PHISH_DOMAIN}"' in page.content.decode()

    block = request_and_approve(
        analyst,
        approver,
        {
            "kind": "block_sender",
            "target_type": "email_domain",
            "value": PHISH_DOMAIN,
            "from_part": "both",
            "reason": REASON,
        },
    )
    assert block.preview["message_count"] == len(sent_from(simulator, PHISH_DOMAIN))
    block = wait_for_final(block.pk)
    assert block.state == State.SUCCEEDED, block.failure_reason
    [item] = block.items.all()
    assert item.state == RemediationItem.State.DONE and item.mimecast_id
    listed = {p.id: p for p in mimecast_client().get_blocked_sender_policies()}
    assert item.mimecast_id in listed and block.marker in listed[item.mimecast_id].description
    assert [e["id"] for e in simulator.effects("create-policy", target=PHISH_DOMAIN)] == [item.mimecast_id]
    assert CARRIED_OUT | {AuditAction.REMEDIATION_ITEM_DONE} <= set(audited(block)), audited(block)

    # The block's page offers its undo, which drafts and previews the removal of exactly the policy
    # the block created; submitted and approved like any request.
    page = analyst.get(reverse("remediation-detail", args=[block.pk])).content.decode()
    assert 'id="request-undo"' in page and PHISH_DOMAIN in page
    assert analyst.post(reverse("remediation-undo", args=[block.pk])).status_code in (200, 302)
    undo = RemediationRequest.objects.get(restore_of=block)
    assert undo.kind == Kind.UNBLOCK_SENDER and undo.previewed_at is not None
    assert analyst.post(reverse("remediation-submit", args=[undo.pk])).status_code == 302
    undo.refresh_from_db()
    response = approver.post(
        reverse("remediation-decide", args=[undo.pk]),
        {"decision": "approve", "reason": "False positive after review", "version": undo.version},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert undo.restore_of_id == block.pk
    assert [p["id"] for p in undo.preview["policies"]] == [item.mimecast_id]
    undo = wait_for_final(undo.pk)
    assert undo.state == State.SUCCEEDED, undo.failure_reason
    assert item.mimecast_id not in {p.id for p in mimecast_client().get_blocked_sender_policies()}
    assert [e["id"] for e in simulator.effects("delete-policy")] == [item.mimecast_id]
    for action in (
        AuditAction.REMEDIATION_APPROVED,
        AuditAction.REMEDIATION_ITEM_DONE,
        AuditAction.REMEDIATION_SUCCEEDED,
    ):
        assert action in audited(undo), action
