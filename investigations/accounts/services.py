import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from investigations.accounts import selectors
from investigations.audit.services import audit_record
from investigations.core.roles import ALL_ROLES
from investigations.models import AuditAction, AuditEvent, AuditOutcome, UserSession

# When this session last proved who is signed in: its own sign-in, or the password typed again in
# it. Kept in the session, never read from the user, whose last_login any other sign-in moves.
FRESH_AUTH_SESSION_KEY = "fresh_auth_at"
# How that proof was given ("password", or "oidc" for a sign-in at the provider) and, for the provider,
# the auth_time its ID token stated (epoch seconds): a decision's audit event records both.
FRESH_AUTH_METHOD_KEY = "fresh_auth_method"
FRESH_AUTH_PROVIDER_TIME_KEY = "fresh_auth_provider_time"


class UnknownRole(ValueError):
    pass


def _role_groups(roles):
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise UnknownRole(f"Unknown role(s): {', '.join(unknown)}. Roles are: {', '.join(ALL_ROLES)}.")
    return list(Group.objects.filter(name__in=roles))


# Audit actions of the admins' users page (the "settings" group of the audit filter, as user.*).
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 - an audit action's name, not a password
USER_CHANGE_REFUSED = "user.change_refused"
# Single sign-on users are named after the provider's subject: "oidc:<sub>" (accounts.sso) and
# "saml:<NameID>" (accounts.saml; not imported: both import this module). A local account must never
# take such a name.
_SSO_USERNAME_PREFIX = ("oidc:", "saml:")


class UserChangeRefused(ValueError):
    """A change an admin may not make (their own roles or account, a user the provider manages); its
    str is what the admin reads."""


def user_is_sso(user):
    """Whether the provider manages this user (their roles come from its groups, they have no password)."""
    return user.username.startswith(_SSO_USERNAME_PREFIX) and not user.has_usable_password()


def _refuse_change(*, actor, user, change, message):
    """Audit the refusal in its own transaction (the change itself never happens) and raise it."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=USER_CHANGE_REFUSED,
            target=("user", user.pk),
            outcome=AuditOutcome.DENIED,
            data={"username": user.get_username(), "change": change},
        )
    raise UserChangeRefused(message)


def _admin_may_change(*, actor, user, change):
    """A person (not the provider, not an operator at manage.py) may not change their own account nor a
    token's service identity, and not the roles of a user the provider manages."""
    if getattr(actor, "pk", None) is None:
        return
    if actor.pk == user.pk:
        _refuse_change(
            actor=actor, user=user, change=change, message="You cannot change your own account: ask another admin."
        )
    if user.is_integration:
        _refuse_change(
            actor=actor, user=user, change=change, message="Integration tokens are managed on the integrations page."
        )
    if change in {"roles", "password_reset"} and user_is_sso(user):
        _refuse_change(
            actor=actor,
            user=user,
            change=change,
            message="This user signs in with single sign-on: the provider's groups give their roles.",
        )


def user_create(*, actor, username, roles, password=None, email="", time_zone="", validate=True, proof=None):
    """Create a user holding the given roles. Without a password the account cannot sign in until its
    holder sets one through a one-time link (`user_password_link`). Validation of the password is
    skipped only for the demo's fixed logins. `proof` (the admin's step-up) goes into the audit event."""
    User = get_user_model()
    if username.lower().startswith(_SSO_USERNAME_PREFIX):
        raise UserChangeRefused(
            f"Names starting with {' or '.join(_SSO_USERNAME_PREFIX)} belong to single sign-on users."
        )
    groups = _role_groups(roles)
    user = User(username=username, email=email, time_zone=time_zone)
    if password is None:
        user.set_unusable_password()
    else:
        if validate:
            validate_password(password, user)
        user.set_password(password)
    data = {"username": username, "roles": sorted(roles)}
    if getattr(actor, "pk", None) is not None:
        data.update({"source": "admin", "email": email, "proof": proof or {}})
    with transaction.atomic():
        user.save()
        user.groups.set(groups)
        audit_record(actor=actor, action=AuditAction.USER_CREATED, target=("user", user.pk), data=data)
    return user


