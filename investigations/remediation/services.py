"""The response-action engine: every kind of request (remediate, restore, sender blocks, managed
URLs, held messages; see remediation.kinds) with four-eyes approval.

Every transition is one function here: a compare-and-set UPDATE ... WHERE state = <expected>
inside transaction.atomic, together with its audit event and its timeline row. The steps people
take (submit, approve, reject, cancel, edit, preview) and the expiry all go through _transition,
which holds the version, expiry and four-eyes checks in that one WHERE. A function whose
UPDATE matched nothing changed nothing and says so (RemediationConflict, or a falsy result for the
worker's functions), so two approvers, two deliveries of a task or a sweeper racing a worker can
never both win.

Execution: approval writes an outbox row in its transaction; after commit the row is published
(remediation_dispatch). The task claims the request (a conditional UPDATE with a lease), counts the
attempt before calling out, and from the second attempt on looks for an incident an earlier attempt
created (its marker is inside the incident reason) and adopts it, else creates one, records the
incident, and leaves the counts to polling (soon at first, then backing off). A worker that dies
leaves a lapsed lease or an unpublished outbox row, which the sweeper publishes again; a task that
keeps dying is failed after REMEDIATION_MAX_ATTEMPTS claims.

A kind other than remediate/restore acts item by item (RemediationItem): each item is marked
`calling` (committed before its Mimecast call), then `done` with what Mimecast created, in one
transaction with its audit event. An item a dead attempt left in `calling` is looked up in Mimecast
first (the kind's confirm_item) and adopted when its effect is there, so no item is acted on twice.
The request succeeds when every item is done, else fails saying how many items failed and why.

Approval rules set at submission may ask for two distinct approvers (the first approval is recorded
and the request stays pending) or for an admin as the deciding approver. An admin may carry out a
kind marked break_glass alone, with a reason; an approver reviews it afterwards.

A restore must come back as its own incident (type "restored", not the remediation's incident), and
it succeeds only when that incident counts messages put back; otherwise it fails with what Mimecast
said, so nobody takes an untouched mailbox for a restored one.
"""

import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.connection.services import mimecast_client
from investigations.core import dispatch
from investigations.core.context import current_context
from investigations.core.roles import ADMIN, APPROVER, user_can
from investigations.mimecast import MimecastError
from investigations.mimecast.errors import MimecastRateLimited
from investigations.mimecast.pacing import BACKGROUND, lane
from investigations.models import (
    AuditAction,
    AuditOutcome,
    RemediationItem,
    RemediationOutbox,
    RemediationRequest,
    RemediationStep,
)
from investigations.oversight.selectors import approval_rules_current
from investigations.remediation.kinds import KINDS, SETTLE_FAILED, ItemFailed, kind_for
from investigations.webhooks.services import webhook_request_event

logger = logging.getLogger(__name__)

State = RemediationRequest.State
Kind = RemediationRequest.Kind
SearchBy = RemediationRequest.SearchBy

ItemState = RemediationItem.State

EDITABLE_FIELDS = (
    "kind",
    "search_by",
    "search_value",
    "sender",
    "recipient",
    "start",
    "end",
    "restore_of",
    "restore_code",
    "unremediate_code",
    "reason",
    "ticket_id",
    "params",
)
# The shortest reason an admin may give for carrying out an action alone.
BREAK_GLASS_REASON_MIN = 10


class RemediationError(Exception):
    """A transition the caller may not make; the message is for the user."""


class SelfApprovalError(RemediationError):
    pass


class RemediationConflict(RemediationError):
    """The request was no longer in the state the transition expects (someone else got there first)."""


def _now(now):
    return now or timezone.now()


def _actor_label(actor):
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def _record(request_id, *, actor, action, now, outcome=AuditOutcome.SUCCESS, message="", data=None, attempt=None):
    """The audit event and the timeline row of one step; call inside the transition's transaction."""
    data = dict(data or {})
    if attempt is not None:
        data["attempt"] = attempt
    audit_record(
        actor=actor,
        action=action,
        target=("remediationrequest", request_id),
        outcome=outcome,
        reason=message,
        data=data,
    )
    RemediationStep.objects.create(
        request_id=request_id,
        created_at=now,
        # No person: the task or process that acted, as the audit event names it ("task:…", shown in words).
        actor_label=_actor_label(actor if actor is not None else current_context().system_actor)[:150],
        action=str(action),
        outcome=str(outcome),
        attempt=attempt,
        message=message,
        data=data,
    )
    # Webhook endpoints hear of every state change, from the same transaction (no query when none is active).
    webhook_request_event(request_id, action=action, outcome=outcome, now=now, message=message, data=data)


def _system_step(request_id, action, **fields):
    """A step the portal itself takes and records (no person acted): a task, the sweeper or a poll."""
    _record(request_id, actor=None, action=action, **fields)


def _system_failure(request_id, action, **fields):
    """A failure the portal itself records (no person acted): of an attempt, a read or the request."""
    _system_step(request_id, action, outcome=AuditOutcome.FAILURE, **fields)


def _cas(request_id, *, expected, where=None, **changes):
    """UPDATE ... WHERE id = ? AND state IN expected [AND where]; returns True when this caller won."""
    expected = (expected,) if isinstance(expected, str) else tuple(expected)
    guard = Q(pk=request_id, state__in=expected) & (where or Q())
    return bool(RemediationRequest.objects.filter(guard).update(**changes))


def _release(request_id, *, attempt, now, where=None, **changes):
    """The end of this attempt's claim on a running request: the lease released, so that no sweeper
    takes the request for a dead attempt. Returns True when the claim was still this attempt's."""
    claim = Q(attempts=attempt) & (where or Q())
    return _cas(request_id, expected=State.RUNNING, where=claim, lease_until=None, updated_at=now, **changes)


def _finish(request_id, *, expected, state, now, where=None, **changes):
    """The last edge of a run, to failed or succeeded: no lease left and the finish time set. Returns
    True when this caller won."""
    ended = {"state": state, "lease_until": None, "updated_at": now, "finished_at": now}
    return _cas(request_id, expected=expected, where=where, **ended, **changes)


@dataclass(frozen=True)
class Step:
    """One edge of the request state machine and what its guard checks besides the state.

    `window`: "open" for a decision (the approval has not expired), "closed" for the expiry itself.
    `four_eyes`: the actor may decide and is not the requester.
    `approval`: "first" for the first of two approvals (the request stays pending), "final" for the
    approval that moves it on (after a first approval by somebody else when two are required, and by
    an admin when the rules ask for one).
    `to_state` None: the step records something without moving the request (a review)."""

    from_states: tuple
    to_state: str | None
    refused: str
    window: str | None = None
    four_eyes: bool = False
    approval: str | None = None
    review: bool = False
    break_glass: bool = False


_UNDECIDED = (State.DRAFT, State.PENDING_APPROVAL)
_NOT_WAITING = "This request is no longer waiting for approval (decided, changed or expired)."
# A break-glass action is reviewed once it is carried out (or while it is being carried out).
_CARRIED_OUT = (State.APPROVED, State.QUEUED, State.RUNNING, State.SUCCEEDED, State.FAILED)
EDIT = Step(_UNDECIDED, State.DRAFT, "The request changed or was decided meanwhile; reload it.")
PREVIEW = Step((State.DRAFT,), State.DRAFT, "The request changed while the preview ran; run it again.")
SUBMIT = Step((State.DRAFT,), State.PENDING_APPROVAL, "The request changed meanwhile; reload it.")
CANCEL = Step(_UNDECIDED, State.CANCELLED, "Only a request not yet decided can be cancelled.")
FIRST_APPROVE = Step(
    (State.PENDING_APPROVAL,),
    State.PENDING_APPROVAL,
    "Somebody else approved or changed it meanwhile; reload it (you may be the second approver).",
    window="open",
    four_eyes=True,
    approval="first",
)
APPROVE = Step((State.PENDING_APPROVAL,), State.APPROVED, _NOT_WAITING, window="open", four_eyes=True, approval="final")
REJECT = Step((State.PENDING_APPROVAL,), State.REJECTED, _NOT_WAITING, window="open", four_eyes=True)
EXPIRE = Step((State.PENDING_APPROVAL,), State.EXPIRED, "The request is not due to expire.", window="closed")
BREAK_GLASS = Step(
    (State.DRAFT,),
    State.APPROVED,
    "Only a previewed draft of yours, unchanged since you opened it, can be carried out alone.",
    break_glass=True,
)
REVIEW = Step(
    _CARRIED_OUT, None, "This request is not an unreviewed break-glass action (reviewed already?).", review=True
)


