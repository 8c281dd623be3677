"""Reads. Views call these; nothing here writes."""

from django.contrib.auth import get_user_model

from investigations.core.roles import ALL_ROLES
from investigations.models import AuditEvent


def users_with_roles():
    users = get_user_model().objects.order_by("username").prefetch_related("groups")
    return [{"user": user, "roles": sorted(g.name for g in user.groups.all() if g.name in ALL_ROLES)} for user in users]


def audit_events_for_user(*, user, limit=10):
    return list(AuditEvent.objects.filter(actor_type="user", actor_id=str(user.pk)).order_by("-seq")[:limit])
