"""Connection settings for the Mimecast client, as a plain dataclass (no Django here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from investigations.mimecast.errors import MimecastConfigError
from investigations.mimecast.urls import parse_allowed_host

AUTH_TYPES = ("Basic-Cloud", "Basic-AD")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MimecastConfigError(f"{name} must be true or false, not {value!r}.")


def _env_number(environ: Mapping[str, str], name: str, default: float, kind: type = float):
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise MimecastConfigError(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(number):
        raise MimecastConfigError(f"{name} must be a number, not {value!r}.")
    if number < 0:
        raise MimecastConfigError(f"{name} must not be negative.")
    return number


@dataclass(frozen=True)
class MimecastConfig:
    """Everything the client needs to talk to Mimecast.

    Secrets are excluded from ``repr`` so a config never leaks into logs or tracebacks.
    """

    api_version: int = 1
    base_url: str = ""
    # API 1.0 application credentials.
    app_id: str = ""
    app_key: str = field(default="", repr=False)
    # API 1.0 keys, given directly ...
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    # ... or obtained by discover-authentication + login.
    auth_type: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    # API 2.0 OAuth2 client credentials.
    client_id: str = ""
    client_secret: str = field(default="", repr=False)

    verify_ssl: bool = True
    # Extra host:port entries the client may talk to, e.g. the simulator on loopback; a bare host
    # means port 443 only.
    allowed_hosts: tuple[str, ...] = ()
    # Where discover-authentication is sent; empty means the global host, or base_url when that is
    # an allow-listed host (the simulator answers discovery itself).
    discovery_url: str = ""

    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    # Retries after the first attempt for 429, 5xx, timeouts and connection failures.
    max_retries: int = 4
    # The first retry waits about this long (half to all of it), each later one twice as long, capped.
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    # Give up instead of sleeping when Mimecast asks us to wait longer than this on a 429.
    max_rate_limit_wait: float = 120.0
    # Retries of a call refused with 429 (Mimecast did not run it); None: the same as max_retries.
    max_rate_limit_retries: int | None = None
    # Refresh the OAuth token this many seconds before it expires.
    token_refresh_margin: float = 60.0
    user_agent: str = "mimecast-investigation-portal/0.1"

    def __post_init__(self) -> None:
        if self.api_version not in (1, 2):
            raise MimecastConfigError("The Mimecast API version must be 1 or 2.")
        if self.auth_type not in ("", *AUTH_TYPES):
            raise MimecastConfigError("The Mimecast auth type must be Basic-Cloud or Basic-AD.")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise MimecastConfigError("The Mimecast connect and read timeouts must be greater than zero.")
        if self.max_retries < 0:
            raise MimecastConfigError("The Mimecast retry count must not be negative.")
        if isinstance(self.allowed_hosts, str):
            object.__setattr__(self, "allowed_hosts", split_hosts(self.allowed_hosts))
        else:
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        for entry in self.allowed_hosts:
            parse_allowed_host(entry)  # refuse a malformed entry here rather than silently allow nothing

    @property
    def uses_login(self) -> bool:
        """True when API 1.0 keys come from the login flow rather than being configured."""
        return self.api_version == 1 and not (self.access_key and self.secret_key)

    def with_changes(self, **changes) -> MimecastConfig:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MimecastConfig:
        version_text = environ.get("MIMECAST_API_VERSION", "").strip() or "1"
        if version_text not in ("1", "2", "1.0", "2.0"):
            raise MimecastConfigError(f"MIMECAST_API_VERSION must be 1 or 2, not {version_text!r}.")
        return cls(
            api_version=int(float(version_text)),
            base_url=environ.get("MIMECAST_BASE_URL", "").strip(),
            app_id=environ.get("MIMECAST_APP_ID", "").strip(),
            app_key=environ.get("MIMECAST_APP_KEY", "").strip(),
            access_key=environ.get("MIMECAST_ACCESS_KEY", "").strip(),
            secret_key=environ.get("MIMECAST_SECRET_KEY", "").strip(),
            auth_type=environ.get("MIMECAST_AUTH_TYPE", "").strip(),
            username=environ.get("MIMECAST_USERNAME", "").strip(),
            password=environ.get("MIMECAST_PASSWORD", ""),
            client_id=environ.get("MIMECAST_CLIENT_ID", "").strip(),
            client_secret=environ.get("MIMECAST_CLIENT_SECRET", "").strip(),
            verify_ssl=_env_bool(environ, "MIMECAST_VERIFY_SSL", True),
            allowed_hosts=split_hosts(environ.get("MIMECAST_ALLOWED_HOSTS", "")),
            discovery_url=environ.get("MIMECAST_DISCOVERY_URL", "").strip(),
            connect_timeout=_env_number(environ, "MIMECAST_CONNECT_TIMEOUT", 5.0),
            read_timeout=_env_number(environ, "MIMECAST_READ_TIMEOUT", 60.0),
            max_retries=_env_number(environ, "MIMECAST_MAX_RETRIES", 4, int),
            backoff_base=_env_number(environ, "MIMECAST_RETRY_BACKOFF_SECONDS", 1.0),
        )


def split_hosts(text: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())
