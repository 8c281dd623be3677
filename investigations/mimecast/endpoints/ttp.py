"""Targeted Threat Protection: URL, attachment and impersonation logs, managed URLs, URL decoding."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Unpack

from investigations.mimecast.envelope import Paged, Paging, first_item, put, put_window
from investigations.mimecast.errors import MimecastApiError, MimecastInvalidRequest
from investigations.mimecast.types import (
    AttachmentLog,
    DecodedUrl,
    ImpersonationLog,
    ManagedUrl,
    Page,
    UrlClickLog,
    parse,
)

URL_LOGS = Paged("/api/ttp/url/get-logs", UrlClickLog, key="clickLogs")
ATTACHMENT_LOGS = Paged("/api/ttp/attachment/get-logs", AttachmentLog, key="attachmentLogs")
IMPERSONATION_LOGS = Paged("/api/ttp/impersonation/get-logs", ImpersonationLog, key="impersonationLogs")
MANAGED_URLS = Paged("/api/ttp/url/get-all-managed-urls", ManagedUrl)
CREATE_MANAGED_URL = "/api/ttp/url/create-managed-url"
DELETE_MANAGED_URL = "/api/ttp/url/delete-managed-url"
MANAGED_URL_ACTIONS = ("block", "permit")
MANAGED_URL_MATCH_TYPES = ("explicit", "domain")


class LogWindow(Paging, total=False):
    """What the three TTP logs take beside their own criteria: a from/to window, oldest or newest first,
    and the page."""

    start: datetime | str | None
    end: datetime | str | None
    oldest_first: bool


def _put_log_window(item: dict[str, Any], window: LogWindow) -> Paging:
    """Put a log's window and order in its request item; what is left is the paging."""
    item["oldestFirst"] = bool(window.pop("oldest_first", False))
    put_window(item, window.pop("start", None), window.pop("end", None), keys=("from", "to"))
    return window


class Ttp:
    def decode_url(self, url: str) -> DecodedUrl:
        path = "/api/ttp/url/decode-url"
        first = self._first(path, {"url": url})
        decoded = first.get("url")
        if not isinstance(decoded, str) or not decoded:
            raise MimecastApiError("Mimecast could not decode this URL.", code="decode_failed", endpoint=path)
        return DecodedUrl(original_url=url, url=decoded, success=first.get("success") is not False, raw=first)

    def get_url_logs(
        self, *, route: str = "all", scan_result: str = "all", **window: Unpack[LogWindow]
    ) -> Page[UrlClickLog]:
        item = {"route": route, "scanResult": scan_result}
        return self._page(URL_LOGS, item, **_put_log_window(item, window))

    def get_attachment_logs(
        self, *, route: str = "all", result: str = "all", **window: Unpack[LogWindow]
    ) -> Page[AttachmentLog]:
        item = {"route": route, "result": result}
        return self._page(ATTACHMENT_LOGS, item, **_put_log_window(item, window))

    def get_impersonation_logs(
        self,
        *,
        tagged_malicious: bool | None = None,
        search_field: str | None = None,
        query: str | None = None,
        identifiers: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        **window: Unpack[LogWindow],
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
        return self._page(IMPERSONATION_LOGS, item, **_put_log_window(item, window))

    def get_managed_urls(
        self,
        *,
        domain_or_url: str | None = None,
        exact_match: bool | None = None,
        **paging: Unpack[Paging],
    ) -> Page[ManagedUrl]:
        item: dict[str, Any] | None = None
        if domain_or_url:
            item = {"domainOrUrl": domain_or_url}
            put(item, "exactMatch", exact_match)
        return self._page(MANAGED_URLS, item, **paging)

    def create_managed_url(
        self,
        *,
        url: str,
        action: str,
        match_type: str = "explicit",
        comment: str = "",
        disable_rewrite: bool = False,
        disable_user_awareness: bool = False,
        disable_log_click: bool = False,
    ) -> ManagedUrl:
        """Add a URL (``explicit``) or its whole domain (``domain``) to the managed URLs, to ``block`` or
        ``permit``. One that is listed already raises ``MimecastAlreadyExists``. Not idempotent, so
        never resent blindly."""
        value = (url or "").strip()
        if not value:
            raise MimecastInvalidRequest("The URL to manage is required.")
        if "#" in value:
            raise MimecastInvalidRequest("Mimecast does not accept a managed URL with a #fragment; remove it.")
        if action not in MANAGED_URL_ACTIONS:
            raise MimecastInvalidRequest("The managed URL action must be block or permit.")
        if match_type not in MANAGED_URL_MATCH_TYPES:
            raise MimecastInvalidRequest("The managed URL match type must be explicit or domain.")
        item: dict[str, Any] = {
            "url": value,
            "action": action,
            "matchType": match_type,
            "disableRewrite": bool(disable_rewrite),
            "disableUserAwareness": bool(disable_user_awareness),
            "disableLogClick": bool(disable_log_click),
        }
        put(item, "comment", comment or None)
        body = self._call(CREATE_MANAGED_URL, item, idempotent=False)
        return parse(ManagedUrl, first_item(body, CREATE_MANAGED_URL))

    def delete_managed_url(self, managed_url_id: str) -> None:
        self._delete(DELETE_MANAGED_URL, managed_url_id, "managed URL")
