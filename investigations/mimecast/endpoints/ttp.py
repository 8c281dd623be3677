"""Targeted Threat Protection: URL, attachment and impersonation logs, managed URLs, URL decoding."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from investigations.mimecast.envelope import DEFAULT_PAGE_SIZE, Paged, put, put_window
from investigations.mimecast.errors import MimecastApiError
from investigations.mimecast.types import (
    AttachmentLog,
    DecodedUrl,
    ImpersonationLog,
    ManagedUrl,
    Page,
    UrlClickLog,
)

URL_LOGS = Paged("/api/ttp/url/get-logs", UrlClickLog, key="clickLogs")
ATTACHMENT_LOGS = Paged("/api/ttp/attachment/get-logs", AttachmentLog, key="attachmentLogs")
IMPERSONATION_LOGS = Paged("/api/ttp/impersonation/get-logs", ImpersonationLog, key="impersonationLogs")
MANAGED_URLS = Paged("/api/ttp/url/get-all-managed-urls", ManagedUrl)


def _log_item(item: dict[str, Any], start, end, oldest_first: bool) -> dict[str, Any]:
    """The three TTP logs page alike: a from/to window, oldest or newest first."""
    item["oldestFirst"] = bool(oldest_first)
    put_window(item, start, end, keys=("from", "to"))
    return item


class Ttp:
    def decode_url(self, url: str) -> DecodedUrl:
        path = "/api/ttp/url/decode-url"
        first = self._first(path, {"url": url})
        decoded = first.get("url")
        if not isinstance(decoded, str) or not decoded:
            raise MimecastApiError("Mimecast could not decode this URL.", code="decode_failed", endpoint=path)
        return DecodedUrl(original_url=url, url=decoded, success=first.get("success") is not False, raw=first)

    def get_url_logs(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        route: str = "all",
        scan_result: str = "all",
        oldest_first: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[UrlClickLog]:
        item = _log_item({"route": route, "scanResult": scan_result}, start, end, oldest_first)
        return self._page(URL_LOGS, item, page_size, page_token)

    def get_attachment_logs(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        route: str = "all",
        result: str = "all",
        oldest_first: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[AttachmentLog]:
        item = _log_item({"route": route, "result": result}, start, end, oldest_first)
        return self._page(ATTACHMENT_LOGS, item, page_size, page_token)

    def get_impersonation_logs(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        tagged_malicious: bool | None = None,
        search_field: str | None = None,
        query: str | None = None,
        identifiers: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        oldest_first: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[ImpersonationLog]:
        item: dict[str, Any] = {}
        put(item, "taggedMalicious", tagged_malicious)
        if query:
            item["searchField"] = search_field or "all"
            item["query"] = query
        if identifiers:
            item["identifiers"] = list(identifiers)
        if actions:
            item["actions"] = list(actions)
        item = _log_item(item, start, end, oldest_first)
        return self._page(IMPERSONATION_LOGS, item, page_size, page_token)

    def get_managed_urls(
        self,
        *,
        domain_or_url: str | None = None,
        exact_match: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[ManagedUrl]:
        item: dict[str, Any] | None = None
        if domain_or_url:
            item = {"domainOrUrl": domain_or_url}
            put(item, "exactMatch", exact_match)
        return self._page(MANAGED_URLS, item, page_size, page_token)
