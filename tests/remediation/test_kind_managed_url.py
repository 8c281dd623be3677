"""Blocking or permitting URLs (manage_url) and removing managed URLs (remove_managed_url): the
forms, the preview against the simulator's URL logs and managed URLs, the calls and their
confirmation, the undo, and one request carried out end to end by a real worker."""

import secrets

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from investigations.connection.services import mimecast_client
from investigations.core.links import portal_url
from investigations.models import AuditAction, RemediationItem, RemediationRequest
from investigations.remediation.forms.managed_url import ManageUrlForm, RemoveManagedUrlForm
from investigations.remediation.kinds import ItemFailed, kind_for
from investigations.remediation.kinds import managed_url as kind_module
from investigations.remediation.services import RemediationError, remediation_request_undo
from mimecast_simulator.data import PHISH_DOMAIN, PHISH_URL
from tests.factories import UserFactory
from tests.polling import poll_until
from tests.remediation.samples import URL_BLOCK
from tests.remediation.support import CARRIED_OUT, HANDED_TO_WORKER, audited, signed_in
from tests.workspace.message_page import load_message_page

Kind = RemediationRequest.Kind
ItemState = RemediationItem.State
REASON = "Credential phishing page reported by three users"
CREATE = "/api/ttp/url/create-managed-url"
LOGS = "/api/ttp/url/get-logs"


def form_data(**overrides):
    data = {"urls": PHISH_URL, "action": "block", "match_type": "explicit", "reason": REASON}
    data.update(overrides)
    return data


def make_request(requester, kind=Kind.MANAGE_URL, **params):
    now = timezone.now()
    if kind == Kind.MANAGE_URL:
        params = {"urls": [PHISH_URL], "action": "block", "match_type": "explicit", "comment": "", **params}
    return RemediationRequest.objects.create(
        kind=kind,
        params=params,
        reason=REASON,
        nonce=secrets.token_hex(8),
        requested_by=requester,
        created_at=now,
        updated_at=now,
    )


def with_items(req):
    """The request's items as the engine creates them at submission."""
    now = timezone.now()
    for position, (key, label) in enumerate(kind_for(req.kind).items(req)):
        RemediationItem.objects.create(request=req, position=position, key=key, label=label, updated_at=now)
    return list(req.items.order_by("position"))


def listed(client, host):
    return [e for e in client.get_managed_urls(domain_or_url=host).items if e.domain == host]


# ----------------------------------------------------------------------------------------- forms


def test_form_takes_one_url_a_line_once_each(db):
    text = f"{PHISH_URL}\n\n  https://evil.example/a  \n{PHISH_URL}\n"
    form = ManageUrlForm(form_data(urls=text))
    assert form.is_valid(), form.errors
    values = form.to_values()
    assert values["params"]["urls"] == [PHISH_URL, "https://evil.example/a"]
    assert values["params"] == {"urls": [PHISH_URL, "https://evil.example/a"], **URL_BLOCK}
    assert values["reason"] == REASON and values["ticket_id"] == ""


@pytest.mark.parametrize(
    ("urls", "words"),
    [
        ("https://evil.example/login#step2", "#fragment"),
        ("evil.example/login", "not a full URL"),
        ("ftp://evil.example/file", "not a full URL"),
        ("https://bad_host!/x", "no valid host name"),
        ("https://evil.example/" + "a" * 2100, "longer than 2048"),
        ("", "This field is required"),
    ],
)
def test_form_refuses_what_cannot_be_a_managed_url(db, urls, words):
    form = ManageUrlForm(form_data(urls=urls))
    assert not form.is_valid()
    assert words in " ".join(form.errors["urls"])


def test_form_names_the_line_that_is_wrong(db):
    form = ManageUrlForm(form_data(urls="https://ok.example/\nhttps://bad.example/#x"))
    assert not form.is_valid()
    assert form.errors["urls"][0].startswith("Line 2 has a #fragment")


def test_form_refuses_more_than_fifty_urls(db):
    form = ManageUrlForm(form_data(urls="\n".join(f"https://evil{n}.example/" for n in range(51))))
    assert not form.is_valid()
    assert "At most 50 URLs" in form.errors["urls"][0]


