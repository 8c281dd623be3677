"""What an entity is: the kinds an entity page exists for, and the one rule that decides whether a
value is one of them (the tag, the URL and the page all ask here, so a link is never built to a page
that would refuse it)."""

import json
from datetime import timedelta
from urllib.parse import quote

from django.db.models import Q
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from investigations.core import validators
from investigations.models import AuditEvent

ENTITY_KINDS = ("sender", "recipient", "domain", "ip", "url", "hash")
KIND_LABELS = {
    "sender": "Sender",
    "recipient": "Recipient",
    "domain": "Domain",
    "ip": "IP address",
    "url": "URL",
    "hash": "File hash",
}


def clean_entity(kind, value):
    """The value in the form its page is keyed by (addresses, domains and hashes lower case), or
    None when ``kind`` is unknown or ``value`` is not one of that kind."""
    if kind not in ENTITY_KINDS or not isinstance(value, str):
        return None
    value = value.strip()
    if not value or validators.has_control_characters(value):
        return None
    if kind in ("sender", "recipient"):
        value = value.lower()
        return value if validators.is_email(value) else None
    if kind == "domain":
        value = value.lower().rstrip(".")
        return value if validators.is_domain(value) else None
    if kind == "ip":
        return value if validators.is_ip(value) else None
    if kind == "url":
        return value if validators.is_url(value) else None
    value = value.lower()
    return value if validators.hash_kind(value) else None


# The entity page's address up to its value, per kind: one reverse() per kind, not one per link (a
# results page links hundreds of values). Keyed by the script prefix and URLconf reverse() reads.
_ENTITY_BASES = {}


def entity_url_maker():
    """``entity_url`` for the many values of one page: the script prefix and URLconf read once."""
    where = (get_script_prefix(), get_urlconf())

    def url(kind, value):
        cleaned = clean_entity(kind, value)
        if cleaned is None:
            return ""
        base = _ENTITY_BASES.get((where, kind))
        if base is None:
            base = reverse("entity", kwargs={"kind": kind, "value": "-"})[: -len("-/")]
            _ENTITY_BASES[(where, kind)] = base
        return f"{base}{quote(cleaned, safe='@')}/"

    return url


def entity_url(kind, value):
    """The entity page of ``value``, or "" when it is not a valid value of ``kind``. The value is
    quoted whole (slashes too), so a URL's "//", "?" and "#" survive the trip as one path segment."""
    return entity_url_maker()(kind, value)


# The history shown on an entity page is bounded: the most recent HISTORY_LIMIT events of the
# actions below, from the last HISTORY_DAYS days, whose data holds the value as a JSON string. The
# text match cannot use an index, so the time bound keeps the scan to recent rows.
HISTORY_LIMIT = 200
HISTORY_DAYS = 90
HISTORY_PREFIXES = ("search.", "message.", "attachment.", "remediation.", "entity.", "case.evidence")


def entity_history(kind, value):
    """Recent audit events whose data mentions ``value`` (newest first)."""
    needle = json.dumps(value, ensure_ascii=False)
    actions = Q()
    for prefix in HISTORY_PREFIXES:
        actions |= Q(action__startswith=prefix)
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    events = AuditEvent.objects.filter(actions, created_at__gte=since, data__icontains=needle).order_by("-seq")
    return list(events[:HISTORY_LIMIT])
