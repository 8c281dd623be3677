"""HTTP plumbing: routes requests to the identity provider; the server, the request parsing and the
loopback-only control API are ``oidc_simulator.loopback``'s, which both test providers share."""

from __future__ import annotations

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from oidc_simulator.loopback import LoopbackHandler, LoopbackServer, Reply
from saml_simulator.idp import SESSION_COOKIE, IdentityProvider


class IdpServer(LoopbackServer):
    """The identity provider on a ThreadingHTTPServer; ``port=0`` binds a free port. Its entity id is
    ``{base_url}/metadata``, where its metadata is served."""

    thread_name = "saml-simulator"

    def __init__(self, *, host="127.0.0.1", port=0, verbose=False):
        super().__init__(_Handler, host=host, port=port, verbose=verbose)
        self.idp = IdentityProvider(base_url=self.base_url)

    def close(self):
        self.idp.close()  # its keys, in a temporary directory

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
            return self.control(path.removeprefix("/_control/"), request, idp.control)
        return Reply(404, "not found")


class _Handler(LoopbackHandler):
    server_version = "saml_simulator/1.0"
    default_headers = {"Cache-Control": "no-store"}
