"""Changes to investigations (cases) and their evidence, each audited in its own transaction.

Every event written here is filed under the case it is about (data.case), whichever case the user
happens to be working in, so the case's timeline holds its own history too."""

import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from investigations.audit.services import audit_read, audit_record
from investigations.cases.selectors import case_may_change
from investigations.core.context import CURRENT_CASE_SESSION_KEY, audit_context, current_context
from investigations.core.validators import has_control_characters, indicator_value, is_message_id, is_mimecast_id
from investigations.models import AuditAction, Evidence, Investigation

VALUE_MAX = 2048
LABEL_MAX = 300
# How many added values one audit event lists (the count is always there).
AUDITED_VALUES = 100
_FIELDS = ("title", "reason", "ticket_id", "status")


class CaseError(Exception):
    """A change the case's state refuses, in words for the user."""


@contextmanager
def _filed_under(case):
    context = replace(current_context(), case_id=case.pk)
    with audit_context(**asdict(context)):
        yield


def _case_record(case, **event):
    """Audit an event about ``case``, filed under it."""
    with _filed_under(case):
        audit_record(target=case, **event)


def _touch(case, now):
    case.updated_at = now
    case.save(update_fields=["updated_at"])


def _require_member(actor, case):
    if not case_may_change(user=actor, case=case):
        raise PermissionDenied("Only the owner and the members of this investigation may change it.")


def _locked(case_id):
    return Investigation.objects.select_for_update().get(pk=case_id)


def case_create(*, actor, values, now=None):
    """A new open case owned by ``actor`` (also its first member). values: title, reason, ticket_id."""
    now = now or timezone.now()
    with transaction.atomic():
        case = Investigation.objects.create(
            title=values["title"],
            reason=values["reason"],
            ticket_id=values.get("ticket_id", ""),
            owner=actor,
            created_at=now,
            updated_at=now,
        )
        case.members.add(actor)
        _case_record(
            case,
            actor=actor,
            action=AuditAction.CASE_CREATED,
            reason=case.reason,
            data={"title": case.title, "ticket_id": case.ticket_id},
        )
    return case


def _member_names(case):
    return sorted(case.members.values_list("username", flat=True))


def case_update(*, actor, case_id, values, now=None):
    """Change a case's title, reason, ticket, status and members (any of them). The owner stays a
    member. Returns (case, names of the changed fields); nothing changed, nothing is audited."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _locked(case_id)
        _require_member(actor, case)
        before = {name: getattr(case, name) for name in _FIELDS if name in values}
        changed = sorted(name for name in before if values[name] != before[name])
        members_before = _member_names(case)
        for name in changed:
            setattr(case, name, values[name])
        if "members" in values:
            wanted = {user.pk for user in values["members"]} | {case.owner_id}
            case.members.set(wanted)
            members_after = _member_names(case)
            if members_after != members_before:
                changed = sorted([*changed, "members"])
                before["members"] = members_before
        if not changed:
            return case, []
        if "status" in changed:
            case.closed_at = now if case.status == Investigation.Status.CLOSED else None
        case.updated_at = now
        case.save()
        after = {name: getattr(case, name) for name in changed if name != "members"}
        if "members" in changed:
            after["members"] = members_after
        _case_record(
            case,
            actor=actor,
            action=AuditAction.CASE_UPDATED,
            reason=values.get("change_reason", ""),
            data={"changed": changed, "before": {k: before[k] for k in changed}, "after": after},
        )
    return case, changed


def case_enter(*, actor, case_id, session):
    """Work inside the case from now on: the session remembers it (CURRENT_CASE_SESSION_KEY)."""
    with transaction.atomic():
        case = Investigation.objects.get(pk=case_id)
        _require_member(actor, case)
        if case.status == Investigation.Status.CLOSED:
            raise CaseError("This investigation is closed; reopen it to work in it.")
        previous = session.get(CURRENT_CASE_SESSION_KEY)
        _case_record(
            case,
            actor=actor,
            action=AuditAction.CASE_ENTERED,
            data={"previous": previous} if previous and previous != case.pk else {},
        )
    session[CURRENT_CASE_SESSION_KEY] = case.pk
    return case


def case_leave(*, actor, session):
    """Stop working inside the current case; returns it, or None when there was none."""
    case_id = session.pop(CURRENT_CASE_SESSION_KEY, None)
    case = Investigation.objects.filter(pk=case_id).first() if isinstance(case_id, int) else None
    if case is None:
        return None
    with transaction.atomic():
        _case_record(case, actor=actor, action=AuditAction.CASE_LEFT)
    return case


def case_view_record(*, actor, case):
    """Opening a case page is audited (filed under the case)."""
    with _filed_under(case):
        audit_read(actor=actor, action=AuditAction.CASE_VIEWED, target=case)


# ------------------------------------------------------------------------------------ evidence


def _readable(value):
    """A label as a person reads it: one line, without control or invisible characters."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") else ch for ch in value)
    return " ".join(text.split())[:LABEL_MAX]


