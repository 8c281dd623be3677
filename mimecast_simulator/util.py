"""Small helpers shared by the simulator: Mimecast dates, ids, envelopes and paging."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

MC_DATE_FMT = "%Y-%m-%dT%H:%M:%S%z"

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def fmt_date(dt: datetime) -> str:
    """Mimecast response date: `2011-12-03T10:15:30+0000` (no colon, no milliseconds)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_date(value: str) -> datetime:
    """Accept `+0000`, `+00:00`, `Z`, optional milliseconds, or a bare date. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    m = _DATE_RE.match(value.strip())
    if not m:
        raise ValueError(f"invalid date {value!r}")
    y, mo, d, hh, mi, ss, tz = m.groups()
    dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        dt = dt - sign * offset
    return dt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def mc_id(kind: str, *parts: object) -> str:
    """Deterministic, opaque Mimecast-looking id: `eNp` + URL-safe base64 (like Mimecast's zlib ids)."""
    raw = ":".join([kind, *map(str, parts)]).encode()
    digest = hashlib.sha256(raw).digest() + hashlib.sha256(raw + b"#").digest()[:21]
    return "eNp" + b64url(digest)


def envelope(data: list | None = None, *, status: int = 200, pagination: dict | None = None, fail=None):
    meta: dict = {"status": status}
    if pagination is not None:
        meta["pagination"] = pagination
    return {"meta": meta, "data": data if data is not None else [], "fail": fail or []}


def error(code: str, message: str, *, field: str | None = None, retryable: bool = False) -> dict:
    err = {"code": code, "message": message, "retryable": retryable}
    if field:
        err["field"] = field
    return err


def fail_item(key, *errors: dict) -> dict:
    return {"key": key, "errors": list(errors)}


class PageError(ValueError):
    pass


def encode_page_token(offset: int, scope: str) -> str:
    return b64url(json.dumps({"o": offset, "s": scope}, separators=(",", ":")).encode())


def decode_page_token(token: str, scope: str) -> int:
    try:
        obj = json.loads(b64url_decode(token))
        offset = int(obj["o"])
    except Exception as exc:
        raise PageError("invalid page token") from exc
    if obj.get("s") != scope or offset < 0:
        raise PageError("page token does not belong to this endpoint")
    return offset


def paginate(items: list, meta: dict | None, scope: str, *, default: int = 25, cap: int = 100):
    """Slice `items` per request meta.pagination. Returns (page, pagination dict).

    Response pageSize is the number of records on this page (Mimecast semantics);
    `next` only when more exist, `previous` only when an earlier page exists.
    """
    pag = (meta or {}).get("pagination") or {}
    try:
        size = int(pag.get("pageSize") or default)
    except (TypeError, ValueError) as exc:
        raise PageError("pageSize must be a number") from exc
    size = max(1, min(size, cap))
    token = pag.get("pageToken")
    offset = decode_page_token(token, scope) if token else 0
    page = items[offset : offset + size]
    out = {"pageSize": len(page), "totalCount": len(items)}
    if offset + size < len(items):
        out["next"] = encode_page_token(offset + size, scope)
    if offset > 0:
        out["previous"] = encode_page_token(max(0, offset - size), scope)
    return page, out