def _guard(step, *, actor, expected_version, now):
    where = Q() if expected_version is None else Q(version=expected_version)
    if step.window == "open":
        where &= Q(expires_at__gt=now)
    elif step.window == "closed":
        where &= Q(expires_at__lte=now)
    if step.four_eyes or step.review:
        where &= ~Q(requested_by=actor)
    if step.approval == "first":
        where &= Q(approvals_required__gte=2, first_approved_by__isnull=True)
    elif step.approval == "final":
        # The second of two approvals comes from somebody other than the first approver.
        where &= Q(approvals_required__lte=1) | (Q(first_approved_by__isnull=False) & ~Q(first_approved_by=actor))
        if not user_can(actor, "approve_as_admin"):
            where &= Q(admin_approval_required=False)
    if step.review:
        where &= Q(break_glass=True, reviewed_by__isnull=True)
    if step.break_glass:
        where &= Q(requested_by=actor, previewed_at__isnull=False, kind__in=_break_glass_kinds())
    return where


def _break_glass_kinds():
    return [name for name, kind in KINDS.items() if kind.break_glass]


@contextmanager
def _transition(step, request_id, *, now, actor=None, expected_version=None, **changes):
    """Take `step` in one conditional UPDATE whose WHERE holds every check, so none can be overtaken
    by a concurrent change between the read and the write: the state, the version the caller saw
    (`expected_version`, optimistic concurrency; None: any), the approval window, four-eyes, two
    distinct approvers and the admin approver. The body runs in the transaction after the UPDATE won
    and writes the step's audit event; a lost UPDATE changes nothing and raises RemediationConflict."""
    if step.four_eyes:
        _check_decider(actor, request_id, step)  # before the transaction, so the refusal's audit stays
    where = _guard(step, actor=actor, expected_version=expected_version, now=now)
    if step.to_state is not None:
        changes["state"] = step.to_state
    with transaction.atomic():
        if not _cas(request_id, expected=step.from_states, where=where, updated_at=now, **changes):
            raise RemediationConflict(step.refused)
        yield


def _requester_only(req, actor, what):
    if req.requested_by_id != actor.pk:
        raise RemediationError(f"Only the requester can {what}.")


def default_window(now):
    """Mimecast's default remediation window, in the viewer's time zone: from midnight one month
    back to the end of today."""
    today = timezone.localdate(now)
    start = timezone.make_aware(datetime.combine(today - timedelta(days=30), time.min))
    return start, timezone.make_aware(datetime.combine(today, time(23, 59, 59)))


# ------------------------------------------------------------------------------------ requester


def may_request(user, kind):
    """Whether `user` may draft a request of `kind`: its request capability, or an admin's
    break-glass for a kind that allows it (the admin then carries it out alone)."""
    return user_can(user, kind.request_capability) or (kind.break_glass and user_can(user, "break_glass"))


def may_decide(user, req):
    """Whether `user` may approve or reject `req` at all (four-eyes is checked separately)."""
    kind = kind_for(req.kind)
    if req.admin_approval_required and user_can(user, "approve_as_admin"):
        return True
    return user_can(user, kind.approve_capability)


def remediation_request_create(*, actor, values, investigation=None, integration=None, now=None):
    """A new draft. `values` are the form's cleaned fields: for remediate/restore EDITABLE_FIELDS,
    for every other kind {"kind", "params", "reason", "ticket_id"} (and "restore_of" for an undo).
    `investigation` (an Investigation or its id) files it under a case; by default, the case the user
    works in. `integration` (an IntegrationToken) marks a request made through the API."""
    values = dict(values)
    investigation = current_context().case_id if investigation is None else getattr(investigation, "pk", investigation)
    kind = kind_for(values.get("kind") or Kind.REMEDIATE)
    values["kind"] = kind.name
    if not may_request(actor, kind):
        raise RemediationError(
            "You may not request remediation." if kind.incident else f"You may not request this: {kind.label}."
        )
    now = _now(now)
    if kind.incident:
        default_start, default_end = default_window(now)
        values["start"] = values.get("start") or default_start
        values["end"] = values.get("end") or default_end
        values.pop("params", None)
    with transaction.atomic():
        req = RemediationRequest.objects.create(
            requested_by=actor,
            state=State.DRAFT,
            created_at=now,
            updated_at=now,
            nonce=secrets.token_hex(4),
            investigation_id=investigation,
            integration=integration,
            **{name: values.get(name) or _blank(name) for name in EDITABLE_FIELDS},
        )
        _record(req.pk, actor=actor, action=AuditAction.REMEDIATION_DRAFTED, now=now, data=_criteria(req))
    return req


def _blank(name):
    if name == "params":
        return {}
    return None if name in ("start", "end", "restore_of") else ""


def _criteria(req):
    if not kind_for(req.kind).incident:
        return {
            "kind": req.kind,
            "params": req.params,
            "restore_of": req.restore_of_id,
            "ticket_id": req.ticket_id,
            "version": req.version,
        }
    return {
        "kind": req.kind,
        "search_by": req.search_by,
        "search_value": req.search_value,
        "from": req.sender,
        "to": req.recipient,
        "start": req.start.isoformat() if req.start else "",
        "end": req.end.isoformat() if req.end else "",
        "restore_of": req.restore_of_id,
        "restore_code": req.restore_code,
        "ticket_id": req.ticket_id,
        "version": req.version,
    }


def remediation_request_edit(*, actor, request_id, values, now=None):
    """Change a draft or a pending request. A pending request goes back to draft: its approval
    (not yet given) is void, and it needs a new preview and a new submission."""
    now = _now(now)
    req = RemediationRequest.objects.get(pk=request_id)
    _requester_only(req, actor, "change a request")
    if values.get("kind", req.kind) != req.kind and not (
        kind_for(req.kind).incident and kind_for(values["kind"]).incident
    ):
        raise RemediationError("A request keeps its kind; start a new request for another kind.")
    changes = {name: values.get(name) or _blank(name) for name in EDITABLE_FIELDS if name in values}
    if "restore_of" in changes:
        # Popped before it is read: a None left behind would set the column twice in one UPDATE.
        source = changes.pop("restore_of")
        changes["restore_of_id"] = source.pk if source else None
    changes.update(version=F("version") + 1, preview={}, previewed_at=None, submitted_at=None, expires_at=None)
    changes.update(first_approved_by=None, first_approved_at=None)
    with _transition(EDIT, request_id, now=now, expected_version=req.version, **changes):
        voided = req.state == State.PENDING_APPROVAL
        # The items are fixed at submission; the changed request is submitted (and itemised) again.
        RemediationItem.objects.filter(request_id=request_id).delete()
        req.refresh_from_db()
        message = "Pending approval voided by the change" if voided else ""
        data = {**_criteria(req), "approval_voided": voided}
        _record(req.pk, actor=actor, action=AuditAction.REMEDIATION_EDITED, now=now, message=message, data=data)
    return req


def _kind_preview(kind, req, client):
    """The kind's own preview; whatever goes wrong in it is shown to requester and approver, never
    raised."""
    preview = None
    if kind.preview is not None:
        try:
            preview = kind.preview(client or mimecast_client(), req)
        except MimecastError as error:
            preview = {"errors": [error.message]}
    preview = dict(preview or {})
    for key in ("errors", "warnings", "notes"):
        preview[key] = list(preview.get(key) or [])
    return preview


def remediation_request_preview(*, actor, request_id, now=None, client=None):
    """Run the dry run and attach it to the (draft) request. Mimecast errors go into the preview,
    shown to requester and approver; they do not stop the request."""
    req = RemediationRequest.objects.select_related("restore_of").get(pk=request_id)
    _requester_only(req, actor, "run the preview")
    if req.state != State.DRAFT:
        raise RemediationConflict("Only a draft can be previewed; change the request to preview it again.")
    kind = kind_for(req.kind)
    preview = _kind_preview(kind, req, client)
    now = _now(now)
    with _transition(PREVIEW, request_id, now=now, expected_version=req.version, preview=preview, previewed_at=now):
        outcome = AuditOutcome.FAILURE if preview["errors"] else AuditOutcome.SUCCESS
        data = {"errors": preview["errors"], "version": req.version}
        if kind.incident:
            data.update(messages=preview.get("message_total", 0), mailboxes=len(preview.get("mailboxes") or []))
        _record(req.pk, actor=actor, action=AuditAction.REMEDIATION_PREVIEWED, now=now, outcome=outcome, data=data)
    req.refresh_from_db()
    return req


