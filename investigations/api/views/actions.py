"""Action requests through the API: automation asks, a person approves.

A playbook requests any kind of response action the engine knows. The body is validated by the kind's
own request form, the one the browser's page binds, so the rules and the messages are the same; the
request is then drafted, previewed and submitted under the token's service identity, exactly as an
analyst would, and waits in the approval queue marked with its integration. Nothing here decides: an
approver decides in the browser, with the usual fresh sign-in, and the token can only read the outcome.
"""

from datetime import datetime
from typing import Any, Literal

from django.utils.module_loading import import_string
from ninja import Field, Path, Query, Router, Schema, Status

from investigations.api.problems import (
    COMMON_PROBLEMS,
    ApiProblem,
    ProblemSchema,
    problem_for_form,
    problem_for_mimecast,
)
from investigations.api.schemas import Page
from investigations.api.security import token_auth
from investigations.cases.selectors import case_get, case_may_change
from investigations.core.problems import Problem
from investigations.models import RemediationRequest
from investigations.remediation import selectors, services
from investigations.remediation.forms import CancelForm
from investigations.remediation.kinds import KINDS

router = Router(tags=["action requests"])

State = RemediationRequest.State
MAX_ID = 2**63 - 1
PAGE_MAX = 100
# Top-level members of the body; a kind's own fields go in ``params``.
_TOP_LEVEL = ("kind", "reason", "ticket_id", "restore_of")
_UNDO_KINDS = {kind.undo_kind for kind in KINDS.values() if kind.undo_kind}
_INCIDENT_PARAMS = ("search_by", "search_value", "sender", "recipient")

KindName = Literal[tuple(str(name) for name in KINDS)]
StateName = Literal[tuple(State.values)]
ParamValue = bool | int | str | list[str] | None


# ------------------------------------------------------------------------------------ schemas


class RequestIn(Schema):
    kind: KindName = Field(description="The kind of action, as the engine names it.")
    reason: str = Field(max_length=4000, description="Why (at least 10 characters), shown to the approver.")
    ticket_id: str = Field("", max_length=200)
    investigation_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="File it under this investigation (the token's identity must work in it)."
    )
    restore_of: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="The request this one undoes (restore, unblock_sender, remove_managed_url, restore_messages).",
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description=(
            "The kind's own fields, named as on its request form (e.g. block_sender: target_type, value, "
            "from_part; manage_url: urls, action, match_type). A field that takes one value a line takes a list."
        ),
    )


class CancelIn(Schema):
    reason: str = Field("", max_length=4000)
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="The version you read; refused if it changed.")


class ItemOut(Schema):
    position: int
    key: str
    label: str
    state: str
    attempts: int
    mimecast_id: str
    result: dict[str, Any]
    error: str


class PreviewOut(Schema):
    previewed_at: datetime | None
    errors: list[str]
    warnings: list[str]
    notes: list[str]
    message_total: int | None = Field(None, description="Remediate: the messages the preview found.")
    mailboxes: int | None = Field(None, description="Remediate: the mailboxes they are in.")


class ApprovalOut(Schema):
    approvals_required: int
    admin_approval_required: bool
    rule_reasons: list[str]
    first_approved_by: str | None
    first_approved_at: datetime | None


class DecisionOut(Schema):
    outcome: Literal["approved", "rejected", "break_glass"]
    by: str
    at: datetime | None
    reason: str


class IncidentOut(Schema):
    id: str
    code: str
    identified: int | None
    successful: int | None
    failed: int | None
    restored: int | None
    counts_final: bool


class RequestSummary(Schema):
    id: int
    kind: str
    state: str
    reason: str
    ticket_id: str
    requested_by: str
    integration: str | None = Field(description="The integration that asked for it through the API, if any.")
    investigation_id: int | None
    restore_of: int | None
    version: int
    created_at: datetime
    submitted_at: datetime | None
    expires_at: datetime | None
    decided_at: datetime | None
    finished_at: datetime | None


class RequestOut(RequestSummary):
    params: dict[str, Any]
    preview: PreviewOut
    approval: ApprovalOut
    decision: DecisionOut | None
    incident: IncidentOut | None
    failure_reason: str
    items: list[ItemOut]


# ------------------------------------------------------------------------------ representation


def request_summary(req):
    return {
        "id": req.pk,
        "kind": req.kind,
        "state": req.state,
        "reason": req.reason,
        "ticket_id": req.ticket_id,
        "requested_by": req.requested_by.get_username(),
        "integration": req.integration.name if req.integration_id else None,
        "investigation_id": req.investigation_id,
        "restore_of": req.restore_of_id,
        "version": req.version,
        "created_at": req.created_at,
        "submitted_at": req.submitted_at,
        "expires_at": req.expires_at,
        "decided_at": req.decided_at,
        "finished_at": req.finished_at,
    }


