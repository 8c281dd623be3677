"""The Mimecast request/answer envelope shared by the endpoint modules: ``{"meta": ..., "data": [item]}``
out, ``data[]`` (or a list inside its first item) and ``meta.pagination`` back; paging; file downloads;
and the small helpers that build request items."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from investigations.mimecast.errors import MimecastBadResponse, MimecastInvalidRequest, MimecastNotFound
from investigations.mimecast.types import BinaryContent, Model, Page, format_datetime, parse_list
from investigations.mimecast.urls import validate_download_url

logger = logging.getLogger("investigations.mimecast")

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
_SHAPE = "Mimecast's answer has an unexpected shape."


@dataclass(frozen=True)
class Paged:
    """A paged endpoint: where it is, what its items are, and where they sit in the answer."""

    path: str
    model: type[Model]
    key: str | None = None  # the items are data[0][key], or data itself
    cap: int = MAX_PAGE_SIZE  # the largest page Mimecast serves
    send_page_size: bool = True  # False where the page size travels inside the request item


class Paging(TypedDict, total=False):
    """What a paged call takes beside its criteria: how many items (by default the most the endpoint
    serves) and the token of the page to read (the first page without one)."""

    page_size: int
    page_token: str | None


# ------------------------------------------------------------------------------- reading answers


def data_list(body: Any, path: str) -> list[Any]:
    data = body.get("data", []) if isinstance(body, dict) else None
    if data is None:
        return []
    if not isinstance(data, list):
        raise MimecastBadResponse("Mimecast's answer has an unexpected shape (data is not a list).", endpoint=path)
    return data


def first_item(body: Any, path: str) -> dict[str, Any]:
    """``data[0]``; Mimecast answering with no item is "not found"."""
    data = data_list(body, path)
    if not data:
        raise MimecastNotFound("Mimecast returned no result for this request.", endpoint=path)
    if not isinstance(data[0], dict):
        raise MimecastBadResponse(_SHAPE, endpoint=path)
    return data[0]


def first_or_empty(body: Any, path: str) -> dict[str, Any]:
    data = data_list(body, path)
    if not data:
        return {}
    if not isinstance(data[0], dict):
        raise MimecastBadResponse(_SHAPE, endpoint=path)
    return data[0]


def list_in_first(body: Any, path: str, key: str) -> list[dict[str, Any]]:
    """The list ``data[0][key]`` (track and trace, find-groups, ...), its objects only."""
    items = first_or_empty(body, path).get(key, [])
    if items is None:
        return []
    if not isinstance(items, list):
        raise MimecastBadResponse(f"Mimecast's answer has an unexpected shape ({key} is not a list).", endpoint=path)
    return [i for i in items if isinstance(i, dict)]


def flat_list(body: Any, path: str) -> list[dict[str, Any]]:
    return [i for i in data_list(body, path) if isinstance(i, dict)]


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ------------------------------------------------------------------------------ building requests


def put(item: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        item[key] = value


def put_window(item: dict[str, Any], start: datetime | str | None, end: datetime | str | None, keys=("start", "end")):
    """The time window of a search, under the keys the endpoint names it with."""
    put(item, keys[0], format_datetime(start))
    put(item, keys[1], format_datetime(end))


def search_by(field_name: str | None, value: str, default: str = "all") -> dict[str, str]:
    return {"fieldName": field_name or default, "value": value}


def bracket_message_id(message_id: str) -> str:
    value = message_id.strip()
    if not value.startswith("<"):
        value = "<" + value
    if not value.endswith(">"):
        value += ">"
    return value


def filename_from_disposition(header: str) -> str:
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", header or "", re.IGNORECASE)
    if not match:
        return ""
    # Keep only a base name: never trust a path from the server.
    return re.split(r"[\\/]", match.group(1).strip())[-1][:255]


# ------------------------------------------------------------------------------------- the mixin


class Envelope:
    """Calls in the Mimecast envelope, on top of the transport's ``_request``."""

    def _call(self, path: str, item: dict[str, Any] | None = None, *, meta=None, idempotent=True) -> dict:
        body: dict[str, Any] = {"data": [item] if item is not None else []}
        if meta:
            body["meta"] = meta
        response = self._request("POST", path, body=body, idempotent=idempotent)
        if not isinstance(response.body, dict):
            raise MimecastBadResponse(_SHAPE, endpoint=path)
        return response.body

    def _first(self, path: str, item: dict[str, Any] | None = None, *, idempotent: bool = True) -> dict[str, Any]:
        """Call, and return the answer's one item."""
        return first_item(self._call(path, item, idempotent=idempotent), path)

    def _delete(self, path: str, object_id: str, what: str) -> None:
        """Delete one object by its id; one that is gone already raises ``MimecastNotFound``."""
        if not (object_id or "").strip():
            raise MimecastInvalidRequest(f"The id of the {what} to delete is required.")
        self._call(path, {"id": object_id.strip()}, idempotent=False)

    def _page(
        self, endpoint: Paged, item: dict[str, Any] | None, page_size: int | None = None, page_token: str | None = None
    ) -> Page:
        """One page of a paged endpoint, asking for ``page_size`` items (the most it serves when None) after
        ``page_token``."""
        path = endpoint.path
        pagination: dict[str, Any] = {}
        if endpoint.send_page_size:
            size = endpoint.cap if page_size is None else int(page_size)
            pagination["pageSize"] = max(1, min(size, endpoint.cap))
        if page_token:
            pagination["pageToken"] = page_token
        body = self._call(path, item, meta={"pagination": pagination} if pagination else None)
        raw_items = list_in_first(body, path, endpoint.key) if endpoint.key else flat_list(body, path)
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        pag = meta.get("pagination") if isinstance(meta.get("pagination"), dict) else {}
        return Page(
            items=parse_list(endpoint.model, raw_items),
            # The last page can still carry a next token: an empty page ends the paging.
            next_token=_text_or_none(pag.get("next")) if raw_items else None,
            previous_token=_text_or_none(pag.get("previous")),
            total_count=_int_or_none(pag.get("totalCount")),
            page_size=_int_or_none(pag.get("pageSize")),
            raw=body,
        )

    def iter_pages(
        self, method: Callable[..., Page[T]], *args, max_pages: int | None = None, **kwargs
    ) -> Iterator[Page[T]]:
        """Yield successive pages of a paged public method, e.g.
        ``client.iter_pages(client.get_group_members, group_id)``. Stops on a missing or empty
        ``next``, an empty page, a repeated token, or after ``max_pages``."""
        token = kwargs.pop("page_token", None)
        seen: set[str] = set()
        count = 0
        while True:
            page = method(*args, page_token=token, **kwargs)
            count += 1
            yield page
            if not page.next_token or not page.items:
                return
            if page.next_token in seen:
                logger.warning("mimecast returned the same page token twice; stopping pagination")
                return
            if max_pages is not None and count >= max_pages:
                return
            seen.add(page.next_token)
            token = page.next_token

    def iter_items(self, method: Callable[..., Page[T]], *args, max_pages: int | None = None, **kwargs) -> Iterator[T]:
        for page in self.iter_pages(method, *args, max_pages=max_pages, **kwargs):
            yield from page.items

    def _download(self, path: str, item: dict[str, Any]) -> BinaryContent:
        """A file answer; API 2.0 may hand back a JSON envelope with a pre-signed link to it instead."""
        response = self._request("POST", path, body={"data": [item]}, binary=True)
        if response.body is not None:
            link = first_item(response.body, path).get("url")
            if not isinstance(link, str) or not link:
                raise MimecastBadResponse("Mimecast did not return the file.", endpoint=path)
            link = validate_download_url(link, self.config.allowed_hosts)
            response = self._request("GET", path, url=link, auth="none", binary=True)
        return BinaryContent(
            content=response.content,
            content_type=response.headers.get("Content-Type", ""),
            filename=filename_from_disposition(response.headers.get("Content-Disposition", "")),
        )
