"""HTTP plumbing: routes requests to the identity provider, parses forms and cookies, and serves the
loopback-only control API."""

from __future__ import annotations

import json
import sys
import threading
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from saml_simulator.idp import LOOPBACK_HOSTS, SESSION_COOKIE, IdentityProvider, Reply


class IdpServer:
    """The identity provider on a ThreadingHTTPServer; ``port=0`` binds a free port. Its entity id is
    ``{base_url}/metadata``, where its metadata is served."""

    def __init__(self, *, host="127.0.0.1", port=0, verbose=False):
        self.host, self.verbose = host, verbose
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.idp = IdentityProvider(base_url=self.base_url)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> IdpServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="saml-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        """Blocking, in this thread (the command line's way); socket and keys go however it ends."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()
            self.idp.close()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self.idp.close()

    def route(self, method: str, path: str, query: dict, request: _Handler) -> Reply:
        idp = self.idp
        if path == "/metadata" and method == "GET":
            return idp.metadata()
        if path == "/sso/redirect" and method == "GET":
            return idp.single_sign_on(query, BINDING_HTTP_REDIRECT, request.cookie(SESSION_COOKIE))
        if path == "/sso/post" and method == "POST":
            return idp.single_sign_on(request.form(), BINDING_HTTP_POST, request.cookie(SESSION_COOKIE))
        if path == "/sso/login" and method == "POST":
            return idp.login(request.form())
        if path.startswith("/_control/") and method == "POST":
            return self._control(path.removeprefix("/_control/"), request)
        return Reply(404, "not found")

    def _control(self, action: str, request: _Handler) -> Reply:
        if request.client_address[0] not in LOOPBACK_HOSTS:
            return Reply(403, json.dumps({"error": "the control API answers loopback only"}), _JSON)
        try:
            return Reply(200, json.dumps(self.idp.control(action, request.json())), _JSON)
        except KeyError as missing:
            return Reply(404, json.dumps({"error": f"unknown {missing}"}), _JSON)
        except (ValueError, TypeError) as error:
            return Reply(400, json.dumps({"error": str(error)}), _JSON)


_JSON = {"Content-Type": "application/json"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "saml_simulator/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        """Silent: http.server's own lines quote the request line, whose query holds the request."""

    def log_request(self, code="-", size="-"):
        if self.server.owner.verbose:
            sys.stderr.write(f"{self.command} {urlsplit(self.path).path} {code}\n")

    def _serve(self):
        url = urlsplit(self.path)
        self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.owner.route(self.command, url.path, dict(parse_qsl(url.query)), self)
        data = reply.body.encode()
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", **reply.headers}
        self.send_response(reply.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
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
