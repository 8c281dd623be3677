"""The audit trail for a SIEM or an auditor's tooling, for a token with the ``audit_read`` scope: the
audit page's filter, in keyset pages by seq, and one event with its place in the hash chain.

Newest first by default, as the page lists them, paging back with ``before``; with ``after`` the
oldest first from there, which is how a SIEM follows the trail (keep the last seq read, ask for what
came after it). Reading the trail is itself audited, as the page audits it: once per search, not per
page turned.
"""

from datetime import datetime
from typing import Any

from ninja import Field, Path, Query, Router, Schema

from investigations.api.problems import COMMON_PROBLEMS, ApiProblem, ProblemSchema, problem_for_form
from investigations.api.schemas import Page
from investigations.api.security import token_auth
from investigations.audit import selectors as audit_selectors
from investigations.audit.forms import AuditFilterForm
from investigations.audit.services import audit_read
from investigations.models import AuditAction

router = Router(tags=["audit"], auth=token_auth("audit_read"))

LIMIT_MAX = 200
SEQ_MAX = 2**63 - 1  # the column's range: a larger number names no event


class AuditFilterParams(Schema):
    actor: str | None = Field(None, description="A username, a task:… label or anonymous.")
    group: str | None = Field(None, description="A kind of action, as the audit page's filter offers them.")
    action: str | None = Field(None, description="An exact action, e.g. search.track_trace.")
    target_type: str | None = Field(None, description="e.g. message, remediationrequest.")
    target_id: str | None = Field(None, description="Needs target_type.")
    outcome: str | None = Field(None, description="success, failure or denied.")
    reason: str | None = Field(None, description="Reason contains.")
    since: str | None = Field(None, description="From this time (ISO 8601; without an offset, the portal's zone).")
    until: str | None = Field(None, description="Until this time (ISO 8601).")
    before: int | None = Field(None, ge=1, le=SEQ_MAX, description="Events older than this seq, newest first.")
    after: int | None = Field(None, ge=0, le=SEQ_MAX, description="Events newer than this seq, oldest first.")
    limit: int = Field(50, ge=1, le=LIMIT_MAX, description=f"Events per page, at most {LIMIT_MAX}.")


class ActorOut(Schema):
    type: str = Field(description="user (a person or an integration's service identity), system, task, anonymous.")
    id: str
    label: str


class TargetOut(Schema):
    type: str
    id: str


class AuditEventOut(Schema):
    seq: int
    created_at: datetime
    actor: ActorOut
    action: str
    target: TargetOut
    outcome: str
    reason: str
    request_id: str
    data: dict[str, Any]
    hash: str = Field(description="SHA-256 over this event and prev_hash (the chain).")
    prev_hash: str


class AuditEventDetailOut(AuditEventOut):
    group: str
    hash_matches: bool = Field(description="Whether the event still hashes to its recorded hash.")
    previous_seq: int | None = None
    next_seq: int | None = None


def _event_fields(event):
    return {
        "seq": event.seq,
        "created_at": event.created_at,
        "actor": ActorOut(type=event.actor_type, id=event.actor_id, label=event.actor_label),
        "action": event.action,
        "target": TargetOut(type=event.target_type, id=event.target_id),
        "outcome": event.outcome,
        "reason": event.reason,
        "request_id": event.request_id,
        "data": event.data if isinstance(event.data, dict) else {"value": event.data},
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def _filter(form):
    """What the audit event of a search of the trail keeps: the filter as it was given."""
    return {"filter": form.described()}


@router.get("/events", response={200: Page[AuditEventOut], **COMMON_PROBLEMS}, summary="Audit events")
def audit_events(request, params: Query[AuditFilterParams]):
    """The events the audit page's filter selects, a page at a time. ``next`` is the cursor of the
    following page: pass it as ``before`` (newest first) or as ``after`` (when you asked with ``after``)."""
    fields = params.dict(exclude={"after", "limit"})
    form = AuditFilterForm(data={name: value for name, value in fields.items() if value is not None})
    if not form.is_valid():
        raise problem_for_form(form)
    if params.before is not None and params.after is not None:
        raise ApiProblem(
            422,
            "invalid-input",
            "The request is not valid",
            "Give before or after, not both.",
            errors=[{"field": "after", "message": "Give before or after, not both."}],
        )
    page = audit_selectors.audit_events_page(
        criteria=form.criteria(), before=params.before, after=params.after, limit=params.limit
    )
    if params.before is None and params.after is None:
        audit_read(actor=request.user, action=AuditAction.AUDIT_VIEWED, target=("audit", "list"), data=_filter(form))
    cursor = str(page.next_before) if page.next_before is not None else None
    return Page[AuditEventOut](items=[AuditEventOut(**_event_fields(e)) for e in page.events], next=cursor)


@router.get(
    "/events/{seq}", response={200: AuditEventDetailOut, **COMMON_PROBLEMS, 404: ProblemSchema}, summary="One event"
)
def audit_event(request, seq: int = Path(..., ge=1, le=SEQ_MAX)):
    """One event, whether its hash still matches, and its neighbours in the chain."""
    detail = audit_selectors.audit_event_detail(seq=seq)
    if detail is None:
        raise ApiProblem(404, "not-found", "Not found", "No audit event has that number.")
    audit_read(actor=request.user, action=AuditAction.AUDIT_EVENT_VIEWED, target=("auditevent", seq))
    return AuditEventDetailOut(
        **_event_fields(detail.event),
        group=detail.group,
        hash_matches=detail.hash_matches,
        previous_seq=detail.previous_seq,
        next_seq=detail.next_seq,
    )
