"""Integration tokens: each one a service identity for a SOAR or SIEM playbook.

A token is shown once, when it is created; only its SHA-256 is stored. Its identity is a User with
is_integration set and an unusable password: it cannot sign in to the browser, and core.roles grants
it only what its scopes name, never a decision.
"""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from investigations.models import IntegrationToken, User

TOKEN_PREFIX = "mip_"  # noqa: S105 (a marker that makes leaked tokens easy to scan for, not a secret)
# What pages show of a token: enough to tell tokens apart, far too little to guess the rest.
SHOWN_CHARS = 12


def token_digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, actor, name, scopes, expires_at=None, rate_limit_per_minute=None, now=None):
    """A new token and its service identity; returns (token, secret). The secret is never stored."""
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
            scopes=sorted(set(scopes)),
            service_user=service_user,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
            **({"rate_limit_per_minute": rate_limit_per_minute} if rate_limit_per_minute else {}),
        )
    return token, secret


def token_for_secret(secret, *, now=None):
    """The live token a presented secret names, or None (unknown, revoked or expired)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = IntegrationToken.objects.select_related("service_user").filter(token_hash=token_digest(secret)).first()
    now = now or timezone.now()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        return None
    if not token.service_user.is_active:
        return None
    return token
