import contextlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.core.roles import ALL_ROLES
from investigations.models import AuditAction, AuditEvent, AuditOutcome

# When this session last proved who is signed in: its own sign-in, or the password typed again in
# it. Kept in the session, never read from the user, whose last_login any other sign-in moves.
FRESH_AUTH_SESSION_KEY = "fresh_auth_at"


class UnknownRole(ValueError):
    pass


def _role_groups(roles):
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise UnknownRole(f"Unknown role(s): {', '.join(unknown)}. Roles are: {', '.join(ALL_ROLES)}.")
    return list(Group.objects.filter(name__in=roles))


def user_create(*, actor, username, roles, password, email="", time_zone="", validate=True):
    """Create a user holding the given roles. Validation of the password is skipped only for the
    demo's fixed logins."""
    User = get_user_model()
    groups = _role_groups(roles)
    user = User(username=username, email=email, time_zone=time_zone)
    if validate:
        validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
        user.groups.set(groups)
        audit_record(
            actor=actor,
            action=AuditAction.USER_CREATED,
            target=("user", user.pk),
            data={"username": username, "roles": sorted(roles)},
        )
    return user


def user_set_roles(*, actor, user, roles):
    groups = _role_groups(roles)
    with transaction.atomic():
        before = sorted(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user.groups.remove(*Group.objects.filter(name__in=ALL_ROLES))
        user.groups.add(*groups)
        audit_record(
            actor=actor,
            action=AuditAction.USER_ROLES_CHANGED,
            target=("user", user.pk),
            data={"username": user.username, "before": before, "after": sorted(roles)},
        )
    user.__dict__.pop("_portal_roles", None)
    return user


def user_set_password(*, actor, user, password, validate=True):
    if validate:
        validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action=AuditAction.USER_PASSWORD_SET, target=("user", user.pk))
    return user


# ---------------------------------------------------------------------------- fresh authentication


def session_proof_record(*, session, at):
    """This session proved who is signed in at `at` (its sign-in, or the password typed again)."""
    session[FRESH_AUTH_SESSION_KEY] = at.isoformat()


def session_proof_at(session):
    """When this session last proved who is signed in, or None (a session from before the proof was
    kept, or a damaged value: either way the password is asked again)."""
    stored = session.get(FRESH_AUTH_SESSION_KEY)
    if not isinstance(stored, str):
        return None
    with contextlib.suppress(ValueError):
        at = datetime.fromisoformat(stored)
        return at if timezone.is_aware(at) else None
    return None


@dataclass(frozen=True)
class Reauthentication:
    """The outcome of a password typed again: `ok`, or why not (`wrong`, `locked` until `until`)."""

    ok: bool
    locked_until: datetime | None = None

    @property
    def locked(self):
        return self.locked_until is not None


def _reauth_failures(user, now):
    """The wrong passwords this user typed to decide since their last right one, within the
    cool-off; newest first. Counted from the audit trail, which every process shares and which
    survives a restart, per user: a colleague behind the same address is not affected."""
    since = now - settings.AXES_COOLOFF_TIME
    events = AuditEvent.objects.filter(
        actor_type="user",
        actor_id=str(user.pk),
        action__in=(AuditAction.REAUTH_FAILED, AuditAction.REAUTHENTICATED),
        created_at__gt=since,
    ).order_by("-seq")
    failures = []
    for action, created_at in events.values_list("action", "created_at")[: settings.AXES_FAILURE_LIMIT + 1]:
        if action == AuditAction.REAUTHENTICATED:
            break
        failures.append(created_at)
    return failures


def decisions_locked_until(*, user, now=None):
    """When this user's decisions unlock after AXES_FAILURE_LIMIT wrong passwords at the decision
    prompt (the same limit and cool-off as sign-in), or None when they are not locked."""
    now = now or timezone.now()
    failures = _reauth_failures(user, now)
    if len(failures) < settings.AXES_FAILURE_LIMIT:
        return None
    return failures[0] + settings.AXES_COOLOFF_TIME


def user_reauthenticate(*, actor, password, now=None):
    """Check the signed-in user's password, typed again before a decision. Wrong ones count against
    this user only (not the address, which colleagues behind one proxy share, and not through the
    sign-in lockout): the limit locks this user's decisions for the cool-off."""
    now = now or timezone.now()
    until = decisions_locked_until(user=actor, now=now)
    if until is not None:
        return Reauthentication(ok=False, locked_until=until)
    if actor.is_active and actor.check_password(password):
        with transaction.atomic():
            audit_record(actor=actor, action=AuditAction.REAUTHENTICATED, target=("user", actor.pk))
        return Reauthentication(ok=True)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.REAUTH_FAILED,
            target=("user", actor.pk),
            outcome=AuditOutcome.FAILURE,
        )
        until = decisions_locked_until(user=actor, now=now)
        if until is not None:
            audit_record(
                actor=actor,
                action=AuditAction.DECISIONS_LOCKED,
                target=("user", actor.pk),
                outcome=AuditOutcome.DENIED,
                data={"until": until.isoformat(), "failures": settings.AXES_FAILURE_LIMIT},
            )
    return Reauthentication(ok=False, locked_until=until)