def evidence_normalise(kind, value):
    """The value as a case keeps it, or None when it is not a valid value of ``kind``."""
    value = (value or "").strip()
    if not value or len(value) > VALUE_MAX or has_control_characters(value):
        return None
    return indicator_value(kind, value)


@dataclass
class EvidenceResult:
    added: int = 0
    duplicates: int = 0
    invalid: list = field(default_factory=list)


def evidence_add(*, actor, case_id, kind, values, labels=(), note="", message_ids=(), now=None):
    """Add ``values`` of one ``kind`` to a case with one note. ``labels`` and ``message_ids`` (the
    Message-ID header of each message, when the page knows it) go with the values in the same
    order. A value already in the case, or given twice, is counted and left alone; a value that is
    not valid for the kind is returned in ``invalid`` and not added."""
    now = now or timezone.now()
    result = EvidenceResult()
    wanted = {}
    for position, raw in enumerate(values):
        if not (raw or "").strip():
            continue  # an empty box on the page, not a value
        value = evidence_normalise(kind, raw)
        if value is None:
            result.invalid.append(raw)
        elif value in wanted:
            result.duplicates += 1
        else:
            label = labels[position] if position < len(labels) else ""
            details = {}
            mid = message_ids[position] if position < len(message_ids) else ""
            if kind == Evidence.Kind.MESSAGE:
                mid = mid if mid and is_message_id(mid) and not has_control_characters(mid) else ""
                if is_message_id(value) and not is_mimecast_id(value):
                    mid = value
                if mid:
                    details["message_id"] = mid
            wanted[value] = (_readable(label or ""), details)
    with transaction.atomic():
        case = _locked(case_id)
        _require_member(actor, case)
        if case.status == Investigation.Status.CLOSED:
            raise CaseError("This investigation is closed; reopen it to add evidence.")
        present = set(case.evidence.filter(kind=kind, value__in=list(wanted)).values_list("value", flat=True))
        result.duplicates += len(present)
        rows = [
            Evidence(
                investigation=case,
                kind=kind,
                value=value,
                label=label,
                details=details,
                note=note,
                added_by=actor,
                added_at=now,
            )
            for value, (label, details) in wanted.items()
            if value not in present
        ]
        # A concurrent add of the same value loses quietly here rather than failing the whole batch.
        Evidence.objects.bulk_create(rows, ignore_conflicts=True)
        result.added = len(rows)
        if not rows:
            return result
        _touch(case, now)
        _case_record(
            case,
            actor=actor,
            action=AuditAction.CASE_EVIDENCE_ADDED,
            reason=note,
            data={
                "kind": kind,
                "count": len(rows),
                "duplicates": result.duplicates,
                "values": [row.value for row in rows[:AUDITED_VALUES]],
            },
        )
    return result


def evidence_remove(*, actor, evidence_id, now=None):
    """Take one item out of its case; returns the case."""
    now = now or timezone.now()
    with transaction.atomic():
        item = Evidence.objects.select_related("investigation").get(pk=evidence_id)
        case = _locked(item.investigation_id)
        _require_member(actor, case)
        kind, value = item.kind, item.value
        item.delete()
        _touch(case, now)
        _case_record(case, actor=actor, action=AuditAction.CASE_EVIDENCE_REMOVED, data={"kind": kind, "value": value})
    return case