def _create_items(kind, req, now):
    """What an item kind acts on, fixed at submission (inside the submission's transaction)."""
    RemediationItem.objects.filter(request_id=req.pk).delete()
    if kind.incident or kind.items is None:
        return 0
    rows = [
        RemediationItem(request_id=req.pk, position=n, key=str(key)[:2048], label=str(label)[:300], updated_at=now)
        for n, (key, label) in enumerate(kind.items(req), start=1)
    ]
    if not rows:
        raise RemediationError("This request acts on nothing; change it.")
    RemediationItem.objects.bulk_create(rows)
    return len(rows)


def remediation_request_submit(*, actor, request_id, now=None):
    """draft -> pending_approval; approvers are told by email."""
    now = _now(now)
    req = RemediationRequest.objects.get(pk=request_id)
    _requester_only(req, actor, "submit a request")
    if req.previewed_at is None:
        raise RemediationError("Run the dry-run preview before submitting.")
    expires = now + timedelta(hours=settings.REMEDIATION_APPROVAL_TTL_HOURS)
    kind = kind_for(req.kind)
    required, admin, reasons = kind.approval_rules(req, approval_rules_current())
    rules = {
        "approvals_required": 2 if required >= 2 else 1,
        "admin_approval_required": bool(admin),
        "approval_rule_reasons": [str(r) for r in reasons],
    }
    with _transition(
        SUBMIT, request_id, now=now, expected_version=req.version, submitted_at=now, expires_at=expires, **rules
    ):
        items = _create_items(kind, req, now)
        data = {**_criteria(req), "expires_at": expires.isoformat(), **rules, "items": items}
        _record(req.pk, actor=actor, action=AuditAction.REMEDIATION_REQUESTED, now=now, message=req.reason, data=data)
        transaction.on_commit(lambda: _notify_approvers(request_id))
    req.refresh_from_db()
    return req


def remediation_request_cancel(*, actor, request_id, reason="", version=None, now=None):
    """draft/pending_approval -> cancelled, by the requester (on the version they saw, if given)."""
    now = _now(now)
    req = RemediationRequest.objects.get(pk=request_id)
    _requester_only(req, actor, "cancel a request")
    with _transition(CANCEL, request_id, now=now, expected_version=version, finished_at=now):
        _record(request_id, actor=actor, action=AuditAction.REMEDIATION_CANCELLED, now=now, message=reason)
    req.refresh_from_db()
    return req


# ------------------------------------------------------------------------------------- approver


