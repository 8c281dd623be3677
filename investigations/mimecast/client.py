"""The Mimecast API client.

Every HTTP call goes through ``MimecastClient._request``: authentication (API 1.0 HMAC signing with
configured or logged-in keys, API 2.0 OAuth bearer tokens), timeouts, retries with backoff, error
mapping and logging. Public methods build the request, call it and return parsed dataclasses from
``types``.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from investigations.mimecast import auth as mc_auth
from investigations.mimecast.archive_query import ArchiveQuery
from investigations.mimecast.config import MimecastConfig
from investigations.mimecast.errors import (
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastConfigError,
    MimecastConnectionError,
    MimecastError,
    MimecastInvalidRequest,
    MimecastNotFound,
    MimecastRateLimited,
    MimecastServerError,
    MimecastTimeout,
    explain_code,
)
from investigations.mimecast.pacing import RatePacer
from investigations.mimecast.types import (
    ArchiveMessage,
    ArchiveMessageDetail,
    ArchiveSearchItem,
    AttachmentLog,
    BinaryContent,
    BlockedSenderPolicy,
    DecodedUrl,
    Group,
    GroupMember,
    HashSearchResult,
    HashStatus,
    HeldMessage,
    HeldReleaseLog,
    HoldActionResult,
    ImpersonationLog,
    Incident,
    ManagedUrl,
    MessageInfo,
    Page,
    PerformanceDetail,
    PhishingCampaign,
    PhishingUserResult,
    Rejection,
    SafeScore,
    SafeScoreSummary,
    SiemBatchPage,
    SiemFile,
    TrackedEmail,
    TrainingDetails,
    UrlClickLog,
    format_datetime,
    parse_datetime,
)
from investigations.mimecast.urls import (
    API2_DEFAULT_BASE_URL,
    DISCOVERY_BASE_URL,
    validate_base_url,
    validate_download_url,
)

logger = logging.getLogger("investigations.mimecast")

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504, 509})
# Statuses after which a non-idempotent call (create incident, release, reject) can be retried
# safely because Mimecast did not run the function: 429 (documented) and 503 (not accepted).
WRITE_SAFE_STATUSES = frozenset({503})
BINDING_EXPIRED = "err_xdk_binding_expired"
TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an error code, not a secret

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
GROUP_MEMBERS_MAX_PAGE_SIZE = 500
AWARENESS_MAX_PAGE_SIZE = 500
SEARCH_HASH_MAX = 100
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
    # Web security (SWG) events: not in the public contract (§4.23 unverified), served by the simulator.
    "web security",
)
_HASH_RE = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


@dataclass
class _Response:
    status: int
    headers: Any
    content: bytes
    body: Any  # parsed JSON, or None for a binary answer
    request_id: str


def _default_now() -> datetime:
    return datetime.now(UTC)


def _default_request_id() -> str:
    return str(uuid.uuid4())


def _flatten_errors(body: Any) -> list[dict[str, Any]]:
    """Flatten ``fail[]`` into a list of {code, message, field, retryable}.

    1.0 nests errors in ``fail[].errors[]``; 2.0 may put code/message directly on the fail item.
    """
    if not isinstance(body, dict):
        return []
    fail = body.get("fail")
    if isinstance(fail, dict):
        fail = [fail]
    if not isinstance(fail, list):
        return []
    errors: list[dict[str, Any]] = []
    for item in fail:
        if not isinstance(item, dict):
            errors.append({"code": "", "message": str(item)[:300], "field": "", "retryable": False})
            continue
        nested = item.get("errors")
        entries = nested if isinstance(nested, list) and nested else [item]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            errors.append(
                {
                    "code": str(entry.get("code") or ""),
                    "message": str(entry.get("message") or ""),
                    "field": str(entry.get("field") or ""),
                    "retryable": bool(entry.get("retryable", False)),
                }
            )
        if not any(isinstance(e, dict) for e in entries):
            errors.append({"code": "", "message": "", "field": "", "retryable": False})
    return errors


def _error_from_entries(
    errors: list[dict[str, Any]], *, status: int | None, request_id: str, endpoint: str, cls=None
) -> MimecastError:
    first = errors[0] if errors else {"code": "", "message": "", "field": "", "retryable": False}
    code, message, field_name = first["code"], first["message"], first["field"]
    if cls is None:
        cls = MimecastApiError
        if code in (BINDING_EXPIRED, TOKEN_EXPIRED, "err_developer_key", "InvalidClientIdentifier", "app_forbidden"):
            cls = MimecastAuthError
    plain = explain_code(code, message, field_name)
    if len(errors) > 1:
        plain += f" ({len(errors) - 1} more error(s) reported.)"
    return cls(
        plain,
        code=code,
        field=field_name,
        status=status,
        retryable=first["retryable"],
        request_id=request_id,
        endpoint=endpoint,
        errors=errors,
    )


class MimecastClient:
    """A client for Mimecast API 1.0 and 2.0. Thread-safe for concurrent calls."""

    def __init__(
        self,
        config: MimecastConfig,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _default_now,
        request_id_factory: Callable[[], str] = _default_request_id,
        rng: random.Random | None = None,
        pacer: RatePacer | None = None,
    ) -> None:
        self.config = config
        # Shared by the clients of one process that spend one Mimecast budget (see pacing.py).
        self.pacer = pacer or RatePacer(clock)
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._new_request_id = request_id_factory
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._lock = threading.RLock()
        self._tokens = mc_auth.TokenCache(clock, config.token_refresh_margin)
        self._keys: mc_auth.AccessKeys | None = None
        self._discovered = False
        self._check_config()
        allowed = config.allowed_hosts
        if config.base_url:
            self._base_url = validate_base_url(config.base_url, allowed)
        elif config.api_version == 2:
            self._base_url = API2_DEFAULT_BASE_URL
        else:
            self._base_url = ""  # learnt from discover-authentication
        if config.api_version == 1 and config.access_key and config.secret_key:
            mc_auth.decode_secret_key(config.secret_key)  # fail early on a mangled key
            self._keys = mc_auth.AccessKeys(config.access_key, config.secret_key, from_login=False)

    def __repr__(self) -> str:
        return f"MimecastClient(api_version={self.config.api_version}, base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    def _check_config(self) -> None:
        c = self.config
        if c.api_version == 1:
            if not c.app_id or not c.app_key:
                raise MimecastConfigError("API 1.0 needs the application ID and application key.")
            has_keys = bool(c.access_key and c.secret_key)
            if not has_keys and not (c.username and c.password):
                raise MimecastConfigError(
                    "API 1.0 needs either an access key and secret key, or a user name and password to log in."
                )
            if has_keys and not c.base_url:
                raise MimecastConfigError("Give the regional Mimecast base URL to use with the access key.")
        else:
            if not c.client_id or not c.client_secret:
                raise MimecastConfigError("API 2.0 needs the client ID and client secret.")

    # ------------------------------------------------------------------------------ the one request

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        auth: str = "api",
        url: str | None = None,
        base_url: str | None = None,
        binary: bool = False,
        idempotent: bool = True,
    ) -> _Response:
        """Send one logical call, with retries, re-authentication and error mapping.

        ``auth`` is "api" (sign or bear according to the API version), "discover" and "login" (API 1.0
        login flow), "token" (OAuth token request) or "none" (pre-signed downloads, no credentials).
        """
        cfg = self.config
        attempt = 0
        reauthenticated = False
        booked = False  # a refused call's retry already holds its start (reserve_after_429)
        paced = auth != "none"  # pre-signed downloads are not API calls
        endpoint = path
        if url is not None:
            parts = urlsplit(url)
            endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"  # never log a pre-signed query
        while True:
            if url is not None:
                target = url
            else:
                root = base_url or self._base_url
                if not root:
                    self._ensure_keys()
                    root = self._base_url
                target = root + path
            request_id = self._new_request_id()
            headers = {"User-Agent": cfg.user_agent}
            if not binary:
                headers["Accept"] = "application/json"
            data: Any = None
            if body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(body).encode("utf-8")
            elif form is not None:
                data = form
            used_credential = self._auth_headers(auth, path, request_id, headers)

            if paced and not booked:
                self._wait_for_budget(request_id, endpoint)
            booked = False
            started = self._clock()
            error: MimecastError | None = None
            may_retry = False
            response = None
            try:
                response = self._session.request(
                    method,
                    target,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=(cfg.connect_timeout, cfg.read_timeout),
                    verify=cfg.verify_ssl,
                    allow_redirects=False,
                    auth=_no_netrc,
                )
                content = response.content
            except requests.exceptions.ConnectTimeout:
                error = MimecastTimeout("Mimecast could not be reached in time (connection timed out).")
                may_retry = True
            except requests.exceptions.ReadTimeout:
                error = MimecastTimeout("Mimecast did not answer in time.")
                may_retry = idempotent
            except requests.exceptions.SSLError:
                error = MimecastConnectionError(
                    "The secure connection to Mimecast failed (TLS certificate could not be verified).",
                    retryable=False,
                )
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
                error = MimecastConnectionError("The connection to Mimecast failed or was interrupted.")
                may_retry = idempotent
            except requests.exceptions.RequestException:
                error = MimecastConnectionError("The request to Mimecast could not be sent.", retryable=False)
            finally:
                if paced:
                    self.pacer.release(response.headers if response is not None else None)
            elapsed_ms = (self._clock() - started) * 1000.0

            if error is not None:
                error.request_id, error.endpoint = request_id, endpoint
                self._log(logging.WARNING, method, endpoint, type(error).__name__, elapsed_ms, request_id, attempt)
                if may_retry and attempt < cfg.max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise error

            status = response.status_code
            level = logging.INFO if status < 400 else logging.WARNING
            self._log(level, method, endpoint, status, elapsed_ms, request_id, attempt)

            if 300 <= status < 400:
                raise MimecastBadResponse(
                    "Mimecast answered with a redirect, which the portal never follows; check the base URL.",
                    status=status,
                    request_id=request_id,
                    endpoint=endpoint,
                )

            if status == 429:
                reset_s = self._rate_limit_reset(response.headers)
                retries = cfg.max_retries if cfg.max_rate_limit_retries is None else cfg.max_rate_limit_retries
                if attempt >= retries or (reset_s is not None and reset_s > cfg.max_rate_limit_wait):
                    raise MimecastRateLimited(
                        "Mimecast is limiting the number of requests; try again in a little while.",
                        retry_after=reset_s,
                        status=429,
                        request_id=request_id,
                        endpoint=endpoint,
                    )
                if reset_s is not None and paced:
                    # Mimecast said when a call comes back: the retry takes the next start after
                    # that, behind the calls of this process already waiting for the budget.
                    wait = self.pacer.reserve_after_429(reset_s)
                    booked = True
                else:
                    wait = max(reset_s or 0.0, self._backoff(attempt)) + self._rng.uniform(0, cfg.backoff_base / 2)
                logger.info("mimecast rate limited on %s; waiting %.3f s (request id %s)", endpoint, wait, request_id)
                self._sleep(wait)
                attempt += 1
                continue

            if status >= 500:
                safe = idempotent or status in WRITE_SAFE_STATUSES
                if safe and status in RETRYABLE_STATUSES and attempt < cfg.max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise MimecastServerError(
                    f"Mimecast had an internal problem (HTTP {status}) and could not answer; try again later.",
                    status=status,
                    request_id=request_id,
                    endpoint=endpoint,
                )

            parsed: Any = None
            looks_json = "json" in response.headers.get("Content-Type", "").lower()
            if not binary or looks_json or status >= 400:
                try:
                    parsed = json.loads(content.decode("utf-8")) if content.strip() else None
                except (ValueError, UnicodeDecodeError):
                    parsed = None
                    if not binary and status < 400:
                        raise MimecastBadResponse(
                            "Mimecast's answer was cut off or is not valid JSON.",
                            status=status,
                            request_id=request_id,
                            endpoint=endpoint,
                        ) from None
                if (
                    binary
                    and status < 400
                    and not (isinstance(parsed, dict) and ({"meta", "fail", "data"} & parsed.keys()))
                ):
                    parsed = None  # a JSON file, not a Mimecast envelope
            errors = _flatten_errors(parsed)

            if auth == "api" and not reauthenticated and self._credentials_expired(status, errors):
                self._refresh_credentials(used_credential, errors)
                reauthenticated = True
                continue

            if status >= 400:
                raise self._http_error(status, errors, request_id, endpoint, auth)

            if binary and parsed is None:
                return _Response(status, response.headers, content, None, request_id)
            if not binary and parsed is None:
                raise MimecastBadResponse(
                    "Mimecast sent an empty answer.", status=status, request_id=request_id, endpoint=endpoint
                )
            if errors:
                raise _error_from_entries(errors, status=status, request_id=request_id, endpoint=endpoint)
            self._check_meta_status(parsed, request_id, endpoint)
            return _Response(status, response.headers, content, parsed, request_id)

    def _wait_for_budget(self, request_id: str, endpoint: str) -> None:
        wait = self.pacer.acquire()
        if wait > self.config.max_rate_limit_wait:
            self.pacer.cancel()
            raise MimecastRateLimited(
                "Mimecast is limiting the number of requests; try again in a little while.",
                retry_after=wait,
                status=None,
                request_id=request_id,
                endpoint=endpoint,
            )
        if wait > 0:
            self._sleep(wait)

    def _log(self, level, method, endpoint, outcome, elapsed_ms, request_id, attempt) -> None:
        logger.log(
            level,
            "mimecast %s %s -> %s in %.0f ms (request id %s, attempt %d)",
            method,
            endpoint,
            outcome,
            elapsed_ms,
            request_id,
            attempt + 1,
            extra={
                "mimecast_endpoint": endpoint,
                "mimecast_status": outcome,
                "mimecast_duration_ms": round(elapsed_ms, 1),
                "mimecast_request_id": request_id,
            },
        )

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        base = min(cfg.backoff_max, cfg.backoff_base * (2**attempt))
        return base * (0.5 + self._rng.random() / 2)

    @staticmethod
    def _rate_limit_reset(headers) -> float | None:
        value = headers.get("X-RateLimit-Reset")
        if value is None:
            return None
        try:
            millis = float(str(value).strip())
        except ValueError:
            return None
        return max(0.0, millis / 1000.0)

    def _check_meta_status(self, body: Any, request_id: str, endpoint: str) -> None:
        if not isinstance(body, dict):
            return
        meta = body.get("meta")
        if not isinstance(meta, dict) or "status" not in meta:
            return
        try:
            meta_status = int(meta["status"])
        except (TypeError, ValueError):
            raise MimecastBadResponse(
                "Mimecast's answer has an unreadable status.", request_id=request_id, endpoint=endpoint
            ) from None
        if 200 <= meta_status < 300:
            return
        kwargs = {"status": meta_status, "request_id": request_id, "endpoint": endpoint, "code": "meta_status"}
        if meta_status in (401, 403):
            raise MimecastAuthError(
                f"Mimecast refused the operation (status {meta_status}); the API user may lack permission.", **kwargs
            )
        if meta_status >= 500:
            raise MimecastServerError(
                f"Mimecast reported an internal problem (status {meta_status}); try again later.", **kwargs
            )
        raise MimecastApiError(f"Mimecast reported that the request failed (status {meta_status}).", **kwargs)

    def _http_error(self, status, errors, request_id, endpoint, auth) -> MimecastError:
        cls = MimecastAuthError if status in (401, 403, 418) else MimecastApiError
        if errors:
            return _error_from_entries(errors, status=status, request_id=request_id, endpoint=endpoint, cls=cls)
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
        elif status == 404:
            return MimecastNotFound(
                "Mimecast does not know this API endpoint or record (HTTP 404).",
                status=status,
                request_id=request_id,
                endpoint=endpoint,
            )
        else:
            message = f"Mimecast refused the request (HTTP {status})."
        return cls(message, status=status, request_id=request_id, endpoint=endpoint)

    # ------------------------------------------------------------------------------ authentication

    def _auth_headers(self, auth: str, path: str, request_id: str, headers: dict[str, str]) -> Any:
        """Add authentication headers for this attempt; return the credential used (for refresh)."""
        cfg = self.config
        if auth == "none" or auth == "token":
            return None
        date_text = mc_auth.format_mc_date(self._now())
        if auth in ("discover", "login"):
            headers.update({"x-mc-app-id": cfg.app_id, "x-mc-date": date_text, "x-mc-req-id": request_id})
            if auth == "login":
                headers["Authorization"] = mc_auth.basic_login_authorization(cfg.auth_type, cfg.username, cfg.password)
            return None
        if cfg.api_version == 2:
            token = self._ensure_token()
            headers["Authorization"] = f"Bearer {token}"
            headers["x-mc-req-id"] = request_id
            return token
        keys = self._ensure_keys()
        headers.update(
            mc_auth.signed_headers(
                access_key=keys.access_key,
                secret_key=keys.secret_key,
                app_id=cfg.app_id,
                app_key=cfg.app_key,
                uri=path,
                date=date_text,
                request_id=request_id,
            )
        )
        return keys

    def _credentials_expired(self, status: int, errors: list[dict[str, Any]]) -> bool:
        codes = {e["code"] for e in errors}
        if self.config.api_version == 2:
            return status == 401 or TOKEN_EXPIRED in codes
        # Keys from a login are a binding Mimecast can also revoke (401): one new login, as for expiry.
        revoked = status == 401 and self._keys is not None and self._keys.from_login
        return status == 418 or BINDING_EXPIRED in codes or revoked

    def _refresh_credentials(self, used: Any, errors: list[dict[str, Any]]) -> None:
        cfg = self.config
        with self._lock:
            if cfg.api_version == 2:
                if self._tokens.get() in (None, used):
                    logger.info("mimecast access token rejected; requesting a new one")
                    self._tokens.invalidate()
                    self._fetch_token()
                return
            if not cfg.uses_login:
                raise MimecastAuthError(
                    "The configured Mimecast access key has expired; issue new keys or configure a login.",
                    code=BINDING_EXPIRED,
                    status=418,
                )
            if self._keys is None or self._keys is used:
                logger.info("mimecast access key binding expired; logging in again")
                self._keys = None
                self._login()

    def _ensure_token(self) -> str:
        token = self._tokens.get()
        if token:
            return token
        with self._lock:
            token = self._tokens.get()
            if token:
                return token
            return self._fetch_token()

    def _fetch_token(self) -> str:
        cfg = self.config
        response = self._request(
            "POST",
            "/oauth/token",
            form={"client_id": cfg.client_id, "client_secret": cfg.client_secret, "grant_type": "client_credentials"},
            auth="token",
        )
        body = response.body if isinstance(response.body, dict) else {}
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise MimecastBadResponse(
                "Mimecast's token answer did not contain an access token.", endpoint="/oauth/token"
            )
        try:
            expires_in = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            expires_in = 1800.0
        self._tokens.store(token, expires_in)
        return token

    def _ensure_keys(self) -> mc_auth.AccessKeys:
        keys = self._keys
        if keys is not None:
            return keys
        with self._lock:
            if self._keys is None:
                self._login()
            return self._keys

    def _discovery_base(self) -> str:
        cfg = self.config
        if cfg.discovery_url:
            return validate_base_url(cfg.discovery_url, cfg.allowed_hosts)
        if self._base_url:
            host = urlsplit(self._base_url).hostname or ""
            netloc = urlsplit(self._base_url).netloc
            allowed = {h.lower() for h in cfg.allowed_hosts}
            if host in allowed or netloc in allowed:
                return self._base_url  # the simulator answers discovery itself
        return DISCOVERY_BASE_URL

    def _login(self) -> None:
        """discover-authentication (once, to learn the region), then login; sets ``self._keys``."""
        cfg = self.config
        if not self._discovered:
            response = self._request(
                "POST",
                "/api/login/discover-authentication",
                body={"data": [{"emailAddress": cfg.username}]},
                auth="discover",
                base_url=self._discovery_base(),
            )
            first = self._first(response.body, "/api/login/discover-authentication")
            region = first.get("region")
            region_api = region.get("api") if isinstance(region, dict) else None
            if isinstance(region_api, str) and region_api:
                try:
                    self._base_url = validate_base_url(region_api, cfg.allowed_hosts)
                except MimecastConfigError as exc:
                    raise MimecastConfigError(
                        f"Mimecast's discovery answer pointed to a host that is not allowed. {exc.message}"
                    ) from None
            elif not self._base_url:
                raise MimecastAuthError("Mimecast did not say which region this account is in; configure the base URL.")
            self._discovered = True
        response = self._request("POST", "/api/login/login", body={"data": [{"userName": cfg.username}]}, auth="login")
        first = self._first(response.body, "/api/login/login")
        access_key, secret_key = first.get("accessKey"), first.get("secretKey")
        if not isinstance(access_key, str) or not isinstance(secret_key, str) or not access_key or not secret_key:
            raise MimecastBadResponse("Mimecast's login answer did not contain keys.", endpoint="/api/login/login")
        mc_auth.decode_secret_key(secret_key)
        self._keys = mc_auth.AccessKeys(access_key, secret_key, from_login=True)

    def authenticate(self) -> None:
        """Obtain credentials now (login or token); used by "test connection"."""
        if self.config.api_version == 2:
            self._ensure_token()
        else:
            self._ensure_keys()

    # ----------------------------------------------------------------------------- envelope helpers

    def _call(self, path: str, item: dict[str, Any] | None = None, *, meta=None, idempotent=True) -> dict:
        body: dict[str, Any] = {"data": [item] if item is not None else []}
        if meta:
            body["meta"] = meta
        response = self._request("POST", path, body=body, idempotent=idempotent)
        if not isinstance(response.body, dict):
            raise MimecastBadResponse("Mimecast's answer has an unexpected shape.", endpoint=path)
        return response.body

    @staticmethod
    def _data(body: Any, path: str) -> list[Any]:
        data = body.get("data", []) if isinstance(body, dict) else None
        if data is None:
            return []
        if not isinstance(data, list):
            raise MimecastBadResponse("Mimecast's answer has an unexpected shape (data is not a list).", endpoint=path)
        return data

    def _first(self, body: Any, path: str) -> dict[str, Any]:
        data = self._data(body, path)
        if not data:
            raise MimecastNotFound("Mimecast returned no result for this request.", endpoint=path)
        if not isinstance(data[0], dict):
            raise MimecastBadResponse("Mimecast's answer has an unexpected shape.", endpoint=path)
        return data[0]

    def _first_or_empty(self, body: Any, path: str) -> dict[str, Any]:
        data = self._data(body, path)
        if not data:
            return {}
        if not isinstance(data[0], dict):
            raise MimecastBadResponse("Mimecast's answer has an unexpected shape.", endpoint=path)
        return data[0]

    def _list_in_first(self, body: Any, path: str, key: str) -> list[dict[str, Any]]:
        first = self._first_or_empty(body, path)
        items = first.get(key, [])
        if items is None:
            return []
        if not isinstance(items, list):
            raise MimecastBadResponse(
                f"Mimecast's answer has an unexpected shape ({key} is not a list).", endpoint=path
            )
        return [i for i in items if isinstance(i, dict)]

    def _flat_list(self, body: Any, path: str) -> list[dict[str, Any]]:
        return [i for i in self._data(body, path) if isinstance(i, dict)]

    def _page(
        self,
        path: str,
        item: dict[str, Any] | None,
        *,
        parse: Callable[[dict[str, Any]], T],
        key: str | None,
        page_size: int,
        page_token: str | None,
        cap: int = MAX_PAGE_SIZE,
        send_page_size: bool = True,
    ) -> Page[T]:
        pagination: dict[str, Any] = {}
        if send_page_size:
            pagination["pageSize"] = max(1, min(int(page_size), cap))
        if page_token:
            pagination["pageToken"] = page_token
        body = self._call(path, item, meta={"pagination": pagination} if pagination else None)
        raw_items = self._list_in_first(body, path, key) if key else self._flat_list(body, path)
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        pag = meta.get("pagination") if isinstance(meta.get("pagination"), dict) else {}
        next_token = pag.get("next") if isinstance(pag.get("next"), str) and pag.get("next") else None
        previous = pag.get("previous") if isinstance(pag.get("previous"), str) and pag.get("previous") else None
        if not raw_items:
            next_token = None  # the last page can still carry a next token (contract §0)
        total = pag.get("totalCount")
        size = pag.get("pageSize")
        return Page(
            items=[parse(i) for i in raw_items],
            next_token=next_token,
            previous_token=previous,
            total_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
            page_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
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

    # ---------------------------------------------------------------------------- message finder

    def search_messages(
        self,
        *,
        message_id: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        subject: str | None = None,
        sender_ip: str | None = None,
        route: str | list[str] | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_reason: str = "",
    ) -> list[TrackedEmail]:
        """Message Finder (track and trace) search: by message-id, or by sender/recipient/subject/IP/route."""
        path = "/api/message-finder/search"
        advanced = {
            k: v
            for k, v in (
                ("from", sender),
                ("to", recipient),
                ("subject", subject),
                ("senderIP", sender_ip),
                ("route", route),
            )
            if v not in (None, "", [])
        }
        if message_id and advanced:
            raise MimecastInvalidRequest("Search either by message-id or by sender/recipient/subject/IP, not both.")
        if not message_id and not advanced:
            raise MimecastInvalidRequest("Give a message-id, or at least one of sender, recipient, subject or IP.")
        item: dict[str, Any] = {}
        if start:
            item["start"] = format_datetime(start)
        if end:
            item["end"] = format_datetime(end)
        if search_reason:
            item["searchReason"] = search_reason
        if message_id:
            item["messageId"] = message_id.strip()
        else:
            item["advancedTrackAndTraceOptions"] = advanced
        body = self._call(path, item)
        return [TrackedEmail.from_api(i) for i in self._list_in_first(body, path, "trackedEmails")]

    def get_message_info(self, message_id: str) -> MessageInfo:
        path = "/api/message-finder/get-message-info"
        return MessageInfo.from_api(self._first(self._call(path, {"id": message_id}), path))

    # ------------------------------------------------------------------------------------ archive

    def archive_search(
        self, query: ArchiveQuery, *, admin: bool = False, page_token: str | None = None
    ) -> Page[ArchiveSearchItem]:
        """Archive search; ``admin`` searches the whole archive, otherwise the user's own mail.
        Page size and start row travel in the XML query; ``page_token`` in meta.pagination."""
        path = "/api/archive/search"
        item = {"admin": bool(admin), "query": query.to_xml()}
        return self._page(
            path,
            item,
            parse=ArchiveSearchItem.from_api,
            key="items",
            page_size=query.page_size,
            page_token=page_token,
            send_page_size=False,
        )

    def get_archive_message_list(
        self,
        *,
        view: str = "INBOX",
        mailbox: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        include_delegates: bool | None = None,
        include_aliases: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[ArchiveMessage]:
        if view not in ("INBOX", "SENT"):
            raise MimecastInvalidRequest("The archive view must be INBOX or SENT.")
        item: dict[str, Any] = {"view": view}
        _put(item, "mailbox", mailbox)
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        _put(item, "includeDelegates", include_delegates)
        _put(item, "includeAliases", include_aliases)
        return self._page(
            "/api/archive/get-message-list",
            item,
            parse=ArchiveMessage.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
        )

    def get_archive_message_detail(self, message_id: str) -> ArchiveMessageDetail:
        path = "/api/archive/get-message-detail"
        return ArchiveMessageDetail.from_api(self._first(self._call(path, {"id": message_id}), path))

    def get_message_part(
        self, message_id: str, *, context: str = "RECEIVED", part_type: str = "RFC822", mailbox: str | None = None
    ) -> BinaryContent:
        """Download a message as RFC822 (.eml), HTML or PLAIN, as received or as delivered."""
        if context not in ("RECEIVED", "DELIVERED"):
            raise MimecastInvalidRequest("The message context must be RECEIVED or DELIVERED.")
        if part_type not in ("RFC822", "HTML", "PLAIN", "TRANSMISSION_MESSAGE_BODY"):
            raise MimecastInvalidRequest("The message part type must be RFC822, HTML or PLAIN.")
        item: dict[str, Any] = {"id": message_id, "context": context, "type": part_type}
        _put(item, "mailbox", mailbox)
        return self._download("/api/archive/get-message-part", item)

    def get_file(self, attachment_id: str) -> BinaryContent:
        """Download an attachment by the id from get-message-detail's attachments[]."""
        return self._download("/api/archive/get-file", {"id": attachment_id})

    def _download(self, path: str, item: dict[str, Any]) -> BinaryContent:
        response = self._request("POST", path, body={"data": [item]}, binary=True)
        if response.body is not None:
            # A JSON envelope without fail: API 2.0 may hand back a pre-signed link (contract §4.6).
            first = self._first(response.body, path)
            link = first.get("url")
            if not isinstance(link, str) or not link:
                raise MimecastBadResponse("Mimecast did not return the file.", endpoint=path)
            link = validate_download_url(link, self.config.allowed_hosts)
            response = self._request("GET", path, url=link, auth="none", binary=True)
        return BinaryContent(
            content=response.content,
            content_type=response.headers.get("Content-Type", ""),
            filename=_filename_from_disposition(response.headers.get("Content-Disposition", "")),
        )

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
        if len(chosen) != 1:
            raise MimecastInvalidRequest("Remediate by exactly one of a file hash, a message-id or a URL.")
        if not reason.strip():
            raise MimecastInvalidRequest("A reason is required to create a remediation incident.")
        item: dict[str, Any] = {"reason": reason, "searchBy": chosen[0]}
        if file_hash:
            item["hashOrMessageId"] = file_hash.strip()
        elif message_id:
            item["hashOrMessageId"] = _bracket_message_id(message_id)
        else:
            item["url"] = url
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        _put(item, "from", sender or None)
        _put(item, "to", recipient or None)
        path = "/api/ttp/remediation/create"
        return Incident.from_api(self._first(self._call(path, item, idempotent=False), path))

    def restore_remediation_incident(self, *, reason: str, restore_code: str) -> Incident:
        """Create a restore incident that puts back what a remediation removed.

        The contract (§4.8) lists no restore fields; this follows the FortiSOAR guide ("Incident Type:
        Remediate or Restore", "Restore Code"): ``type: "restore"`` with ``restoreCode``."""
        if not restore_code.strip():
            raise MimecastInvalidRequest("The restore code of the remediation incident is required.")
        if not reason.strip():
            raise MimecastInvalidRequest("A reason is required to restore messages.")
        item = {"type": "restore", "reason": reason, "restoreCode": restore_code.strip()}
        path = "/api/ttp/remediation/create"
        return Incident.from_api(self._first(self._call(path, item, idempotent=False), path))

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
        ids = [_bracket_message_id(m) for m in (message_ids or []) if m and m.strip()]
        chosen = [n for n, v in (("message_ids", ids), ("hash", file_hash), ("url", url)) if v]
        if len(chosen) != 1:
            raise MimecastInvalidRequest("Remediate by exactly one of a list of message-ids, a file hash or a URL.")
        if not reason.strip():
            raise MimecastInvalidRequest("A reason is required to create a remediation incident.")
        item: dict[str, Any] = {"reason": reason, "searchBy": chosen[0]}
        if ids:
            item["messageIds"] = ids
        elif file_hash:
            item["hash"] = file_hash.strip()
        else:
            item["url"] = url
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        path = "/api/ttp/remediation/v2/create"
        return Incident.from_api(self._first(self._call(path, item, idempotent=False), path))

    def get_incident(self, incident_id: str) -> Incident:
        path = "/api/ttp/remediation/get-incident"
        return Incident.from_api(self._first(self._call(path, {"id": incident_id}), path))

    def find_incidents(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_field: str | None = None,
        search_value: str | None = None,
        types: Iterable[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[Incident]:
        item: dict[str, Any] = {}
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        if search_value:
            item["searchBy"] = [{"fieldName": search_field or "all", "value": search_value}]
        type_list = [t for t in (types or []) if t]
        if type_list:
            item["filterBy"] = [{"fieldName": "type", "value": t} for t in type_list]
        if not item:
            item["start"] = format_datetime(datetime(2000, 1, 1, tzinfo=UTC))  # the API wants one field
        return self._page(
            "/api/ttp/remediation/find-incidents",
            item,
            parse=Incident.from_api,
            key="incidents",
            page_size=page_size,
            page_token=page_token,
        )

    def search_hashes(self, hashes: Iterable[str], *, chunk_size: int = SEARCH_HASH_MAX) -> HashSearchResult:
        """Ask whether any of these hashes was seen in the last year; lists over 100 are split and merged."""
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
        chunk_size = max(1, min(int(chunk_size), SEARCH_HASH_MAX))
        path = "/api/ttp/remediation/search-hash"
        statuses: list[HashStatus] = []
        failed: list[Any] = []
        raws: list[dict[str, Any]] = []
        for offset in range(0, len(unique), chunk_size):
            body = self._call(path, {"hashes": unique[offset : offset + chunk_size]})
            first = self._first_or_empty(body, path)
            raws.append(first)
            for entry in first.get("hashStatus") or []:
                if isinstance(entry, dict):
                    detected = entry.get("detected")
                    statuses.append(
                        HashStatus(
                            hash=str(entry.get("hash") or ""), detected=detected if isinstance(detected, bool) else None
                        )
                    )
            failed.extend(first.get("failedHashes") or [])
        return HashSearchResult(hash_status=statuses, failed_hashes=failed, raw=raws)

    # ---------------------------------------------------------------------------------------- TTP

    def decode_url(self, url: str) -> DecodedUrl:
        path = "/api/ttp/url/decode-url"
        first = self._first(self._call(path, {"url": url}), path)
        decoded = first.get("url")
        success = first.get("success")
        if not isinstance(decoded, str) or not decoded:
            raise MimecastApiError("Mimecast could not decode this URL.", code="decode_failed", endpoint=path)
        return DecodedUrl(original_url=url, url=decoded, success=success is not False, raw=first)

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
        item: dict[str, Any] = {"route": route, "scanResult": scan_result, "oldestFirst": bool(oldest_first)}
        _put(item, "from", format_datetime(start))
        _put(item, "to", format_datetime(end))
        return self._page(
            "/api/ttp/url/get-logs",
            item,
            parse=UrlClickLog.from_api,
            key="clickLogs",
            page_size=page_size,
            page_token=page_token,
        )

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
            _put(item, "exactMatch", exact_match)
        return self._page(
            "/api/ttp/url/get-all-managed-urls",
            item,
            parse=ManagedUrl.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
        )

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
        item: dict[str, Any] = {"oldestFirst": bool(oldest_first)}
        _put(item, "from", format_datetime(start))
        _put(item, "to", format_datetime(end))
        _put(item, "taggedMalicious", tagged_malicious)
        if query:
            item["searchField"] = search_field or "all"
            item["query"] = query
        if identifiers:
            item["identifiers"] = list(identifiers)
        if actions:
            item["actions"] = list(actions)
        return self._page(
            "/api/ttp/impersonation/get-logs",
            item,
            parse=ImpersonationLog.from_api,
            key="impersonationLogs",
            page_size=page_size,
            page_token=page_token,
        )

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
        item: dict[str, Any] = {"route": route, "result": result, "oldestFirst": bool(oldest_first)}
        _put(item, "from", format_datetime(start))
        _put(item, "to", format_datetime(end))
        return self._page(
            "/api/ttp/attachment/get-logs",
            item,
            parse=AttachmentLog.from_api,
            key="attachmentLogs",
            page_size=page_size,
            page_token=page_token,
        )

    # ------------------------------------------------------------------------------------ gateway

    def get_held_messages(
        self,
        *,
        admin: bool = True,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_field: str | None = None,
        search_value: str | None = None,
        route: str | None = None,
        held_group: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[HeldMessage]:
        item: dict[str, Any] = {"admin": bool(admin)}
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        if search_value:
            item["searchBy"] = {"fieldName": search_field or "all", "value": search_value}
        filters = [
            f for f in ({"route": route} if route else None, {"heldGroup": held_group} if held_group else None) if f
        ]
        if filters:
            item["filterBy"] = filters
        return self._page(
            "/api/gateway/get-hold-message-list",
            item,
            parse=HeldMessage.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
        )

    def get_held_release_logs(
        self,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_field: str | None = None,
        search_value: str | None = None,
        filters: Iterable[tuple[str, str]] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[HeldReleaseLog]:
        item: dict[str, Any] = {}
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        if search_value:
            item["searchBy"] = {"fieldName": search_field or "all", "value": search_value}
        filter_list = [{"fieldName": f, "value": v} for f, v in (filters or [])]
        if filter_list:
            item["filterBy"] = filter_list
        return self._page(
            "/api/gateway/get-held-release-logs",
            item,
            parse=HeldReleaseLog.from_api,
            key="heldReleaseLogs",
            page_size=page_size,
            page_token=page_token,
        )

    def get_rejections(
        self,
        *,
        mailbox: str | None = None,
        admin: bool = True,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        search_field: str | None = None,
        search_value: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[Rejection]:
        item: dict[str, Any] = {"admin": bool(admin)}
        _put(item, "mailbox", mailbox)
        _put(item, "start", format_datetime(start))
        _put(item, "end", format_datetime(end))
        if search_value:
            item["searchBy"] = {"fieldName": search_field or "all", "value": search_value}
        return self._page(
            "/api/gateway/get-rejections",
            item,
            parse=Rejection.from_api,
            key="rejections",
            page_size=page_size,
            page_token=page_token,
        )

    def release_held_message(self, held_id: str) -> HoldActionResult:
        path = "/api/gateway/hold-release"
        first = self._first(self._call(path, {"id": held_id}, idempotent=False), path)
        return HoldActionResult(id=str(first.get("id") or held_id), ok=first.get("release") is True, raw=first)

    def reject_held_messages(
        self, held_ids: Iterable[str], *, message: str = "", reason_type: str = "", notify: bool = False
    ) -> list[HoldActionResult]:
        ids = [i for i in held_ids if i]
        if not ids:
            raise MimecastInvalidRequest("Give at least one held message to reject.")
        item: dict[str, Any] = {"ids": ids, "notify": bool(notify)}
        _put(item, "message", message or None)
        _put(item, "reasonType", reason_type or None)
        path = "/api/gateway/hold-reject"
        body = self._call(path, item, idempotent=False)
        return [
            HoldActionResult(id=str(d.get("id") or ""), ok=d.get("reject") is True, raw=d)
            for d in self._flat_list(body, path)
        ]

    # ------------------------------------------------------------------------- awareness training

    def get_performance_details(
        self,
        *,
        include_user_details: bool = True,
        search_field: str | None = None,
        search_value: str | None = None,
        page_size: int = AWARENESS_MAX_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[PerformanceDetail]:
        item: dict[str, Any] = {"includeUserDetails": bool(include_user_details)}
        if search_value:
            item["searchBy"] = {"fieldName": search_field or "email", "value": search_value}
        return self._page(
            "/api/awareness-training/company/get-performance-details",
            item,
            parse=PerformanceDetail.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
            cap=AWARENESS_MAX_PAGE_SIZE,
        )

    def get_phishing_campaigns(self, campaign_id: str | None = None) -> list[PhishingCampaign]:
        path = "/api/awareness-training/phishing/campaign/get-campaign"
        body = self._call(path, {"id": campaign_id} if campaign_id else None)
        return [PhishingCampaign.from_api(d) for d in self._flat_list(body, path)]

    def get_phishing_user_data(
        self, campaign_id: str, *, page_size: int = AWARENESS_MAX_PAGE_SIZE, page_token: str | None = None
    ) -> Page[PhishingUserResult]:
        return self._page(
            "/api/awareness-training/phishing/campaign/get-user-data",
            {"id": campaign_id},
            parse=PhishingUserResult.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
            cap=AWARENESS_MAX_PAGE_SIZE,
        )

    def get_safe_score_details(
        self, *, page_size: int = AWARENESS_MAX_PAGE_SIZE, page_token: str | None = None
    ) -> Page[SafeScore]:
        return self._page(
            "/api/awareness-training/company/get-safe-score-details",
            None,
            parse=SafeScore.from_api,
            key=None,
            page_size=page_size,
            page_token=page_token,
            cap=AWARENESS_MAX_PAGE_SIZE,
        )

    def get_safe_score_summary(self) -> SafeScoreSummary:
        path = "/api/awareness-training/company/get-safe-score-summary"
        return SafeScoreSummary.from_api(self._first_or_empty(self._call(path), path))

    def get_training_details(self) -> TrainingDetails:
        path = "/api/awareness-training/user/get-training-details"
        return TrainingDetails.from_api(self._first_or_empty(self._call(path), path))

    # --------------------------------------------------------------------------- policy, directory

    def get_blocked_sender_policies(self, policy_id: str | None = None) -> list[BlockedSenderPolicy]:
        path = "/api/policy/blockedsenders/get-policy"
        body = self._call(path, {"id": policy_id} if policy_id else None)
        return [BlockedSenderPolicy.from_api(d) for d in self._flat_list(body, path)]

    def find_groups(
        self,
        *,
        query: str | None = None,
        source: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[Group]:
        if source not in (None, "cloud", "ldap"):
            raise MimecastInvalidRequest("The group source must be cloud or ldap.")
        item: dict[str, Any] = {}
        _put(item, "query", query or None)
        _put(item, "source", source)
        return self._page(
            "/api/directory/find-groups",
            item or None,
            parse=Group.from_api,
            key="folders",
            page_size=page_size,
            page_token=page_token,
        )

    def get_group_members(
        self, group_id: str, *, page_size: int = GROUP_MEMBERS_MAX_PAGE_SIZE, page_token: str | None = None
    ) -> Page[GroupMember]:
        return self._page(
            "/api/directory/get-group-members",
            {"id": group_id},
            parse=GroupMember.from_api,
            key="groupMembers",
            page_size=page_size,
            page_token=page_token,
            cap=GROUP_MEMBERS_MAX_PAGE_SIZE,
        )

    # --------------------------------------------------------------------------------------- SIEM

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
        if self.config.api_version != 2:
            raise MimecastConfigError("SIEM batch events need API 2.0 credentials.")
        types = [t for t in event_types if t]
        unknown = [t for t in types if t not in SIEM_EVENT_TYPES]
        if not types or unknown:
            raise MimecastInvalidRequest("Choose SIEM event types from: " + ", ".join(SIEM_EVENT_TYPES) + ".")
        path = "/siem/v1/batch/events/cg"
        params: dict[str, Any] = {
            "type": ",".join(types),
            "pageSize": max(1, min(int(page_size), MAX_PAGE_SIZE)),
            "dateRangeStartsAt": _date_text(start_date),
        }
        if end_date:
            params["dateRangeEndsAt"] = _date_text(end_date)
        if next_page:
            params["nextPage"] = next_page
        body = self._request("GET", path, params=params).body
        if not isinstance(body, dict):
            raise MimecastBadResponse("Mimecast's SIEM answer has an unexpected shape.", endpoint=path)
        files: list[SiemFile] = []
        events: list[dict[str, Any]] = []
        for entry in body.get("value") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                continue
            size = entry.get("size")
            files.append(
                SiemFile(
                    url=entry["url"],
                    size=size if isinstance(size, int) else None,
                    expiry=parse_datetime(entry.get("expiry")),
                )
            )
        for siem_file in files:
            link = validate_download_url(siem_file.url, self.config.allowed_hosts)
            content = self._request("GET", path, url=link, auth="none", binary=True).content
            events.extend(_parse_ndjson(content, path))
        token = body.get("@nextPage")
        return SiemBatchPage(
            events=events,
            files=files,
            next_page=token if isinstance(token, str) and token else None,
            is_caught_up=body.get("isCaughtUp") is True,
            raw=body,
        )

    def iter_siem_batches(
        self,
        *,
        event_types: Iterable[str],
        start_date: date | str,
        end_date: date | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        next_page: str | None = None,
        max_pages: int | None = None,
    ) -> Iterator[SiemBatchPage]:
        """Yield batch pages until Mimecast says it is caught up or gives no next page.

        Keep the last page's ``next_page`` to resume later."""
        types = list(event_types)
        token = next_page
        seen: set[str] = set()
        count = 0
        while True:
            page = self.get_siem_batch(
                event_types=types, start_date=start_date, end_date=end_date, page_size=page_size, next_page=token
            )
            count += 1
            yield page
            if page.is_caught_up or not page.next_page or page.next_page in seen:
                return
            if max_pages is not None and count >= max_pages:
                return
            seen.add(page.next_page)
            token = page.next_page


# ---------------------------------------------------------------------------------------- helpers


def _no_netrc(request):
    """An explicit no-op auth, so requests never adds ~/.netrc credentials to any call."""
    return request


def _put(item: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        item[key] = value


def _bracket_message_id(message_id: str) -> str:
    value = message_id.strip()
    if not value.startswith("<"):
        value = "<" + value
    if not value.endswith(">"):
        value += ">"
    return value


def _date_text(value: date | str) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _filename_from_disposition(header: str) -> str:
    match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", header or "", re.IGNORECASE)
    if not match:
        return ""
    # Keep only a base name: never trust a path from the server.
    return re.split(r"[\\/]", match.group(1).strip())[-1][:255]


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
