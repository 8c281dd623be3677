"""Web security (SWG) events: ingested from Mimecast's SIEM batch stream into a local table.

A periodic task calls ``web_security_ingest()``. Each run re-reads from the day before the newest
stored event (or WEB_SECURITY_BACKFILL_DAYS back when the table is empty) to today: Mimecast's
batch files are per day, so the current day's file grows during the day and must be read again.
Rows are upserted by event id, which makes re-reading harmless and the task idempotent.

The stream is asked for the event types in WEB_SECURITY_EVENT_TYPES (no public reference names the
web security type). Each run records how it went in ``WebSecurityIngestStatus``: a refused type or
a failed call shows on the page with its time instead of only in the worker's log.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from investigations.connection.services import mimecast_client
from investigations.core.csv import csv_export
from investigations.mimecast import MimecastError
from investigations.mimecast.errors import MimecastApiError, MimecastAuthError
from investigations.mimecast.types import parse_datetime
from investigations.models import AuditAction, WebSecurityEvent, WebSecurityIngestStatus
from investigations.tools.selectors import web_security_events, web_security_events_all
from investigations.tools.services import audit_export, audit_search

logger = logging.getLogger("investigations.web_security")

DEFAULT_EVENT_TYPES = ("web security",)
DEFAULT_BACKFILL_DAYS = 14
MAX_PAGES_PER_RUN = 200
_BATCH = 500
# An arbitrary constant: the PostgreSQL advisory lock that keeps two ingestion runs from overlapping.
_INGEST_LOCK_ID = 0x4D43_5753  # "MCWS"
_UPDATE_FIELDS = [
    "occurred_at",
    "user",
    "domain",
    "url",
    "category",
    "action",
    "subtype",
    "policy",
    "local_ip",
    "public_ip",
    "resolved_ip",
    "raw",
    "ingested_at",
]


@dataclass
class IngestResult:
    events: int = 0
    stored: int = 0
    skipped: int = 0
    pages: int = 0
    error: str = ""


def _text(value, limit):
    if value is None:
        return ""
    return str(value)[:limit]


def _occurred_at(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            # Mimecast's SIEM events carry epoch milliseconds.
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_datetime(value)


def event_id(event: dict) -> str:
    """Mimecast's id when the event has one; else a digest of the whole event, which is stable
    because the batch files serve the same event with the same content every time."""
    for key in ("id", "eventId", "_id"):
        value = event.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)[:128]
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_types() -> list[str]:
    return list(getattr(settings, "WEB_SECURITY_EVENT_TYPES", DEFAULT_EVENT_TYPES))


def event_row(event: dict, types=None) -> WebSecurityEvent | None:
    wanted = {t.lower() for t in (types or event_types())}
    if not isinstance(event, dict) or str(event.get("type", next(iter(wanted)))).lower() not in wanted:
        return None
    occurred = _occurred_at(event.get("timestamp") or event.get("eventTime") or event.get("datetime"))
    if occurred is None:
        return None
    url = _text(event.get("url"), 8192)
    domain = _text(event.get("domain") or event.get("host"), 255).lower()
    return WebSecurityEvent(
        event_id=event_id(event),
        occurred_at=occurred,
        user=_text(event.get("user") or event.get("emailAddress"), 320).lower(),
        domain=domain,
        url=url,
        category=_text(event.get("category"), 128),
        action=_text(event.get("action"), 64).lower(),
        subtype=_text(event.get("subtype"), 64),
        policy=_text(event.get("policy"), 255),
        local_ip=_text(event.get("localIp"), 45),
        public_ip=_text(event.get("publicIp"), 45),
        resolved_ip=_text(event.get("resolvedIp"), 45),
        raw=event,
        ingested_at=timezone.now(),
    )


def web_security_store(events) -> tuple[int, int]:
    """Upsert events by id. Returns (stored, skipped)."""
    rows, skipped, types = {}, 0, event_types()
    for event in events:
        row = event_row(event, types)
        if row is None:
            skipped += 1
            continue
        rows[row.event_id] = row  # the same event twice in one batch: keep one
    values = list(rows.values())
    with transaction.atomic():
        for offset in range(0, len(values), _BATCH):
            WebSecurityEvent.objects.bulk_create(
                values[offset : offset + _BATCH],
                update_conflicts=True,
                unique_fields=["event_id"],
                update_fields=_UPDATE_FIELDS,
            )
    return len(values), skipped


def _start_date(today):
    backfill = getattr(settings, "WEB_SECURITY_BACKFILL_DAYS", DEFAULT_BACKFILL_DAYS)
    newest = WebSecurityEvent.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    earliest = today - timedelta(days=backfill)
    if newest is None:
        return earliest
    return max(earliest, newest.astimezone(UTC).date() - timedelta(days=1))


def _try_lock():
    if connection.vendor != "postgresql":
        return True  # the demo's SQLite runs one worker
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_INGEST_LOCK_ID])
        return cursor.fetchone()[0]


def _unlock():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_INGEST_LOCK_ID])


def web_security_ingest(*, max_pages: int = MAX_PAGES_PER_RUN) -> IngestResult:
    """Read the web security batch pages from Mimecast and upsert their events. A Mimecast failure
    is returned as ``error`` (the next run starts over from the same day), never raised. A run that
    finds another still going does nothing: the upsert is idempotent, but two runs would only
    fetch the same files twice."""
    if not _try_lock():
        return IngestResult(error="Another web security ingestion is still running.")
    try:
        types = event_types()
        result, error = _ingest(max_pages, types)
        _record_run(types, error)
        return result
    finally:
        _unlock()


def _ingest(max_pages, types):
    result, failure = IngestResult(), None
    today = timezone.now().astimezone(UTC).date()
    start = _start_date(today)
    try:
        client = mimecast_client()
        for page in client.iter_siem_batches(event_types=types, start_date=start, end_date=today, max_pages=max_pages):
            result.pages += 1
            result.events += len(page.events)
            stored, skipped = web_security_store(page.events)
            result.stored += stored
            result.skipped += skipped
    except MimecastError as error:
        result.error, failure = error.message, error
        logger.warning("web security ingestion stopped: %s (code %s)", error.message, error.code)
    return result, failure


def _record_run(types, error: MimecastError | None):
    """Keep how this run went for the page: when, which types, and the error that stopped it."""
    now = timezone.now()
    values = {"last_run_at": now, "event_types": types}
    if error is None:
        values |= {"last_success_at": now, "error": "", "error_code": "", "error_at": None, "refused": False}
    else:
        values |= {
            "error": error.message,
            "error_code": (error.code or "")[:128],
            "error_at": now,
            # Mimecast answered and said no (an unknown type, a missing permission): retrying will not help.
            "refused": isinstance(error, MimecastApiError | MimecastAuthError),
        }
    WebSecurityIngestStatus.objects.update_or_create(pk=1, defaults=values)


# ------------------------------------------------------------------------------ search, export

WEB_COLUMNS = ["Time (UTC)", "User", "Action", "Category", "Domain", "URL", "Type", "Policy", "Local IP", "Resolved IP"]
_FILTERS = ("user", "site", "category", "action", "start", "end")


def _filters(criteria):
    return {name: criteria.get(name) for name in _FILTERS}


def web_security_search(*, actor, criteria, after=""):
    """One page of matching events; the first page of a search is audited."""
    events, cursor = web_security_events(after=after, **_filters(criteria))
    if not after:
        audit_search(actor, AuditAction.SEARCH_WEB_SECURITY, ("local", "web-security"), criteria, len(events))
    return events, cursor


def web_security_export(*, actor, criteria):
    """Every matching event as a streaming CSV, read from the database in chunks."""
    audit_export(actor, ("local", "web-security"), "web-security", criteria)
    rows = (
        [e.occurred_at, e.user, e.action, e.category, e.domain, e.url, e.subtype, e.policy, e.local_ip, e.resolved_ip]
        for e in web_security_events_all(**_filters(criteria))
    )
    return csv_export("web-security", WEB_COLUMNS, rows)