def _words(values):
    return [str(v) for v in values or []] if isinstance(values, list) else []


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _preview(req):
    preview = req.preview if isinstance(req.preview, dict) else {}
    mailboxes = preview.get("mailboxes")
    return {
        "previewed_at": req.previewed_at,
        "errors": _words(preview.get("errors")),
        "warnings": _words(preview.get("warnings")),
        "notes": _words(preview.get("notes")),
        "message_total": _count(preview.get("message_total")),
        "mailboxes": len(mailboxes) if isinstance(mailboxes, list) else None,
    }


def _name(user):
    return user.get_username() if user is not None else None


def _decision(req):
    if req.approved_by_id:
        outcome, by = "approved", req.approved_by
    elif req.rejected_by_id:
        outcome, by = "rejected", req.rejected_by
    elif req.break_glass:
        outcome, by = "break_glass", req.requested_by
    else:
        return None
    return {"outcome": outcome, "by": _name(by), "at": req.decided_at, "reason": req.decision_reason}


def _params(req):
    if not KINDS[req.kind].incident:
        return req.params if isinstance(req.params, dict) else {}
    params = {name: getattr(req, name) for name in _INCIDENT_PARAMS}
    params.update(start=req.start.isoformat() if req.start else None, end=req.end.isoformat() if req.end else None)
    return params


def request_out(req):
    """The request as the API shows it (``req`` from the detail selector, so its users are joined)."""
    incident = None
    if req.incident_id:
        incident = {
            "id": req.incident_id,
            "code": req.incident_code,
            "identified": req.identified,
            "successful": req.successful,
            "failed": req.failed_count,
            "restored": req.restored,
            "counts_final": req.counts_final,
        }
    return {
        **request_summary(req),
        "params": _params(req),
        "preview": _preview(req),
        "approval": {
            "approvals_required": req.approvals_required,
            "admin_approval_required": req.admin_approval_required,
            "rule_reasons": _words(req.approval_rule_reasons),
            "first_approved_by": _name(req.first_approved_by),
            "first_approved_at": req.first_approved_at,
        },
        "decision": _decision(req),
        "incident": incident,
        "failure_reason": req.failure_reason,
        # Items leave as ItemOut reads them, attribute by attribute.
        "items": list(req.items.all()),
    }


def _request_or_404(request_id):
    req = selectors.remediation_request_detail(request_id=request_id)
    if req is None:
        raise ApiProblem(404, "not-found", "Not found", f"There is no request #{request_id}.")
    return req


# ----------------------------------------------------------------------------------- creating


def _invalid(field, message):
    return ApiProblem(
        422, "invalid-input", "The request is not valid", message, errors=[{"field": field, "message": message}]
    )


def _form_value(value):
    """A JSON value as the browser would post it: a list one value a line, numbers as typed."""
    if isinstance(value, list):
        return "\n".join(value)
    if isinstance(value, bool):
        return value
    return str(value)


def _bound_form(kind, body):
    """The kind's request form bound with the body, named as on the browser's form."""
    form_class = import_string(kind.form)
    allowed = set(form_class.base_fields) - set(_TOP_LEVEL)
    unknown = sorted(set(body.params) - allowed)
    if unknown:
        fields = ", ".join(sorted(allowed)) or "none"
        raise _invalid(f"params.{unknown[0]}", f"{kind.name} has no field {unknown[0]!r} (its fields: {fields}).")
    # A field left out takes the form's default, as the browser posts the choice the page preselected.
    data = {name: field.initial for name, field in form_class.base_fields.items() if field.initial is not None}
    data.update((name, _form_value(value)) for name, value in body.params.items() if value is not None)
    data.update(reason=body.reason, ticket_id=body.ticket_id)
    if "kind" in form_class.base_fields:
        data["kind"] = kind.name
    if body.restore_of is not None:
        if "restore_of" not in form_class.base_fields:
            raise _invalid("restore_of", f"A {kind.name} request does not undo another request.")
        data["restore_of"] = str(body.restore_of)
    form = form_class(data)
    if not form.is_valid():
        raise problem_for_form(form, names={name: f"params.{name}" for name in allowed})
    return form


def _draft(actor, token, kind, body, case_id):
    form = _bound_form(kind, body)
    values = form.cleaned_data if kind.incident else {**form.to_values(), "kind": kind.name}
    return services.remediation_request_create(actor=actor, values=values, investigation=case_id, integration=token)


def _drafted_as_undo(kind, body):
    """An undo kind whose form does not name what it undoes is drafted from that request: always when
    the form has nothing else to ask (restore_messages), else when the body names the request."""
    if kind.name not in _UNDO_KINDS:
        return False
    own = set(import_string(kind.form).base_fields) - {"reason", "ticket_id"}
    return "restore_of" not in own and (body.restore_of is not None or not own)