def user_set_roles(*, actor, user, roles, context=None):
    """`context` adds to the audit event what the change came from (single sign-on names its source
    and the provider's groups, the users page "admin" and the admin's step-up proof). A person may not
    change their own roles, nor those the provider gives: refused and audited."""
    groups = _role_groups(roles)
    _admin_may_change(actor=actor, user=user, change="roles")
    with transaction.atomic():
        before = sorted(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user.groups.remove(*Group.objects.filter(name__in=ALL_ROLES))
        user.groups.add(*groups)
        audit_record(
            actor=actor,
            action=AuditAction.USER_ROLES_CHANGED,
            target=("user", user.pk),
            data={"username": user.username, "before": before, "after": sorted(roles), **(context or {})},
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


def user_password_link(user):
    """(uidb64, token) of the one-time link that lets `user` set their password. The token is Django's
    password-reset token: it is bound to the password hash, so it stops working once a password is set
    (or another link is made), and it lapses after PASSWORD_RESET_TIMEOUT. Never stored nor logged."""
    return urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)


def _user_change_signing_out(*, actor, user, action, fields, now):
    """Save the `fields` the caller changed on `user`, revoke every session they hold and audit `action`,
    in one transaction. Returns how many sessions ended."""
    with transaction.atomic():
        user.save(update_fields=fields)
        revoked = user_sessions_revoke(actor=actor, user=user, by="admin", now=now)
        audit_record(
            actor=actor,
            action=action,
            target=("user", user.pk),
            data={"username": user.get_username(), "sessions_revoked": revoked, "source": "admin"},
        )
    return revoked


def user_deactivate(*, actor, user, now=None):
    """The user can no longer sign in, and every session they hold is revoked (signed out on its next
    request). Returns how many sessions ended."""
    _admin_may_change(actor=actor, user=user, change="deactivate")
    user.is_active = False
    return _user_change_signing_out(actor=actor, user=user, action=USER_DEACTIVATED, fields=["is_active"], now=now)


def user_reactivate(*, actor, user):
    _admin_may_change(actor=actor, user=user, change="reactivate")
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action=USER_REACTIVATED,
            target=("user", user.pk),
            data={"username": user.get_username(), "source": "admin"},
        )
    return user


def user_password_reset(*, actor, user, now=None):
    """The user's password stops working now, their sessions are revoked, and a one-time link
    (`user_password_link`, returned) lets them set a new one. The admin never learns a password, and
    the audit event holds neither a password nor the link."""
    _admin_may_change(actor=actor, user=user, change="password_reset")
    user.set_unusable_password()
    _user_change_signing_out(actor=actor, user=user, action=USER_PASSWORD_RESET, fields=["password"], now=now)
    return user_password_link(user)


# ---------------------------------------------------------------------------- fresh authentication


def session_proof_record(*, session, at, method="password", auth_time=None):
    """This session proved who is signed in at `at` (its sign-in, the password typed again, or a sign-in
    again at the provider, whose `auth_time` claim is kept with it)."""
    session[FRESH_AUTH_SESSION_KEY] = at.isoformat()
    session[FRESH_AUTH_METHOD_KEY] = method
    session[FRESH_AUTH_PROVIDER_TIME_KEY] = auth_time


def session_proof(session):
    """What a decision's audit event says of this session's proof: its method and, from the provider,
    its auth_time (ISO). An older session kept no method: its proof was the password."""
    auth_time = session.get(FRESH_AUTH_PROVIDER_TIME_KEY)
    proof = {"method": str(session.get(FRESH_AUTH_METHOD_KEY) or "password")}
    if isinstance(auth_time, int):
        proof["auth_time"] = datetime.fromtimestamp(auth_time, tz=UTC).isoformat()
    return proof


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
    # The proof's method when ok ("password", or the second factor a code proved).
    method: str = ""

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


def user_event_record(*, user, action, outcome=AuditOutcome.SUCCESS, data=None):
    """An event about what the user did to their own account, when nothing else changes with it: the
    event is its own transaction."""
    with transaction.atomic():
        audit_record(actor=user, action=action, target=("user", user.pk), outcome=outcome, data=data)


def user_reauthenticate(*, actor, password, now=None):
    """Check the signed-in user's password, typed again before a decision. Wrong ones count against
    this user only (not the address, which colleagues behind one proxy share, and not through the
    sign-in lockout): the limit locks this user's decisions for the cool-off."""

    def check():
        return "password" if actor.is_active and actor.check_password(password) else None

    return user_reauthenticate_with(actor=actor, check=check, method="password", now=now)


