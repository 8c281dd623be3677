"""The transport under every Mimecast call: sign, send one attempt, classify the outcome, retry or
re-authenticate, pace against the rate-limit budget, and log.

``Transport._request`` is the one way out to Mimecast. Authentication lives in ``credentials``,
the meaning of an answer in ``outcomes``; endpoint modules only build requests and parse answers.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from investigations.mimecast import auth as mc_auth
from investigations.mimecast import outcomes
from investigations.mimecast.config import MimecastConfig
from investigations.mimecast.credentials import Credentials
from investigations.mimecast.errors import (
    MimecastBadResponse,
    MimecastConfigError,
    MimecastError,
    MimecastRateLimited,
    MimecastServerError,
)
from investigations.mimecast.pacing import BACKGROUND, RatePacer, current_lane
from investigations.mimecast.urls import API2_DEFAULT_BASE_URL, validate_base_url

logger = logging.getLogger("investigations.mimecast")

_RATE_LIMITED = "Mimecast is limiting the number of requests; try again in a little while."


@dataclass
class Response:
    status: int
    headers: Any
    content: bytes
    body: Any  # parsed JSON, or None for a binary answer
    request_id: str


@dataclass(frozen=True)
class _Call:
    """One logical call, sent once or more."""

    method: str
    path: str
    body: Any
    form: dict[str, str] | None
    params: dict[str, Any] | None
    auth: str
    url: str | None
    base_url: str | None
    binary: bool
    idempotent: bool

    @property
    def endpoint(self) -> str:
        if self.url is None:
            return self.path
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never log a pre-signed query

    @property
    def paced(self) -> bool:
        return self.auth != "none"  # pre-signed downloads are not API calls


@dataclass
class _Attempt:
    """What one send of a call got back: an answer, or an error (and whether resending is safe)."""

    request_id: str
    credential: Any  # what signed it, to tell a stale credential from one already renewed
    response: requests.Response | None = None
    content: bytes = b""
    error: MimecastError | None = None
    may_retry: bool = False

    def where(self, call: _Call) -> dict[str, str]:
        return {"request_id": self.request_id, "endpoint": call.endpoint}


@dataclass
class _Retry:
    wait: float = 0.0
    booked: bool = False  # the wait already holds the retry's start in the pacer (reserve_after_429)
    reauthenticated: bool = False  # new credentials: send again at once, not counted as an attempt


def _default_now() -> datetime:
    return datetime.now(UTC)


def _default_request_id() -> str:
    return str(uuid.uuid4())


def _no_netrc(request):
    """An explicit no-op auth, so requests never adds ~/.netrc credentials to any call."""
    return request


class Transport(Credentials):
    """Thread-safe for concurrent calls."""

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
        if config.base_url:
            self._base_url = validate_base_url(config.base_url, config.allowed_hosts)
        elif config.api_version == 2:
            self._base_url = API2_DEFAULT_BASE_URL
        else:
            self._base_url = ""  # learnt from discover-authentication
        if config.api_version == 1 and config.access_key and config.secret_key:
            mc_auth.decode_secret_key(config.secret_key)  # fail early on a mangled key
            self._keys = mc_auth.AccessKeys(config.access_key, config.secret_key, from_login=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_version={self.config.api_version}, base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    def _check_config(self) -> None:
        c = self.config
        if c.api_version != 1:
            if not c.client_id or not c.client_secret:
                raise MimecastConfigError("API 2.0 needs the client ID and client secret.")
            return
        if not c.app_id or not c.app_key:
            raise MimecastConfigError("API 1.0 needs the application ID and application key.")
        has_keys = bool(c.access_key and c.secret_key)
        if not has_keys and not (c.username and c.password):
            raise MimecastConfigError(
                "API 1.0 needs either an access key and secret key, or a user name and password to log in."
            )
        if has_keys and not c.base_url:
            raise MimecastConfigError("Give the regional Mimecast base URL to use with the access key.")

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
    ) -> Response:
        """Send one logical call, with retries, re-authentication and error mapping.

        ``auth`` is "api" (sign or bear according to the API version), "discover" and "login" (API 1.0
        login flow), "token" (OAuth token request) or "none" (pre-signed downloads, no credentials).
        """
        call = _Call(method, path, body, form, params, auth, url, base_url, binary, idempotent)
        attempt, booked, reauthenticated = 0, False, False
        while True:
            sent = self._send_once(call, attempt, booked)
            step = self._classify(call, sent, attempt, reauthenticated)
            if isinstance(step, Response):
                return step
            booked = step.booked
            if step.reauthenticated:
                reauthenticated = True
                continue
            self._sleep(step.wait)
            attempt += 1

    def _send_once(self, call: _Call, attempt: int, booked: bool) -> _Attempt:
        """Sign and send one attempt (after waiting for the rate-limit budget) and log its outcome."""
        cfg = self.config
        target = call.url if call.url is not None else self._root(call) + call.path
        request_id = self._new_request_id()
        headers = {"User-Agent": cfg.user_agent}
        if not call.binary:
            headers["Accept"] = "application/json"
        data: Any = call.form
        if call.body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(call.body).encode("utf-8")
        sent = _Attempt(request_id, self._auth_headers(call.auth, call.path, request_id, headers))
        if call.paced and not booked:
            self._wait_for_budget(request_id, call.endpoint)
        started = self._clock()
        try:
            sent.response = self._session.request(
                call.method,
                target,
                data=data,
                params=call.params,
                headers=headers,
                timeout=(cfg.connect_timeout, cfg.read_timeout),
                verify=cfg.verify_ssl,
                allow_redirects=False,
                auth=_no_netrc,
            )
            sent.content = sent.response.content
        except requests.exceptions.RequestException as exc:
            sent.error, sent.may_retry = outcomes.transport_error(exc, idempotent=call.idempotent)
            sent.error.request_id, sent.error.endpoint = request_id, call.endpoint
        finally:
            if call.paced:
                self.pacer.release(sent.response.headers if sent.response is not None else None)
        elapsed_ms = (self._clock() - started) * 1000.0
        if sent.error is not None:
            self._log(logging.WARNING, call, type(sent.error).__name__, elapsed_ms, sent, attempt)
        else:
            status = sent.response.status_code
            self._log(logging.INFO if status < 400 else logging.WARNING, call, status, elapsed_ms, sent, attempt)
        return sent

    def _root(self, call: _Call) -> str:
        root = call.base_url or self._base_url
        if not root:
            self._ensure_keys()  # an API 1.0 login learns the region's base URL
            root = self._base_url
        return root

    def _classify(self, call: _Call, sent: _Attempt, attempt: int, reauthenticated: bool) -> Response | _Retry:
        """The parsed answer, a retry, or (raised) the error to report."""
        cfg = self.config
        if sent.error is not None:
            if sent.may_retry and attempt < cfg.max_retries:
                return _Retry(self._backoff(attempt))
            raise sent.error
        status, where = sent.response.status_code, sent.where(call)
        if 300 <= status < 400:
            message = "Mimecast answered with a redirect, which the portal never follows; check the base URL."
            raise MimecastBadResponse(message, status=status, **where)
        if status == 429:
            return self._rate_limited(call, sent, attempt)
        if status >= 500:
            safe = call.idempotent or status in outcomes.WRITE_SAFE_STATUSES
            if safe and status in outcomes.RETRYABLE_STATUSES and attempt < cfg.max_retries:
                return _Retry(self._backoff(attempt))
            message = f"Mimecast had an internal problem (HTTP {status}) and could not answer; try again later."
            raise MimecastServerError(message, status=status, **where)
        content_type = sent.response.headers.get("Content-Type", "")
        body = outcomes.parse_body(
            sent.content, binary=call.binary, status=status, content_type=content_type, where=where
        )
        errors = outcomes.flatten_errors(body)
        if call.auth == "api" and not reauthenticated and self._credentials_expired(status, errors):
            self._refresh_credentials(sent.credential, errors)
            return _Retry(reauthenticated=True)
        return self._answer(call, sent, body, errors)

    def _answer(self, call: _Call, sent: _Attempt, body: Any, errors: list[dict[str, Any]]) -> Response:
        status, where = sent.response.status_code, sent.where(call)
        if status >= 400:
            raise outcomes.http_error(status, errors, call.auth, **where)
        if body is None:
            if call.binary:
                return Response(status, sent.response.headers, sent.content, None, sent.request_id)
            raise MimecastBadResponse("Mimecast sent an empty answer.", status=status, **where)
        if errors:
            raise outcomes.error_from_entries(errors, status=status, **where)
        outcomes.check_meta_status(body, **where)
        return Response(status, sent.response.headers, sent.content, body, sent.request_id)

    def _rate_limited(self, call: _Call, sent: _Attempt, attempt: int) -> _Retry:
        cfg = self.config
        reset_s = outcomes.rate_limit_reset(sent.response.headers)
        retries = cfg.max_retries if cfg.max_rate_limit_retries is None else cfg.max_rate_limit_retries
        if attempt >= retries or (reset_s is not None and reset_s > cfg.max_rate_limit_wait):
            raise MimecastRateLimited(_RATE_LIMITED, retry_after=reset_s, status=429, **sent.where(call))
        if reset_s is not None and call.paced:
            # Mimecast said when a call comes back: the retry takes the next start after that,
            # behind the calls of this process already waiting for the budget. A background call's
            # retry books nothing: after the reset it asks for a turn again, behind foreground calls.
            lane = current_lane()
            step = _Retry(self.pacer.reserve_after_429(reset_s, lane), booked=lane != BACKGROUND)
        else:
            step = _Retry(max(reset_s or 0.0, self._backoff(attempt)) + self._rng.uniform(0, cfg.backoff_base / 2))
        logger.info(
            "mimecast rate limited on %s; waiting %.3f s (request id %s)", call.endpoint, step.wait, sent.request_id
        )
        return step

    def _wait_for_budget(self, request_id: str, endpoint: str) -> None:
        """The rate-limit pacing hook: wait for this call's turn in the budget (in the lane the
        caller chose, pacing.lane), or refuse a long wait."""
        lane, waited = current_lane(), 0.0
        while True:
            turn = self.pacer.book(lane)
            if turn.booked and turn.wait > self.config.max_rate_limit_wait:
                self.pacer.cancel()
            if waited + turn.wait > self.config.max_rate_limit_wait:
                raise MimecastRateLimited(
                    _RATE_LIMITED, retry_after=turn.wait, status=None, request_id=request_id, endpoint=endpoint
                )
            if turn.wait > 0:
                self._sleep(turn.wait)
            if turn.booked:
                return
            waited += turn.wait  # a background call behind foreground starts: ask again now

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        base = min(cfg.backoff_max, cfg.backoff_base * (2**attempt))
        return base * (0.5 + self._rng.random() / 2)

    def _log(self, level: int, call: _Call, outcome: Any, elapsed_ms: float, sent: _Attempt, attempt: int) -> None:
        logger.log(
            level,
            "mimecast %s %s -> %s in %.0f ms (request id %s, attempt %d)",
            call.method,
            call.endpoint,
            outcome,
            elapsed_ms,
            sent.request_id,
            attempt + 1,
            extra={
                "mimecast_endpoint": call.endpoint,
                "mimecast_status": outcome,
                "mimecast_duration_ms": round(elapsed_ms, 1),
                "mimecast_request_id": sent.request_id,
            },
        )
