"""Reads. Views call these; nothing here writes."""

from django.contrib.auth import get_user_model

from ..models import AuditEvent
from ..roles import ALL_ROLES


def audit_events_recent(*, limit=50, before_seq=None):
    events = AuditEvent.objects.order_by("-seq")
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    return list(events[:limit])


def users_with_roles():
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    return [{"user": user, "roles": sorted(g.name for g in user.groups.all() if g.name in ALL_ROLES)} for user in users]


def audit_events_for_user(*, user, limit=10):
    return list(AuditEvent.objects.filter(actor_type="user", actor_id=str(user.pk)).order_by("-seq")[:limit])
