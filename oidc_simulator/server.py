"""HTTP plumbing: routes requests to the provider, parses forms, cookies and client credentials, and
serves the loopback-only control API."""

from __future__ import annotations

import base64
import json
import sys
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from oidc_simulator.provider import LOOPBACK_HOSTS, SESSION_COOKIE, Provider, Reply


class ProviderServer:
    """The provider on a ThreadingHTTPServer. ``port=0`` binds a free port; without ``issuer`` the
    issuer is the server's own base URL. An issuer with a path (``http://host:port/realms/soc``) serves
    every endpoint under that path, as Keycloak does."""

    def __init__(
        self, *, host="127.0.0.1", port=0, issuer=None, client_id, client_secret, redirect_uris=(), verbose=False
    ):
        self.host, self.verbose = host, verbose
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        issuer = (issuer or self.base_url).rstrip("/")
        self.prefix = urlsplit(issuer).path
        self.provider = Provider(
            issuer=issuer, client_id=client_id, client_secret=client_secret, redirect_uris=redirect_uris
        )
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def start(self) -> ProviderServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="oidc-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        """Blocking, in this thread (the command line's way); the socket is closed however it ends."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

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
            return self._control(path.removeprefix("/_control/"), request)
        return Reply(404, {"error": "not_found"})

    def _control(self, action: str, request: _Handler) -> Reply:
        if request.client_address[0] not in LOOPBACK_HOSTS:
            return Reply(403, {"error": "the control API answers loopback only"})
        try:
            return Reply(200, self.provider.control(action, request.json()))
        except KeyError as missing:
            return Reply(404, {"error": f"unknown {missing}"})
        except (ValueError, TypeError) as error:
            return Reply(400, {"error": str(error)})


class _Handler(BaseHTTPRequestHandler):
    server_version = "oidc_simulator/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        """Silent: http.server's own lines quote the request line, whose query holds codes and state."""

    def log_request(self, code="-", size="-"):
        if self.server.owner.verbose:
            sys.stderr.write(f"{self.command} {urlsplit(self.path).path} {code}\n")

    def _serve(self):
        url = urlsplit(self.path)
        self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.owner.route(self.command, url.path, dict(parse_qsl(url.query)), self)
        if isinstance(reply.body, str):
            data, content_type = reply.body.encode(), "text/html; charset=utf-8"
        else:
            data, content_type = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def form(self) -> dict:
        return dict(parse_qsl(self._body.decode("utf-8", "replace")))

    def json(self) -> dict:
        return json.loads(self._body or b"{}")

    def cookie(self, name: str) -> str | None:
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(name)
        except CookieError:
            return None
        return morsel.value if morsel else None

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