def remediation_self_decision_refused(*, actor, request_id):
    """Record an attempt to decide one's own request (the attempt itself is refused by the caller)."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.REMEDIATION_APPROVAL_REFUSED,
            target=("remediationrequest", request_id),
            outcome=AuditOutcome.DENIED,
            reason="The requester cannot decide their own request.",
        )


def _check_decider(actor, request_id, step=None):
    req = RemediationRequest.objects.only("kind", "requested_by_id", "admin_approval_required").get(pk=request_id)
    # Belt and braces: user_can already refuses every decision to an integration's identity.
    if getattr(actor, "is_integration", False) or not may_decide(actor, req):
        raise RemediationError("You may not approve or reject remediation requests.")
    if req.requested_by_id == actor.pk:
        remediation_self_decision_refused(actor=actor, request_id=request_id)
        raise SelfApprovalError("You requested this; another approver must decide it.")
    final = step is not None and step.approval == "final"
    if final and req.admin_approval_required and not user_can(actor, "approve_as_admin"):
        raise RemediationError("An admin must approve this request (see the approval rules on it).")


def _decided(now, reason, authenticated_at):
    """The columns every decision sets."""
    return {"decided_at": now, "decision_reason": reason, "approver_authenticated_at": authenticated_at}


def _fresh(authenticated_at, proof=None):
    """The audit data every decision carries: when the decider last proved who they are, and how
    (`proof`: the method, and the provider's auth_time for a sign-in again at the provider)."""
    data = {"fresh_authentication_at": authenticated_at.isoformat() if authenticated_at else ""}
    if proof:
        data["proof"] = dict(proof)
    return data


def remediation_request_approve(
    *, actor, request_id, reason="", authenticated_at=None, proof=None, version=None, now=None
):
    """pending_approval -> approved, with an outbox row in the same transaction. Of concurrent
    approvals exactly one UPDATE matches; the others raise RemediationConflict. When the request
    needs two approvers and has none yet, this is the first approval: recorded, the request stays
    pending, and only somebody else can give the second."""
    now = _now(now)
    req = RemediationRequest.objects.select_related("requested_by").get(pk=request_id)
    if req.approvals_required >= 2 and req.first_approved_by_id is None:
        return _first_approval(
            req, actor=actor, reason=reason, authenticated_at=authenticated_at, proof=proof, version=version, now=now
        )
    if req.first_approved_by_id is not None and req.first_approved_by_id == actor.pk:
        raise RemediationError("You gave the first approval; a second approver must give the other.")
    columns = {**_decided(now, reason, authenticated_at), "approved_by": actor, "next_attempt_at": now}
    with _transition(APPROVE, request_id, now=now, actor=actor, expected_version=version, **columns):
        outbox = RemediationOutbox.objects.create(request_id=request_id, created_at=now)
        data = {
            **_fresh(authenticated_at, proof),
            "version": req.version,
            "requested_by": req.requested_by.get_username(),
        }
        if req.first_approved_by_id:
            data["first_approved_by"] = req.first_approved_by.get_username()
        if req.admin_approval_required:
            data["as_admin"] = True
        _record(request_id, actor=actor, action=AuditAction.REMEDIATION_APPROVED, now=now, message=reason, data=data)
        transaction.on_commit(lambda: remediation_dispatch(outbox_id=outbox.pk))
        transaction.on_commit(lambda: _notify_requester(request_id, "approved"))
    req.refresh_from_db()
    return req


def _first_approval(req, *, actor, reason, authenticated_at, proof, version, now):
    columns = {"first_approved_by": actor, "first_approved_at": now}
    with _transition(FIRST_APPROVE, req.pk, now=now, actor=actor, expected_version=version, **columns):
        data = {
            **_fresh(authenticated_at, proof),
            "version": req.version,
            "requested_by": req.requested_by.get_username(),
        }
        _record(
            req.pk,
            actor=actor,
            action=AuditAction.REMEDIATION_FIRST_APPROVAL,
            now=now,
            message=reason or "First of two approvals",
            data=data,
        )
        transaction.on_commit(lambda: _notify_approvers(req.pk))
    req.refresh_from_db()
    return req


def remediation_request_reject(*, actor, request_id, reason, authenticated_at=None, proof=None, version=None, now=None):
    """pending_approval -> rejected, under the same checks as an approval."""
    now = _now(now)
    columns = {**_decided(now, reason, authenticated_at), "rejected_by": actor, "finished_at": now}
    with _transition(REJECT, request_id, now=now, actor=actor, expected_version=version, **columns):
        data = _fresh(authenticated_at, proof)
        _record(request_id, actor=actor, action=AuditAction.REMEDIATION_REJECTED, now=now, message=reason, data=data)
        transaction.on_commit(lambda: _notify_requester(request_id, "rejected"))
    return RemediationRequest.objects.get(pk=request_id)


def remediation_request_break_glass(
    *, actor, request_id, reason, authenticated_at=None, proof=None, version=None, now=None
):
    """An admin carries out their own previewed draft of a break-glass kind alone: draft ->
    approved, with the outbox row, nobody's approval (approved_by stays empty: nobody approves their
    own request) and the reason in the audit trail. An approver reviews it afterwards."""
    if not user_can(actor, "break_glass"):
        raise RemediationError("Only an admin may carry out an action alone.")
    reason = (reason or "").strip()
    if len(reason) < BREAK_GLASS_REASON_MIN:
        raise RemediationError(
            f"Say why this cannot wait for an approver (at least {BREAK_GLASS_REASON_MIN} characters)."
        )
    req = RemediationRequest.objects.get(pk=request_id)
    kind = kind_for(req.kind)
    if not kind.break_glass:
        raise RemediationError(f"{kind.label}: this kind of request cannot be carried out alone.")
    _requester_only(req, actor, "carry out this request alone")
    if req.previewed_at is None:
        raise RemediationError("Run the preview before carrying it out.")
    now = _now(now)
    # Recorded for the reviewer: what the rules would have asked of approvers.
    _required, _admin, reasons = kind.approval_rules(req, approval_rules_current())
    columns = {
        **_decided(now, reason, authenticated_at),
        "break_glass": True,
        "submitted_at": now,
        "next_attempt_at": now,
        "approval_rule_reasons": [str(r) for r in reasons],
    }
    with _transition(BREAK_GLASS, request_id, now=now, actor=actor, expected_version=version, **columns):
        items = _create_items(kind, req, now)
        outbox = RemediationOutbox.objects.create(request_id=request_id, created_at=now)
        data = {**_criteria(req), **_fresh(authenticated_at, proof), "items": items}
        _record(request_id, actor=actor, action=AuditAction.REMEDIATION_BREAK_GLASS, now=now, message=reason, data=data)
        transaction.on_commit(lambda: remediation_dispatch(outbox_id=outbox.pk))
        transaction.on_commit(lambda: _notify_approvers(request_id, review=True))
    req.refresh_from_db()
    return req


def remediation_request_review(*, actor, request_id, note, now=None):
    """An approver (not the admin who acted) reviews a break-glass action, once."""
    if not user_can(actor, "review_break_glass"):
        raise RemediationError("Only an approver may review a break-glass action.")
    note = (note or "").strip()
    if len(note) < 3:
        raise RemediationError("Write what you found (at least 3 characters).")
    req = RemediationRequest.objects.get(pk=request_id)
    if req.requested_by_id == actor.pk:
        raise SelfApprovalError("You carried this out; another approver must review it.")
    now = _now(now)
    columns = {"reviewed_by": actor, "reviewed_at": now, "review_note": note}
    with _transition(REVIEW, request_id, now=now, actor=actor, **columns):
        data = {"break_glass_by": req.requested_by.get_username(), "state": req.state}
        _record(request_id, actor=actor, action=AuditAction.REMEDIATION_REVIEWED, now=now, message=note, data=data)
    req.refresh_from_db()
    return req


def remediation_undo_open(req):
    """The undo requests of `req` that still count (not rejected, expired, cancelled or failed)."""
    return req.restores.exclude(state__in=(State.REJECTED, State.EXPIRED, State.CANCELLED, State.FAILED))


def remediation_undoable(req):
    """Whether the request's outcome can be undone: it succeeded, or (for a kind whose items settle
    one by one) it ended failed with some items done, which an undo puts back."""
    if req.state == State.SUCCEEDED:
        return True
    return req.state == State.FAILED and kind_for(req.kind).settle_item is not None


def remediation_request_undo(*, actor, request_id, integration=None, now=None):
    """A draft of the kind that undoes `request_id` (which succeeded), with restore_of set and the
    params the kind derives from what Mimecast created. The requester previews and submits it.
    `integration` marks an undo asked for through the API."""
    req = RemediationRequest.objects.get(pk=request_id)
    kind = kind_for(req.kind)
    if not kind.undo_kind or not remediation_undoable(req):
        raise RemediationError("Only a succeeded request of a kind Mimecast can undo can be undone.")
    if remediation_undo_open(req).exists():
        raise RemediationError("This request already has an undo request; open it from the request page.")
    values = {
        "kind": kind.undo_kind,
        "restore_of": req,
        "reason": f"Undo of request #{req.pk}: {req.reason}"[:2000],
        "ticket_id": req.ticket_id,
    }
    if kind.undo_params is not None:
        values["params"] = kind.undo_params(req)
        undo = kind_for(kind.undo_kind)
        if undo.items and not undo.items(RemediationRequest(kind=undo.name, params=values["params"], restore_of=req)):
            # Everything it acted on was there before it (adopted, not created): undoing would touch
            # what someone else made, so there is nothing of ours to undo.
            raise RemediationError("Nothing to undo: Mimecast already had everything this request asked for.")
    elif kind_for(kind.undo_kind).incident:
        if not req.incident_restore_code:
            raise RemediationError("Mimecast gave no restore code for this remediation; it cannot be restored.")
        values.update(restore_code=req.incident_restore_code, search_by=req.search_by, search_value=req.search_value)
    return remediation_request_create(
        actor=actor, values=values, investigation=req.investigation_id, integration=integration, now=now
    )


def remediation_request_expire(*, request_id, now=None):
    """pending_approval -> expired once its time is up. Returns True when this call expired it."""
    now = _now(now)
    try:
        with _transition(EXPIRE, request_id, now=now, finished_at=now):
            _system_step(
                request_id,
                AuditAction.REMEDIATION_EXPIRED,
                now=now,
                message=f"Not approved within {settings.REMEDIATION_APPROVAL_TTL_HOURS} h",
            )
    except RemediationConflict:
        return False
    return True


def remediation_expire_due(*, now=None):
    now = _now(now)
    due = RemediationRequest.objects.filter(state=State.PENDING_APPROVAL, expires_at__lte=now).values_list(
        "pk", flat=True
    )
    return sum(remediation_request_expire(request_id=pk, now=now) for pk in list(due))


# ------------------------------------------------------------------------------------- dispatch


def _publish(request_id):
    dispatch.enqueue(dispatch.REMEDIATION_EXECUTE, request_id)


def remediation_dispatch(*, outbox_id, now=None, by="web"):
    """Publish the outbox row's task, then mark it published (and the request queued). A crash
    between the two publishes twice at worst, which the task's claim makes harmless; a failed
    publish leaves the row for the sweeper."""
    outbox = RemediationOutbox.objects.filter(pk=outbox_id).first()
    if outbox is None:
        return False
    try:
        _publish(outbox.request_id)
    except Exception as error:  # the broker is down: the sweeper publishes it later
        logger.warning("remediation outbox %s not published: %s", outbox_id, error)
        RemediationOutbox.objects.filter(pk=outbox_id).update(last_error=str(error)[:1000])
        return False
    now = _now(now)
    with transaction.atomic():
        first = RemediationOutbox.objects.filter(pk=outbox_id, published_at__isnull=True).update(
            published_at=now, publish_count=F("publish_count") + 1, last_error=""
        )
        if not first:
            RemediationOutbox.objects.filter(pk=outbox_id).update(publish_count=F("publish_count") + 1)
        queued = _cas(
            outbox.request_id, expected=State.APPROVED, state=State.QUEUED, updated_at=now, next_attempt_at=now
        )
        _system_step(
            outbox.request_id,
            AuditAction.REMEDIATION_QUEUED if queued else AuditAction.REMEDIATION_DISPATCHED,
            now=now,
            message="" if first else f"Published again by the {by}",
            data={"outbox": outbox_id, "by": by},
        )
    return True


def _republish(request_id, *, now, why):
    try:
        _publish(request_id)
    except Exception as error:
        logger.warning("remediation request %s not republished: %s", request_id, error)
        return False
    with transaction.atomic():
        RemediationRequest.objects.filter(pk=request_id).update(next_attempt_at=now)
        _system_step(request_id, AuditAction.REMEDIATION_DISPATCHED, now=now, message=why)
    return True


def remediation_sweep(*, now=None):
    """Beat: publish what has waited too long for a worker. Covers a crash between commit and
    publish (outbox rows), a task message lost with the broker (queued requests nobody claimed) and
    a worker killed mid-task (running requests whose lease lapsed)."""
    now = _now(now)
    stale = now - timedelta(seconds=settings.REMEDIATION_REDISPATCH_AFTER_SECONDS)
    done = 0
    for outbox_id in list(
        RemediationOutbox.objects.filter(published_at__isnull=True, created_at__lte=stale).values_list("pk", flat=True)
    ):
        done += remediation_dispatch(outbox_id=outbox_id, now=now, by="sweeper")
    waiting = RemediationRequest.objects.filter(
        Q(state__in=(State.APPROVED, State.QUEUED), next_attempt_at__lte=stale)
        | Q(state=State.RUNNING, incident_id="", lease_until__lte=now)
    ).exclude(pk__in=RemediationOutbox.objects.filter(published_at__isnull=True).values("request_id"))
    for pk, state in list(waiting.values_list("pk", "state")):
        why = "The worker's claim lapsed (worker lost)" if state == State.RUNNING else "Nobody took the task"
        done += _republish(pk, now=now, why=why)
    return done


# ------------------------------------------------------------------------------------ execution


@dataclass(frozen=True)
class ExecuteOutcome:
    status: str
    retry_in: float | None = None


# A call refused with 429 was not run by Mimecast: the client retries it after the reset rather than
# failing the attempt. With every process booking its calls in one queue (the connection's client
# factory) refusals are rare.
RATE_LIMIT_RETRIES = 8


def _task_client():
    # The task does its own retries of failures, so every attempt and its delay lands in the audit
    # trail; a 429 is not a failure (see RATE_LIMIT_RETRIES).
    return mimecast_client(max_retries=0, max_rate_limit_retries=RATE_LIMIT_RETRIES)


def remediation_mark_running(*, request_id, now=None):
    """The claim: approved/queued (or running with a lapsed lease) -> running, attempts + 1, in one
    conditional UPDATE. Returns the attempt number, or None when another delivery holds it or it
    is already past this step. The attempt is counted before any call out."""
    now = _now(now)
    lease = now + timedelta(seconds=settings.REMEDIATION_LEASE_SECONDS)
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    claimable = Q(incident_id="", attempts__lt=settings.REMEDIATION_MAX_ATTEMPTS) & (
        (Q(state__in=(State.APPROVED, State.QUEUED)) & due) | Q(state=State.RUNNING, lease_until__lte=now)
    )
    with transaction.atomic():
        if not _cas(
            request_id,
            expected=(State.APPROVED, State.QUEUED, State.RUNNING),
            where=claimable,
            state=State.RUNNING,
            attempts=F("attempts") + 1,
            lease_until=lease,
            updated_at=now,
        ):
            return None
        attempt = RemediationRequest.objects.values_list("attempts", flat=True).get(pk=request_id)
        _system_step(
            request_id,
            AuditAction.TASK_ATTEMPT,
            now=now,
            message=f"Attempt {attempt} started",
            attempt=attempt,
            data={"phase": "claimed"},
        )
    return attempt


def _counts(incident):
    """The incident's counts, as the request stores them."""
    return {
        "identified": incident.identified,
        "successful": incident.successful,
        "failed_count": incident.failed,
        "restored": incident.restored,
    }


def _incident_columns(incident):
    criteria = incident.search_criteria
    return {
        "incident_id": incident.id,
        "incident_code": incident.code,
        "incident_type": incident.type,
        "incident_restore_code": criteria.restore_code,
        "incident_unremediate_code": criteria.unremediate_code,
        **_counts(incident),
    }


def remediation_record_incident(*, request_id, attempt, incident, adopted, now=None):
    """running (our claim) -> running with the incident recorded; polling takes over."""
    now = _now(now)
    columns = _incident_columns(incident)
    with transaction.atomic():
        won = _release(request_id, attempt=attempt, now=now, where=Q(incident_id=""), next_poll_at=now, **columns)
        if not won:
            return False
        _system_step(
            request_id,
            AuditAction.REMEDIATION_INCIDENT_CREATED,
            now=now,
            message=(
                f"Adopted Mimecast incident {incident.code} created by an earlier attempt"
                if adopted
                else f"Mimecast incident {incident.code} created"
            ),
            attempt=attempt,
            data={
                "incident_id": incident.id,
                "incident_code": incident.code,
                "type": incident.type,
                "adopted": adopted,
                "restore_code": columns["incident_restore_code"],
                "unremediate_code": columns["incident_unremediate_code"],
                "identified": incident.identified,
            },
        )
    return True


def remediation_fail(*, request_id, reason, now=None, attempt=None, data=None, expected=None):
    """approved/queued/running -> failed, with the reason. Returns True when this call failed it."""
    now = _now(now)
    expected = expected or (State.APPROVED, State.QUEUED, State.RUNNING)
    with transaction.atomic():
        if not _finish(request_id, expected=expected, state=State.FAILED, now=now, failure_reason=reason):
            return False
        # Items the request never finished fail with it; one left `calling` may have reached Mimecast.
        RemediationItem.objects.filter(request_id=request_id, state=ItemState.PENDING).update(
            state=ItemState.FAILED, error=f"Not attempted: {reason}"[:2000], updated_at=now
        )
        RemediationItem.objects.filter(request_id=request_id, state=ItemState.CALLING).update(
            state=ItemState.FAILED,
            error=f"Unknown whether Mimecast acted (check it there): {reason}"[:2000],
            updated_at=now,
        )
        _system_failure(request_id, AuditAction.REMEDIATION_FAILED, now=now, message=reason, attempt=attempt, data=data)
        transaction.on_commit(lambda: _notify_requester(request_id, "failed"))
    return True


def _retry_delay(attempt, error):
    base = settings.REMEDIATION_RETRY_BASE_MS / 1000.0
    delay = min(settings.REMEDIATION_RETRY_MAX_MS / 1000.0, base * (2 ** max(0, attempt - 1)))
    if isinstance(error, MimecastRateLimited) and error.retry_after:
        delay = max(delay, error.retry_after)
    return round(delay, 3)


def _attempt_failed(*, request_id, attempt, error, now):
    """Record a failed attempt: retry later (released to queued) when Mimecast may answer next
    time and attempts remain, else fail the request with Mimecast's message."""
    details = {"error": type(error).__name__, "code": error.code, "status": error.status, "endpoint": error.endpoint}
    if not error.retryable or attempt >= settings.REMEDIATION_MAX_ATTEMPTS:
        reason = (
            f"Gave up after {attempt} attempts; the last one: {error.message}" if error.retryable else error.message
        )
        remediation_fail(request_id=request_id, reason=reason, now=now, attempt=attempt, data=details)
        return ExecuteOutcome("failed")
    delay = _retry_delay(attempt, error)
    with transaction.atomic():
        retry_at = now + timedelta(seconds=delay)
        if not _release(request_id, attempt=attempt, now=now, state=State.QUEUED, next_attempt_at=retry_at):
            return ExecuteOutcome("lost-claim")
        message = f"Attempt {attempt} failed: {error.message} Next attempt in {delay:g} s."
        data = {**details, "retry_in_seconds": delay, "retry_after": getattr(error, "retry_after", None)}
        _system_failure(request_id, AuditAction.TASK_ATTEMPT, now=now, message=message, attempt=attempt, data=data)
    return ExecuteOutcome("retry", retry_in=delay)


def _incident_reason(req):
    text = f"{req.marker} {req.reason}"
    if req.ticket_id:
        text += f" (ticket {req.ticket_id})"
    return text[:1000]


def _find_existing(client, req):
    page = client.find_incidents(search_field="reason", search_value=req.marker, page_size=10)
    return next((i for i in page.items if req.marker in i.reason), None)


def _create(client, req):
    reason = _incident_reason(req)
    if req.kind == Kind.RESTORE:
        return client.restore_remediation_incident(reason=reason, restore_code=req.restore_code)
    by = {
        SearchBy.FILE_HASH: "file_hash",
        SearchBy.MESSAGE_ID: "message_id",
        SearchBy.URL: "url",
    }[req.search_by]
    return client.create_remediation_incident(
        reason=reason,
        start=req.start,
        end=req.end,
        sender=req.sender or None,
        recipient=req.recipient or None,
        **{by: req.search_value},
    )


def _not_a_restore(req, incident):
    """Why Mimecast's answer to a restore is not the restore's own incident ("" when it is): some
    tenants answer with the remediated incident itself, whose counts say nothing about the restore."""
    source = req.restore_of
    label = incident.code or incident.id
    if source is not None and source.incident_id and incident.id == source.incident_id:
        return f"Mimecast answered the restore with the remediation's own incident {label}, not a restore incident"
    if incident.type and incident.type.lower() != "restored":
        return f"Mimecast answered the restore with incident {label} of type {incident.type}, not a restore incident"
    return ""


def _restored_count(incident):
    # A restore incident counts what it put back; which of the two counts a tenant fills varies.
    return max(incident.restored or 0, incident.successful or 0)


def remediation_execute(*, request_id, now=None, client=None):
    """The task's body. Safe to run any number of times for one request."""
    req = RemediationRequest.objects.filter(pk=request_id).first()
    if req is None:
        return ExecuteOutcome("missing")
    now = _now(now)
    if req.attempts >= settings.REMEDIATION_MAX_ATTEMPTS and req.incident_id == "":
        # The cut-off, before the claim: a task that keeps killing its worker is not run again.
        expected = [State.APPROVED, State.QUEUED]
        if req.state == State.RUNNING and req.lease_until and req.lease_until <= now:
            expected.append(State.RUNNING)
        if req.state in expected and remediation_fail(
            request_id=request_id,
            reason=(
                f"Cut off after {req.attempts} attempts that did not finish (the worker kept dying). "
                + (
                    f"Check Mimecast for an incident whose reason contains {req.marker} before requesting again."
                    if kind_for(req.kind).incident
                    else "Check in Mimecast which of its items were done before requesting again."
                )
            ),
            now=now,
            expected=expected,
        ):
            return ExecuteOutcome("failed")
        return ExecuteOutcome("skipped")
    attempt = remediation_mark_running(request_id=request_id, now=now)
    if attempt is None:
        return ExecuteOutcome("skipped")
    req.refresh_from_db()
    kind = kind_for(req.kind)
    if not kind.incident:
        return _execute_items(kind, req, attempt=attempt, client=client)
    try:
        client = client or _task_client()
        # Only an earlier attempt can have created this request's incident (the claim counts each
        # attempt before it calls out), so the first attempt goes straight to create.
        existing = _find_existing(client, req) if attempt > 1 else None
        incident = existing or _create(client, req)
    except MimecastError as error:
        return _attempt_failed(request_id=request_id, attempt=attempt, error=error, now=_now(None))
    if req.kind == Kind.RESTORE and (why := _not_a_restore(req, incident)):
        failed = remediation_fail(
            request_id=request_id,
            reason=f"{why}; nothing shows that any message was restored. Check the restore in Mimecast.",
            now=_now(None),
            attempt=attempt,
            data={"incident_id": incident.id, "incident_code": incident.code, "type": incident.type},
            expected=(State.RUNNING,),
        )
        return ExecuteOutcome("failed" if failed else "lost-claim")
    recorded = remediation_record_incident(
        request_id=request_id, attempt=attempt, incident=incident, adopted=existing is not None, now=_now(None)
    )
    return ExecuteOutcome("recorded" if recorded else "lost-claim")


def _item_data(item, **extra):
    return {"item": item.position, "key": item.key, "label": item.label, **extra}


def _item_calling(request_id, item, *, attempt, now):
    """pending/calling -> calling, committed before the Mimecast call, with the request's lease
    renewed in the same transaction (which also proves this attempt still holds the claim). Returns
    the item's attempt number, or None when the claim was lost."""
    lease = now + timedelta(seconds=settings.REMEDIATION_LEASE_SECONDS)
    with transaction.atomic():
        if not _cas(request_id, expected=State.RUNNING, where=Q(attempts=attempt), lease_until=lease, updated_at=now):
            return None
        if not RemediationItem.objects.filter(
            pk=item.pk, state__in=(ItemState.PENDING, ItemState.CALLING), attempts=item.attempts
        ).update(state=ItemState.CALLING, attempts=F("attempts") + 1, updated_at=now):
            return None
    item.attempts += 1
    item.state = ItemState.CALLING
    return item.attempts


def _item_done(request_id, item, result, *, adopted, attempt, now):
    """calling -> done with what Mimecast created, in one transaction with its audit event. Only the
    call that set `calling` (its item attempt) may finish it."""
    result = dict(result or {})
    mimecast_id = str(result.get("mimecast_id") or "")[:128]
    with transaction.atomic():
        if not RemediationItem.objects.filter(pk=item.pk, state=ItemState.CALLING, attempts=item.attempts).update(
            state=ItemState.DONE, mimecast_id=mimecast_id, adopted=adopted, result=result, error="", updated_at=now
        ):
            return False
        what = "adopted (an earlier attempt's call had done it)" if adopted else "done"
        _system_step(
            request_id,
            AuditAction.REMEDIATION_ITEM_DONE,
            now=now,
            message=f"{item.label or item.key}: {what}" + (f", Mimecast id {mimecast_id}" if mimecast_id else ""),
            attempt=attempt,
            data=_item_data(item, mimecast_id=mimecast_id, adopted=adopted),
        )
    return True


def _item_failed(request_id, item, error, *, attempt, now, details=None):
    with transaction.atomic():
        if not RemediationItem.objects.filter(
            pk=item.pk, state__in=(ItemState.PENDING, ItemState.CALLING), attempts=item.attempts
        ).update(state=ItemState.FAILED, error=str(error)[:2000], updated_at=now):
            return False
        _system_failure(
            request_id,
            AuditAction.REMEDIATION_ITEM_FAILED,
            now=now,
            message=f"{item.label or item.key}: {error}",
            attempt=attempt,
            data=_item_data(item, **(details or {})),
        )
    return True


def _error_details(error):
    return {"error": type(error).__name__, "code": error.code, "status": error.status, "endpoint": error.endpoint}


def _execute_items(kind, req, *, attempt, client):
    """One attempt at an item kind: each unfinished item in order. An item an earlier attempt left in
    `calling` is looked up first and adopted when its effect is there; otherwise it is called (again).
    A Mimecast refusal fails the item and the next one goes on; an outage (retryable) ends the attempt,
    to be retried, with the item left `calling` for the next attempt to look up."""
    request_id = req.pk
    try:
        client = client or _task_client()
    except MimecastError as error:
        return _attempt_failed(request_id=request_id, attempt=attempt, error=error, now=_now(None))
    items = RemediationItem.objects.filter(request_id=request_id, state__in=(ItemState.PENDING, ItemState.CALLING))
    for item in list(items.order_by("position")):
        try:
            if item.state == ItemState.CALLING and kind.confirm_item is not None:
                effect = kind.confirm_item(client, req, item)
                if effect is not None:
                    if not _item_done(request_id, item, effect, adopted=True, attempt=attempt, now=_now(None)):
                        return ExecuteOutcome("lost-claim")
                    continue
            if _item_calling(request_id, item, attempt=attempt, now=_now(None)) is None:
                return ExecuteOutcome("lost-claim")
            result = kind.do_item(client, req, item)
        except ItemFailed as failure:
            _item_failed(request_id, item, str(failure), attempt=attempt, now=_now(None))
            continue
        except MimecastError as error:
            if error.retryable:
                return _attempt_failed(request_id=request_id, attempt=attempt, error=error, now=_now(None))
            _item_failed(
                request_id, item, error.message, attempt=attempt, now=_now(None), details=_error_details(error)
            )
            continue
        if not _item_done(request_id, item, result, adopted=False, attempt=attempt, now=_now(None)):
            return ExecuteOutcome("lost-claim")
    return _items_final(kind, req, attempt=attempt, client=client)


def _items_final(kind, req, *, attempt, client):
    """Every item done: succeeded; any failed: failed, saying how many and why."""
    now = _now(None)
    rows = list(RemediationItem.objects.filter(request_id=req.pk).order_by("position"))
    if any(r.state in (ItemState.PENDING, ItemState.CALLING) for r in rows):
        return ExecuteOutcome("lost-claim")
    if kind.settle_item is not None:
        return _items_settling(kind, req, rows, attempt=attempt)
    state = _items_end(req, rows, now=now, where=Q(attempts=attempt), attempt=attempt)
    if state == "succeeded":
        _confirm_outcome(kind, req, rows, client)
    return ExecuteOutcome(state or "lost-claim")


def _items_end(req, rows, *, now, where=None, attempt=None, summary="", data=None):
    """running -> succeeded when no item failed, else failed naming the first that did. Returns the
    state the request took, or None when somebody else finished it. `summary` says what the items
    came to (the settled kinds count their outcomes); by default, how many were done."""
    data = {"items": len(rows), **(data or {})}
    failed = [r for r in rows if r.state == ItemState.FAILED]
    if failed:
        named = "; ".join(f"{r.label or r.key}: {r.error}" for r in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        lead = f"{summary}. Failed" if summary else f"{len(failed)} of {len(rows)} items failed"
        done = remediation_fail(
            request_id=req.pk,
            reason=f"{lead}: {named}{more}",
            now=now,
            attempt=attempt,
            data=data,
            expected=(State.RUNNING,),
        )
        return "failed" if done else None
    with transaction.atomic():
        if not _finish(req.pk, expected=State.RUNNING, where=where, state=State.SUCCEEDED, now=now, next_poll_at=None):
            return None
        data["adopted"] = sum(r.adopted for r in rows)
        message = summary or f"All {len(rows)} item{'s' if len(rows) != 1 else ''} done"
        _system_step(req.pk, AuditAction.REMEDIATION_SUCCEEDED, now=now, message=message, attempt=attempt, data=data)
        transaction.on_commit(lambda: _notify_requester(req.pk, "succeeded"))
    return "succeeded"


def _confirm_outcome(kind, req, rows, client):
    """Read back, once, that Mimecast shows each item's effect, and say so in the audit trail. It
    changes nothing: a read that fails or misses an effect is recorded for whoever checks."""
    if kind.confirm_item is None:
        return
    missing, errors = [], []
    for row in rows:
        try:
            if kind.confirm_item(client, req, row) is None:
                missing.append(row.label or row.key)
        except (MimecastError, ItemFailed) as error:
            errors.append(f"{row.label or row.key}: {getattr(error, 'message', str(error))}")
    now = _now(None)
    if missing or errors:
        message = "Mimecast does not show the effect of: " + ", ".join(missing) if missing else ""
        message = "; ".join(m for m in (message, *errors) if m)
        with transaction.atomic():
            _system_failure(
                req.pk, AuditAction.REMEDIATION_CONFIRMED, now=now, message=message, data={"missing": missing}
            )
        return
    with transaction.atomic():
        _system_step(
            req.pk,
            AuditAction.REMEDIATION_CONFIRMED,
            now=now,
            message=f"Mimecast shows the effect of all {len(rows)} item{'s' if len(rows) != 1 else ''}",
            data={"items": len(rows)},
        )


def _unsettled(rows):
    return [r for r in rows if r.state == ItemState.DONE and "outcome" not in (r.result or {})]


def _items_settling(kind, req, rows, *, attempt):
    """Every item called: a kind whose outcomes Mimecast reports later hands the request over to
    polling (remediation_poll), releasing the lease so no sweeper takes it for a dead attempt."""
    now = _now(None)
    if not _unsettled(rows):
        final = _settled_final(req, rows, now=now, where=Q(attempts=attempt), attempt=attempt)
        return ExecuteOutcome(final or "lost-claim")
    with transaction.atomic():
        if not _release(req.pk, attempt=attempt, now=now, next_poll_at=now):
            return ExecuteOutcome("lost-claim")
        called = sum(r.state == ItemState.DONE for r in rows)
        _system_step(
            req.pk,
            AuditAction.REMEDIATION_POLLED,
            now=now,
            message=f"{called} of {len(rows)} items called; waiting for Mimecast's outcome of each",
            attempt=attempt,
            data={"items": len(rows), "called": called, "final": False},
        )
    return ExecuteOutcome("recorded")


def _item_settled(request_id, row, settled, *, now):
    """A done item's final outcome, once (a concurrent poll that read it too changes nothing). A
    failed outcome fails the item, with Mimecast's words as its error."""
    settled = dict(settled)
    failed = settled.get("outcome") == SETTLE_FAILED
    detail = str(settled.get("detail") or settled.get("outcome") or "")
    changes = {"result": {**(row.result or {}), **settled}, "updated_at": now}
    if failed:
        changes.update(state=ItemState.FAILED, error=detail[:2000])
    with transaction.atomic():
        won = (
            RemediationItem.objects.filter(pk=row.pk, state=ItemState.DONE, attempts=row.attempts)
            .exclude(result__has_key="outcome")
            .update(**changes)
        )
        if not won:
            return False
        data = _item_data(row, mimecast_id=row.mimecast_id, outcome=settled.get("outcome", ""))
        message = f"{row.label or row.key}: {detail}"
        if failed:
            _system_failure(request_id, AuditAction.REMEDIATION_ITEM_FAILED, now=now, message=message, data=data)
        else:
            _system_step(request_id, AuditAction.REMEDIATION_POLLED, now=now, message=message, data=data)
    return True


def _outcome_summary(rows):
    """The outcomes in words ("10 items: 8 removed, 1 failed, 1 not found"), in order of appearance."""
    counts = {}
    for row in rows:
        word = (row.result or {}).get("outcome") or ("failed" if row.state == ItemState.FAILED else row.state)
        counts[word] = counts.get(word, 0) + 1
    parts = ", ".join(f"{n} {word}" for word, n in counts.items())
    return f"{len(rows)} item{'s' if len(rows) != 1 else ''}: {parts}", counts


def _settled_final(req, rows, *, now, where=None, attempt=None):
    """The settled kinds' end: the outcomes counted, for the request page, in the final event."""
    summary, counts = _outcome_summary(rows)
    # For the request page: the outcomes counted, keyed so a template can read each.
    data = {"summary": summary, "outcomes": {k.replace(" ", "_"): n for k, n in counts.items()}, "final": True}
    return _items_end(req, rows, now=now, where=where, attempt=attempt, summary=summary, data=data)


def _poll_items(kind, req, *, now, client):
    """One read of every done item whose outcome is not final; completes the request when all are.
    An item still unsettled when polling gives up fails, saying Mimecast had not finished."""
    rows = list(RemediationItem.objects.filter(request_id=req.pk).order_by("position"))
    if req.lease_until is not None or any(r.state in (ItemState.PENDING, ItemState.CALLING) for r in rows):
        return True  # still being carried out: the attempt hands over to polling when it is done
    if (wait := _poll_gives_way(req, client, now)) > 0:
        _poll_later(req, wait, now)
        return False
    gave_up = _polled_too_long(req, now)
    for row in _unsettled(rows):
        try:
            with lane(BACKGROUND):
                settled = kind.settle_item(client, req, row)
        except MimecastError as error:
            _poll_read_failed(req, error, now)
            return False
        if settled is None and gave_up:
            waited = settings.REMEDIATION_POLL_GIVE_UP_SECONDS
            settled = {
                "outcome": SETTLE_FAILED,
                "detail": f"Mimecast had not finished counting incident {row.result.get('code') or row.mimecast_id} "
                f"after {waited} s; check it in Mimecast",
            }
        if settled is not None:
            _item_settled(req.pk, row, settled, now=now)
    rows = list(RemediationItem.objects.filter(request_id=req.pk).order_by("position"))
    if _unsettled(rows):
        _poll_counted(req, now)
        return False
    _settled_final(req, rows, now=now)
    return True


# -------------------------------------------------------------------------------------- polling

# Creates before polls. A read of the counts may as well wait, while every second a first call
# (a create, an item's call) waits is a second more the message sits in the mailboxes: a poll gives
# way to the first calls approved work still has to make (the time the budget needs to start them),
# books in the pacer's background lane, behind every start a first call booked, and leaves the worker
# (to come back later) rather than hold it for more than POLL_YIELD_SECONDS waiting for a turn. It
# gives way for at most POLL_YIELD_MAX_SECONDS after its last read, so a backlog that does not move
# (tasks lost until the sweeper republishes them) cannot hold it back for good.
POLL_YIELD_SECONDS = 1.0
POLL_YIELD_MAX_SECONDS = 60


def _poll_client():
    return mimecast_client(max_rate_limit_wait=POLL_YIELD_SECONDS)


def remediation_first_calls_waiting(*, now=None):
    """How many first calls approved work still has to make: requests approved or queued and due,
    incident requests running without their incident, and items not yet called."""
    now = _now(now)
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    incident_kinds = [name for name, kind in KINDS.items() if kind.incident]
    requests = RemediationRequest.objects.filter(
        (Q(state__in=(State.APPROVED, State.QUEUED)) & due & Q(kind__in=incident_kinds))
        | Q(state=State.RUNNING, incident_id="", lease_until__isnull=False, kind__in=incident_kinds)
    ).count()
    items = RemediationItem.objects.filter(
        request__state__in=(State.APPROVED, State.QUEUED, State.RUNNING),
        state__in=(ItemState.PENDING, ItemState.CALLING),
    ).count()
    return requests + items


def _poll_gives_way(req, client, now):
    """Seconds this poll gives way to the first calls waiting (0: it reads now)."""
    if now - req.updated_at > timedelta(seconds=POLL_YIELD_MAX_SECONDS):
        return 0.0
    pacer = getattr(client, "pacer", None)
    waiting = remediation_first_calls_waiting(now=now) if pacer is not None else 0
    if not waiting:
        return 0.0
    return min(float(settings.REMEDIATION_POLL_INTERVAL_SECONDS), pacer.time_for(waiting))


def _pacer_refused(error):
    """The pacer would have made the call wait too long, so it was not sent (Mimecast's own 429s
    carry their status)."""
    return isinstance(error, MimecastRateLimited) and error.status is None


def _poll_later(req, seconds, now):
    """Not a read: the next one in ``seconds``, nothing counted and nothing audited."""
    _cas(req.pk, expected=State.RUNNING, next_poll_at=now + timedelta(seconds=max(0.1, seconds or 0.0)))


def _settled(incident):
    identified = incident.identified or 0
    done = (incident.successful or 0) + (incident.failed or 0)
    return done >= identified


def _poll_counted(req, now, **changes):
    """A read that found the request not final: count it and book the next, each further off."""
    _cas(
        req.pk,
        expected=State.RUNNING,
        polls=F("polls") + 1,
        next_poll_at=now + timedelta(seconds=remediation_poll_delay(polls=req.polls + 1)),
        updated_at=now,
        **changes,
    )


def _polled_too_long(req, now):
    """Whether polling has gone on past the give-up time since the request was decided."""
    since = req.decided_at or req.updated_at
    return now - since > timedelta(seconds=settings.REMEDIATION_POLL_GIVE_UP_SECONDS)


def _poll_read_failed(req, error, now):
    """A read that did not happen or failed: the pacer's refusal only books the next read; a failure
    Mimecast answered books it at the usual interval and is audited."""
    if _pacer_refused(error):
        _poll_later(req, error.retry_after, now)
        return
    with transaction.atomic():
        _cas(
            req.pk,
            expected=State.RUNNING,
            next_poll_at=now + timedelta(seconds=settings.REMEDIATION_POLL_INTERVAL_SECONDS),
        )
        message = f"Reading the incident failed: {error.message}"
        data = {"incident_id": req.incident_id, "error": type(error).__name__, "status": error.status}
        _system_failure(req.pk, AuditAction.REMEDIATION_POLLED, now=now, message=message, data=data)


def _poll_final(request_id, incident, now, *, unsettled, nothing_restored=False):
    """running -> succeeded with the final counts, or failed when a restore's own incident reports
    that no message was put back (`unsettled`: the counts had not settled, but polling gave up)."""
    counts = (
        f"identified {incident.identified}, successful {incident.successful}, "
        f"failed {incident.failed}, restored {incident.restored}"
    )
    if nothing_restored:
        state, action = State.FAILED, AuditAction.REMEDIATION_FAILED
        message = (
            f"Mimecast's restore incident {incident.code} restored nothing ({counts})"
            + (", and its counts had not settled" if unsettled else "")
            + ". Check in Mimecast whether the messages are still removed."
        )
    else:
        state, action = State.SUCCEEDED, AuditAction.REMEDIATION_SUCCEEDED
        message = f"Incident {incident.code}: {counts}" + (
            " (counts had not settled; taken as final)" if unsettled else ""
        )
    with transaction.atomic():
        if not _finish(
            request_id,
            expected=State.RUNNING,
            state=state,
            now=now,
            counts_final=True,
            polls=F("polls") + 1,
            next_poll_at=None,
            **({"failure_reason": message} if nothing_restored else {}),
            **_counts(incident),
        ):
            return
        shown = {k: getattr(incident, k) for k in ("identified", "successful", "failed", "restored")}
        data = {"incident_id": incident.id, "incident_code": incident.code, "counts": shown, "final": True}
        if nothing_restored:
            _system_failure(request_id, action, now=now, message=message, data=data)
        else:
            _system_step(request_id, action, now=now, message=message, data=data)
        transaction.on_commit(lambda: _notify_requester(request_id, state.value))


def _poll_progress(req, incident, now):
    """Counts not final yet: store them and book the next read (an audit event when they moved)."""
    counts = _counts(incident)
    with transaction.atomic():
        _poll_counted(req, now, **counts)
        if any(getattr(req, k) != v for k, v in counts.items()):
            _system_step(
                req.pk,
                AuditAction.REMEDIATION_POLLED,
                now=now,
                message=f"Counts so far: identified {incident.identified}, successful {incident.successful}, "
                f"failed {incident.failed}",
                data={"incident_id": incident.id, "counts": counts, "final": False},
            )


def remediation_poll(*, request_id, now=None, client=None):
    """Read the incident's counts once; complete the request when they are final. Returns True
    when the request is final afterwards."""
    now = _now(now)
    req = RemediationRequest.objects.filter(pk=request_id, state=State.RUNNING).first()
    settling = req is not None and not req.incident_id and kind_for(req.kind).settle_item is not None
    if req is None or not (req.incident_id or settling):
        return True
    client = client or _poll_client()
    if settling:
        return _poll_items(kind_for(req.kind), req, now=now, client=client)
    if (wait := _poll_gives_way(req, client, now)) > 0:
        _poll_later(req, wait, now)
        return False
    try:
        with lane(BACKGROUND):
            incident = client.get_incident(req.incident_id)
    except MimecastError as error:
        _poll_read_failed(req, error, now)
        return False
    gave_up = _polled_too_long(req, now)
    if _settled(incident) or gave_up:
        nothing_restored = req.kind == Kind.RESTORE and not _restored_count(incident)
        _poll_final(request_id, incident, now, unsettled=not _settled(incident), nothing_restored=nothing_restored)
        return True
    _poll_progress(req, incident, now)
    return False


def remediation_poll_delay(*, polls):
    """Seconds from a read of the counts that were not final to the next: soon while the incident is
    young (a few mailboxes settle within seconds), backing off to REMEDIATION_POLL_INTERVAL_SECONDS."""
    return min(settings.REMEDIATION_POLL_INTERVAL_SECONDS, 2 ** max(0, polls))


def remediation_next_poll_in(*, request_id, now=None):
    """Seconds to the request's next read: when the last poll booked it, else by the reads so far."""
    row = RemediationRequest.objects.filter(pk=request_id).values_list("polls", "next_poll_at").first()
    polls, next_poll_at = row or (0, None)
    if next_poll_at is not None:
        return max(0.0, round((next_poll_at - _now(now)).total_seconds(), 3))
    return remediation_poll_delay(polls=polls)


def remediation_poll_due_ids(*, now=None):
    now = _now(now)
    settling = [name for name, kind in KINDS.items() if kind.settle_item is not None]
    return list(
        RemediationRequest.objects.filter(state=State.RUNNING, next_poll_at__lte=now)
        .filter(~Q(incident_id="") | Q(kind__in=settling))
        .values_list("pk", flat=True)
    )


# ------------------------------------------------------------------------------------- e-mail


def _send(subject, template, context, recipients):
    recipients = [r for r in recipients if r]
    if not recipients:
        return
    try:
        send_mail(subject, render_to_string(template, context), None, recipients)
    except Exception:  # a mail outage must never undo or stop a remediation
        logger.exception("remediation e-mail %s not sent", template)


def _notify_approvers(request_id, review=False):
    req = RemediationRequest.objects.select_related("requested_by").get(pk=request_id)
    # An admin decides what the rules reserve for an admin; the approvers the rest.
    group = ADMIN if req.admin_approval_required and not review else APPROVER
    approvers = (
        get_user_model()
        .objects.filter(groups__name=group, is_active=True)
        .exclude(pk__in=[req.requested_by_id, req.first_approved_by_id])
        .values_list("email", flat=True)
        .distinct()
    )
    what = "Review needed (carried out alone by an admin)" if review else "Approval needed"
    _send(
        f"[Portal] {what}: {req.get_kind_display()} request #{req.pk}",
        "remediation/email/new_request.txt",
        {
            "req": req,
            "url": reverse("oversight-break-glass") if review else reverse("remediation-decide", args=[req.pk]),
        },
        list(approvers),
    )


def _notify_requester(request_id, event):
    req = RemediationRequest.objects.select_related("requested_by", "approved_by", "rejected_by").get(pk=request_id)
    _send(
        f"[Portal] {req.get_kind_display()} request #{req.pk} {event}",
        f"remediation/email/{event}.txt",
        {"req": req, "url": reverse("remediation-detail", args=[req.pk])},
        [req.requested_by.email],
    )
