"""Gateway and remediation: held messages (list, release, reject), release logs, rejections,
remediation incidents (create, restore, find) and the hash search behind them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from investigations.mimecast.envelope import (
    Paged,
    Paging,
    bracket_message_id,
    first_or_empty,
    flat_list,
    put,
    put_window,
    search_by,
)
from investigations.mimecast.errors import MimecastInvalidRequest
from investigations.mimecast.types import (
    HashSearchResult,
    HashStatus,
    HeldMessage,
    HeldReleaseLog,
    HoldActionResult,
    Incident,
    Page,
    Rejection,
    format_datetime,
    parse,
)

SEARCH_HASH_MAX = 100
CREATE_PATH = "/api/ttp/remediation/create"
HELD_MESSAGES = Paged("/api/gateway/get-hold-message-list", HeldMessage)
HELD_RELEASE_LOGS = Paged("/api/gateway/get-held-release-logs", HeldReleaseLog, key="heldReleaseLogs")
REJECTIONS = Paged("/api/gateway/get-rejections", Rejection, key="rejections")
INCIDENTS = Paged("/api/ttp/remediation/find-incidents", Incident, key="incidents")
LOOKBACK_PAGES = 10


class Search(Paging, total=False):
    """What the gateway's lists take beside their own criteria: a time window, a value to look for in
    one field (in every field when none is named), and the page."""

    start: datetime | str | None
    end: datetime | str | None
    search_field: str | None
    search_value: str | None


class Lookback(TypedDict, total=False):
    """How far back a look-up by id reads: a time window, and at most `max_pages` pages (LOOKBACK_PAGES
    unless said)."""

    start: datetime | str | None
    end: datetime | str | None
    max_pages: int


def _put_search(item: dict[str, Any], search: Search, *, listed: bool = False) -> Paging:
    """Put a list's window and search in its request item (the search alone, or `listed` in a list, as
    the endpoint wants it); what is left is the paging."""
    put_window(item, search.pop("start", None), search.pop("end", None))
    field, value = search.pop("search_field", None), search.pop("search_value", None)
    if value:
        item["searchBy"] = [search_by(field, value)] if listed else search_by(field, value)
    return search


_HASH_RE = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


def _one_target(reason: str, chosen: list[str], what: str) -> None:
    if len(chosen) != 1:
        raise MimecastInvalidRequest(f"Remediate by exactly one of {what}.")
    if not reason.strip():
        raise MimecastInvalidRequest("A reason is required to create a remediation incident.")


def _unique_hashes(hashes: Iterable[str]) -> list[str]:
    unique: list[str] = []
    for h in hashes:
        value = (h or "").strip().lower()
        if not value:
            continue
        if not _HASH_RE.match(value):
            raise MimecastInvalidRequest(f"'{value[:80]}' is not an MD5, SHA-1 or SHA-256 hash.")
        if value not in unique:
            unique.append(value)
    if not unique:
        raise MimecastInvalidRequest("Give at least one hash to search for.")
    return unique


def _hash_statuses(first: dict[str, Any]) -> list[HashStatus]:
    statuses = []
    for entry in first.get("hashStatus") or []:
        if isinstance(entry, dict):
            detected = entry.get("detected")
            statuses.append(
                HashStatus(hash=str(entry.get("hash") or ""), detected=detected if isinstance(detected, bool) else None)
            )
    return statuses


class Gateway:
    # ------------------------------------------------------------------------------ held messages

    def get_held_messages(
        self,
        *,
        admin: bool = True,
        route: str | None = None,
        held_group: str | None = None,
        **search: Unpack[Search],
    ) -> Page[HeldMessage]:
        item: dict[str, Any] = {"admin": bool(admin)}
        paging = _put_search(item, search)
        filters = [{"route": route} if route else None, {"heldGroup": held_group} if held_group else None]
        if any(filters):
            item["filterBy"] = [f for f in filters if f]
        return self._page(HELD_MESSAGES, item, **paging)

    def get_held_release_logs(
        self,
        *,
        filters: Iterable[tuple[str, str]] | None = None,
        **search: Unpack[Search],
    ) -> Page[HeldReleaseLog]:
        item: dict[str, Any] = {}
        paging = _put_search(item, search)
        filter_list = [{"fieldName": f, "value": v} for f, v in (filters or [])]
        if filter_list:
            item["filterBy"] = filter_list
        return self._page(HELD_RELEASE_LOGS, item, **paging)

    def get_rejections(
        self,
        *,
        mailbox: str | None = None,
        admin: bool = True,
        **search: Unpack[Search],
    ) -> Page[Rejection]:
        item: dict[str, Any] = {"admin": bool(admin)}
        put(item, "mailbox", mailbox)
        paging = _put_search(item, search)
        return self._page(REJECTIONS, item, **paging)

    def release_held_message(self, held_id: str) -> HoldActionResult:
        first = self._first("/api/gateway/hold-release", {"id": held_id}, idempotent=False)
        return HoldActionResult(id=str(first.get("id") or held_id), ok=first.get("release") is True, raw=first)

    def reject_held_messages(
        self, held_ids: Iterable[str], *, message: str = "", reason_type: str = "", notify: bool = False
    ) -> list[HoldActionResult]:
        ids = [i for i in held_ids if i]
        if not ids:
            raise MimecastInvalidRequest("Give at least one held message to reject.")
        item: dict[str, Any] = {"ids": ids, "notify": bool(notify)}
        put(item, "message", message or None)
        put(item, "reasonType", reason_type or None)
        path = "/api/gateway/hold-reject"
        body = self._call(path, item, idempotent=False)
        return [
            HoldActionResult(id=str(d.get("id") or ""), ok=d.get("reject") is True, raw=d)
            for d in flat_list(body, path)
        ]

    def find_held_release_log(self, held_id: str, **lookback: Unpack[Lookback]) -> HeldReleaseLog | None:
        """The release-log entry of one held message (released or rejected), or None when it has none.

        The log cannot be searched by id, so its pages are read (newest first) until the id turns up."""
        for log in self.iter_items(self.get_held_release_logs, **{"max_pages": LOOKBACK_PAGES, **lookback}):
            if log.id == held_id:
                return log
        return None

    def held_message_state(self, held_id: str, **lookback: Unpack[Lookback]) -> str:
        """Where one held message stands: "released", "rejected", "held" or "unknown" (in neither list
        within the window). A release or reject whose answer was lost is settled by reading this."""
        log = self.find_held_release_log(held_id, **lookback)
        if log is not None:
            return "rejected" if log.reject_reason or log.status.lower() == "rejected" else "released"
        for held in self.iter_items(self.get_held_messages, **{"max_pages": LOOKBACK_PAGES, **lookback}):
            if held.id == held_id:
                return "held"
        return "unknown"

    # -------------------------------------------------------------------------------- remediation

    def create_remediation_incident(
        self,
        *,
        reason: str,
        file_hash: str | None = None,
        message_id: str | None = None,
        url: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
    ) -> Incident:
        """API /ttp/remediation/create: remediate by exactly one of file hash, message-id or URL.

        ``sender``/``recipient`` (address or domain) narrow the search, as in the FortiSOAR guide."""
        chosen = [n for n, v in (("hash", file_hash), ("messageId", message_id), ("url", url)) if v]
        _one_target(reason, chosen, "a file hash, a message-id or a URL")
        item: dict[str, Any] = {"reason": reason, "searchBy": chosen[0]}
        if file_hash:
            item["hashOrMessageId"] = file_hash.strip()
        elif message_id:
            item["hashOrMessageId"] = bracket_message_id(message_id)
        else:
            item["url"] = url
        put_window(item, start, end)
        put(item, "from", sender or None)
        put(item, "to", recipient or None)
        return parse(Incident, self._first(CREATE_PATH, item, idempotent=False))

    def restore_remediation_incident(self, *, reason: str, restore_code: str) -> Incident:
        """Create a restore incident that puts back what a remediation removed.

        Mimecast's API reference lists no restore fields; this follows the FortiSOAR guide ("Incident Type:
        Remediate or Restore", "Restore Code"): ``type: "restore"`` with ``restoreCode``."""
        if not restore_code.strip():
            raise MimecastInvalidRequest("The restore code of the remediation incident is required.")
        if not reason.strip():
            raise MimecastInvalidRequest("A reason is required to restore messages.")
        item = {"type": "restore", "reason": reason, "restoreCode": restore_code.strip()}
        return parse(Incident, self._first(CREATE_PATH, item, idempotent=False))

    def create_remediation_incident_v2(
        self,
        *,
        reason: str,
        message_ids: Iterable[str] | None = None,
        file_hash: str | None = None,
        url: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> Incident:
        """API /ttp/remediation/v2/create: remediate a list of message-ids (or one hash or URL)."""
        ids = [bracket_message_id(m) for m in (message_ids or []) if m and m.strip()]
        chosen = [n for n, v in (("message_ids", ids), ("hash", file_hash), ("url", url)) if v]
        _one_target(reason, chosen, "a list of message-ids, a file hash or a URL")
        item: dict[str, Any] = {"reason": reason, "searchBy": chosen[0]}
        if ids:
            item["messageIds"] = ids
        elif file_hash:
            item["hash"] = file_hash.strip()
        else:
            item["url"] = url
        put_window(item, start, end)
        return parse(Incident, self._first("/api/ttp/remediation/v2/create", item, idempotent=False))

    def get_incident(self, incident_id: str) -> Incident:
        return parse(Incident, self._first("/api/ttp/remediation/get-incident", {"id": incident_id}))

    def find_incidents(self, *, types: Iterable[str] | None = None, **search: Unpack[Search]) -> Page[Incident]:
        item: dict[str, Any] = {}
        paging = _put_search(item, search, listed=True)
        type_list = [t for t in (types or []) if t]
        if type_list:
            item["filterBy"] = [{"fieldName": "type", "value": t} for t in type_list]
        if not item:
            item["start"] = format_datetime(datetime(2000, 1, 1, tzinfo=UTC))  # the API wants one field
        return self._page(INCIDENTS, item, **paging)

    def search_hashes(self, hashes: Iterable[str], *, chunk_size: int = SEARCH_HASH_MAX) -> HashSearchResult:
        """Ask whether any of these hashes was seen in the last year; lists over 100 are split and merged."""
        unique = _unique_hashes(hashes)
        chunk_size = max(1, min(int(chunk_size), SEARCH_HASH_MAX))
        path = "/api/ttp/remediation/search-hash"
        result = HashSearchResult(hash_status=[], failed_hashes=[], raw=[])
        for offset in range(0, len(unique), chunk_size):
            first = first_or_empty(self._call(path, {"hashes": unique[offset : offset + chunk_size]}), path)
            result.raw.append(first)
            result.hash_status.extend(_hash_statuses(first))
            result.failed_hashes.extend(first.get("failedHashes") or [])
        return result
