"""Injectable faults, per endpoint path or "*" for every endpoint.

kinds:
  latency      ms=...                  adds delay, then answers normally (count=None: until cleared)
  status       status=..., count=...   answers with that HTTP status and a Mimecast fail body; function not run
  rate_limit   reset_ms=..., count=... HTTP 429 with X-RateLimit-* headers (Remaining 0); function not run
  hang         seconds=..., count=...  sleeps, then runs the function and answers (the client has usually
                                       timed out by then, which is exactly the ambiguous case to test)
  truncate     count=...               runs the function, answers 200 with the body cut in half mid-JSON
                                       (Content-Length matches the cut body, so the client sees bad JSON)
  fail         code=..., message=...,  HTTP <status> (default 200) with meta.status <status> and one fail[]
               field=..., status=...   entry {key, errors[{code, message, retryable: false, field}]};
                                       function not run
  meta_status  status=..., count=...   HTTP 200 with meta.status=<status>; function not run
  redirect     location=..., status=.. a 3xx (default 302) with that Location header and an empty body;
                                       function not run (a client must never follow it to another host)
  raw          content=..., status=..., answers exactly these bytes (``content`` as str or bytes; over the
               content_type=...,       control API a string, or ``content_b64`` for binary) with that HTTP
               headers={...}           status (default 200), Content-Type (default application/json) and
                                       extra headers; function not run. Malformed JSON, a JSON array, an
                                       HTML error page, an empty body, a file with a hostile
                                       Content-Disposition, ...
  repeat_token count=...               runs the function, then hands back the page token the request sent
                                       as the next one (meta.pagination.next; for the SIEM batch
                                       ``@nextPage`` from the ``nextPage`` parameter). A call without a token
                                       is answered unchanged (it still uses up one of ``count``).
  empty_page   token=..., count=...    HTTP 200 with no records that still carries a next token (the
                                       contract's "last page with next"): data [] and meta.pagination
                                       {pageSize: 0, totalCount: 0, next: <token>} (SIEM batch: value [],
                                       @nextPage <token>, isCaughtUp false); function not run

Every kind takes ``skip=N``: the first N matching calls pass untouched (they do not use up ``count``),
so a fault can hit e.g. only the second page of a paged listing.

path: an exact path, "*" for every endpoint, or a prefix ending in "/" (e.g. "/api/ttp/").
Several faults can match one call: delays add up, then the first short-circuiting fault answers.
The in-process API ``srv.faults.add(...)`` and the control API ``POST /_sim/faults`` take the same
fields (JSON body == keyword arguments).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field

KINDS = {
    "latency",
    "status",
    "rate_limit",
    "hang",
    "truncate",
    "fail",
    "meta_status",
    "redirect",
    "raw",
    "repeat_token",
    "empty_page",
}
# Kinds that answer in place of the endpoint's function.
SHORT_CIRCUIT = {"status", "rate_limit", "fail", "meta_status", "redirect", "raw", "empty_page"}

EMPTY_PAGE_TOKEN = "sim-empty-page-next"  # noqa: S105 - a page token, not a secret
DEFAULT_STATUS = {"status": 503, "meta_status": 403, "fail": 200, "redirect": 302, "raw": 200}


@dataclass
class Fault:
    id: int
    path: str
    kind: str
    count: int | None = None
    status: int | None = None
    ms: int = 0
    seconds: float = 0.0
    reset_ms: int = 1000
    code: str = "err_simulated_failure"
    message: str = "Simulated failure"
    field: str = ""
    location: str = ""
    content: bytes = b""
    content_type: str = "application/json"
    headers: dict = dc_field(default_factory=dict)
    token: str = EMPTY_PAGE_TOKEN
    skip: int = 0

    def to_dict(self):
        d = asdict(self)
        try:
            d["content"] = self.content.decode("utf-8")
        except UnicodeDecodeError:
            d.pop("content")
            d["content_b64"] = base64.b64encode(self.content).decode("ascii")
        return d


def _content_bytes(content, content_b64) -> bytes:
    if content_b64 is not None:
        if content:
            raise ValueError("give content or content_b64, not both")
        try:
            return base64.b64decode(str(content_b64), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("content_b64 is not valid base64") from None
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    if isinstance(content, str):
        return content.encode("utf-8")
    raise ValueError("content must be a string or bytes")


def _checked_status(kind: str, status: int | None, *, count, skip, location: str, token: str) -> int | None:
    """Refuses a fault that cannot be served; answers its status (the kind's default when not given)."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
    if status is None:
        status = DEFAULT_STATUS.get(kind)
    if count is not None and int(count) <= 0:
        raise ValueError("count must be positive or None")
    if int(skip) < 0:
        raise ValueError("skip must not be negative")
    if kind == "redirect":
        if not location:
            raise ValueError("a redirect fault needs a location")
        if not 300 <= int(status) < 400:
            raise ValueError("a redirect fault needs a 3xx status")
    if status is not None and not 100 <= int(status) < 600:
        raise ValueError("status must be an HTTP status code (100-599)")
    if kind == "empty_page" and not token:
        raise ValueError("an empty_page fault needs a non-empty token")
    return status


def _checked_headers(headers: dict | None, location: str) -> dict:
    """Extra response headers (and a redirect's Location) must be strings without line breaks (no header injection)."""
    headers = dict(headers or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("headers must map strings to strings")
    if any(("\r" in x or "\n" in x) for kv in headers.items() for x in kv) or any(ch in location for ch in "\r\n"):
        raise ValueError("header names and values must not contain line breaks")
    return headers


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        path: str = "*",
        kind: str = "status",
        *,
        count: int | None = None,
        status: int | None = None,
        ms: int = 0,
        seconds: float = 0.0,
        reset_ms: int = 1000,
        code: str = "err_simulated_failure",
        message: str = "Simulated failure",
        field: str = "",
        location: str = "",
        content: str | bytes = b"",
        content_b64: str | None = None,
        content_type: str = "application/json",
        headers: dict | None = None,
        token: str = EMPTY_PAGE_TOKEN,
        skip: int = 0,
    ) -> Fault:
        status = _checked_status(kind, status, count=count, skip=skip, location=location, token=token)
        headers = _checked_headers(headers, location)
        fault = Fault(
            id=next(self._ids),
            path=path,
            kind=kind,
            count=None if count is None else int(count),
            status=None if status is None else int(status),
            ms=int(ms),
            seconds=float(seconds),
            reset_ms=int(reset_ms),
            code=code,
            message=message,
            field=str(field or ""),
            location=str(location or ""),
            content=_content_bytes(content, content_b64),
            content_type=str(content_type),
            headers=headers,
            token=str(token),
            skip=int(skip),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self):
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str) -> list[Fault]:
        """Faults that apply to this call; consumes one skip, or else one use, of each matching fault."""
        out = []
        with self._lock:
            for fault in list(self._faults):
                if not (fault.path in ("*", path) or (fault.path.endswith("/") and path.startswith(fault.path))):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                out.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return out
