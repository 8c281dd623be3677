"""Reads for oversight: the approval rules and the break-glass after-review queue.

``approval_rules_current`` is the one exception to "nothing here writes": the rules are a single
row that must exist for every reader, so the first reader creates it with the model's defaults
rather than every caller handling its absence."""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from investigations.models import ApprovalRules, RemediationRequest

RULES_PK = 1
REVIEWED_SHOWN = 50
# Break-glass kinds never use the incident window; deferring it keeps a bad legacy window (which
# the driver cannot read back) from breaking the queue.
_DEFERRED = ("start", "end", "preview")


def approval_rules_current():
    """The one ApprovalRules row, created with the defaults when missing."""
    rules = ApprovalRules.objects.filter(pk=RULES_PK).first()
    if rules is not None:
        return rules
    try:
        # get_or_create already retries the read when a concurrent create wins; the savepoint keeps
        # a caller's transaction usable if the database still reports the collision.
        with transaction.atomic():
            rules, _ = ApprovalRules.objects.get_or_create(pk=RULES_PK)
    except IntegrityError:
        rules = ApprovalRules.objects.get(pk=RULES_PK)
    return rules


def _break_glass():
    # The clock starts when the admin carried the action out (decided_at); a row without it (an
    # action recorded before it was set) falls back to when it was asked for, never to "not due".
    return (
        RemediationRequest.objects.filter(break_glass=True)
        .select_related("requested_by", "reviewed_by")
        .defer(*_DEFERRED)
        .annotate(acted_at=Coalesce("decided_at", "submitted_at", "created_at"))
    )


def _overdue_before(now, rules):
    return now - timedelta(hours=rules.break_glass_review_hours)


def break_glass_unreviewed(*, now=None, rules=None):
    """Break-glass requests no approver has reviewed yet, oldest first; each with ``overdue``."""
    now = now or timezone.now()
    rules = rules or approval_rules_current()
    cutoff = _overdue_before(now, rules)
    rows = list(_break_glass().filter(reviewed_at__isnull=True).order_by("acted_at", "id"))
    for row in rows:
        row.overdue = row.acted_at < cutoff
        row.due_at = row.acted_at + timedelta(hours=rules.break_glass_review_hours)
    return rows


def break_glass_reviewed(*, limit=REVIEWED_SHOWN):
    """The most recently reviewed break-glass requests, newest review first."""
    return list(_break_glass().filter(reviewed_at__isnull=False).order_by(F("reviewed_at").desc(), "-id")[:limit])


def break_glass_overdue_count(now=None, *, rules=None):
    """How many break-glass requests are still unreviewed after the review window."""
    now = now or timezone.now()
    rules = rules or approval_rules_current()
    return _break_glass().filter(reviewed_at__isnull=True, acted_at__lt=_overdue_before(now, rules)).count()


def break_glass_request(*, request_id):
    """One break-glass request, or None when there is none with that id."""
    return _break_glass().filter(pk=request_id).first()
