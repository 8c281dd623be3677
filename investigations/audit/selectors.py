"""Audit reads: the pages of events a filter selects (its cleaned values, never the form), one
target's timeline, one event's detail. Nothing here writes.

Pages are keyset pages on seq (newest first on the list, oldest first on a timeline): a page is
"the next N events past this seq", never an OFFSET, so it costs the same on page 1 and page
10,000, and events appended meanwhile (always at a higher seq) can neither shift a row onto the
next page nor push one off it.
"""

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from investigations.core.labels import actor_recorded
from investigations.models import (
    AUDIT_ACTION_GROUPS,
    AuditAction,
    AuditEvent,
    AuditVerificationRun,
    audit_action_group,
)

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 200
_ACTION_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def audit_action_known(action):
    if not _ACTION_NAME.match(action):
        return False
    return action in AuditAction.values or AuditEvent.objects.filter(action=action).exists()


def audit_action_names():
    """Suggestions for the action field: every action the code defines, grouped order."""
    return sorted(AuditAction.values, key=lambda a: (audit_action_group(a) or "~", a))


def _group_q(group):
    q = Q()
    for pattern in AUDIT_ACTION_GROUPS[group]:
        if pattern.startswith("*"):
            q |= Q(action__endswith=pattern[1:])
        elif pattern.endswith("*"):
            q |= Q(action__startswith=pattern[:-1])
        else:
            q |= Q(action=pattern)
    return q


def _actor_q(actor):
    if actor.lower() == "anonymous":
        return Q(actor_type="anonymous")
    # As the list names them ("System: remediation poller", "Integration: soar"), or as recorded.
    actor = actor_recorded(actor)
    user_id = get_user_model().objects.filter(username=actor).values_list("pk", flat=True).first()
    if user_id is not None:
        # The id, not the label: a user renamed since still matches all of their events.
        return Q(actor_type="user", actor_id=str(user_id))
    return Q(actor_label=actor)


# The filter fields that map to one lookup each; actor and group span several (the _q helpers above).
_FIELD_LOOKUPS = {
    "action": "action",
    "target_type": "target_type",
    "target_id": "target_id",
    "outcome": "outcome",
    "reason": "reason__icontains",
    "since": "created_at__gte",
    "until": "created_at__lte",
}


def audit_events_matching(*, criteria):
    """The events a filter selects, unordered; the callers choose the order and the page."""
    events = AuditEvent.objects.all()
    if criteria.get("actor"):
        events = events.filter(_actor_q(criteria["actor"]))
    if criteria.get("group"):
        events = events.filter(_group_q(criteria["group"]))
    return events.filter(**{lookup: criteria[name] for name, lookup in _FIELD_LOOKUPS.items() if criteria.get(name)})


@dataclass
class EventPage:
    events: list
    next_before: int | None  # the cursor for the next page (older; newer when paging after), None on the last


def audit_events_page(*, criteria, before=None, after=None, limit=PAGE_SIZE):
    """Newest first, `limit` events strictly older than `before`; or, given `after`, oldest first from
    the event past it (how a SIEM follows the trail: what is new since the last event it read)."""
    events = audit_events_matching(criteria=criteria)
    if before is not None:
        events = events.filter(seq__lt=before)
    if after is not None:
        events = events.filter(seq__gt=after)
    # One row more than shown tells whether another page exists, without a COUNT over millions.
    rows = list(events.order_by("seq" if after is not None else "-seq")[: limit + 1])
    shown = rows[:limit]
    return EventPage(events=shown, next_before=shown[-1].seq if len(rows) > limit else None)


def audit_timeline_page(*, target_type, target_id, after=0, limit=TIMELINE_PAGE_SIZE):
    """Every event about one target, oldest first (the order things happened), from seq > after."""
    events = AuditEvent.objects.filter(target_type=target_type, target_id=target_id, seq__gt=after)
    rows = list(events.order_by("seq")[: limit + 1])
    shown = rows[:limit]
    return EventPage(events=shown, next_before=shown[-1].seq if len(rows) > limit else None)


@dataclass
class EventDetail:
    event: AuditEvent
    payload: str
    hash_matches: bool
    previous_seq: int | None
    next_seq: int | None
    group: str


def audit_event_detail(*, seq):
    event = AuditEvent.objects.filter(seq=seq).first()
    if event is None:
        return None
    return EventDetail(
        event=event,
        payload=json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False),
        # Recomputed here so the page itself shows whether this one row was edited.
        hash_matches=event.computed_hash() == event.hash,
        previous_seq=AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").values_list("seq", flat=True).first(),
        next_seq=AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("seq", flat=True).first(),
        group=audit_action_group(event.action) or "other",
    )


def audit_verification_active(*, for_update=False):
    """The queued or running verification, unless its worker has gone silent for too long."""
    stale_before = timezone.now() - timedelta(seconds=AuditVerificationRun.TIME_LIMIT)
    runs = AuditVerificationRun.objects.select_for_update() if for_update else AuditVerificationRun.objects
    return runs.filter(
        Q(status=AuditVerificationRun.Status.QUEUED, created_at__gte=stale_before)
        | Q(status=AuditVerificationRun.Status.RUNNING, heartbeat_at__gte=stale_before)
    ).first()


def audit_verification_last_finished():
    return (
        AuditVerificationRun.objects.filter(finished_at__isnull=False)
        .select_related("started_by")
        .order_by("-finished_at")
        .first()
    )
