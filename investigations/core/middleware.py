import ipaddress
import re
import uuid
import zoneinfo

from django.conf import settings
from django.utils import timezone

from investigations.core.context import audit_context

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
