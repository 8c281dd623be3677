"""Authentication as Mimecast does it: API 1.0 HMAC-SHA1 signing and bindings, API 2.0 OAuth2 tokens.

Refusals (the contract is silent on most of these; choices documented here):
- unknown / missing x-mc-app-id                    -> HTTP 401, err_developer_key
- missing Authorization, x-mc-date or x-mc-req-id  -> HTTP 401, err_xdk_client_unauthorized
- unknown access key, wrong signature, bad realm,
  x-mc-date more than 15 minutes from server time  -> HTTP 401, err_xdk_client_unauthorized
- expired binding                                  -> HTTP 418, err_xdk_binding_expired ("AccessKey has expired")
- API 2.0 unknown or expired bearer token          -> HTTP 401, fail[0].code "token_expired"
- API 2.0 bad client credentials at /oauth/token   -> HTTP 401, fail[0].code "InvalidClientIdentifier"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mimecast_simulator.util import error


@dataclass(frozen=True)
class SimCredentials:
    app_id: str
    app_key: str
    access_key: str
    secret_key: str
    username: str
    password: str
    ad_username: str
    ad_password: str
    client_id: str
    client_secret: str


# Published demo credentials of the simulator (they protect nothing real).
SIM_CREDENTIALS = SimCredentials(
    app_id="5d7c2a0e-3f1b-4c7e-9a41-0b6f2e8d1c55",
    app_key="a1f3c9e2-7b44-4d0a-8e6f-3c2b1a9d8e77",
    access_key="mYtOL3XZCOwG96BOiFTZRbyMcy4lC5c0Fd6kfTNbLsQn9TIhY0sBf7Pb4bL4Ss1eU8pSIMq1",
    secret_key=base64.b64encode(hashlib.sha512(b"mimecast-simulator-static-secret").digest()).decode(),
    username="alex.morgan@acme-corp.com",
    password="Sim-Cloud-Passw0rd!",  # noqa: S106
    ad_username="jordan.lee@acme-corp.com",
    ad_password="Sim-AD-Passw0rd!",  # noqa: S106
    client_id="sim-client-4e1f9b2c7a",
    client_secret="sim-secret-9c3e7d1a5b2f4e6a8c0d",  # noqa: S106
)

MAX_CLOCK_SKEW_S = 15 * 60
TOKEN_TTL_S = 1799
BINDING_DURATION_MS = 43_200_000


@dataclass
class Binding:
    access_key: str
    secret_key: str
    username: str
    created: float
    expired: bool = False
    static: bool = False


@dataclass
class Token:
    token: str
    client_id: str
    expires_at: float
    expired: bool = False


@dataclass
class AuthResult:
    ok: bool
    identity: str = ""
    username: str = ""
    api: str = ""  # "1.0" | "2.0"
    http_status: int = 200
    body: dict | None = None


def _refusal(status: int, code: str, message: str) -> AuthResult:
    return AuthResult(
        ok=False,
        http_status=status,
        body={"meta": {"status": status}, "data": [], "fail": [{"errors": [error(code, message)]}]},
    )


def sign(secret_key_b64: str, date: str, req_id: str, path: str, app_key: str) -> str:
    data = f"{date}:{req_id}:{path}:{app_key}".encode()
    mac = hmac.new(base64.b64decode(secret_key_b64), data, hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


@dataclass
class AuthStore:
    creds: SimCredentials = SIM_CREDENTIALS
    bindings: dict[str, Binding] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    clock: Callable[[], float] = time.time  # token lifetimes

    def __post_init__(self):
        self.reset()

    def reset(self):
        self.bindings = {
            self.creds.access_key: Binding(
                self.creds.access_key, self.creds.secret_key, self.creds.username, time.time(), static=True
            )
        }
        self.tokens = {}

    # --- API 1.0 -----------------------------------------------------------------
    def new_binding(self, username: str) -> Binding:
        b = Binding(
            access_key=secrets.token_urlsafe(54),
            secret_key=base64.b64encode(secrets.token_bytes(64)).decode(),
            username=username,
            created=time.time(),
        )
        self.bindings[b.access_key] = b
        return b

    def check_app_id(self, headers) -> AuthResult | None:
        if headers.get("x-mc-app-id") != self.creds.app_id:
            return _refusal(401, "err_developer_key", "The application id provided is not valid or not configured")
        return None

    def verify_v1(self, headers, path: str) -> AuthResult:
        bad = self.check_app_id(headers)
        if bad:
            return bad
        auth = headers.get("Authorization") or ""
        date = headers.get("x-mc-date")
        req_id = headers.get("x-mc-req-id")
        if not auth or not date or not req_id:
            missing = [n for n, v in (("Authorization", auth), ("x-mc-date", date), ("x-mc-req-id", req_id)) if not v]
            return _refusal(401, "err_xdk_client_unauthorized", "Missing required header(s): " + ", ".join(missing))
        if not auth.startswith("MC ") or ":" not in auth[3:]:
            return _refusal(401, "err_xdk_client_unauthorized", "Authorization header must be 'MC accessKey:signature'")
        access_key, _, signature = auth[3:].partition(":")
        try:
            sent = parsedate_to_datetime(date.replace(" UTC", " GMT"))
            if sent.tzinfo is None:
                sent = sent.replace(tzinfo=UTC)
            skew = abs((datetime.now(UTC) - sent).total_seconds())
        except (TypeError, ValueError, IndexError):
            return _refusal(401, "err_xdk_client_unauthorized", "x-mc-date is not a valid date")
        if skew > MAX_CLOCK_SKEW_S:
            return _refusal(401, "err_xdk_client_unauthorized", "x-mc-date is too far from the server time")
        binding = self.bindings.get(access_key)
        if binding is None:
            return _refusal(401, "err_xdk_client_unauthorized", "Unknown access key")
        expected = sign(binding.secret_key, date, req_id, path, self.creds.app_key)
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            return _refusal(401, "err_xdk_client_unauthorized", "Signature verification failed")
        if binding.expired:
            return _refusal(418, "err_xdk_binding_expired", "AccessKey has expired")
        return AuthResult(ok=True, identity="user:" + binding.username, username=binding.username, api="1.0")

    # --- API 2.0 -----------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str, ttl: float = TOKEN_TTL_S) -> Token | None:
        if not (
            hmac.compare_digest(client_id.encode(), self.creds.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), self.creds.client_secret.encode())
        ):
            return None
        tok = Token(secrets.token_urlsafe(48), client_id, self.clock() + ttl)
        self.tokens[tok.token] = tok
        return tok

    def verify_bearer(self, headers) -> AuthResult:
        auth = headers.get("Authorization") or ""
        token = self.tokens.get(auth[7:].strip())
        if token is None or token.expired or token.expires_at < self.clock():
            return AuthResult(
                ok=False,
                http_status=401,
                body={
                    "meta": {"status": 401},
                    "data": [],
                    "fail": [{"code": "token_expired", "message": "The access token is invalid or has expired"}],
                },
            )
        # An API 2.0 app acts as the admin service account for user-scoped endpoints.
        return AuthResult(ok=True, identity="app:" + token.client_id, username=self.creds.username, api="2.0")
