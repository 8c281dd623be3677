"""Authentication helpers: API 1.0 HMAC signing and login headers, API 2.0 token cache.

Nothing here logs, and nothing here performs HTTP; the client does that through its one request
method.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime

from investigations.mimecast.errors import MimecastConfigError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_mc_date(moment: datetime) -> str:
    """Format ``moment`` as ``%a, %d %b %Y %H:%M:%S UTC`` (as Mimecast signs it), independent of locale."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} UTC"
    )


def decode_secret_key(secret_key: str) -> bytes:
    text = secret_key.strip()
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MimecastConfigError("The Mimecast secret key is not valid base64; copy it again from Mimecast.") from None


def compute_signature(*, date: str, request_id: str, uri: str, app_key: str, secret_key: str) -> str:
    """HMAC-SHA1 signature of ``date:request_id:uri:app_key`` keyed with base64-decoded secret."""
    data_to_sign = f"{date}:{request_id}:{uri}:{app_key}"
    mac = hmac.new(decode_secret_key(secret_key), data_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def signed_headers(
    *, access_key: str, secret_key: str, app_id: str, app_key: str, uri: str, date: str, request_id: str
) -> dict[str, str]:
    signature = compute_signature(date=date, request_id=request_id, uri=uri, app_key=app_key, secret_key=secret_key)
    return {
        "Authorization": f"MC {access_key}:{signature}",
        "x-mc-app-id": app_id,
        "x-mc-date": date,
        "x-mc-req-id": request_id,
    }


def basic_login_authorization(auth_type: str, username: str, password: str) -> str:
    """``Authorization`` value for /api/login/login: ``<Basic-Cloud|Basic-AD> base64(user:pass)``."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"{auth_type or 'Basic-Cloud'} {token}"


@dataclass
class AccessKeys:
    """API 1.0 access key / secret key pair (hidden from repr)."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    from_login: bool = False


class TokenCache:
    """Caches an OAuth2 bearer token until ``margin`` seconds before it expires."""

    def __init__(self, clock, margin: float = 60.0) -> None:
        self._clock = clock
        self._margin = margin
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"TokenCache(has_token={self._token is not None})"

    def get(self) -> str | None:
        if self._token and self._clock() < self._expires_at:
            return self._token
        return None

    def store(self, token: str, expires_in: float) -> None:
        # Never cache for less than zero seconds, whatever the server says.
        lifetime = max(0.0, float(expires_in) - self._margin)
        self._token = token
        self._expires_at = self._clock() + lifetime

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0
