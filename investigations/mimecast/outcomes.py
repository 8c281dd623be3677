"""What one answer (or failure to answer) from Mimecast means: a typed error, a retry, or a body.

Pure functions over what came back; the transport decides what to do with them.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from investigations.mimecast.errors import (
    MimecastAlreadyExists,
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastConnectionError,
    MimecastError,
    MimecastNotFound,
    MimecastServerError,
    MimecastTimeout,
    explain_code,
)
from investigations.mimecast.pacing import header_number

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 509})
# Statuses after which a non-idempotent call (create incident, release, reject) can be retried
# safely because Mimecast did not run the function: 429 (documented) and 503 (not accepted).
WRITE_SAFE_STATUSES = frozenset({503})
BINDING_EXPIRED = "err_xdk_binding_expired"
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an error code, not a secret
_AUTH_CODES = (BINDING_EXPIRED, TOKEN_EXPIRED, "err_developer_key", "InvalidClientIdentifier", "app_forbidden")
_NO_ERROR = {"code": "", "message": "", "field": "", "retryable": False}
# fail[] codes that say what exists or not, so callers of the response actions can match on the type.
_ALREADY_EXISTS_CODES = ("err_managed_url_exists_code", "err_folder_group_member_already_exists")
_NOT_FOUND_CODES = ("err_managed_url_not_found", "err_hold_message_not_found", "err_policy_not_found")


def transport_error(exc: requests.exceptions.RequestException, *, idempotent: bool) -> tuple[MimecastError, bool]:
    """The error for a call that got no answer, and whether sending it again is safe."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        # Never connected, so never ran: safe to repeat even for a write.
        return MimecastTimeout("Mimecast could not be reached in time (connection timed out)."), True
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return MimecastTimeout("Mimecast did not answer in time."), idempotent
    if isinstance(exc, requests.exceptions.SSLError):
        message = "The secure connection to Mimecast failed (TLS certificate could not be verified)."
        return MimecastConnectionError(message, retryable=False), False
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return MimecastConnectionError("The connection to Mimecast failed or was interrupted."), idempotent
    return MimecastConnectionError("The request to Mimecast could not be sent.", retryable=False), False


def rate_limit_reset(headers) -> float | None:
    """Seconds until Mimecast takes a call again, from ``X-RateLimit-Reset`` (milliseconds)."""
    millis = header_number(headers, "X-RateLimit-Reset", clamp=True)
    return None if millis is None else millis / 1000.0


def parse_body(content: bytes, *, binary: bool, status: int, content_type: str, where: dict[str, Any]) -> Any:
    """The JSON envelope of an answer, or None (a binary file, or an empty or unreadable error page)."""
    if binary and "json" not in content_type.lower() and status < 400:
        return None
    try:
        parsed = json.loads(content.decode("utf-8")) if content.strip() else None
    except (ValueError, UnicodeDecodeError):
        if not binary and status < 400:
            raise MimecastBadResponse("Mimecast's answer was cut off or is not valid JSON.", **where) from None
        return None
    if binary and status < 400 and not (isinstance(parsed, dict) and ({"meta", "fail", "data"} & parsed.keys())):
        return None  # a JSON file, not a Mimecast envelope
    return parsed


def flatten_errors(body: Any) -> list[dict[str, Any]]:
    """Flatten ``fail[]`` into a list of {code, message, field, retryable}.

    1.0 nests errors in ``fail[].errors[]``; 2.0 may put code/message directly on the fail item.
    """
    fail = body.get("fail") if isinstance(body, dict) else None
    if isinstance(fail, dict):
        fail = [fail]
    if not isinstance(fail, list):
        return []
    errors: list[dict[str, Any]] = []
    for item in fail:
        if not isinstance(item, dict):
            errors.append({**_NO_ERROR, "message": str(item)[:300]})
            continue
        nested = item.get("errors")
        entries = [e for e in (nested if isinstance(nested, list) and nested else [item]) if isinstance(e, dict)]
        errors.extend(
            {
                "code": str(entry.get("code") or ""),
                "message": str(entry.get("message") or ""),
                "field": str(entry.get("field") or ""),
                "retryable": bool(entry.get("retryable", False)),
            }
            for entry in entries
        )
        if not entries:
            errors.append(dict(_NO_ERROR))
    return errors


def error_from_entries(errors: list[dict[str, Any]], *, status: int | None, cls=None, **where) -> MimecastError:
    first = errors[0] if errors else _NO_ERROR
    code, message, field_name = first["code"], first["message"], first["field"]
    if cls is None:
        cls = MimecastAuthError if code in _AUTH_CODES else MimecastApiError
        if code in _ALREADY_EXISTS_CODES:
            cls = MimecastAlreadyExists
        elif code in _NOT_FOUND_CODES:
            cls = MimecastNotFound
    plain = explain_code(code, message, field_name)
    if len(errors) > 1:
        plain += f" ({len(errors) - 1} more error(s) reported.)"
    return cls(plain, code=code, field=field_name, status=status, retryable=first["retryable"], errors=errors, **where)


def http_error(status: int, errors: list[dict[str, Any]], auth: str, **where) -> MimecastError:
    """The error for an HTTP 4xx answer (``where``: request_id and endpoint)."""
    cls = MimecastAuthError if status in (401, 403, 418) else MimecastApiError
    if errors:
        return error_from_entries(errors, status=status, cls=cls, **where)
    if status == 404:
        return MimecastNotFound(
            "Mimecast does not know this API endpoint or record (HTTP 404).", status=status, **where
        )
    if status == 418:
        message = "The Mimecast access key has expired; log in to Mimecast again or issue new keys."
    elif status == 401 and auth == "token":
        message = "Mimecast rejected the API 2.0 client ID or client secret."
    elif status == 401 and auth == "login":
        message = "Mimecast refused the login; check the user name, password and auth type."
    elif status == 401:
        message = "Mimecast did not accept the portal's credentials (HTTP 401)."
    elif status == 403:
        message = "Mimecast refused the operation (HTTP 403); the API user may lack permission."
    else:
        message = f"Mimecast refused the request (HTTP {status})."
    return cls(message, status=status, **where)


def check_meta_status(body: Any, **where) -> None:
    """Raise when a 200 answer reports a failure in ``meta.status``."""
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict) or "status" not in meta:
        return
    try:
        meta_status = int(meta["status"])
    except (TypeError, ValueError):
        raise MimecastBadResponse("Mimecast's answer has an unreadable status.", **where) from None
    if 200 <= meta_status < 300:
        return
    kwargs = {"status": meta_status, "code": "meta_status", **where}
    if meta_status in (401, 403):
        raise MimecastAuthError(
            f"Mimecast refused the operation (status {meta_status}); the API user may lack permission.", **kwargs
        )
    if meta_status >= 500:
        raise MimecastServerError(
            f"Mimecast reported an internal problem (status {meta_status}); try again later.", **kwargs
        )
    raise MimecastApiError(f"Mimecast reported that the request failed (status {meta_status}).", **kwargs)
