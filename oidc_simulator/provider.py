"""The provider's protocol: the authorization endpoint with its login form and browser sessions, the
token endpoint (authorization_code and refresh_token grants), userinfo and discovery, over an
in-memory directory of users. HTTP plumbing lives in ``server.py``; this module sees parsed requests
and answers ``Reply`` objects."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from oidc_simulator import loopback
from oidc_simulator.loopback import LOOPBACK_HOSTS, LoginDesk, Reply, page
from oidc_simulator.tokens import FAULTS, ID_TOKEN_LIFETIME_S, Signer

CODE_LIFETIME_S = 60
ACCESS_TOKEN_LIFETIME_S = 3600
SESSION_COOKIE = "oidc_simulator_session"  # distinct: on loopback, cookies are shared across ports


@dataclass
class User(loopback.User):
    sub: str


@dataclass
class Grant:
    """What a code, an access token or a refresh token stands for."""

    username: str
    auth_time: int
    expires: float | None = None
    redirect_uri: str = ""
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    used: bool = False
    issued: list = field(default_factory=list)  # tokens a code produced: revoked if the code is replayed


class OAuthError(Exception):
    """An OAuth error response: ``error`` is the standard code, the message its description."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.status = error, status

    def reply(self, headers: dict | None = None) -> Reply:
        body = {"error": self.error, "error_description": str(self)}
        return Reply(self.status, body, {"Cache-Control": "no-store", **(headers or {})})


class Provider(LoginDesk):
    session_cookie = SESSION_COOKIE
    login_title = "Sign in to the test provider"
    login_action = "authorize"

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, redirect_uris=()):
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = set(redirect_uris)
        self.signer = Signer()
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.users: dict[str, User] = {}
            self.sessions: dict[str, Grant] = {}  # browser session cookie -> who signed in, and when
            self.pending: dict[str, dict] = {}  # login form's request_id -> the /authorize parameters
            self.codes: dict[str, Grant] = {}
            self.access_tokens: dict[str, Grant] = {}
            self.refresh_tokens: dict[str, Grant] = {}
            self.fault: str | None = None
            self.authorize_log: list[dict] = []

    @staticmethod
    def now() -> int:
        return int(time.time())

    # --- discovery ------------------------------------------------------------------------------
    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
            "claims_supported": [
                *("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"),
                *("email", "email_verified", "name", "preferred_username", "groups"),
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "prompt_values_supported": ["none", "login"],
        }

    # --- authorization endpoint -----------------------------------------------------------------
    def authorize(self, params: dict, session_id: str | None) -> Reply:
        """GET /authorize: a code at once for a usable browser session, else the login form."""
        with self.lock:
            self.authorize_log.append(dict(params))
        if params.get("client_id") != self.client_id:
            return Reply(400, page("Unknown client", "This application is not registered here."))
        redirect_uri = params.get("redirect_uri", "")
        if not self._redirect_allowed(redirect_uri):
            return Reply(400, page("Bad redirect_uri", "This redirect URI is not registered for the client."))
        try:
            max_age = _authorize_checks(params)
        except OAuthError as error:
            return _back(params, error=error.error, error_description=str(error))
        prompt = params.get("prompt", "").split()
        with self.lock:
            session = self.sessions.get(session_id or "")
            usable = (
                session is not None
                and session.username in self.users
                and "login" not in prompt
                and (max_age is None or (max_age > 0 and self.now() - session.auth_time <= max_age))
            )
            if usable:
                return _back(params, code=self._issue_code(params, session.username, session.auth_time))
            if "none" in prompt:
                return _back(params, error="login_required", error_description="The user must sign in.")
            request_id = secrets.token_urlsafe(16)
            self.pending[request_id] = dict(params)
        return Reply(200, self.login_page(params, request_id))

    def application(self, params: dict) -> str:
        return self.client_id

    def signed_in(self, params: dict, user: User, session_id: str) -> Reply:
        """POST /authorize, the login form answered: a fresh sign-in (new auth_time), its browser
        session, and the code back to the client."""
        auth_time = self.now()
        self.sessions[session_id] = Grant(username=user.username, auth_time=auth_time)
        return _back(params, code=self._issue_code(params, user.username, auth_time))

    def _redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris:
            return uri in self.redirect_uris
        # Without registered URIs, any loopback callback: the tests' portal listens on a random port.
        parts = urlsplit(uri)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS and not parts.fragment

    def _issue_code(self, params: dict, username: str, auth_time: int) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(
            username=username,
            auth_time=auth_time,
            expires=time.monotonic() + CODE_LIFETIME_S,
            redirect_uri=params["redirect_uri"],
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method", "plain"),
        )
        return code

    # --- token endpoint -------------------------------------------------------------------------
    def token(self, form: dict, basic: tuple[str, str] | None) -> Reply:
        try:
            self._authenticate_client(form, basic)
            grant_type = form.get("grant_type")
            with self.lock:
                if grant_type == "authorization_code":
                    body = self._code_grant(form)
                elif grant_type == "refresh_token":
                    body = self._refresh_grant(form)
                else:
                    raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except OAuthError as error:
            challenge = {"WWW-Authenticate": 'Basic realm="oidc_simulator"'} if basic and error.status == 401 else {}
            return error.reply(challenge)
        return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authenticate_client(self, form: dict, basic: tuple[str, str] | None):
        if basic and "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or not secrets.compare_digest(secret.encode(), self.client_secret.encode()):
            raise OAuthError("invalid_client", "client authentication failed", status=401)

    def _code_grant(self, form: dict) -> dict:
        grant = self.codes.get(form.get("code", ""))
        if grant is None or time.monotonic() > grant.expires:
            raise OAuthError("invalid_grant", "unknown or expired authorization code")
        if grant.used:
            # RFC 6749 4.1.2: a replayed code revokes what it was exchanged for.
            for token in grant.issued:
                self.access_tokens.pop(token, None)
                self.refresh_tokens.pop(token, None)
            raise OAuthError("invalid_grant", "authorization code already used")
        grant.used = True
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
        if grant.code_challenge and not _pkce_ok(grant, form.get("code_verifier", "")):
            raise OAuthError("invalid_grant", "PKCE code_verifier does not match the code_challenge")
        body = self._tokens(grant.username, grant.auth_time, grant.nonce, refresh_token=None)
        grant.issued = [body["access_token"], body["refresh_token"]]
        return body

    def _refresh_grant(self, form: dict) -> dict:
        grant = self.refresh_tokens.get(form.get("refresh_token", ""))
        if grant is None or grant.username not in self.users:
            raise OAuthError("invalid_grant", "unknown or revoked refresh token")
        # OpenID Connect Core 12.2: the original auth_time, no nonce, and the user's claims as they are now.
        return self._tokens(grant.username, grant.auth_time, None, refresh_token=form["refresh_token"])

    def _tokens(self, username: str, auth_time: int, nonce: str | None, *, refresh_token: str | None) -> dict:
        user, now = self.users[username], self.now()
        access_token = secrets.token_urlsafe(32)
        expires = time.monotonic() + ACCESS_TOKEN_LIFETIME_S
        self.access_tokens[access_token] = Grant(username, auth_time, expires=expires)
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh_token] = Grant(username, auth_time)
        claims = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": self.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME_S,
            "auth_time": auth_time,
            **({"nonce": nonce} if nonce is not None else {}),
            **_profile(user),
        }
        fault, self.fault = self.fault, None
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME_S,
            "refresh_token": refresh_token,
            "id_token": self.signer.id_token(claims, fault, issuer=self.issuer, now=now),
            "scope": "openid email profile groups",
        }

    # --- userinfo -------------------------------------------------------------------------------
    def userinfo(self, access_token: str | None) -> Reply:
        with self.lock:
            grant = self.access_tokens.get(access_token or "")
            user = grant and time.monotonic() <= grant.expires and self.users.get(grant.username)
            if not user:
                challenge = 'Bearer error="invalid_token", error_description="unknown, expired or revoked"'
                return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": challenge})
            return Reply(200, {"sub": user.sub, **_profile(user)}, {"Cache-Control": "no-store"})

    # --- test controls --------------------------------------------------------------------------
    def control(self, action: str, data: dict):
        """``POST /_control/<action>`` (see the package docstring). Raises KeyError for an unknown user
        or action, ValueError for a bad value."""
        with self.lock:
            if action == "user":
                username = data["username"]
                sub = data.get("sub") or _stable_sub(username)
                self.users[username] = User(
                    username, data.get("password", "pw"), data["email"], list(data.get("groups", [])),
                    data.get("name") or username, sub,
                )  # fmt: skip
            elif action == "groups":
                self.users[data["username"]].groups = list(data["groups"])
            elif action == "remove-user":
                del self.users[data["username"]]
            elif action == "revoke":
                self._revoke(data["username"])
            elif action == "fault":
                if data.get("fault") is not None and data["fault"] not in FAULTS:
                    raise ValueError(f"unknown fault {data['fault']!r}; one of {', '.join(FAULTS)}")
                self.fault = data.get("fault")
            elif action == "end-sessions":
                self.sessions.clear()
            elif action == "age-sessions":
                for session in self.sessions.values():
                    session.auth_time -= int(data["seconds"])
            elif action == "authorize-requests":
                return list(self.authorize_log)
            elif action == "reset":
                self.reset()
            else:
                raise KeyError(action)
        return {"ok": True}

    def _revoke(self, username: str):
        for store in (self.access_tokens, self.refresh_tokens):
            for token in [t for t, grant in store.items() if grant.username == username]:
                del store[token]


