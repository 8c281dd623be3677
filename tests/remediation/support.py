"""Helpers shared by the remediation tests."""

from datetime import timedelta

from django.utils import timezone

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


def stale_login(user, minutes=11):
    type(user).objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(minutes=minutes))
