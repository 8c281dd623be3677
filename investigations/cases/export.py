"""The evidence export of a case: a JSON bundle an auditor can check offline, and a printable report.

Both are audited before anything is read, like the audit trail's own exports: the case.exported
event is written, the chain head read in the same transaction (so the head is that very event, the
chain lock being held until commit), and only events up to that head go in. The bundle carries each
event's chained fields exactly as hashed, so investigations/core/bundle_verify.py (standard library
only; scripts/verify_bundle.py and `manage.py verify_bundle` run it) recomputes every hash without
the portal. What that does and does not prove is written into the bundle itself (PROOF below).
"""

from dataclasses import dataclass
from datetime import UTC

from django.db import transaction
from django.db.models import Prefetch, Q

from investigations.audit.chain import audit_chain_head, read_checkpoints
from investigations.audit.services import audit_record
from investigations.core.bundle_verify import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHAIN_FIELDS,
    bundle_bytes,
    bundle_digest,
)
from investigations.models import AuditAction, AuditEvent, RemediationItem, RemediationRequest, RemediationStep

PROOF = {
    "event_hash": (
        "sha256 of the UTF-8 text [f1, f2, ...] over the fields in chained_fields, in that order, each written as "
        "PostgreSQL's jsonb text output writes it: strings JSON-quoted (non-ASCII as is), integers as digits, "
        "objects with keys ordered by byte length then bytewise and ', ' and ': ' as separators; created_at is "
        "already the UTC text that was hashed"
    ),
    "proves": [
        "each event is exactly as the audit trail recorded it: changing any field changes its hash",
        "events whose seqs follow each other are linked as in the trail (prev_hash is the hash before)",
        "the chain head (the export's own case.exported event) is in the bundle, so the bundle is pinned to the "
        "trail as it stood at export time: the same seq on the live trail, or in a signed checkpoint written "
        "since, must have this hash",
        "the digest shows the whole file (case, evidence, requests) is as exported, unless it was recomputed",
    ],
    "does_not_prove": [
        "the links between events that are not consecutive: the events in between belong to other work and "
        "are not in the bundle; verify_audit on the live trail checks the whole chain",
        "that the case, evidence and request sections match the portal's tables: anyone may recompute the "
        "digest; their changes are recorded, hashed, in the events",
        "that the bundle holds every event of the case: compare with the live trail's events for the case",
        "anything about the checkpoint copied here: its signature needs the portal's checkpoint key",
    ],
}


@dataclass
class CaseExport:
    filename: str
    content: bytes
    head_seq: int


def _when(value):
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


def _username(user):
    return user.get_username() if user else None


def _case_doc(case):
    return {
        "id": case.pk,
        "title": case.title,
        "reason": case.reason,
        "ticket_id": case.ticket_id,
        "status": case.status,
        "owner": _username(case.owner),
        "members": sorted(m.get_username() for m in case.members.all()),
        "created_at": _when(case.created_at),
        "updated_at": _when(case.updated_at),
        "closed_at": _when(case.closed_at),
    }


def _evidence_docs(case):
    return [
        {
            "id": e.pk,
            "kind": e.kind,
            "value": e.value,
            "label": e.label,
            "details": e.details,
            "note": e.note,
            "added_by": _username(e.added_by),
            "added_at": _when(e.added_at),
        }
        for e in case.evidence.select_related("added_by").order_by("id")
    ]


_REQUEST_FIELDS = (
    "kind",
    "state",
    "search_by",
    "search_value",
    "sender",
    "recipient",
    "restore_code",
    "unremediate_code",
    "params",
    "reason",
    "ticket_id",
    "version",
    "preview",
    "decision_reason",
    "approvals_required",
    "admin_approval_required",
    "approval_rule_reasons",
    "break_glass",
    "review_note",
    "attempts",
    "incident_id",
    "incident_code",
    "incident_type",
    "identified",
    "successful",
    "failed_count",
    "restored",
    "counts_final",
    "failure_reason",
)
_REQUEST_TIMES = (
    "start",
    "end",
    "created_at",
    "updated_at",
    "submitted_at",
    "expires_at",
    "previewed_at",
    "decided_at",
    "approver_authenticated_at",
    "first_approved_at",
    "reviewed_at",
    "finished_at",
)
_REQUEST_PEOPLE = ("requested_by", "approved_by", "rejected_by", "first_approved_by", "reviewed_by")


def _item_doc(item):
    return {
        "position": item.position,
        "key": item.key,
        "label": item.label,
        "state": item.state,
        "attempts": item.attempts,
        "mimecast_id": item.mimecast_id,
        "adopted": item.adopted,
        "result": item.result,
        "error": item.error,
        "updated_at": _when(item.updated_at),
    }


