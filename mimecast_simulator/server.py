"""The simulator HTTP server: routing, authentication, rate limits, faults, call recording, control API."""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
import pickle
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from mimecast_simulator import handlers, siem
from mimecast_simulator.auth import BINDING_DURATION_MS, SIM_CREDENTIALS, TOKEN_TTL_S, AuthResult, AuthStore
from mimecast_simulator.data import State, generate
from mimecast_simulator.faults import SHORT_CIRCUIT, Fault, FaultRegistry
from mimecast_simulator.util import envelope, error, fail_item

DEFAULT_RATE_LIMIT = 1_000_000  # "unlimited": still reported in the headers, never reached in practice


class HeaderDict(dict):
    """A plain dict of request headers whose lookups ignore case (as HTTP header names do)."""

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            lower = str(key).lower()
            for k, v in self.items():
                if k.lower() == lower:
                    return v
            raise

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return any(k.lower() == str(key).lower() for k in self.keys())


@dataclass
class Call:
    method: str
    path: str
    headers: dict
    json: object
    query: dict
    status: int = 0
    time: float = 0.0
    api: str = ""
    duration_ms: float = 0.0
    form: dict | None = None  # the parsed body of an application/x-www-form-urlencoded request

    def __getitem__(self, key):
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def to_dict(self, redact: bool = True) -> dict:
        d = asdict(self)
        if redact:
            d["headers"] = {k: ("<redacted>" if k.lower() == "authorization" else v) for k, v in self.headers.items()}
            if d["form"]:
                d["form"] = {k: ("<redacted>" if k in _SECRET_FORM_FIELDS else v) for k, v in d["form"].items()}
        return d


_SECRET_FORM_FIELDS = {"client_secret", "password"}


class TokenBucket:
    def __init__(self, per_minute: int, capacity: int | None = None, clock: Callable[[], float] = time.monotonic):
        # Without a burst size the bucket holds a whole minute's budget (the default since the
        # simulator began); with one, e.g. 20 for 1,200 a minute, it really limits to 20 calls/s.
        self.capacity = capacity or per_minute
        self.tokens = float(self.capacity)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.updated = clock()

    def _refill(self):
        t = self.clock()
        self.tokens = min(self.capacity, self.tokens + (t - self.updated) * self.rate)
        self.updated = t

    def _reset_ms(self) -> int:
        """Milliseconds until at least one more call is added back (0 when the bucket is full)."""
        if self.tokens >= self.capacity:
            return 0
        return max(1, math.ceil((math.floor(self.tokens) + 1 - self.tokens) / self.rate * 1000))

    def take(self) -> tuple[bool, int, int]:
        """Returns (allowed, remaining, reset_ms)."""
        self._refill()
        allowed = self.tokens >= 1
        if allowed:
            self.tokens -= 1
        return allowed, int(self.tokens), self._reset_ms()

    def peek(self) -> tuple[int, int]:
        self._refill()
        return int(self.tokens), self._reset_ms()


class RateLimiter:
    def __init__(self, per_minute: int | None, burst: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock
        self.configure(per_minute, burst)

    def configure(self, per_minute: int | None, burst: int | None = None):
        if burst is not None and (not isinstance(burst, int) or burst < 1):
            raise ValueError("rate_limit_burst must be a whole number of calls, at least 1")
        with self.lock:
            self.per_minute = per_minute
            self.burst = burst if per_minute else None
            self.buckets: dict[str, TokenBucket] = {}

    @property
    def limit(self) -> int:
        """X-RateLimit-Limit: the most calls the bucket holds."""
        return self.burst or self.per_minute or DEFAULT_RATE_LIMIT

    def _bucket(self, identity: str) -> TokenBucket:
        bucket = self.buckets.get(identity)
        if bucket is None:
            bucket = self.buckets[identity] = TokenBucket(self.per_minute or DEFAULT_RATE_LIMIT, self.burst, self.clock)
        return bucket

    def take(self, identity: str) -> tuple[bool, dict]:
        with self.lock:
            allowed, remaining, reset_ms = self._bucket(identity).take()
        return allowed, self.headers(remaining, reset_ms)

    def peek(self, identity: str) -> dict:
        with self.lock:
            bucket = self._bucket(identity)
            remaining, reset_ms = bucket.peek()
        return self.headers(remaining, reset_ms)

    def headers(self, remaining: int, reset_ms: int) -> dict:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(int(reset_ms)),
        }


