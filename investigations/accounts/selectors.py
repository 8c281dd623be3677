"""Reads. Views call these; nothing here writes."""

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db.models import Count
from django.utils import timezone

from investigations.core.roles import ALL_ROLES
from investigations.models import AuditEvent, UserSession


def users_with_roles():
    # Integration tokens' service identities are managed (and revoked) on the integrations page.
    users = get_user_model().objects.filter(is_integration=False).order_by("username").prefetch_related("groups")
    sessions = open_session_counts()
    return [
        {
            "user": user,
            "roles": sorted(g.name for g in user.groups.all() if g.name in ALL_ROLES),
            "sessions": sessions.get(user.pk, 0),
        }
        for user in users
    ]


def audit_events_for_user(*, user, limit=10):
    return list(AuditEvent.objects.filter(actor_type="user", actor_id=str(user.pk)).order_by("-seq")[:limit])


# ------------------------------------------------------------------------------- signed-in sessions


def _live_session_keys(now):
    # Sessions live in the database (the default engine): one whose idle expiry has passed is already
    # as good as gone, whether or not clearsessions has deleted it yet.
    return Session.objects.filter(expire_date__gt=now).values("session_key")


def open_sessions(*, user, now=None):
    """The user's sessions that can still make a request, the most recently seen first."""
    now = now or timezone.now()
    return list(UserSession.objects.filter(user=user, ended_at__isnull=True, session_key__in=_live_session_keys(now)))


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_summary(user_agent):
    """A browser in short ("Firefox on Windows"), enough to recognise it; the full string is on hover."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent.split("/", 1)[0][:40] or "unknown"


def my_sessions(*, user, current_key):
    """My sessions page: each open session with its browser in short, this session first."""
    rows = [
        {"row": row, "current": row.session_key == current_key, "agent": user_agent_summary(row.user_agent)}
        for row in open_sessions(user=user)
    ]
    return sorted(rows, key=lambda entry: not entry["current"])


def open_session_get(*, user, session_id, exclude_key=""):
    """One of the user's own open sessions, or None: another user's id, an ended session or the one
    excluded (the caller's own) are all "no such session" alike."""
    return (
        UserSession.objects.filter(pk=session_id, user=user, ended_at__isnull=True)
        .exclude(session_key=exclude_key)
        .first()
    )


def open_session_counts(*, now=None):
    """{user id: how many sessions that user has open}, for the users page."""
    now = now or timezone.now()
    rows = (
        UserSession.objects.filter(ended_at__isnull=True, session_key__in=_live_session_keys(now))
        .values("user_id")
        .annotate(n=Count("id"))
    )
    return {row["user_id"]: row["n"] for row in rows}