def _draft_undo(actor, token, kind, body):
    """A kind whose form cannot name what it undoes is drafted from the request it undoes, as the
    request page's Undo does (with that page's reason and ticket)."""
    if body.restore_of is None:
        raise _invalid("restore_of", f"A {kind.name} request undoes another one: give its number as restore_of.")
    source = selectors.remediation_request_detail(request_id=body.restore_of)
    if source is None or KINDS[source.kind].undo_kind != kind.name:
        raise _invalid("restore_of", f"Request #{body.restore_of} is not a request that {kind.name} undoes.")
    try:
        return services.remediation_request_undo(actor=actor, request_id=source.pk, integration=token)
    except services.RemediationError as error:
        raise _invalid("restore_of", str(error)) from None


def _case_id(actor, investigation_id):
    if investigation_id is None:
        return None
    case = case_get(case_id=investigation_id)
    if case is None:
        raise _invalid("investigation_id", f"There is no investigation #{investigation_id}.")
    if not case_may_change(user=actor, case=case):
        raise ApiProblem(403, "forbidden", "Not allowed", "This token's identity does not work in that investigation.")
    return case.pk


def _abandon(actor, req, why):
    """A draft the API will not submit is cancelled, so it never lingers as somebody's draft."""
    services.remediation_request_cancel(actor=actor, request_id=req.pk, reason=why)


def _preview_and_submit(actor, req):
    req = services.remediation_request_preview(actor=actor, request_id=req.pk)
    errors = _words((req.preview or {}).get("errors"))
    if errors:
        _abandon(actor, req, "The preview could not check everything; not submitted through the API.")
        problem = problem_for_mimecast(Problem(f"Request #{req.pk} was cancelled: the preview failed. {errors[0]}"))
        problem.extra["errors"] = [{"field": "preview", "message": error} for error in errors]
        raise problem
    try:
        services.remediation_request_submit(actor=actor, request_id=req.pk)
    except services.RemediationError as error:
        _abandon(actor, req, str(error))
        raise _invalid("params", f"Request #{req.pk} was cancelled: {error}") from None


@router.post(
    "",
    response={201: RequestOut, **COMMON_PROBLEMS, 502: ProblemSchema},
    auth=token_auth("request_actions"),
    summary="Request an action (it waits for a person's approval)",
)
def request_create(request, body: RequestIn):
    """Drafts the request, runs its preview and submits it: it answers ``pending_approval``. An approver
    decides it in the portal. A preview that could not check everything (Mimecast failed) answers a
    problem, and the draft is cancelled rather than left waiting."""
    actor, kind = request.user, KINDS[body.kind]
    case_id = _case_id(actor, body.investigation_id)
    try:
        if _drafted_as_undo(kind, body):
            req = _draft_undo(actor, request.integration_token, kind, body)
        else:
            req = _draft(actor, request.integration_token, kind, body, case_id)
    except services.RemediationError as error:
        raise ApiProblem(403, "forbidden", "Not allowed", str(error)) from None
    _preview_and_submit(actor, req)
    return Status(201, request_out(_request_or_404(req.pk)))


# ------------------------------------------------------------------------------------ reading


@router.get(
    "",
    response={200: Page[RequestSummary], **COMMON_PROBLEMS},
    auth=token_auth("read"),
    summary="List action requests, newest first",
)
def request_list(
    request,
    state: StateName | None = None,
    kind: KindName | None = None,
    cursor: int | None = Query(None, ge=1, le=MAX_ID, description="The `next` of the previous page."),
    limit: int = Query(50, ge=1, le=PAGE_MAX),
):
    rows = selectors.remediation_requests(state=state or "", kind=kind or "", before=cursor, limit=limit + 1)
    following = str(rows[limit - 1].pk) if len(rows) > limit else None
    return {"items": [request_summary(req) for req in rows[:limit]], "next": following}


@router.get(
    "/{request_id}",
    response={200: RequestOut, **COMMON_PROBLEMS, 404: ProblemSchema},
    auth=token_auth("read"),
    summary="A request: its state, decision, preview and per-item outcomes",
)
def request_detail(request, request_id: int = Path(..., ge=1, le=MAX_ID)):
    return request_out(_request_or_404(request_id))


@router.post(
    "/{request_id}/cancel",
    response={200: RequestOut, **COMMON_PROBLEMS, 404: ProblemSchema, 409: ProblemSchema},
    auth=token_auth("request_actions"),
    summary="Cancel a request this integration made, while it is not decided",
)
def request_cancel(request, body: CancelIn, request_id: int = Path(..., ge=1, le=MAX_ID)):
    req = _request_or_404(request_id)
    if req.requested_by_id != request.user.pk:
        raise ApiProblem(403, "forbidden", "Not allowed", "Only the integration that made a request may cancel it.")
    form = CancelForm({"reason": body.reason})
    if not form.is_valid():
        raise problem_for_form(form)
    try:
        services.remediation_request_cancel(
            actor=request.user, request_id=req.pk, reason=form.cleaned_data["reason"], version=body.version
        )
    except services.RemediationConflict as error:
        raise ApiProblem(409, "conflict", "The request cannot be cancelled", str(error)) from None
    return request_out(_request_or_404(req.pk))