def user_reauthenticate_with(*, actor, check, method, now=None):
    """A proof typed again before a decision: `check()` returns the method it proved, or None. Wrong
    passwords and wrong codes count together against this user and lock their decisions at the limit;
    the events name the method tried (`method`), never what was typed."""
    now = now or timezone.now()
    until = decisions_locked_until(user=actor, now=now)
    if until is not None:
        return Reauthentication(ok=False, locked_until=until)
    proved = check() if actor.is_active else None
    if proved:
        user_event_record(user=actor, action=AuditAction.REAUTHENTICATED, data={"method": proved})
        return Reauthentication(ok=True, method=proved)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.REAUTH_FAILED,
            target=("user", actor.pk),
            outcome=AuditOutcome.FAILURE,
            data={"method": method},
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


# ------------------------------------------------------------------------------- signed-in sessions

# Kept in the session itself: the id of its UserSession row, the session key that row names, and
# when the row's last_seen_at was last written (epoch seconds). Reading them costs nothing, so a
# request writes the row only when a minute has passed or the key changed under it.
SESSION_ROW_KEY = "user_session"
SESSION_SEEN_EVERY = 60


def _row_state(row, session, now):
    session[SESSION_ROW_KEY] = {"id": row.pk, "key": session.session_key, "seen": int(now.timestamp())}


def user_session_start(*, session, user, ip, user_agent, method="password", now=None, signed_in_at=None):
    """A sign-in: the row "my sessions" lists and revocation finds its session key through. Signing in
    again as the same user keeps Django's session key, and with it the row, which then tells of the
    latest sign-in."""
    now = now or timezone.now()
    row, _created = UserSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "method": method,
            "created_at": signed_in_at or now,
            "last_seen_at": now,
            "ip": ip[:45],
            "user_agent": user_agent[:512],
            "ended_at": None,
            "end": "",
            "ended_by": None,
        },
    )
    _row_state(row, session, now)
    return row


def user_session_seen(*, session, user, ip="", user_agent="", now=None):
    """Called on every signed-in request; writes only when due. Returns False when the session's row
    has ended (revoked or signed out) though the session is somehow still alive: the caller must end
    it. A session signed in before rows were kept gets one now, so it can be seen and revoked."""
    now = now or timezone.now()
    state = session.get(SESSION_ROW_KEY)
    if not isinstance(state, dict) or not isinstance(state.get("id"), int):
        # Signed in with the password form, the one way in before rows were kept.
        signed_in_at = session_proof_at(session)
        user_session_start(session=session, user=user, ip=ip, user_agent=user_agent, now=now, signed_in_at=signed_in_at)
        return True
    # A key cycled under the row (Django does so when the signed-in user changes privileges) is
    # written at once: revocation deletes the session by the key the row holds.
    key_moved = state.get("key") != session.session_key
    if not key_moved and now.timestamp() - (state.get("seen") or 0) < SESSION_SEEN_EVERY:
        return True
    updated = UserSession.objects.filter(pk=state["id"], user=user, ended_at__isnull=True).update(
        last_seen_at=now, session_key=session.session_key
    )
    if not updated:
        return False
    session[SESSION_ROW_KEY] = {**state, "key": session.session_key, "seen": int(now.timestamp())}
    return True


def user_session_end(*, session, user, now=None):
    """A sign-out: the row ends as signed out (Django deletes the session itself)."""
    state = session.get(SESSION_ROW_KEY)
    if not isinstance(state, dict):
        return
    UserSession.objects.filter(pk=state.get("id"), user=user, ended_at__isnull=True).update(
        ended_at=now or timezone.now(), end=UserSession.End.SIGNED_OUT, ended_by=user
    )


def user_sessions_close_lapsed(*, user, now=None):
    """Rows whose session is gone without a sign-out (idle past SESSION_COOKIE_AGE, or deleted by
    clearsessions) end as expired, at the idle timeout after they were last seen."""
    now = now or timezone.now()
    open_keys = [row.session_key for row in selectors.open_sessions(user=user, now=now)]
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    return (
        UserSession.objects.filter(user=user, ended_at__isnull=True)
        .exclude(session_key__in=open_keys)
        .update(ended_at=Least(F("last_seen_at") + idle, Value(now)), end=UserSession.End.EXPIRED)
    )