@pytest.mark.parametrize("option", ["disable_rewrite", "disable_user_awareness"])
def test_permit_only_options_are_refused_with_block(db, option):
    form = ManageUrlForm(form_data(**{option: "on"}))
    assert not form.is_valid()
    assert "permitted URLs only" in form.errors[option][0]
    assert ManageUrlForm(form_data(action="permit", **{option: "on"})).is_valid()


def test_form_refuses_a_short_reason_and_control_characters(db):
    form = ManageUrlForm(form_data(reason="bad", comment="hidden\u202ecomment"))
    assert not form.is_valid()
    assert "reason" in form.errors and "comment" in form.errors


def test_prefill_keeps_only_what_could_be_requested():
    query = QueryDict(mutable=True)
    query.setlist("url", [f"{PHISH_URL}#top", "javascript:alert(1)", "x" * 5000, "https://a.example/"])
    query["action"], query["match_type"] = "destroy", "domain"
    initial = ManageUrlForm.initial_from_query(query)
    assert initial == {"urls": f"{PHISH_URL}\nhttps://a.example/", "match_type": "domain"}


def test_an_edit_shows_the_stored_list_one_a_line(db):
    html = str(ManageUrlForm(initial={"urls": ["https://a.example/", "https://b.example/"]})["urls"])
    assert "https://a.example/\nhttps://b.example/" in html


def test_remove_form_checks_ids_and_pairs_urls(db):
    good = RemoveManagedUrlForm({"managed_url_ids": "wOi3MCabc\nwOi3MCdef", "reason": REASON})
    assert good.is_valid(), good.errors
    assert good.to_values()["params"] == {"managed_url_ids": ["wOi3MCabc", "wOi3MCdef"], "urls": []}
    bad = RemoveManagedUrlForm({"managed_url_ids": "wOi3 MC<script>", "reason": REASON})
    assert not bad.is_valid() and "not a managed URL id" in bad.errors["managed_url_ids"][0]
    unpaired = RemoveManagedUrlForm({"managed_url_ids": "a1\nb2", "urls": "https://a.example/", "reason": REASON})
    assert not unpaired.is_valid() and "one URL per id" in unpaired.errors["urls"][0]


# --------------------------------------------------------------------------------------- preview


def test_preview_counts_the_clicks_and_the_messages_carrying_the_url(sim, analyst):
    req = make_request(analyst)
    preview = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), req)
    assert preview["errors"] == []
    (row,) = preview["urls"]
    # The seeded phishing story: nine users clicked, the last three after the page was judged malicious.
    assert row["clicks"] == 9
    assert row["clickers_total"] == 9
    assert row["blocked_clicks"] == 3 and row["malicious_clicks"] == 3
    phish = {m.mime_id: m for m in sim.state.messages if m.story == "phishing"}
    assert row["messages_total"] == 9
    assert {m["message_id"] for m in row["messages"]} <= set(phish)
    assert {m["subject"] for m in row["messages"]} == {m.subject for m in phish.values()}
    clickers = {c["user"] for c in row["clickers"]}
    assert clickers == {m.to[0][1].lower() for m in list(sim.state.messages) if m.story == "phishing"} & clickers
    assert row["existing"] == [] and preview["clicks_total"] == 9
    assert preview["log_capped"] is False


def test_preview_by_domain_counts_every_url_of_the_domain(sim, analyst):
    req = make_request(analyst, urls=[f"https://{PHISH_DOMAIN}/"], match_type="domain")
    (row,) = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), req)["urls"]
    assert row["clicks"] == 9
    exact = make_request(analyst, urls=[f"https://{PHISH_DOMAIN}/"])
    (row,) = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), exact)["urls"]
    assert row["clicks"] == 0


def test_preview_flags_managed_urls_that_already_cover_it(sim, analyst):
    urls = [
        "https://login.prize-claims.example/win",  # a domain block on a parent domain
        "https://github.com/acme-corp",  # the same address is permitted
        "https://portal.contoso-partners.com/x",  # a domain permit
    ]
    req = make_request(analyst, urls=urls)
    preview = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), req)
    flags = [[e["flag"] for e in row["existing"]] for row in preview["urls"]]
    assert flags == [["already blocked"], ["conflicts: permitted"], ["conflicts: permitted"]]
    assert preview["urls"][1]["existing"][0]["same_address"] is True
    warnings = " ".join(preview["warnings"])
    assert "refuses a second entry" in warnings and "already blocked" in warnings
    permit = make_request(analyst, urls=urls[:1], action="permit")
    (row,) = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), permit)["urls"]
    assert [e["flag"] for e in row["existing"]] == ["conflicts: blocked"]


