"""Action requests through the API: every kind the engine knows is drafted, previewed and submitted
under the token's service identity and waits for a person; bad bodies are refused field by field with
the forms' own messages; reading, listing and cancelling; and nothing a token posts ever decides."""

import pytest
from django.test import Client

from investigations.models import AuditAction, AuditEvent, RemediationRequest
from investigations.remediation import selectors, services
from investigations.remediation.kinds import KINDS
from tests.factories import RemediationRequestFactory
from tests.remediation.samples import REASON, params_for

Kind = RemediationRequest.Kind
State = RemediationRequest.State

# How each kind is asked for through the API (its form's fields), from the registry-wide samples.
STARTED = [Kind.REMEDIATE, Kind.BLOCK_SENDER, Kind.MANAGE_URL, Kind.RELEASE_HELD, Kind.REJECT_HELD]
STARTED += [Kind.REMEDIATE_MESSAGES, Kind.REMOVE_MANAGED_URL]
# Undo kinds, asked for with the number of the request they undo.
UNDOING = {Kind.RESTORE: Kind.REMEDIATE, Kind.UNBLOCK_SENDER: Kind.BLOCK_SENDER}
UNDOING[Kind.RESTORE_MESSAGES] = Kind.REMEDIATE_MESSAGES


def api_params(kind, sim, n=0):
    """The kind's form fields as JSON, for values the seeded simulator holds."""
    if kind == Kind.REMEDIATE:
        return {"search_by": "message_id", "search_value": next(m.mime_id for m in sim.state.messages if m.story)}
    if kind == Kind.REMOVE_MANAGED_URL:
        return {"managed_url_ids": [sim.state.managed_urls[0]["id"]]}
    params = params_for(kind, sim, n=n)
    if kind == Kind.REMEDIATE_MESSAGES:
        return {"targets": [f"{t['mailbox']}|{t['message_id']}" for t in params["targets"]]}
    return params


def body(kind, sim, **extra):
    return {"kind": kind, "reason": REASON, "ticket_id": "SOAR-1", "params": api_params(kind, sim), **extra}


@pytest.fixture
def requester(make_token):
    return make_token(["read", "request_actions"], name="xsoar")


def created(api, secret, payload):
    response = api.post("requests", payload, token=secret)
    assert response.status_code == 201, response.json()
    return response.json()


def executed(request_id, approver):
    """Approved by a person and carried out here (the worker's tasks, run in this process)."""
    services.remediation_request_approve(actor=approver, request_id=request_id, reason="Checked, go ahead")
    services.remediation_execute(request_id=request_id)
    for _ in range(200):
        req = RemediationRequest.objects.get(pk=request_id)
        if req.is_final:
            return req
        services.remediation_poll(request_id=request_id)
    raise AssertionError("the request never finished")


def test_every_kind_of_the_registry_is_covered_here():
    assert set(STARTED) | set(UNDOING) == set(KINDS)


@pytest.mark.parametrize("kind", STARTED)
def test_a_kind_is_drafted_previewed_and_submitted_under_the_tokens_identity(kind, sim, api, requester):
    token, secret = requester
    answer = created(api, secret, body(kind, sim))

    assert answer["kind"] == kind and answer["state"] == State.PENDING_APPROVAL
    assert answer["integration"] == "xsoar" and answer["requested_by"] == "integration:xsoar"
    assert answer["ticket_id"] == "SOAR-1" and answer["reason"] == REASON
    assert answer["preview"]["previewed_at"] and answer["preview"]["errors"] == []
    assert answer["submitted_at"] and answer["expires_at"] and answer["decision"] is None
    req = RemediationRequest.objects.get(pk=answer["id"])
    assert req.integration_id == token.pk and req.requested_by_id == token.service_user_id
    assert len(answer["items"]) == req.items.count()
    assert all(item["state"] == "pending" for item in answer["items"])
    if not KINDS[kind].incident:
        assert answer["items"], answer
    # In the approvers' queue, as if an analyst had drafted, previewed and submitted it.
    assert req.pk in [r.pk for r in selectors.remediation_approval_queue()]
    steps = AuditEvent.objects.filter(target_type="remediationrequest", target_id=str(req.pk)).order_by("seq")
    assert [e.action for e in steps][:3] == [
        AuditAction.REMEDIATION_DRAFTED,
        AuditAction.REMEDIATION_PREVIEWED,
        AuditAction.REMEDIATION_REQUESTED,
    ]
    assert {e.actor_id for e in steps} == {str(token.service_user_id)}


