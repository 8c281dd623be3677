"""Authentication for the transport: API 1.0 HMAC signing with configured keys or keys from a login
(discover-authentication, then login), API 2.0 OAuth bearer tokens, and renewing either once when
Mimecast says they expired."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from investigations.mimecast import auth as mc_auth
from investigations.mimecast.envelope import first_item
from investigations.mimecast.errors import MimecastAuthError, MimecastBadResponse, MimecastConfigError
from investigations.mimecast.outcomes import BINDING_EXPIRED, TOKEN_EXPIRED
from investigations.mimecast.urls import DISCOVERY_BASE_URL, validate_base_url

logger = logging.getLogger("investigations.mimecast")

DISCOVER_PATH = "/api/login/discover-authentication"
LOGIN_PATH = "/api/login/login"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret


class Credentials:
    """Mixed into the transport, which provides ``config``, ``_request``, ``_lock``, ``_tokens``, ``_keys``,
    ``_now``, ``_base_url`` and ``_discovered``."""

    def authenticate(self) -> None:
        """Obtain credentials now (login or token); used by "test connection"."""
        if self.config.api_version == 2:
            self._ensure_token()
        else:
            self._ensure_keys()

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

    # ------------------------------------------------------------------------------------ API 2.0

    def _ensure_token(self) -> str:
        token = self._tokens.get()
        if token:
            return token
        with self._lock:
            return self._tokens.get() or self._fetch_token()

    def _fetch_token(self) -> str:
        cfg = self.config
        response = self._request(
            "POST",
            TOKEN_PATH,
            form={"client_id": cfg.client_id, "client_secret": cfg.client_secret, "grant_type": "client_credentials"},
            auth="token",
        )
        body = response.body if isinstance(response.body, dict) else {}
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise MimecastBadResponse("Mimecast's token answer did not contain an access token.", endpoint=TOKEN_PATH)
        try:
            expires_in = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            expires_in = 1800.0
        self._tokens.store(token, expires_in)
        return token

    # ------------------------------------------------------------------------------------ API 1.0

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

    def _discover_region(self) -> None:
        """discover-authentication: learn (once) which regional host serves this account."""
        cfg = self.config
        body = {"data": [{"emailAddress": cfg.username}]}
        response = self._request("POST", DISCOVER_PATH, body=body, auth="discover", base_url=self._discovery_base())
        region = first_item(response.body, DISCOVER_PATH).get("region")
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

    def _login(self) -> None:
        """Log in (after discovery, the first time) and keep the keys Mimecast hands out in ``_keys``."""
        if not self._discovered:
            self._discover_region()
        body = {"data": [{"userName": self.config.username}]}
        first = first_item(self._request("POST", LOGIN_PATH, body=body, auth="login").body, LOGIN_PATH)
        access_key, secret_key = first.get("accessKey"), first.get("secretKey")
        if not isinstance(access_key, str) or not isinstance(secret_key, str) or not access_key or not secret_key:
            raise MimecastBadResponse("Mimecast's login answer did not contain keys.", endpoint=LOGIN_PATH)
        mc_auth.decode_secret_key(secret_key)
        self._keys = mc_auth.AccessKeys(access_key, secret_key, from_login=True)