def test_preview_says_when_it_stopped_reading_the_logs(sim, analyst, monkeypatch):
    monkeypatch.setattr(kind_module, "LOG_PAGES", 1)
    preview = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), make_request(analyst))
    assert preview["log_capped"] is True and preview["clicks_read"] == kind_module.LOG_PAGE_SIZE
    assert any("Only the newest 100 clicks" in note for note in preview["notes"])


def test_preview_turns_a_mimecast_failure_into_words(sim, analyst):
    sim.faults.add(path=LOGS, kind="status", status=403, count=5)
    preview = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), make_request(analyst))
    assert len(preview["errors"]) == 1
    assert preview["errors"][0].startswith("The URL Protect logs could not be read: ")
    assert "URL Protection" in preview["errors"][0]
    assert preview["urls"][0]["clicks"] == 0


def test_remove_preview_lists_the_entries_as_mimecast_has_them(sim, analyst):
    client = mimecast_client()
    entry = listed(client, "zoom.us")[0]
    req = make_request(analyst, Kind.REMOVE_MANAGED_URL, managed_url_ids=[entry.id, "wOi3MCgone"], urls=[])
    preview = kind_for(Kind.REMOVE_MANAGED_URL).preview(client, req)
    assert preview["entries"][0]["target"] == "https://zoom.us" and preview["entries"][0]["action"] == "permit"
    assert preview["entries"][1] == {"id": "wOi3MCgone", "found": False}
    assert preview["warnings"] == ["Mimecast no longer lists the managed URL wOi3MCgone: nothing to delete."]


# -------------------------------------------------------------------------- the calls and the undo


def test_block_then_retry_then_undo_against_the_simulator(sim, analyst):
    client = mimecast_client()
    kind = kind_for(Kind.MANAGE_URL)
    req = make_request(analyst, urls=[PHISH_URL, "https://evil.example/payload"])
    items = with_items(req)
    assert [i.key for i in items] == [PHISH_URL, "https://evil.example/payload"]
    assert kind.confirm_item(client, req, items[0]) is None

    results = [kind.do_item(client, req, item) for item in items]
    for item, result in zip(items, results, strict=True):
        assert result["ours"] is True and result["action"] == "block"
        (entry,) = [e for e in listed(client, kind_module._parts(item.key)[0]) if e.id == result["mimecast_id"]]
        assert req.marker in entry.comment and REASON in entry.comment
    # A lost answer: the next attempt confirms what the first created instead of creating another.
    assert kind.confirm_item(client, req, items[0])["mimecast_id"] == results[0]["mimecast_id"]
    again = kind.do_item(client, req, items[0])
    assert again["adopted"] is True and again["mimecast_id"] == results[0]["mimecast_id"]
    assert len(sim.effects("create-managed-url", target=PHISH_URL)) == 1
    # A click now meets the block.
    assert sim.inject_click(url=PHISH_URL, user="jane.doe@acme-corp.com")["action"] == "block"

    for item, result in zip(items, results, strict=True):
        RemediationItem.objects.filter(pk=item.pk).update(
            state=ItemState.DONE, mimecast_id=result["mimecast_id"], result=result
        )
    assert kind.undo_kind == Kind.REMOVE_MANAGED_URL
    params = kind.undo_params(req)
    assert params == {"managed_url_ids": [r["mimecast_id"] for r in results], "urls": [i.key for i in items]}

    undo = kind_for(Kind.REMOVE_MANAGED_URL)
    removal = make_request(analyst, Kind.REMOVE_MANAGED_URL, **params)
    removal_items = with_items(removal)
    assert [i.label for i in removal_items] == params["urls"]
    assert undo.confirm_item(client, removal, removal_items[0]) is None
    for item in removal_items:
        assert undo.do_item(client, removal, item) == {}
        assert undo.confirm_item(client, removal, item) == {}
    assert listed(client, PHISH_DOMAIN) == []
    # Deleted already (a lost answer, or by hand): the effect is there, nothing is sent twice in vain.
    assert undo.do_item(client, removal, removal_items[0]) == {"already_gone": True}
    assert len(sim.effects("delete-managed-url")) == 2
    assert sim.inject_click(url=PHISH_URL, user="jane.doe@acme-corp.com")["action"] == "allow"