@dataclass
class Response:
    status: int
    body: object = None  # dict -> JSON, bytes -> raw
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    truncate: bool = False

    def payload(self) -> bytes:
        if isinstance(self.body, bytes | bytearray):
            data = bytes(self.body)
        else:
            data = json.dumps(self.body if self.body is not None else {}, separators=(",", ":")).encode()
        if self.truncate:
            data = data[: max(1, len(data) // 2)]
        return data


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while the seeded data is built or reloaded, then back as
    it was. That allocates some 200,000 objects, none of them garbage, and with the collector on they
    set off collection after collection, each walking every tracked object of the process (in a test
    session, the whole suite's): half the cost of a reset went there."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _positive_int(value, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number of seconds") from None
    if number <= 0:
        raise ValueError(f"{name} must be positive")
    return number


def mc_fail(status: int, code: str, message: str, retryable: bool = False) -> dict:
    return {"meta": {"status": status}, "data": [], "fail": [{"errors": [error(code, message, retryable=retryable)]}]}


def v2_fail(code: str, message: str) -> dict:
    """The API 2.0 gateway's failure body (the token endpoint and SIEM batch), unlike API 1.0's envelope."""
    return {"fail": [{"code": code, "message": message}]}


LOGIN = "/api/login/login"
SIEM_BATCH = "/siem/v1/batch/events/cg"
SIEM_FILES = "/siem/v1/batch/files/"
V2_TOO_MANY = v2_fail("TooManyRequests", "Rate limit exceeded")


class SimulatorServer:
    """A Mimecast API 1.0 + 2.0 simulator on one loopback HTTP server (see the package docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        rate_limit_per_minute: int | None = None,
        latency_ms: int = 0,
        *,
        rate_limit_burst: int | None = None,
        incident_settle_ms: int = 1500,
        token_lifetime_s: int = TOKEN_TTL_S,
        discovery_region_api: str | None = None,
        now: datetime | None = None,
        verbose: bool = False,
        tls_certfile: str | None = None,
        tls_keyfile: str | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """`clock` (seconds, real time by default) times token lifetimes and refills the rate buckets:
        tests move a fake one instead of sleeping."""
        self.host, self.port, self.seed = host, port, seed
        self.anchor = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self.config = {
            "rate_limit_per_minute": rate_limit_per_minute,
            "rate_limit_burst": rate_limit_burst,
            "latency_ms": int(latency_ms or 0),
            "incident_settle_ms": int(incident_settle_ms),
            "token_lifetime_s": _positive_int(token_lifetime_s, "token_lifetime_s"),
            "discovery_region_api": discovery_region_api or None,
        }
        self.verbose = verbose
        self._tls: ssl.SSLContext | None = None
        if tls_certfile:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(tls_certfile, tls_keyfile)
        self.lock = threading.RLock()
        self.faults = FaultRegistry()
        self.auth = AuthStore(SIM_CREDENTIALS, clock=clock or time.time)
        self.rate = RateLimiter(rate_limit_per_minute, rate_limit_burst, clock or time.monotonic)
        self.calls: list[Call] = []
        self._siem_secret = secrets.token_bytes(32)
        with _collector_paused():
            self._state: State = generate(seed, self.anchor)
        self._seeded_incidents = len(self._state.incidents)
        self._pristine: bytes | None = None
        self._reset_at = self._state.started_monotonic
        self._state_touched = False
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> SimulatorServer:
        sim = self

        class Handler(_Handler):
            server_ref = sim

        self._httpd = _Server((self.host, self.port), Handler)
        self._httpd.tls_context = self._tls
        self.port = self._httpd.server_address[1]
        # A short poll: stop() waits for the loop to notice, up to half a second at the default, and tests
        # stop a simulator per module.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="mimecast-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self):
        """Blocking variant for the management command."""
        if self._httpd is None:
            self.start()
        try:
            while self._thread and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def state(self) -> State:
        """The simulated organisation, for whoever may change it (the handler of a route not in
        handlers.READ_ONLY, the control API, a test): the next reset drops it and the read after that
        loads the seeded copy; a reset with only read_state() since keeps it as it is."""
        with self.lock:
            state = self.read_state()
            self._state_touched = True
            return state

    def read_state(self) -> State:
        """The simulated organisation for a reader that changes nothing in it (a route of
        handlers.READ_ONLY, a count): the next reset keeps it."""
        with self.lock:
            if self._state is None:
                with _collector_paused():
                    self._state = self._fresh_state()
            return self._state

    # --- test controls -------------------------------------------------------------------------
    def reset(self):
        with self.lock:
            self._reset_at = time.monotonic()  # simulated time restarts, as on a reload
            if self._state_touched:
                # The changed copy goes now; the fresh one is loaded when somebody next reads the
                # state: a test that resets and then asks the simulator nothing costs nothing.
                with _collector_paused():
                    self._state = None
                self._state_touched = False
            elif self._state is not None:
                self._state.started_monotonic = self._reset_at
            self.auth.reset()
            self.faults.clear()
            self.calls.clear()
            self.rate.configure(self.config["rate_limit_per_minute"], self.config["rate_limit_burst"])

    def _fresh_state(self) -> State:
        """The seeded data as generated at startup. Generating takes about a second and tests reset
        hundreds of times, so the first reset keeps a pickled copy and later ones load it."""
        if self._pristine is None:
            state = generate(self.seed, self.anchor)
            self._pristine = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            state = pickle.loads(self._pristine)  # noqa: S301 - bytes this process pickled itself
        state.started_monotonic = self._reset_at  # simulated time runs from the reset, as when generated
        return state

    def expire_binding(self, access_key: str) -> bool:
        with self.lock:
            b = self.auth.bindings.get(access_key)
            if b is None:
                return False
            b.expired = True
            return True

    def expire_tokens(self) -> int:
        with self.lock:
            for t in self.auth.tokens.values():
                t.expired = True
            return len(self.auth.tokens)

    def configure(
        self,
        rate_limit_per_minute=...,
        latency_ms=...,
        incident_settle_ms=...,
        token_lifetime_s=...,
        discovery_region_api=...,
        rate_limit_burst=...,
    ):
        """Change settings at run time (also ``POST /_sim/config`` with the same names).

        token_lifetime_s: the ``expires_in`` of new API 2.0 tokens, and when the simulator stops accepting
        them (default 1799). discovery_region_api: the ``region.api`` that discover-authentication
        answers with (default None: this server's own base URL), e.g. another simulator instance, or a
        host outside Mimecast to test that clients refuse it. rate_limit_burst: how many calls the
        bucket holds (default None: a whole minute's budget); changing either rate setting starts
        every bucket full.
        """
        if token_lifetime_s is not ...:
            token_lifetime_s = _positive_int(token_lifetime_s, "token_lifetime_s")
        if discovery_region_api not in (..., None) and not isinstance(discovery_region_api, str):
            raise ValueError("discovery_region_api must be a string or null")
        with self.lock:
            if token_lifetime_s is not ...:
                self.config["token_lifetime_s"] = token_lifetime_s
            if discovery_region_api is not ...:
                self.config["discovery_region_api"] = discovery_region_api or None
            if rate_limit_per_minute is not ... or rate_limit_burst is not ...:
                per_minute = self.config["rate_limit_per_minute"]
                burst = self.config["rate_limit_burst"]
                per_minute = per_minute if rate_limit_per_minute is ... else rate_limit_per_minute
                burst = burst if rate_limit_burst is ... else rate_limit_burst
                self.rate.configure(per_minute, burst)
                self.config["rate_limit_per_minute"], self.config["rate_limit_burst"] = per_minute, burst
            if latency_ms is not ...:
                self.config["latency_ms"] = int(latency_ms or 0)
            if incident_settle_ms is not ...:
                self.config["incident_settle_ms"] = int(incident_settle_ms)

    @property
    def incidents_created(self) -> int:
        return len(self.read_state().incidents) - self._seeded_incidents

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in list(self.calls) if c.path == path]

    def effects(self, action: str | None = None, *, id: str | None = None, target: str | None = None) -> list[dict]:
        """What the response actions really changed (``action``: create-policy, update-policy,
        delete-policy, create-managed-url, delete-managed-url, hold-release, hold-reject), oldest
        first, optionally only those of one resource ``id`` or ``target`` (sender, URL or held id)."""
        with self.lock:
            found = list(self.read_state().effects)
        return [
            e
            for e in found
            if (action is None or e["action"] == action)
            and (id is None or e["id"] == id)
            and (target is None or e["target"] == target)
        ]

    def inject_message(self, **spec) -> dict:
        """A message arriving now (``from``, ``to``, optional ``env_from``, ``subject``, ``urls``,
        ``from_name``, ``sender_ip``): delivered, or rejected by a blocked-sender policy. Also
        ``POST /_sim/inject-message``."""
        with self.lock:
            return handlers.inject_message(self.state, spec)

    def inject_click(self, **spec) -> dict:
        """A click now on ``url`` by ``user`` (optional ``message_id``, ``from``, ``subject``), logged as
        a managed URL decides. Also ``POST /_sim/inject-click``."""
        with self.lock:
            return handlers.inject_click(self.state, spec)

    def fail_remediation(self, mailbox: str, reason: str = "", refuse: bool = False) -> dict:
        """Make remediation of ``mailbox`` fail from now on (e.g. reason "Mailbox is on litigation
        hold"): its copies count as ``failed`` in every new incident. The incident has no field for
        the reason, so it shows only in the effect journal (``effects("remediate")``). With
        ``refuse``, an incident narrowed to that mailbox is refused instead, with the reason in
        ``fail[]``, the one place Mimecast's answer carries one. Also ``POST /_sim/fail-remediation``."""
        mailbox = str(mailbox or "").strip().lower()
        with self.lock:
            if mailbox not in self.state.mailbox_by_email:
                raise ValueError(f"no mailbox {mailbox!r}")
            failures = self.state.remediation_refusals if refuse else self.state.remediation_failures
            failures[mailbox] = str(reason or "")
        return {"mailbox": mailbox, "reason": reason, "refuse": bool(refuse)}

    # --- request processing --------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers, body: bytes, client_ip: str) -> Response:
        parts = urlsplit(raw_path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if path.startswith("/_sim/"):
            if client_ip not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
                return Response(403, {"error": "control API is loopback only"})
            return self._control(method, path, query, body)

        hdrs = HeaderDict(headers.items())
        parsed = None
        if body and "json" in (headers.get("Content-Type") or "application/json"):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        form = None
        if body and "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        call = Call(method, path, hdrs, parsed, query, time=time.time(), form=form)
        with self.lock:
            self.calls.append(call)
        started = time.monotonic()
        try:
            resp = self._dispatch(method, path, query, headers, body, parsed, call)
        except Exception as exc:  # the simulator must answer like a server, never crash the thread
            resp = Response(500, mc_fail(500, "err_internal_server_error", f"Simulator error: {exc!r}"))
        call.status = resp.status
        call.duration_ms = (time.monotonic() - started) * 1000
        return resp

    def _apply_faults(self, path: str, parsed, rate_headers: dict) -> tuple[Response | None, set[str]]:
        """Returns (short-circuit response or None, post-processing kinds to apply to the function's answer,
        e.g. {"truncate", "repeat_token"}). Sleeps happen outside the state lock."""
        faults: list[Fault] = self.faults.take(path)
        post: set[str] = set()
        delay = self.config["latency_ms"] / 1000.0
        for f in faults:
            if f.kind == "latency":
                delay += f.ms / 1000.0
            elif f.kind == "hang":
                delay += f.seconds
        if delay:
            time.sleep(delay)
        key = {}
        if isinstance(parsed, dict) and isinstance(parsed.get("data"), list) and parsed["data"]:
            key = parsed["data"][0]
        siem_batch = path.startswith("/siem/")
        for f in faults:
            if f.kind not in SHORT_CIRCUIT:
                if f.kind in ("truncate", "repeat_token"):
                    post.add(f.kind)
                continue
            if f.kind == "status":
                code = {
                    500: "err_internal_server_error",
                    502: "err_bad_gateway",
                    503: "err_service_unavailable",
                    504: "err_gateway_timeout",
                }.get(f.status, "err_simulated_status")
                return Response(
                    f.status,
                    mc_fail(f.status, code, f"Simulated HTTP {f.status}", f.status >= 500),
                    headers=rate_headers,
                ), post
            if f.kind == "rate_limit":
                hdrs = {**rate_headers, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(f.reset_ms)}
                return Response(
                    429, mc_fail(429, "err_rate_limit_exceeded", "Rate limit exceeded", True), headers=hdrs
                ), post
            if f.kind == "fail":
                item = fail_item(key, error(f.code, f.message, field=f.field or None))
                return Response(f.status, envelope([], status=f.status, fail=[item]), headers=rate_headers), post
            if f.kind == "meta_status":
                return Response(200, envelope([], status=f.status), headers=rate_headers), post
            if f.kind == "redirect":
                return Response(
                    f.status, b"", content_type="text/plain", headers={**rate_headers, "Location": f.location}
                ), post
            if f.kind == "raw":
                return Response(
                    f.status, f.content, content_type=f.content_type, headers={**rate_headers, **f.headers}
                ), post
            if f.kind == "empty_page":
                if siem_batch:
                    body = {"value": [], "@nextPage": f.token, "isCaughtUp": False}
                else:
                    body = envelope([], pagination={"pageSize": 0, "totalCount": 0, "next": f.token})
                return Response(200, body, headers=rate_headers), post
        return None, post

    @staticmethod
    def _repeat_token(body, meta: dict | None = None, query: dict | None = None):
        """repeat_token fault: hand back the page token the request sent as the next one."""
        if not isinstance(body, dict):
            return
        if query is not None:
            if query.get("nextPage"):
                body["@nextPage"] = query["nextPage"]
                body["isCaughtUp"] = False
            return
        sent = ((meta or {}).get("pagination") or {}).get("pageToken")
        if not sent:
            return
        body_meta = body.setdefault("meta", {})
        if isinstance(body_meta, dict):
            pagination = body_meta.get("pagination")
            if not isinstance(pagination, dict):
                pagination = body_meta["pagination"] = {}
            pagination["next"] = sent

    def _rate(self, identity: str) -> tuple[bool, dict]:
        return self.rate.take(identity)

    def _admit(self, identity: str, path: str, parsed, too_many: dict) -> tuple[Response | None, dict, set[str]]:
        """The rate limit, then the faults: (the refusal or short-circuit answer or None, the rate headers,
        the post-processing kinds to apply to the real answer)."""
        allowed, rh = self._rate(identity)
        if not allowed:
            return Response(429, too_many, headers=rh), rh, set()
        fr, post = self._apply_faults(path, parsed, rh)
        return fr, rh, post

    def _dispatch(self, method, path, query, headers, body, parsed, call: Call) -> Response:
        if path == "/oauth/token":
            return self._token(method, headers, body, call)
        if path == SIEM_BATCH or path.startswith(SIEM_FILES):
            return self._siem(method, path, query, headers, call)
        if not path.startswith("/api/"):
            return Response(404, mc_fail(404, "err_resource_not_found", f"No such resource: {path}"))
        if path not in handlers.ROUTES and path != LOGIN:
            return Response(404, mc_fail(404, "err_resource_not_found", f"No such endpoint: {path}"))
        if method != "POST":
            return Response(405, mc_fail(405, "err_method_not_allowed", "Mimecast API endpoints accept POST only"))
        return self._api(path, query, headers, body, parsed, call)

    # --- API 2.0 token endpoint and SIEM batch -------------------------------------------------------
    def _token(self, method, headers, body, call: Call) -> Response:
        if method != "POST":
            return Response(405, v2_fail("MethodNotAllowed", "Use POST"))
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        cid, csecret = form.get("client_id", ""), form.get("client_secret", "")
        basic = headers.get("Authorization") or ""
        if basic.startswith("Basic ") and not cid:
            with contextlib.suppress(ValueError):
                cid, _, csecret = base64.b64decode(basic[6:]).decode().partition(":")
        call.api = "2.0"
        fr, rh, post = self._admit("app:" + (cid or "anonymous"), "/oauth/token", None, V2_TOO_MANY)
        if fr:
            return fr
        if form.get("grant_type") != "client_credentials":
            return Response(400, v2_fail("UnsupportedGrantType", "grant_type must be client_credentials"), headers=rh)
        with self.lock:
            lifetime = self.config["token_lifetime_s"]
            tok = self.auth.issue_token(cid, csecret, ttl=lifetime)
        if tok is None:
            return Response(401, v2_fail("InvalidClientIdentifier", "Client credentials are invalid"), headers=rh)
        return Response(
            200,
            {"access_token": tok.token, "token_type": "Bearer", "expires_in": lifetime, "scope": ""},
            headers=rh,
            truncate="truncate" in post,
        )

    def _siem(self, method, path, query, headers, call: Call) -> Response:
        if method != "GET":
            return Response(405, v2_fail("MethodNotAllowed", "Use GET"))
        if path.startswith(SIEM_FILES):
            fr, post = self._apply_faults(path, None, {})
            if fr:
                return fr
            with self.lock:
                status, data, ctype = siem.download(self.state, path, query, self._siem_secret)
            return Response(status, data, content_type=ctype, truncate="truncate" in post)
        call.api = "2.0"
        with self.lock:
            auth = self.auth.verify_bearer(headers)
        if not auth.ok:
            return Response(auth.http_status, auth.body, headers=self.rate.peek("anonymous"))
        fr, rh, post = self._admit(auth.identity, path, None, V2_TOO_MANY)
        if fr:
            return fr
        with self.lock:
            status, data = siem.batch(self.state, query, self.base_url, self._siem_secret)
        if "repeat_token" in post and status == 200:
            self._repeat_token(data, query=query)
        return Response(status, data, headers=rh, truncate="truncate" in post)

    # --- API 1.0 and 2.0 endpoints under /api/ -------------------------------------------------------
    def _authenticate(self, path, headers) -> AuthResult:
        if path == "/api/login/discover-authentication":
            bad = self.auth.check_app_id(headers)
            return bad or AuthResult(ok=True, identity="appid:" + SIM_CREDENTIALS.app_id, username="", api="1.0")
        if path == LOGIN:
            return self._login_auth(headers)
        with self.lock:
            if (headers.get("Authorization") or "").startswith("Bearer "):
                return self.auth.verify_bearer(headers)
            return self.auth.verify_v1(headers, path)

    def _api(self, path, query, headers, body, parsed, call: Call) -> Response:
        auth = self._authenticate(path, headers)
        call.api = auth.api or call.api
        if not auth.ok:
            return Response(auth.http_status, auth.body, headers=self.rate.peek("anonymous"))
        too_many = mc_fail(429, "err_rate_limit_exceeded", "Rate limit exceeded", True)
        fr, rh, post = self._admit(auth.identity, path, parsed, too_many)
        if fr:
            return fr
        if body and parsed is None:
            return Response(400, mc_fail(400, "err_invalid_json", "The request body is not valid JSON"), headers=rh)
        payload = parsed if isinstance(parsed, dict) else {}
        data = payload.get("data", [])
        meta = payload.get("meta") or {}
        if not isinstance(data, list) or not isinstance(meta, dict):
            return Response(
                400, mc_fail(400, "err_validation_invalid_type", "data must be an array and meta an object"), headers=rh
            )
        with self.lock:
            if path == LOGIN:
                reply = self._login(auth, data)
            else:
                ctx = handlers.Ctx(
                    state=self.read_state() if path in handlers.READ_ONLY else self.state,
                    path=path,
                    meta=meta,
                    data=data,
                    username=auth.username,
                    api=auth.api,
                    config=self.config,
                    base_url=self.base_url,
                    query=query,
                )
                reply = self._run_handler(ctx)
        if "repeat_token" in post and reply.raw is None:
            self._repeat_token(reply.body, meta=meta)
        trunc = "truncate" in post
        if reply.raw is not None:
            return Response(
                reply.status,
                reply.raw,
                content_type=reply.content_type,
                headers={**rh, **reply.headers},
                truncate=trunc,
            )
        return Response(reply.status, reply.body, headers={**rh, **reply.headers}, truncate=trunc)

    @staticmethod
    def _run_handler(ctx: handlers.Ctx) -> handlers.Reply:
        try:
            return handlers.ROUTES[ctx.path](ctx)
        except handlers.Invalid as exc:
            return handlers.Reply(
                body=envelope([], fail=[fail_item(exc.key, error(exc.code, exc.message, field=exc.field))])
            )
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # A field of the wrong type: Mimecast answers with a validation failure, not a crash.
            key = ctx.data[0] if ctx.data else {}
            item = fail_item(key, error("err_validation_invalid_type", f"Invalid request: {exc}"))
            return handlers.Reply(body=envelope([], fail=[item]))

    # --- login (API 1.0) -----------------------------------------------------------------------
    def _login_auth(self, headers) -> AuthResult:
        bad = self.auth.check_app_id(headers)
        if bad:
            return bad
        auth = headers.get("Authorization") or ""
        scheme, _, encoded = auth.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except ValueError:
            user, password = "", ""
        c = SIM_CREDENTIALS
        good = (scheme == "Basic-Cloud" and user.lower() == c.username and password == c.password) or (
            scheme == "Basic-AD" and user.lower() == c.ad_username and password == c.ad_password
        )
        if not good:
            return AuthResult(
                ok=False,
                http_status=401,
                body=mc_fail(
                    401, "err_xdk_client_unauthorized", "Authentication failed: invalid username, password or auth type"
                ),
            )
        return AuthResult(ok=True, identity="user:" + user.lower(), username=user.lower(), api="1.0")

    def _login(self, auth: AuthResult, data: list) -> handlers.Reply:
        item = data[0] if data and isinstance(data[0], dict) else {}
        user_name = (item.get("userName") or "").lower()
        if user_name and user_name != auth.username:
            return handlers.failed(
                item, "err_validation_invalid_value", "userName does not match the credentials", "userName"
            )
        existing = item.get("accessKey")
        binding = self.auth.bindings.get(existing) if existing else None
        if binding is not None and binding.username == auth.username:
            binding.expired = False
            binding.created = time.time()
        else:
            binding = self.auth.new_binding(auth.username)
        return handlers.ok(
            [
                {
                    "accessKey": binding.access_key,
                    "secretKey": binding.secret_key,
                    "username": binding.username,
                    "bindingType": "one_step",
                    "duration": BINDING_DURATION_MS,
                    "extendOnValidate": True,
                    "lastUserToken": "",
                }
            ]
        )

    # --- control API ---------------------------------------------------------------------------
    def _control(self, method: str, path: str, query: dict, body: bytes) -> Response:
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return Response(400, {"error": "invalid JSON"})
        command = CONTROL_COMMANDS.get((method, path))
        if command is None:
            return Response(404, {"error": f"no control endpoint {method} {path}"})
        try:
            return getattr(self, command)(query, payload)
        except (TypeError, ValueError) as exc:  # a payload the command's keyword arguments refuse
            return Response(400, {"error": str(exc)})

    def _control_health(self, query: dict, payload: dict) -> Response:
        return Response(
            200,
            {
                "status": "ok",
                "seed": self.seed,
                "now": self.anchor.strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "messages": len(self.state.messages),
                "mailboxes": len(self.state.mailboxes),
                "incidents_created": self.incidents_created,
                "calls": len(self.calls),
                "config": self.config,
                "faults": [f.to_dict() for f in self.faults.list()],
                "story": self.state.story,
            },
        )

    def _control_calls(self, query: dict, payload: dict) -> Response:
        calls = list(self.calls)
        if query.get("path"):
            calls = [c for c in calls if c.path == query["path"]]
        return Response(
            200,
            {"count": len(calls), "incidents_created": self.incidents_created, "calls": [c.to_dict() for c in calls]},
        )

    def _control_clear_calls(self, query: dict, payload: dict) -> Response:
        with self.lock:
            self.calls.clear()
        return Response(200, {"cleared": True})

    def _control_faults(self, query: dict, payload: dict) -> Response:
        return Response(200, {"faults": [f.to_dict() for f in self.faults.list()]})

    def _control_clear_faults(self, query: dict, payload: dict) -> Response:
        self.faults.clear()
        return Response(200, {"cleared": True})

    def _control_add_fault(self, query: dict, payload: dict) -> Response:
        return Response(201, {"fault": self.faults.add(**payload).to_dict()})

    def _control_configure(self, query: dict, payload: dict) -> Response:
        unknown = set(payload) - CONFIG_KEYS
        if unknown:
            return Response(400, {"error": f"unknown config keys: {sorted(unknown)}"})
        self.configure(**payload)
        return Response(200, {"config": self.config})

    def _control_effects(self, query: dict, payload: dict) -> Response:
        effects = self.effects(
            query.get("action") or None, id=query.get("id") or None, target=query.get("target") or None
        )
        by_id: dict[str, int] = {}
        for e in effects:
            by_id[e["id"]] = by_id.get(e["id"], 0) + 1
        return Response(200, {"count": len(effects), "by_id": by_id, "effects": effects})

    def _control_inject_message(self, query: dict, payload: dict) -> Response:
        return Response(201, self.inject_message(**payload))

    def _control_inject_click(self, query: dict, payload: dict) -> Response:
        return Response(201, self.inject_click(**payload))

    def _control_fail_remediation(self, query: dict, payload: dict) -> Response:
        return Response(201, self.fail_remediation(**payload))

    def _control_reset(self, query: dict, payload: dict) -> Response:
        self.reset()
        return Response(200, {"reset": True})

    def _control_expire_tokens(self, query: dict, payload: dict) -> Response:
        return Response(200, {"expired": self.expire_tokens()})

    def _control_expire_binding(self, query: dict, payload: dict) -> Response:
        return Response(200, {"expired": self.expire_binding(payload.get("access_key", ""))})


# (method, path) -> the SimulatorServer method answering that control call
CONTROL_COMMANDS = {
    ("GET", "/_sim/health"): "_control_health",
    ("GET", "/_sim/calls"): "_control_calls",
    ("DELETE", "/_sim/calls"): "_control_clear_calls",
    ("GET", "/_sim/faults"): "_control_faults",
    ("DELETE", "/_sim/faults"): "_control_clear_faults",
    ("POST", "/_sim/faults"): "_control_add_fault",
    ("POST", "/_sim/config"): "_control_configure",
    ("POST", "/_sim/reset"): "_control_reset",
    ("GET", "/_sim/effects"): "_control_effects",
    ("POST", "/_sim/inject-message"): "_control_inject_message",
    ("POST", "/_sim/inject-click"): "_control_inject_click",
    ("POST", "/_sim/fail-remediation"): "_control_fail_remediation",
    ("POST", "/_sim/expire-tokens"): "_control_expire_tokens",
    ("POST", "/_sim/expire-binding"): "_control_expire_binding",
}
# the settings POST /_sim/config may change (the keyword arguments of SimulatorServer.configure)
CONFIG_KEYS = {
    "rate_limit_per_minute",
    "rate_limit_burst",
    "latency_ms",
    "incident_settle_ms",
    "token_lifetime_s",
    "discovery_region_api",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request, client_address):
        # TLS handshakes run in the per-request thread, so a client that refuses our certificate
        # (or never finishes the handshake) cannot stall the accept loop.
        if self.tls_context is not None:
            try:
                request.settimeout(10)
                request = self.tls_context.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
            try:
                super().finish_request(request, client_address)
            finally:
                self.shutdown_request(request)
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_ref: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "MimecastSimulator/1.0"
    # Headers and body go out in two writes on a keep-alive connection: without TCP_NODELAY, Nagle
    # holds the body until the client's delayed ACK, about 40 ms on every call.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        if self.server_ref.verbose:
            super().log_message(format, *args)

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        resp = self.server_ref.handle(self.command, self.path, self.headers, body, self.client_address[0])
        data = resp.payload()
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _serve
