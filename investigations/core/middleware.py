import re
import uuid
import zoneinfo

from django.conf import settings
from django.utils import timezone

from investigations.core.context import audit_context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request):
    """REMOTE_ADDR, or the first X-Forwarded-For hop when our own proxy sets it (setting-gated,
    since a client can put anything in that header)."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:45]
    return request.META.get("REMOTE_ADDR", "")[:45]


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
