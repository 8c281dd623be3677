"""Integration tokens: each one a service identity for a SOAR or SIEM playbook.

A token is shown once, when it is created; only its SHA-256 is stored. Its identity is a User with
is_integration set and an unusable password: it cannot sign in to the browser, and core.roles grants
it only what its scopes name, never a decision.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.models import AuditAction, IntegrationToken, User

TOKEN_PREFIX = "mip_"  # noqa: S105 (a marker that makes leaked tokens easy to scan for, not a secret)
# What pages show of a token: enough to tell tokens apart, far too little to guess the rest.
SHOWN_CHARS = 12
# A presented secret longer than this is refused before it is hashed or looked up.
_LONGEST_SECRET = 200
# last_used_at is written at most this often per token, so that a busy token's reads stay reads.
LAST_USED_EVERY = timedelta(minutes=1)


def token_digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_audit_data(token):
    # Never the secret nor its hash: the name, what it may do and until when.
    return {
        "name": token.name,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "rate_limit_per_minute": token.rate_limit_per_minute,
    }


def token_create(*, actor, name, scopes, expires_at=None, rate_limit_per_minute=None, now=None):
    """A new token and its service identity; returns (token, secret). The secret is never stored."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(IntegrationToken.Scope.values)
    if not scopes or unknown:
        raise ValueError(f"a token needs at least one known scope (unknown: {sorted(unknown)})")
    now = now or timezone.now()
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        service_user = User(username=f"integration:{name}"[:150], is_integration=True)
        service_user.set_unusable_password()
        service_user.save()
        token = IntegrationToken.objects.create(
            name=name,
            prefix=secret[:SHOWN_CHARS],
            token_hash=token_digest(secret),
            scopes=scopes,
            service_user=service_user,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
            **({"rate_limit_per_minute": rate_limit_per_minute} if rate_limit_per_minute else {}),
        )
        audit_record(
            actor=actor, action=AuditAction.INTEGRATION_TOKEN_CREATED, target=token, data=_token_audit_data(token)
        )
    return token, secret


def token_revoke(*, actor, token, now=None):
    """Revoke a token for good: its next call is refused. Its service identity is deactivated too,
    so nothing that reads the user alone (a session, user_can) treats it as live. Returns False when
    it was already revoked."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = IntegrationToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        )
        if not changed:
            return False
        User.objects.filter(pk=token.service_user_id).update(is_active=False)
        token.refresh_from_db()
        audit_record(
            actor=actor, action=AuditAction.INTEGRATION_TOKEN_REVOKED, target=token, data=_token_audit_data(token)
        )
    return True


@dataclass(frozen=True)
class TokenCheck:
    """What a presented secret names: the live token, or why there is none (``refusal``)."""

    token: IntegrationToken | None
    refusal: str = ""  # "malformed", "unknown", "revoked", "expired" or "" for a live token

    @property
    def prefix(self):
        return self.token.prefix if self.token else ""


def token_check(secret, *, now=None):
    """Look a presented secret up, every call (validity is never cached: a token revoked a moment
    ago is refused on its next call)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > _LONGEST_SECRET or not secret.isascii():
        return TokenCheck(None, "malformed")
    token = IntegrationToken.objects.select_related("service_user").filter(token_hash=token_digest(secret)).first()
    now = now or timezone.now()
    if token is None:
        return TokenCheck(None, "unknown")
    if token.revoked_at is not None or not token.service_user.is_active:
        return TokenCheck(token, "revoked")
    if token.expires_at and token.expires_at <= now:
        return TokenCheck(token, "expired")
    return TokenCheck(token)


def token_for_secret(secret, *, now=None):
    """The live token a presented secret names, or None (unknown, revoked or expired)."""
    check = token_check(secret, now=now)
    return None if check.refusal else check.token


def token_mark_used(*, token, ip, now=None):
    """Note the token's last use and where from, at most once a minute (LAST_USED_EVERY)."""
    now = now or timezone.now()
    stale = now - LAST_USED_EVERY
    if token.last_used_at and token.last_used_at > stale:
        return False
    # Conditional, so that concurrent calls of one token write once between them.
    written = (
        IntegrationToken.objects.filter(pk=token.pk)
        .exclude(last_used_at__gt=stale)
        .update(last_used_at=now, last_used_ip=ip[:45])
    )
    if written:
        token.last_used_at, token.last_used_ip = now, ip[:45]
    return bool(written)