def user_session_revoke(*, actor, row, by, now=None):
    """End one session now: deleted from Django's session store, so the next request with its cookie
    is anonymous, and the row marked revoked. `by` says from where ("owner" from my sessions, "admin"
    from the users page), for the audit trail, which names the row and never the session key."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = UserSession.objects.filter(pk=row.pk, ended_at__isnull=True).update(
            ended_at=now, end=UserSession.End.REVOKED, ended_by=actor
        )
        if not changed:
            return False
        import_module(settings.SESSION_ENGINE).SessionStore().delete(row.session_key)
        audit_record(
            actor=actor,
            action=AuditAction.SESSION_REVOKED,
            target=("usersession", row.pk),
            data={"session": row.pk, "user_id": row.user_id, "username": row.user.get_username(), "by": by},
        )
    return True


def user_sessions_revoke(*, actor, user, by, keep_key="", now=None):
    """End every open session of `user` but the one whose key is `keep_key` (the caller's own, when
    they revoke their other sessions or an admin revokes their own). Returns how many ended."""
    now = now or timezone.now()
    user_sessions_close_lapsed(user=user, now=now)
    rows = [row for row in selectors.open_sessions(user=user, now=now) if row.session_key != keep_key]
    return sum(user_session_revoke(actor=actor, row=row, by=by, now=now) for row in rows)


# ------------------------------------------------------------------ local sign-in and break-glass

# A break-glass sign-in stays on the admins' home page until an admin acknowledges it, or this long.
BREAK_GLASS_FLAG_DAYS = 7


def local_sign_in_allowed(username):
    """Whether the password form may sign `username` in: always while LOCAL_SIGN_IN is on; when it is
    off, only the break-glass accounts, kept for when the provider cannot be reached."""
    return settings.LOCAL_SIGN_IN or username in settings.BREAK_GLASS_USERS


def local_sign_in_refuse(*, username):
    """Audit a password sign-in refused because local sign-in is off; returns what the user is told."""
    username = str(username)[:150]
    audit_record(
        actor=AnonymousUser(),
        action=AuditAction.LOCAL_SIGN_IN_REFUSED,
        target=("user", username),
        outcome=AuditOutcome.DENIED,
        data={"username": username},
    )
    return f"Sign-in with a password is switched off here: sign in with {settings.OIDC_PROVIDER_NAME}."


def break_glass_sign_in_record(*, user, session_id):
    """A break-glass account signed in with its password: audited apart from the sign-in itself, so the
    admins' home page can flag it."""
    if user.get_username() not in settings.BREAK_GLASS_USERS:
        return None
    return audit_record(
        actor=user,
        action=AuditAction.BREAK_GLASS_SIGN_IN,
        target=("user", user.pk),
        data={"username": user.get_username(), "session": session_id, "local_sign_in": settings.LOCAL_SIGN_IN},
    )


def break_glass_sign_ins_open(*, now=None):
    """The break-glass sign-ins of the last BREAK_GLASS_FLAG_DAYS no admin has acknowledged, newest
    first: what the admins' home page flags."""
    now = now or timezone.now()
    since = now - timedelta(days=BREAK_GLASS_FLAG_DAYS)
    acknowledged = AuditEvent.objects.filter(
        action=AuditAction.BREAK_GLASS_SIGN_IN_ACKNOWLEDGED, created_at__gte=since, target_type="auditevent"
    ).values_list("target_id", flat=True)
    return list(
        AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS_SIGN_IN, created_at__gte=since)
        .exclude(seq__in=[int(seq) for seq in acknowledged if seq.isdigit()])
        .order_by("-seq")
    )


def break_glass_sign_in_acknowledge(*, actor, seq):
    """An admin has seen a break-glass sign-in: it leaves the home page. False for no such sign-in."""
    event = AuditEvent.objects.filter(action=AuditAction.BREAK_GLASS_SIGN_IN, seq=seq).first()
    if event is None:
        return False
    audit_record(
        actor=actor,
        action=AuditAction.BREAK_GLASS_SIGN_IN_ACKNOWLEDGED,
        target=("auditevent", event.seq),
        data={"username": event.actor_label, "signed_in_at": event.created_at.isoformat()},
    )
    return True
