"""Investigations through the API: opened under the token's service identity (owner and member), read
with their evidence and requests, evidence added with the pages' rules, and the same refusals."""

import pytest

from investigations.cases.services import case_create, evidence_add
from investigations.models import AuditAction, AuditEvent, Evidence, Investigation, RemediationRequest
from tests.factories import RemediationRequestFactory
from tests.remediation.samples import REASON

CASE = {"title": "  Invoice   phishing wave ", "reason": "Reported by finance, ticket INC-77", "ticket_id": "INC-77"}


@pytest.fixture
def worker_token(make_token):
    return make_token(["read", "request_actions"], name="fortisoar")


def opened(api, secret, payload=CASE):
    response = api.post("investigations", payload, token=secret)
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_case_opened_through_the_api_is_owned_by_the_tokens_identity(api, worker_token):
    token, secret = worker_token
    case = opened(api, secret)

    assert case["title"] == "Invoice phishing wave" and case["status"] == "open"
    assert case["owner"] == "integration:fortisoar" and case["members"] == ["integration:fortisoar"]
    assert case["evidence"] == [] and case["requests"] == [] and case["evidence_total"] == 0
    row = Investigation.objects.get(pk=case["id"])
    assert row.owner_id == token.service_user_id
    event = AuditEvent.objects.get(action=AuditAction.CASE_CREATED)
    assert event.actor_id == str(token.service_user_id) and event.target_id == str(row.pk)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**CASE, "title": ""}, "title"),
        ({**CASE, "reason": "too short"}, "reason"),
        ({**CASE, "title": "bidi \u202e trick"}, "title"),
        ({**CASE, "ticket_id": "x" * 65}, "ticket_id"),
    ],
)
def test_a_case_with_a_bad_field_is_refused_by_the_forms_rules(api, worker_token, payload, field):
    response = api.post("investigations", payload, token=worker_token[1])
    assert response.status_code == 422, response.json()
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Investigation.objects.exists()


def test_a_read_token_reads_cases_but_cannot_open_one(api, make_token, analyst):
    _, secret = make_token(["read"])
    theirs = case_create(actor=analyst, values=CASE)

    assert api.post("investigations", CASE, token=secret).status_code == 403
    assert api.get(f"investigations/{theirs.pk}", token=secret).status_code == 200
    assert Investigation.objects.count() == 1


def test_the_list_shows_its_own_cases_by_default_and_every_case_when_asked(api, worker_token, analyst):
    _, secret = worker_token
    mine = opened(api, secret)
    theirs = case_create(actor=analyst, values={**CASE, "title": "Analyst's case"})
    closed = case_create(actor=analyst, values={**CASE, "title": "Old case"})
    Investigation.objects.filter(pk=closed.pk).update(status=Investigation.Status.CLOSED)

    def ids(**params):
        response = api.get("investigations", token=secret, **params)
        assert response.status_code == 200, response.json()
        return {c["id"] for c in response.json()["items"]}

    assert ids() == {mine["id"]}
    assert ids(scope="all") == {mine["id"], theirs.pk, closed.pk}
    assert ids(scope="all", status="closed") == {closed.pk}
    assert len(ids(scope="all", limit=1)) == 1
    assert api.get("investigations", token=secret, scope="everything").status_code == 422


def test_a_case_reads_with_its_evidence_their_live_state_and_its_requests(api, worker_token, analyst):
    token, secret = worker_token
    case = case_create(actor=analyst, values=CASE)
    evidence_add(actor=analyst, case_id=case.pk, kind="sender", values=["bad@phish.example"], note="From the report")
    req = RemediationRequestFactory(requested_by=analyst, investigation=case, state="pending_approval")

    response = api.get(f"investigations/{case.pk}", token=secret)

    assert response.status_code == 200
    read = response.json()
    assert [(e["kind"], e["value"], e["note"]) for e in read["evidence"]] == [
        ("sender", "bad@phish.example", "From the report")
    ]
    assert read["evidence"][0]["live"] == {"text": "no action yet", "tone": "none", "request_id": None}
    assert [r["id"] for r in read["requests"]] == [req.pk] and read["requests_total"] == 1
    viewed = AuditEvent.objects.get(action=AuditAction.CASE_VIEWED)
    assert viewed.actor_id == str(token.service_user_id)
    assert api.get("investigations/99999", token=secret).status_code == 404


def test_evidence_goes_into_its_own_case_with_the_pages_rules(api, worker_token):
    _, secret = worker_token
    case = opened(api, secret)
    path = f"investigations/{case['id']}/evidence"
    payload = {"kind": "url", "values": ["https://x.phish.example/a", "not a url"], "note": "From the SIEM"}

    first = api.post(path, payload, token=secret)
    again = api.post(path, payload, token=secret)

    assert first.status_code == 200 and first.json() == {"added": 1, "duplicates": 0, "invalid": ["not a url"]}
    assert again.json()["added"] == 0 and again.json()["duplicates"] == 1
    assert list(Evidence.objects.values_list("value", "note")) == [("https://x.phish.example/a", "From the SIEM")]
    empty = api.post(path, {"kind": "url", "values": [""]}, token=secret)
    assert empty.status_code == 422 and "at least one item" in empty.json()["errors"][0]["message"]
    assert api.post(path, {"kind": "nonsense", "values": ["x"]}, token=secret).status_code == 422


def test_evidence_is_refused_in_a_case_it_does_not_work_in_and_in_a_closed_case(api, worker_token, analyst):
    _, secret = worker_token
    theirs = case_create(actor=analyst, values=CASE)
    payload = {"kind": "sender", "values": ["bad@phish.example"]}

    assert api.post(f"investigations/{theirs.pk}/evidence", payload, token=secret).status_code == 403
    mine = opened(api, secret)
    Investigation.objects.filter(pk=mine["id"]).update(status=Investigation.Status.CLOSED)
    closed = api.post(f"investigations/{mine['id']}/evidence", payload, token=secret)
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]
    assert api.post("investigations/424242/evidence", payload, token=secret).status_code == 404
    assert not Evidence.objects.exists()


def test_a_request_is_filed_under_its_own_case_and_never_under_anothers(sim, api, worker_token, analyst):
    _, secret = worker_token
    case = opened(api, secret)
    theirs = case_create(actor=analyst, values=CASE)
    block = {
        "kind": "block_sender",
        "reason": REASON,
        "params": {"target_type": "email_address", "value": "api-case@bulk-offers.example"},
    }

    filed = api.post("requests", {**block, "investigation_id": case["id"]}, token=secret)
    assert filed.status_code == 201, filed.json()
    assert filed.json()["investigation_id"] == case["id"]
    read = api.get(f"investigations/{case['id']}", token=secret).json()
    assert [r["id"] for r in read["requests"]] == [filed.json()["id"]]

    assert api.post("requests", {**block, "investigation_id": theirs.pk}, token=secret).status_code == 403
    missing = api.post("requests", {**block, "investigation_id": 777777}, token=secret)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "investigation_id"
    assert RemediationRequest.objects.count() == 1