@pytest.mark.parametrize("kind", sorted(UNDOING))
def test_an_undo_kind_names_the_request_it_undoes(kind, sim, api, requester, approver):
    _, secret = requester
    source = created(api, secret, body(UNDOING[kind], sim))
    done = executed(source["id"], approver)
    assert done.state in (State.SUCCEEDED, State.FAILED) and services.remediation_undoable(done), done.failure_reason

    answer = created(api, secret, {"kind": kind, "reason": REASON, "restore_of": source["id"]})

    assert answer["kind"] == kind and answer["state"] == State.PENDING_APPROVAL
    assert answer["restore_of"] == source["id"] and answer["requested_by"] == "integration:xsoar"
    assert answer["integration"] == "xsoar"
    assert RemediationRequest.objects.filter(restore_of_id=source["id"], state=State.PENDING_APPROVAL).count() == 1


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (
            {"kind": "block_sender", "params": {"target_type": "email_address", "value": "bulk-offers.example"}},
            "params.value",
            "To block one address, give the address",
        ),
        ({"kind": "block_sender", "reason": "short", "params": {"value": "a@bulk-offers.example"}}, "reason", ""),
        (
            {"kind": "manage_url", "params": {"urls": ["https://x.phish.example/#frag"]}},
            "params.urls",
            "#fragment",
        ),
        ({"kind": "manage_url", "params": {"urls": []}}, "params.urls", "required"),
        (
            {"kind": "reject_held", "params": {"held_ids": ["not-an-id"]}},
            "params.held_ids",
            "is not a Mimecast message id",
        ),
        ({"kind": "remediate", "params": {"search_by": "hash", "search_value": "xyz"}}, "params.search_value", "hash"),
        ({"kind": "block_sender", "params": {"bogus": "1"}}, "params.bogus", "has no field"),
        ({"kind": "block_sender", "restore_of": 5, "params": {"value": "a@b.example"}}, "restore_of", ""),
        ({"kind": "restore_messages"}, "restore_of", "give its number"),
        ({"kind": "unblock_sender", "restore_of": 999999}, "restore_of", "no request with that number"),
        ({"kind": "no_such_kind"}, "kind", "block_sender"),
    ],
)
def test_an_invalid_body_is_refused_field_by_field_and_creates_nothing(api, requester, payload, field, words):
    _, secret = requester
    response = api.post("requests", {"reason": REASON, "params": {}, **payload}, token=secret)

    assert response.status_code == 422, response.json()
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    # Ninja's own validation names a field by its place in the body (body.<parameter>.<field>).
    assert any(e["field"].endswith(field) and words in e["message"] for e in errors), errors
    assert not RemediationRequest.objects.exists()


def test_a_read_token_cannot_request(sim, api, make_token):
    _, secret = make_token(["read"])
    response = api.post("requests", body(Kind.BLOCK_SENDER, sim), token=secret)
    assert response.status_code == 403 and not RemediationRequest.objects.exists()


def test_a_failed_preview_answers_a_problem_and_leaves_the_draft_cancelled(sim, api, requester):
    _, secret = requester
    sim.faults.add(path="/api/gateway/get-hold-message-list", kind="status", status=500, count=5)

    response = api.post("requests", body(Kind.RELEASE_HELD, sim), token=secret)

    assert response.status_code == 502, response.json()
    problem = response.json()
    assert problem["type"].endswith("mimecast-unavailable") and "cancelled" in problem["detail"]
    assert any(e["field"] == "preview" for e in problem["errors"])
    req = RemediationRequest.objects.get()
    assert req.state == State.CANCELLED and not selectors.remediation_approval_queue()


