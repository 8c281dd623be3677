"""Helpers shared by the remediation tests."""

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.utils import timezone

from investigations.accounts.services import FRESH_AUTH_SESSION_KEY
from investigations.models import RemediationRequest
from investigations.remediation import services

MACRO_REASON = "Macro-laden invoice seen in finance; pull every copy"


def macro_values(simulator, **overrides):
    values = {
        "kind": RemediationRequest.Kind.REMEDIATE,
        "search_by": RemediationRequest.SearchBy.FILE_HASH,
        "search_value": simulator.state.story["macro_sha256"],
        "reason": MACRO_REASON,
    }
    values.update(overrides)
    return values


def hash_values(**overrides):
    values = {
        "kind": RemediationRequest.Kind.REMEDIATE,
        "search_by": RemediationRequest.SearchBy.FILE_HASH,
        "search_value": "a" * 64,
        "reason": "A test request with a long enough reason",
    }
    values.update(overrides)
    return values


def pending_request(requester, *, values=None, now=None):
    """A request submitted for approval without calling Mimecast (the preview is stubbed)."""
    now = now or timezone.now()
    req = services.remediation_request_create(actor=requester, values=values or hash_values(), now=now)
    RemediationRequest.objects.filter(pk=req.pk).update(preview={"messages": [], "errors": []}, previewed_at=now)
    return services.remediation_request_submit(actor=requester, request_id=req.pk, now=now)


def stale_session(session_key, minutes=11):
    """Age the proof of who is signed in that this session holds (its sign-in, as the server keeps it)."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    session[FRESH_AUTH_SESSION_KEY] = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    session.save()


def stale_client(client, minutes=11):
    """stale_session for a Django test client's session."""
    stale_session(client.session.session_key, minutes=minutes)


def browser_session_key(context):
    """The session key a Playwright browser context holds."""
    return next(c["value"] for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
