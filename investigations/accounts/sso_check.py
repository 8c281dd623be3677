"""The periodic check of a single sign-on session: every OIDC_SESSION_CHECK_SECONDS the provider is asked
again, with the session's refresh token, who the user is now. Their groups give their roles again (a
group removed at the provider removes its role here); a refused refresh, a user gone or disabled, or no
role left ends the session. Whatever the answers, a session ends OIDC_SESSION_MAX_SECONDS after its
sign-in. Between checks a request reads two timestamps kept in the session and nothing else.

The check fails closed: a provider that cannot be reached ends the session too (the break-glass
accounts are there for an outage), since nothing could say the user still holds their groups."""

import logging
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from investigations.accounts.services import SESSION_ROW_KEY
from investigations.accounts.sso import (
    SESSION_CHECKED_AT,
    SESSION_REFRESH_TOKEN,
    SESSION_SIGNED_IN_AT,
    SESSION_SUB,
    SsoBackend,
    SsoRefused,
    sso_apply_roles,
    sso_groups,
    sso_roles_from_claims,
    sso_verify_id_token,
)
from investigations.audit.services import audit_record
from investigations.models import AuditAction, AuditOutcome, UserSession

logger = logging.getLogger(__name__)

SOURCE = "sso-session-check"


class SessionEnded(Exception):
    """The session may not go on; `reason` is the audit event's short code, the str what the user reads."""

    def __init__(self, message, *, reason):
        super().__init__(message)
        self.reason = reason


def _ended(reason, detail):
    return SessionEnded(f"Your single sign-on session ended: {detail} Sign in again.", reason=reason)


def _current_claims(session):
    """Who the provider says the session's user is now: a refresh grant, its new ID token verified (no
    nonce: the refresh grant carries none), and the userinfo answer on top when the provider has one."""
    refresh_token = session.get(SESSION_REFRESH_TOKEN)
    if not isinstance(refresh_token, str) or not refresh_token:
        raise _ended("no_refresh_token", "the provider gave no way to check it again.")
    backend = SsoBackend()
    try:
        tokens = backend.get_token(
            {
                "client_id": settings.OIDC_CLIENT_ID,
                "client_secret": settings.OIDC_CLIENT_SECRET,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            }
        )
        id_token = tokens.get("id_token")
        # A provider may answer a refresh without an ID token; userinfo then says who it is.
        claims = sso_verify_id_token(id_token, nonce=None) if id_token else {"sub": session.get(SESSION_SUB)}
        claims = backend.get_userinfo(tokens.get("access_token"), id_token, claims)
    except SsoRefused as refused:
        raise _ended(refused.reason, "the provider no longer vouches for you.") from None
    if claims.get("sub") != session.get(SESSION_SUB):
        raise _ended("other_user", "the provider answered for somebody else.")
    if isinstance(tokens.get("refresh_token"), str) and tokens["refresh_token"]:
        # Providers that rotate refresh tokens invalidate the old one.
        session[SESSION_REFRESH_TOKEN] = tokens["refresh_token"]
    return claims


def sso_session_check(*, session, user, now=None):
    """Check `session` (an SSO session of `user`) when due: roles re-applied, or SessionEnded. Returns
    whether the provider was asked."""
    now = int(now if now is not None else time.time())
    signed_in_at = session.get(SESSION_SIGNED_IN_AT)
    if not isinstance(signed_in_at, int) or now - signed_in_at > settings.OIDC_SESSION_MAX_SECONDS:
        raise _ended("max_lifetime", f"it is more than {settings.OIDC_SESSION_MAX_SECONDS // 3600} h old.")
    checked_at = session.get(SESSION_CHECKED_AT)
    if isinstance(checked_at, int) and now - checked_at < settings.OIDC_SESSION_CHECK_SECONDS:
        return False
    claims = _current_claims(session)
    roles = sso_roles_from_claims(claims)
    sso_apply_roles(user=user, roles=roles, source=SOURCE, groups=sso_groups(claims))
    if not roles:
        raise _ended("no_role", "none of your groups at the provider gives a role here any more.")
    if not user.is_active:
        raise _ended("inactive", "your portal account is disabled.")
    session[SESSION_CHECKED_AT] = now
    return True


def sso_session_end(*, session, user, ended):
    """End the session the check refused: its row ended as expired, the reason audited (never a token)."""
    state = session.get(SESSION_ROW_KEY)
    row_id = state.get("id") if isinstance(state, dict) else None
    with transaction.atomic():
        UserSession.objects.filter(pk=row_id, user=user, ended_at__isnull=True).update(
            ended_at=timezone.now(), end=UserSession.End.EXPIRED
        )
        audit_record(
            actor=user,
            action=AuditAction.SSO_SESSION_ENDED,
            target=("user", user.pk),
            outcome=AuditOutcome.DENIED,
            data={"reason": ended.reason, "session": row_id},
        )
    session.flush()


class SsoSessionCheckMiddleware:
    """After SessionActivityMiddleware (a revoked session is already anonymous here). A session the
    check ends makes this request anonymous, so the page sends the user to sign in again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.session.get(SESSION_SUB):
            try:
                sso_session_check(session=request.session, user=user)
            except SessionEnded as ended:
                logger.info("single sign-on session of user %s ended: %s", user.pk, ended.reason)
                sso_session_end(session=request.session, user=user, ended=ended)
                request.user = AnonymousUser()
                messages.warning(request, str(ended))
        return self.get_response(request)
