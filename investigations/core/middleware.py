import ipaddress
import re
import uuid
import zoneinfo
from dataclasses import asdict, replace

from django.conf import settings
from django.contrib import messages
from django.utils import timezone

from investigations.core.context import CURRENT_CASE_SESSION_KEY, audit_context, case_reason, current_context
from investigations.core.roles import user_can
from investigations.models import Investigation

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _address(text):
    text = text.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def client_ip(request):
    """REMOTE_ADDR, or, when our own proxies set X-Forwarded-For (setting-gated), the hop
    TRUSTED_PROXY_COUNT places from the right. Each proxy appends the address it saw, so only the
    rightmost hops are ours; anything to their left came from the client, which can write any
    address there. A header with fewer hops than proxies, or a hop that is not an address, falls
    back to REMOTE_ADDR."""
    remote = request.META.get("REMOTE_ADDR", "")[:45]
    if not settings.TRUST_X_FORWARDED_FOR:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded:
        return remote
    hops = forwarded.split(",")
    count = settings.TRUSTED_PROXY_COUNT
    if len(hops) < count:
        return remote
    return _address(hops[-count])[:45] or remote


class RequestContextMiddleware:
    """Gives each request an id (kept from a well-formed X-Request-ID, for tracing through a proxy)
    and makes id, client IP and user agent available to the audit writer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        with audit_context(
            request_id=request.request_id,
            client_ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            system_actor="web",
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class UserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = getattr(request.user, "time_zone", "") if request.user.is_authenticated else ""
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


def _current_case(request):
    """The investigation the session names, when it is still one the user may work in; otherwise the
    session forgets it (a case closed or deleted since, or a user who lost the right to read cases) and
    the user is told why, so nothing they do next is filed under it unawares."""
    if CURRENT_CASE_SESSION_KEY not in request.session:
        return None
    case_id = request.session[CURRENT_CASE_SESSION_KEY]
    user = request.user
    allowed = user.is_authenticated and user_can(user, "read_cases")
    well_formed = isinstance(case_id, int) and not isinstance(case_id, bool)
    case = Investigation.objects.filter(pk=case_id).first() if allowed and well_formed else None
    if case is not None and case.status != Investigation.Status.CLOSED:
        return case
    del request.session[CURRENT_CASE_SESSION_KEY]
    if not user.is_authenticated:
        return None
    if case is not None:
        messages.info(request, f"The investigation “{case.title}” is closed; you are no longer working in it.")
    elif allowed:
        messages.warning(request, "The investigation you were working in no longer exists; you have left it.")
    else:
        messages.warning(request, "You may no longer read investigations; you have left the one you were working in.")
    return None


class CurrentCaseMiddleware:
    """Puts the investigation the user works in on ``request.investigation`` (or None) and its id into
    the audit context, so every event the request causes is filed under the case. It must run after
    the session, authentication and messages middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.investigation = _current_case(request)
        if request.investigation is None:
            return self.get_response(request)
        case = request.investigation
        context = replace(current_context(), case_id=case.pk, case_reason=case_reason(case))
        with audit_context(**asdict(context)):
            return self.get_response(request)
