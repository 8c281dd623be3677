"""Investigations (cases) through the API: list, open, read with evidence and requests, add evidence.

The same forms validate the input and the same services change the cases as on the investigation
pages. A case an integration opens is owned by the token's service identity, which is then its only
member: it may add evidence to its own cases, and reads any case (as analysts and approvers do).
"""

from datetime import datetime
from typing import Any, Literal

from django.http import QueryDict
from ninja import Field, Path, Query, Router, Schema, Status

from investigations.api.problems import COMMON_PROBLEMS, ApiProblem, ProblemSchema, problem_for_form
from investigations.api.security import token_auth
from investigations.api.views.actions import MAX_ID, RequestSummary, request_summary
from investigations.cases import selectors
from investigations.cases.forms import EVIDENCE_MAX, CaseFilterForm, CaseForm, EvidenceAddForm
from investigations.cases.services import CaseError, case_create, case_view_record, evidence_add
from investigations.models import Evidence, Investigation

router = Router(tags=["investigations"])

# What one answer lists at most of a case's evidence and requests (the totals say how many there are).
SHOWN_MAX = 500

StatusName = Literal[tuple(Investigation.Status.values)]
EvidenceKind = Literal[tuple(Evidence.Kind.values)]


class CaseIn(Schema):
    title: str = Field(max_length=1000)
    reason: str = Field(max_length=2000, description="Why (at least 10 characters).")
    ticket_id: str = Field("", max_length=200)


class CaseSummary(Schema):
    id: int
    title: str
    status: str
    reason: str
    ticket_id: str
    owner: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class CaseList(Schema):
    items: list[CaseSummary]


class LiveStateOut(Schema):
    text: str = Field(description="What our requests did to it, in words (e.g. blocked, remediated).")
    tone: str
    request_id: int | None


class EvidenceOut(Schema):
    id: int
    kind: str
    value: str
    label: str
    note: str
    details: dict[str, Any]
    added_by: str
    added_at: datetime
    live: LiveStateOut


class CaseOut(CaseSummary):
    members: list[str]
    evidence: list[EvidenceOut]
    evidence_total: int
    requests: list[RequestSummary]
    requests_total: int


class EvidenceIn(Schema):
    kind: EvidenceKind
    values: list[str] = Field(max_length=EVIDENCE_MAX)
    labels: list[str] = Field(default_factory=list, max_length=EVIDENCE_MAX)
    message_ids: list[str] = Field(
        default_factory=list, max_length=EVIDENCE_MAX, description="A message's Message-ID header, in order."
    )
    note: str = Field("", max_length=4000)


class EvidenceAdded(Schema):
    added: int
    duplicates: int
    invalid: list[str] = Field(description="Values that are not valid for the kind, left out.")


def _summary(case):
    return {
        "id": case.pk,
        "title": case.title,
        "status": case.status,
        "reason": case.reason,
        "ticket_id": case.ticket_id,
        "owner": case.owner.get_username(),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
    }


def _evidence(item):
    return {
        "id": item.pk,
        "kind": item.kind,
        "value": item.value,
        "label": item.label,
        "note": item.note,
        "details": item.details if isinstance(item.details, dict) else {},
        "added_by": item.added_by.get_username(),
        "added_at": item.added_at,
        "live": {"text": item.live.text, "tone": item.live.tone, "request_id": item.live.request_id},
    }


def _case_or_404(case_id):
    case = selectors.case_get(case_id=case_id)
    if case is None:
        raise ApiProblem(404, "not-found", "Not found", f"There is no investigation #{case_id}.")
    return case


@router.get(
    "",
    response={200: CaseList, **COMMON_PROBLEMS},
    auth=token_auth("read"),
    summary="List investigations, the most recently changed first",
)
def case_list(
    request,
    status: StatusName | None = None,
    scope: Literal["mine", "all"] | None = Query(None, description="mine (the default): those it owns or is in."),
    limit: int = Query(50, ge=1, le=selectors.LIST_LIMIT),
):
    form = CaseFilterForm({"status": status or "", "scope": scope or ""})
    if not form.is_valid():
        raise problem_for_form(form)
    scope = form.cleaned_data["scope"] or selectors.default_scope(request.user)
    cases = selectors.cases_for_user(user=request.user, status=form.cleaned_data["status"], scope=scope)
    return {"items": [_summary(case) for case in cases[:limit]]}


@router.post(
    "",
    response={201: CaseOut, **COMMON_PROBLEMS},
    auth=token_auth("request_actions"),
    summary="Open an investigation (owned by this token's identity)",
)
def case_new(request, body: CaseIn):
    form = CaseForm({"title": body.title, "reason": body.reason, "ticket_id": body.ticket_id})
    if not form.is_valid():
        raise problem_for_form(form)
    case = case_create(actor=request.user, values=form.cleaned_data)
    return Status(201, _case_out(_case_or_404(case.pk)))


def _case_out(case):
    evidence = selectors.evidence_with_state(case=case)
    requests = sorted(selectors.case_requests(case=case), key=lambda r: r.pk, reverse=True)
    return {
        **_summary(case),
        "members": sorted(member.get_username() for member in case.members.all()),
        "evidence": [_evidence(item) for item in evidence[:SHOWN_MAX]],
        "evidence_total": len(evidence),
        "requests": [request_summary(req) for req in requests[:SHOWN_MAX]],
        "requests_total": len(requests),
    }


@router.get(
    "/{case_id}",
    response={200: CaseOut, **COMMON_PROBLEMS, 404: ProblemSchema},
    auth=token_auth("read"),
    summary="An investigation with its evidence (and what our requests did to each item) and its requests",
)
def case_detail(request, case_id: int = Path(..., ge=1, le=MAX_ID)):
    case = _case_or_404(case_id)
    case_view_record(actor=request.user, case=case)
    return _case_out(case)


@router.post(
    "/{case_id}/evidence",
    response={200: EvidenceAdded, **COMMON_PROBLEMS, 404: ProblemSchema, 409: ProblemSchema},
    auth=token_auth("request_actions"),
    summary="Add evidence of one kind to an investigation this token's identity works in",
)
def case_evidence_add(request, body: EvidenceIn, case_id: int = Path(..., ge=1, le=MAX_ID)):
    case = _case_or_404(case_id)
    data = QueryDict(mutable=True)
    data.update({"kind": body.kind, "note": body.note, "case": str(case.pk)})
    for name in ("values", "labels", "message_ids"):
        data.setlist(name.removesuffix("s"), getattr(body, name))
    form = EvidenceAddForm(data)
    if not form.is_valid():
        raise problem_for_form(form, names={"value": "values", "label": "labels", "message_id": "message_ids"})
    cleaned = form.cleaned_data
    try:
        result = evidence_add(
            actor=request.user,
            case_id=case.pk,
            kind=cleaned["kind"],
            values=cleaned["values"],
            labels=cleaned["labels"],
            message_ids=cleaned["message_ids"],
            note=cleaned["note"],
        )
    except CaseError as error:
        raise ApiProblem(409, "conflict", "The investigation refuses it", str(error)) from None
    return {"added": result.added, "duplicates": result.duplicates, "invalid": [str(v) for v in result.invalid]}