def test_a_request_reads_with_its_decision_and_each_items_outcome(sim, api, requester, approver):
    _, secret = requester
    answer = created(api, secret, body(Kind.BLOCK_SENDER, sim))
    executed(answer["id"], approver)

    read = api.get(f"requests/{answer['id']}", token=secret)

    assert read.status_code == 200
    detail = read.json()
    assert detail["state"] == State.SUCCEEDED and detail["finished_at"]
    assert detail["decision"]["outcome"] == "approved" and detail["decision"]["by"] == approver.username
    assert detail["decision"]["reason"] == "Checked, go ahead"
    assert [i["state"] for i in detail["items"]] == ["done"] and detail["items"][0]["mimecast_id"]
    assert api.get("requests/987654", token=secret).status_code == 404


def test_the_list_filters_by_state_and_kind_and_pages_with_a_cursor(api, requester, analyst):
    _, secret = requester
    made = [
        RemediationRequestFactory(requested_by=analyst, kind=kind, state=state)
        for kind in (Kind.BLOCK_SENDER, Kind.MANAGE_URL)
        for state in (State.PENDING_APPROVAL, State.SUCCEEDED, State.SUCCEEDED)
    ]

    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("requests", token=secret, **params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted((r.pk for r in made), reverse=True)

    only = api.get("requests", token=secret, state="succeeded", kind="manage_url").json()["items"]
    expected = [r.pk for r in reversed(made) if r.kind == Kind.MANAGE_URL and r.state == State.SUCCEEDED]
    assert [r["id"] for r in only] == expected
    assert api.get("requests", token=secret, state="nonsense").status_code == 422
    assert api.get("requests", token=secret, limit=1000).status_code == 422


def test_the_integration_cancels_its_own_undecided_request_only(sim, api, requester, make_token, analyst):
    _, secret = requester
    _, other = make_token(["read", "request_actions"])
    mine = created(api, secret, body(Kind.BLOCK_SENDER, sim))

    assert api.post(f"requests/{mine['id']}/cancel", {}, token=other).status_code == 403
    stale = api.post(f"requests/{mine['id']}/cancel", {"version": mine["version"] + 1}, token=secret)
    assert stale.status_code == 409
    assert RemediationRequest.objects.get(pk=mine["id"]).state == State.PENDING_APPROVAL

    done = api.post(f"requests/{mine['id']}/cancel", {"reason": "Closed in the SOAR", "version": 1}, token=secret)
    assert done.status_code == 200 and done.json()["state"] == State.CANCELLED
    again = api.post(f"requests/{mine['id']}/cancel", {}, token=secret)
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json"
    theirs = RemediationRequestFactory(requested_by=analyst, state=State.PENDING_APPROVAL)
    assert api.post(f"requests/{theirs.pk}/cancel", {}, token=secret).status_code == 403
    assert api.post("requests/424242/cancel", {}, token=secret).status_code == 404


def test_nothing_a_token_posts_decides_a_request(sim, api, requester, make_token):
    _, secret = requester
    _, everything = make_token(["read", "request_actions", "audit_read"])
    req = created(api, secret, body(Kind.BLOCK_SENDER, sim))
    path = f"requests/{req['id']}"
    decisions = [{"decision": "approve", "reason": "auto"}, {"state": "approved"}, {}]

    for token in (secret, everything):
        for suffix in ("/approve", "/decide", "/reject", "/break-glass", ""):
            for payload in decisions:
                api.post(path + suffix, payload, token=token)
        api.post("requests", {**body(Kind.BLOCK_SENDER, sim), "state": "approved"}, token=token)

    req = RemediationRequest.objects.get(pk=req["id"])
    assert req.state == State.PENDING_APPROVAL and req.approved_by_id is None and req.first_approved_by_id is None
    assert not RemediationRequest.objects.filter(state__in=(State.APPROVED, State.QUEUED, State.RUNNING)).exists()


def test_the_queue_the_request_page_and_the_decision_page_name_the_integration(sim, api, make_token, approver):
    _, secret = make_token(["request_actions"], name="<b>soar</b>")
    req = created(api, secret, body(Kind.BLOCK_SENDER, sim))
    client = Client()
    client.force_login(approver)

    for url in ("/remediation/approvals/", f"/remediation/{req['id']}/", f"/remediation/{req['id']}/decide/"):
        page = client.get(url).content.decode()
        assert "via &lt;b&gt;soar&lt;/b&gt;" in page and "<b>soar</b>" not in page, url
