"""Reads of the local web security events table: filtered, newest first, keyset paged."""

from datetime import UTC, datetime, timedelta

from django.db.models import Q

from investigations.models import WebSecurityEvent, WebSecurityIngestStatus

PAGE_SIZE = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _filtered(*, user="", site="", category="", action="", start=None, end=None):
    qs = WebSecurityEvent.objects.all()
    if user:
        qs = qs.filter(user__icontains=user)
    if site:
        qs = qs.filter(Q(domain__icontains=site) | Q(url__icontains=site))
    if category:
        qs = qs.filter(category__icontains=category)
    if action:
        qs = qs.filter(action=action)
    if start:
        qs = qs.filter(occurred_at__gte=start)
    if end:
        qs = qs.filter(occurred_at__lte=end)
    return qs.order_by("-occurred_at", "-id")


def encode_cursor(event) -> str:
    micros = (event.occurred_at - _EPOCH) // _MICRO  # exact; a float timestamp can be 1 µs off
    return f"{micros}:{event.pk}"


def decode_cursor(cursor):
    if not cursor:
        return None
    micros, pk = cursor.split(":", 1)
    return _EPOCH + int(micros) * _MICRO, int(pk)


def web_security_events(*, after="", limit=PAGE_SIZE, **filters):
    """(events, next cursor or "") for one page, newest first."""
    qs = _filtered(**filters)
    position = decode_cursor(after)
    if position:
        when, pk = position
        qs = qs.filter(Q(occurred_at__lt=when) | Q(occurred_at=when, id__lt=pk))
    events = list(qs[: limit + 1])
    more = len(events) > limit
    events = events[:limit]
    return events, (encode_cursor(events[-1]) if more and events else "")


def web_security_events_all(**filters):
    """Every matching event, streamed from the database in chunks (for the CSV export)."""
    return _filtered(**filters).iterator(chunk_size=2000)


def web_security_status():
    newest = WebSecurityEvent.objects.order_by("-ingested_at").values_list("ingested_at", flat=True).first()
    # "ingest": how the last ingestion run went (its error and when), None before the first run.
    ingest = WebSecurityIngestStatus.objects.filter(pk=1).first()
    return {"count": WebSecurityEvent.objects.count(), "last_ingested": newest, "ingest": ingest}
