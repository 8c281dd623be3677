"""HTTP plumbing: routes requests to the provider and reads client credentials; the server, the
request parsing and the loopback-only control API are ``loopback``'s."""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit

from oidc_simulator.loopback import LoopbackHandler, LoopbackServer, Reply
from oidc_simulator.provider import SESSION_COOKIE, Provider


class ProviderServer(LoopbackServer):
    """The provider on a ThreadingHTTPServer. ``port=0`` binds a free port; without ``issuer`` the
    issuer is the server's own base URL. An issuer with a path (``http://host:port/realms/soc``) serves
    every endpoint under that path, as Keycloak does."""

    thread_name = "oidc-simulator"

    def __init__(
        self, *, host="127.0.0.1", port=0, issuer=None, client_id, client_secret, redirect_uris=(), verbose=False
    ):
        super().__init__(_Handler, host=host, port=port, verbose=verbose)
        issuer = (issuer or self.base_url).rstrip("/")
        self.prefix = urlsplit(issuer).path
        self.provider = Provider(
            issuer=issuer, client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris
        )

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def announce(self) -> list[str]:
        # The bound port first, then the issuer if it differs.
        return super().announce() + ([f"issuer {self.issuer}"] if self.issuer != self.base_url else [])

    def route(self, method: str, path: str, query: dict, request: _Handler) -> Reply:
        provider = self.provider
        if not path.startswith(self.prefix + "/"):
            return Reply(404, {"error": "not_found"})
        path = path.removeprefix(self.prefix)
        if path == "/.well-known/openid-configuration" and method == "GET":
            return Reply(200, provider.discovery())
        if path == "/jwks" and method == "GET":
            return Reply(200, provider.signer.jwks())
        if path == "/authorize" and method == "GET":
            return provider.authorize(query, request.cookie(SESSION_COOKIE))
        if path == "/authorize" and method == "POST":
            return provider.login(request.form())
        if path == "/token" and method == "POST":
            return provider.token(request.form(), request.basic_credentials())
        if path == "/userinfo" and method in ("GET", "POST"):
            return provider.userinfo(request.bearer_token())
        if path.startswith("/_control/") and method == "POST":
            return self.control(path.removeprefix("/_control/"), request, provider.control)
        return Reply(404, {"error": "not_found"})


class _Handler(LoopbackHandler):
    server_version = "oidc_simulator/1.0"

    def basic_credentials(self) -> tuple[str, str] | None:
        """client_secret_basic: RFC 6749 2.3.1 form-encodes id and secret before Base64."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            return ("", "")
        return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))

    def bearer_token(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