def _step_doc(step):
    return {
        "created_at": _when(step.created_at),
        "actor_label": step.actor_label,
        "action": step.action,
        "outcome": step.outcome,
        "attempt": step.attempt,
        "message": step.message,
        "data": step.data,
    }


def case_export_requests(*, case):
    """The case's requests, oldest first, each with its items (outcomes) and steps."""
    return list(
        RemediationRequest.objects.filter(investigation=case)
        .select_related(*_REQUEST_PEOPLE)
        .prefetch_related(
            # Explicit querysets: the request model orders by -id, items and steps have their own order.
            Prefetch("items", queryset=RemediationItem.objects.order_by("position")),
            Prefetch("steps", queryset=RemediationStep.objects.order_by("id")),
        )
        .order_by("id")
    )


def _request_doc(req):
    doc = {"id": req.pk, "restore_of": req.restore_of_id}
    doc.update({name: getattr(req, name) for name in _REQUEST_FIELDS})
    doc.update({name: _when(getattr(req, name)) for name in _REQUEST_TIMES})
    doc.update({name: _username(getattr(req, name)) for name in _REQUEST_PEOPLE})
    doc["items"] = [_item_doc(item) for item in req.items.all()]
    doc["steps"] = [_step_doc(step) for step in req.steps.all()]
    return doc


def case_export_events(*, case, request_ids, upto_seq=None):
    """The case's audit events, oldest first: those made while working in it, those about the case
    itself, and those about its requests (the worker's steps carry no case in their context)."""
    rows = AuditEvent.objects.filter(
        Q(data__case=case.pk)
        | Q(target_type="investigation", target_id=str(case.pk))
        | Q(target_type="remediationrequest", target_id__in=[str(pk) for pk in request_ids])
    )
    if upto_seq is not None:
        rows = rows.filter(seq__lte=upto_seq)
    return rows.order_by("seq")


def _event_doc(event):
    doc = {name: getattr(event, name) for name in CHAIN_FIELDS}
    # The exact text the chain hashes (models.canonical_bytes), so the offline check needs no clock.
    doc["created_at"] = event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    doc["hash"] = event.hash
    return doc


def _newest_checkpoint(head_seq):
    found = [c for c in read_checkpoints(problems=[]) if c.seq <= head_seq]
    newest = max(found, key=lambda c: c.seq, default=None)
    if newest is None:
        return None
    return {"seq": newest.seq, "hash": newest.hash, "created_at": newest.created_at}


def _record_export(*, user, case, fmt):
    """Audit the export, then read the head: inside one transaction, the head is that event."""
    with transaction.atomic():
        event = audit_record(actor=user, action=AuditAction.CASE_EXPORTED, target=case, data={"format": fmt})
        head_seq, head_hash = audit_chain_head()
    return event, head_seq, head_hash


def case_export_bundle(*, user, case):
    """The JSON bundle of a case, audited; returns the file's name and bytes."""
    event, head_seq, head_hash = _record_export(user=user, case=case, fmt="json")
    requests = case_export_requests(case=case)
    events = case_export_events(case=case, request_ids=[r.pk for r in requests], upto_seq=head_seq)
    bundle = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "exported_at": _when(event.created_at),
        "exported_by": user.get_username(),
        "export_event_seq": event.seq,
        "case": _case_doc(case),
        "evidence": _evidence_docs(case),
        "requests": [_request_doc(req) for req in requests],
        "chained_fields": list(CHAIN_FIELDS),
        "events": [_event_doc(e) for e in events.iterator(chunk_size=2000)],
        "chain_head": {"seq": head_seq, "hash": head_hash},
        "newest_checkpoint": _newest_checkpoint(head_seq),
        "proof": PROOF,
    }
    bundle["digest"] = {"sha256": bundle_digest(bundle), "over": "canonical JSON of every other key"}
    stamp = event.created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return CaseExport(
        filename=f"case-{case.pk}-{stamp}-head{head_seq}.json", content=bundle_bytes(bundle), head_seq=head_seq
    )


@dataclass
class CaseReport:
    case: object
    requests: list
    events: list
    head_seq: int
    head_hash: str
    exported_at: object
    checkpoint: dict | None


def case_report(*, user, case):
    """What the printable report shows, audited like the bundle; evidence comes from the caller
    (the case page's selector, which knows each item's live state)."""
    event, head_seq, head_hash = _record_export(user=user, case=case, fmt="html")
    requests = case_export_requests(case=case)
    events = list(case_export_events(case=case, request_ids=[r.pk for r in requests], upto_seq=head_seq))
    return CaseReport(
        case=case,
        requests=requests,
        events=events,
        head_seq=head_seq,
        head_hash=head_hash,
        exported_at=event.created_at,
        checkpoint=_newest_checkpoint(head_seq),
    )