def test_an_entry_someone_else_made_is_adopted_but_not_undone(sim, analyst):
    client = mimecast_client()
    theirs = client.create_managed_url(url=PHISH_URL, action="block", comment="Blocked by hand in the console")
    kind = kind_for(Kind.MANAGE_URL)
    req = make_request(analyst)
    (item,) = with_items(req)
    result = kind.do_item(client, req, item)
    assert result["mimecast_id"] == theirs.id and result["adopted"] is True and result["ours"] is False
    RemediationItem.objects.filter(pk=item.pk).update(state=ItemState.DONE, mimecast_id=theirs.id, result=result)
    assert kind.undo_params(req) == {"managed_url_ids": [], "urls": []}
    # With nothing of its own to delete, the engine refuses the undo instead of drafting an empty one.
    RemediationRequest.objects.filter(pk=req.pk).update(state=RemediationRequest.State.SUCCEEDED)
    with pytest.raises(RemediationError, match="Nothing to undo"):
        remediation_request_undo(actor=analyst, request_id=req.pk)
    assert not RemediationRequest.objects.filter(restore_of=req).exists()


def test_a_conflicting_entry_fails_the_item_in_words(sim, analyst):
    client = mimecast_client()
    req = make_request(analyst, urls=["https://github.com/acme-corp"])
    (item,) = with_items(req)
    with pytest.raises(ItemFailed) as refused:
        kind_for(Kind.MANAGE_URL).do_item(client, req, item)
    assert "does not block it" in str(refused.value) and "remove that entry first" in str(refused.value)
    assert [e.action for e in listed(client, "github.com")] == ["permit"]


def test_permit_carries_its_options_to_mimecast(sim, analyst):
    client = mimecast_client()
    req = make_request(
        analyst,
        urls=["https://partner-files.example/share"],
        action="permit",
        disable_rewrite=True,
        disable_user_awareness=True,
        comment="Supplier file share",
    )
    (item,) = with_items(req)
    result = kind_for(Kind.MANAGE_URL).do_item(client, req, item)
    (entry,) = listed(client, "partner-files.example")
    assert entry.id == result["mimecast_id"] and entry.action == "permit"
    assert entry.disable_rewrite is True and entry.disable_user_awareness is True and entry.disable_log_click is False
    assert entry.comment == f"{req.marker} Supplier file share"


def test_the_kinds_are_registered_as_the_engine_reads_them():
    manage, remove = kind_for(Kind.MANAGE_URL), kind_for(Kind.REMOVE_MANAGED_URL)
    assert manage.break_glass is True and manage.undo_kind == Kind.REMOVE_MANAGED_URL and not manage.irreversible
    assert manage.request_capability == remove.request_capability == "request_block"
    assert manage.preview_template == remove.preview_template == "remediation/kinds/managed_url.html"
    assert manage.form.endswith("ManageUrlForm") and remove.form.endswith("RemoveManagedUrlForm")
    assert not manage.incident and not remove.incident


def test_the_preview_template_escapes_mimecast_data(sim, analyst):
    from django.template.loader import render_to_string

    req = make_request(analyst)
    preview = kind_for(Kind.MANAGE_URL).preview(mimecast_client(), req)
    preview["urls"][0]["messages"][0]["subject"] = "<script>alert(1)</script>"
    html = render_to_string("remediation/kinds/managed_url.html", {"req": req, "preview": preview})
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "9</strong> clicks by <strong>9</strong> users" in html


def test_start_points_link_to_a_prefilled_request(sim, analyst, client):
    client.force_login(analyst)
    story = sim.state.story
    page = client.get(reverse("tools-url-logs"), {"window": "7d", "q": PHISH_DOMAIN}).content.decode()
    block = portal_url("remediation-new", kind="manage_url", url=PHISH_URL, action="block")
    assert page.count(escape(block)) == 9  # one link per click row
    page = client.get(reverse("tools-attachment-logs"), {"window": "7d", "q": story["macro_sha256"]}).content.decode()
    assert escape(portal_url("remediation-new", kind="remediate", file_hash=story["macro_sha256"])) in page
    message = load_message_page(client, story["phishing_message_ids"][0]).html
    assert escape(block) in message
    # The link opens the form prefilled with what it names.
    assert ManageUrlForm.initial_from_query(QueryDict(block.split("?", 1)[1]))["urls"] == PHISH_URL


# ------------------------------------------------------------------------------------ end to end

