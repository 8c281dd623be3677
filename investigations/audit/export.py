"""Streaming exports of the audit trail, as CSV or JSON Lines, in constant memory at any size.

An export is a snapshot: it is recorded in the chain first (so the export is itself audited
before a byte leaves), the chain head is read right after (so the head is that very export
event), and only events up to that head are streamed, oldest first, through a server-side cursor.
The first line records the filter and the head, so whoever holds the file can tell what it claims
to contain and check it against the chain later; every row carries its prev_hash and hash, so the
rows can be re-hashed offline.

Values are written exactly as stored, never altered: the acceptance is an exact round trip of
reasons and payloads. So the CSV is for tools (csv readers, SIEM importers), not spreadsheets:
a reason beginning with "=" stays "=..." and a spreadsheet would treat it as a formula. The page
says so next to the export button.
"""

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from investigations.audit.chain import audit_chain_head
from investigations.audit.selectors import audit_events_matching
from investigations.audit.services import audit_record
from investigations.models import CHAIN_FIELDS, AuditAction

FORMATS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl")}
COLUMNS = (*CHAIN_FIELDS, "hash")
CSV_MARKER = "# mimecast-portal audit export"
# Rows fetched from the cursor at a time. Each row in flight holds about 4 KB once fetched and
# decoded, so this sets the export's own memory: some 2 MB at 500, 8 MB at 2000, at the
# same rows per second (one round trip per 500 rows costs nothing next to encoding them).
_CHUNK = 500
_FLUSH_BYTES = 64 * 1024


@dataclass
class AuditExport:
    fmt: str
    content_type: str
    filename: str
    header: dict
    chunks: object  # an iterator of str, consumed by the response as it is sent


def _event_doc(values):
    doc = dict(zip(COLUMNS, values, strict=True))
    doc["created_at"] = doc["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return doc


def _canonical_json(data):
    # Keys sorted, no spaces: one exact, stable spelling of the payload in a CSV cell.
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Line:
    """csv.writer wants a file; this one hands back what was written instead of keeping it."""

    def write(self, text):
        return text


def _csv_lines(header, rows):
    writer = csv.writer(_Line(), lineterminator="\r\n")
    yield writer.writerow([CSV_MARKER, json.dumps(header, sort_keys=True)])
    yield writer.writerow(COLUMNS)
    for values in rows:
        doc = _event_doc(values)
        doc["data"] = _canonical_json(doc["data"])
        yield writer.writerow([doc[name] for name in COLUMNS])


def _jsonl_lines(header, rows):
    # ensure_ascii: U+2028 and friends are line breaks to some readers; escaped, every event is
    # exactly one physical line, and json.loads gives back the identical string.
    yield json.dumps({"export": header}, sort_keys=True) + "\n"
    for values in rows:
        yield json.dumps(_event_doc(values), sort_keys=True) + "\n"


def _chunks(lines):
    # Lines joined into chunks of about _FLUSH_BYTES: a few large writes to the socket, not one a row.
    buffer, size = [], 0
    for line in lines:
        buffer.append(line)
        size += len(line)
        if size >= _FLUSH_BYTES:
            yield "".join(buffer)
            buffer, size = [], 0
    yield "".join(buffer)


def audit_export_start(*, user, fmt, criteria, described_filter):
    """Record the export, then return the stream of it. The caller sends `chunks` as the body."""
    content_type, extension = FORMATS[fmt]
    with transaction.atomic():
        event = audit_record(
            actor=user,
            action=AuditAction.AUDIT_EXPORTED,
            target=("audit", "export"),
            data={"format": fmt, "filter": described_filter},
        )
        head_seq, head_hash = audit_chain_head()
    header = {
        "filter": described_filter,
        # The time range was typed in the user's zone; the zone makes it unambiguous later.
        "time_zone": timezone.get_current_timezone_name(),
        "head": {"seq": head_seq, "hash": head_hash},
        "export_event_seq": event.seq,
        "exported_at": event.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "exported_by": user.get_username(),
        "format": fmt,
        "columns": list(COLUMNS),
        "note": "Values are exactly as recorded (nothing escaped or altered): read this file with tools, "
        "not a spreadsheet, which may run a value beginning with = as a formula.",
    }
    rows = (
        audit_events_matching(criteria=criteria)
        .filter(seq__lte=head_seq)
        .order_by("seq")
        .values_list(*COLUMNS)
        # A server-side cursor on PostgreSQL: only one chunk of rows is in memory at a time.
        .iterator(chunk_size=_CHUNK)
    )
    chunks = _chunks(_csv_lines(header, rows) if fmt == "csv" else _jsonl_lines(header, rows))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return AuditExport(
        fmt=fmt,
        content_type=content_type,
        filename=f"audit-{stamp}-head{head_seq}.{extension}",
        header=header,
        chunks=chunks,
    )