def _authorize_checks(params: dict) -> int | None:
    """The request's errors that go back to the client (its redirect_uri is known good); returns max_age."""
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    if "openid" not in params.get("scope", "").split():
        raise OAuthError("invalid_scope", "the openid scope is required")
    if params.get("code_challenge") and params.get("code_challenge_method", "plain") not in ("S256", "plain"):
        raise OAuthError("invalid_request", "code_challenge_method must be S256 or plain")
    prompt = params.get("prompt", "").split()
    if "none" in prompt and len(prompt) > 1:
        raise OAuthError("invalid_request", "prompt=none cannot be combined with other values")
    if params.get("max_age") is None:
        return None
    try:
        max_age = int(params["max_age"])
    except ValueError:
        max_age = -1
    if max_age < 0:
        raise OAuthError("invalid_request", "max_age must be a whole number of seconds, 0 or more")
    return max_age


def _back(params: dict, **answer) -> Reply:
    """Send the browser back to the client's redirect_uri with ``answer`` (a code, or an error) and state."""
    if params.get("state") is not None:
        answer["state"] = params["state"]
    uri = params["redirect_uri"]
    return Reply(302, "", {"Location": uri + ("&" if "?" in uri else "?") + urlencode(answer)})


def _pkce_ok(grant: Grant, verifier: str) -> bool:
    if grant.code_challenge_method == "S256":
        verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(verifier.encode(), grant.code_challenge.encode())


def _stable_sub(username: str) -> str:
    # The same username is the same person after a reset, as at a real provider.
    return hashlib.sha256(f"oidc_simulator:{username}".encode()).hexdigest()[:24]


def _profile(user: User) -> dict:
    return {
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "preferred_username": user.username,
        "groups": list(user.groups),
    }