# The worker fixture's settings: retries quick enough for a test to watch them.
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}


def submit_and_approve(requester, approver, req):
    assert requester.post(reverse("remediation-submit", args=[req.pk])).status_code == 302
    req.refresh_from_db()
    assert req.state == RemediationRequest.State.PENDING_APPROVAL, req.state
    response = approver.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "Checked the clicks: block it", "version": req.version},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    final = poll_until(
        lambda: RemediationRequest.objects.get(pk=req.pk), lambda r: r.is_final, timeout=60, interval=0.25
    )
    assert final.state == RemediationRequest.State.SUCCEEDED, final.failure_reason
    return final


def test_a_url_block_requested_approved_carried_out_and_undone(worker, mimecast_env):
    sim = mimecast_env
    analyst = signed_in(UserFactory(username="alice", roles=["analyst"]))
    approver = signed_in(UserFactory(username="carol", roles=["approver"]))
    urls = [PHISH_URL, "https://evil.example/payload"]

    # The request, from the URL logs' link, previewed with the clicks.
    response = analyst.post(portal_url("remediation-new", kind="manage_url"), form_data(urls="\n".join(urls)))
    assert response.status_code == 302, response.content.decode()[:2000]
    req = RemediationRequest.objects.order_by("-id").first()
    assert req.kind == Kind.MANAGE_URL and req.params["urls"] == urls
    assert [row["clicks"] for row in req.preview["urls"]] == [9, 0]
    page = analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert "9</strong> clicks by <strong>9</strong> users" in page

    req = submit_and_approve(analyst, approver, req)
    items = list(req.items.order_by("position"))
    assert [(i.key, i.state) for i in items] == [(url, ItemState.DONE) for url in urls]
    client = mimecast_client()
    for item in items:
        (entry,) = [e for e in listed(client, kind_module._parts(item.key)[0]) if e.id == item.mimecast_id]
        assert entry.action == "block" and req.marker in entry.comment
    assert len(sim.effects("create-managed-url")) == 2
    assert sim.inject_click(url=PHISH_URL, user="jane.doe@acme-corp.com")["action"] == "block"
    actions = audited(req)
    assert set(actions) >= CARRIED_OUT, actions
    assert HANDED_TO_WORKER & set(actions), actions
    assert actions.count(AuditAction.REMEDIATION_ITEM_DONE) == 2

    # The undo, from the request page: a draft naming what the block created.
    assert (
        reverse("remediation-undo", args=[req.pk])
        in analyst.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    )
    assert analyst.post(reverse("remediation-undo", args=[req.pk])).status_code == 302
    undo = RemediationRequest.objects.order_by("-id").first()
    assert undo.kind == Kind.REMOVE_MANAGED_URL and undo.restore_of_id == req.pk
    assert undo.params == {"managed_url_ids": [i.mimecast_id for i in items], "urls": urls}
    assert [e["found"] for e in undo.preview["entries"]] == [True, True]
    undo = submit_and_approve(analyst, approver, undo)
    assert listed(client, PHISH_DOMAIN) == [] and listed(client, "evil.example") == []
    assert len(sim.effects("delete-managed-url")) == 2
    assert sim.inject_click(url=PHISH_URL, user="jane.doe@acme-corp.com")["action"] == "allow"
    undo_actions = audited(undo)
    assert undo_actions.count(AuditAction.REMEDIATION_ITEM_DONE) == 2
    assert AuditAction.REMEDIATION_APPROVED in undo_actions and AuditAction.REMEDIATION_SUCCEEDED in undo_actions


def test_the_request_form_opens_prefilled_and_refuses_bad_input_in_words(sim, analyst, client):
    client.force_login(analyst)
    page = client.get(portal_url("remediation-new", kind="manage_url", url=f"{PHISH_URL}#x", action="permit"))
    assert page.status_code == 200
    assert page.context["form"].initial == {"urls": PHISH_URL, "action": "permit"}
    assert escape(PHISH_URL) in page.content.decode()
    before = RemediationRequest.objects.count()
    for urls, words in (("https://evil.example/#frag", "has a #fragment"), ("https://evil.example/\x00", "Null")):
        response = client.post(portal_url("remediation-new", kind="manage_url"), form_data(urls=urls))
        assert response.status_code == 400
        assert words in response.content.decode()
    assert RemediationRequest.objects.count() == before
