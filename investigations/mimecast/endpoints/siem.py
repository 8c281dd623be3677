"""SIEM (API 2.0 Cloud Gateway batch): pages of file links, each file downloaded and parsed."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from investigations.mimecast.envelope import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from investigations.mimecast.errors import MimecastBadResponse, MimecastConfigError, MimecastInvalidRequest
from investigations.mimecast.types import SiemBatchPage, SiemFile, parse_datetime
from investigations.mimecast.urls import validate_download_url

BATCH_PATH = "/siem/v1/batch/events/cg"
SIEM_EVENT_TYPES = (
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
    # Web security (SWG) events: not in Mimecast's public API reference (unverified), served by the simulator.
    "web security",
)
# The types above are the documented ones; others (a tenant's web security type) are passed through when
# they look like a type name, and Mimecast says whether it knows them.
_TYPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,63}")


def _checked_types(event_types: Iterable[str]) -> list[str]:
    types = [t.strip() for t in event_types if t and t.strip()]
    if not types or not all(_TYPE_NAME.fullmatch(t) for t in types):
        raise MimecastInvalidRequest(
            "SIEM event types are names of letters, digits, spaces, - and _ (known: "
            + ", ".join(SIEM_EVENT_TYPES)
            + ")."
        )
    return types


def _date_text(value: date | str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _files(body: dict[str, Any]) -> list[SiemFile]:
    files = []
    for entry in body.get("value") or []:
        if isinstance(entry, dict) and isinstance(entry.get("url"), str):
            size = entry.get("size")
            files.append(
                SiemFile(
                    url=entry["url"],
                    size=size if isinstance(size, int) else None,
                    expiry=parse_datetime(entry.get("expiry")),
                )
            )
    return files


def _parse_ndjson(content: bytes, path: str) -> list[dict[str, Any]]:
    if content[:2] == b"\x1f\x8b":
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError):
            raise MimecastBadResponse("A Mimecast SIEM file is damaged (bad gzip).", endpoint=path) from None
    events = []
    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            raise MimecastBadResponse(
                f"A Mimecast SIEM file has an unreadable line ({number}).", endpoint=path
            ) from None
        if isinstance(event, dict):
            events.append(event)
    return events


class Siem:
    def _siem_get(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.config.api_version != 2:
            raise MimecastConfigError("SIEM batch events need API 2.0 credentials.")
        body = self._request("GET", BATCH_PATH, params=params).body
        if not isinstance(body, dict):
            raise MimecastBadResponse("Mimecast's SIEM answer has an unexpected shape.", endpoint=BATCH_PATH)
        return body

    def get_siem_batch(
        self,
        *,
        event_types: Iterable[str],
        start_date: date | str,
        end_date: date | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        next_page: str | None = None,
    ) -> SiemBatchPage:
        """API 2.0 Cloud Gateway batch: one page of file links, each downloaded and parsed."""
        params: dict[str, Any] = {
            "type": ",".join(_checked_types(event_types)),
            "pageSize": max(1, min(int(page_size), MAX_PAGE_SIZE)),
            "dateRangeStartsAt": _date_text(start_date),
        }
        if end_date:
            params["dateRangeEndsAt"] = _date_text(end_date)
        if next_page:
            params["nextPage"] = next_page
        body = self._siem_get(params)
        files = _files(body)
        events: list[dict[str, Any]] = []
        for siem_file in files:
            link = validate_download_url(siem_file.url, self.config.allowed_hosts)
            content = self._request("GET", BATCH_PATH, url=link, auth="none", binary=True).content
            events.extend(_parse_ndjson(content, BATCH_PATH))
        token = body.get("@nextPage")
        return SiemBatchPage(
            events=events,
            files=files,
            next_page=token if isinstance(token, str) and token else None,
            is_caught_up=body.get("isCaughtUp") is True,
            raw=body,
        )

    def check_siem_batch(self, *, event_types: Iterable[str]) -> None:
        """Ask the batch stream for one page of today's file links and download nothing: raises what
        Mimecast answers (a refused event type, a missing permission), for "test connection"."""
        params = {
            "type": ",".join(_checked_types(event_types)),
            "pageSize": 1,
            "dateRangeStartsAt": _date_text(datetime.now(UTC).date()),
        }
        self._siem_get(params)

    def iter_siem_batches(
        self, *, event_types: Iterable[str], next_page: str | None = None, max_pages: int | None = None, **criteria
    ) -> Iterator[SiemBatchPage]:
        """Yield batch pages (``criteria``: the dates and page size ``get_siem_batch`` takes) until Mimecast
        says it is caught up or gives no next page.

        Keep the last page's ``next_page`` to resume later."""
        types = list(event_types)  # read again for every page
        token = next_page
        seen: set[str] = set()
        count = 0
        while True:
            page = self.get_siem_batch(event_types=types, next_page=token, **criteria)
            count += 1
            yield page
            if page.is_caught_up or not page.next_page or page.next_page in seen:
                return
            if max_pages is not None and count >= max_pages:
                return
            seen.add(page.next_page)
            token = page.next_page
