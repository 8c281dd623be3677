"""CSV exports, streamed: every feature's export writes its rows through ``csv_lines`` and answers
with ``csv_response``."""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone


def cell_text(value) -> str:
    """A value as a table cell or a CSV field shows it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Echo:
    def write(self, value):
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Mail is written by strangers: a subject starting with "=" must not become a spreadsheet
    formula. Such cells get a leading apostrophe (numbers like -5 are left alone)."""
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def csv_lines(header: list[str], rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header)
    buffer = []
    for row in rows:
        buffer.append(writer.writerow([csv_safe(cell_text(v)) for v in row]))
        if len(buffer) >= 200:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


@dataclass
class Export:
    filename: str
    lines: Iterator[str]


def csv_export(slug: str, header: list[str], rows: Iterator[list[Any]]) -> Export:
    """A streaming CSV named after what it holds and when it was made."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Export(filename=f"{slug}-{stamp}.csv", lines=csv_lines(header, rows))


def csv_response(export: Export) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response
