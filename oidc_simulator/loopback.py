"""The plumbing both test providers share (this one and ``saml_simulator``, which imports it): the
``Reply`` a protocol answers, the directory's ``User``, a ThreadingHTTPServer on a thread with the
loopback-only control API, the request handler's parsing of bodies and cookies, the HTML page, the
login form and its check (``LoginDesk``), and the command line that serves until interrupted.
Standard library only."""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Reply:
    status: int
    body: object = ""  # str -> HTML unless a Content-Type header says otherwise; dict/list -> JSON
    headers: dict = field(default_factory=dict)


@dataclass
class User:
    """A user of the provider's in-memory directory, who signs in at its login form."""

    username: str
    password: str
    email: str
    groups: list
    name: str


class LoopbackServer:
    """A provider's HTTP server; ``port=0`` binds a free port. Subclasses answer ``route`` and may
    release more in ``close``."""

    thread_name = "simulator"

    def __init__(self, handler: type[LoopbackHandler], *, host: str, port: int, verbose: bool):
        self.host, self.verbose = host, verbose
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def announce(self) -> list[str]:
        """What the command line prints once listening; the first line is what whoever started it reads."""
        return [f"listening on {self.base_url}"]

    def start(self):
        # A short poll: stop() waits for the loop to notice, up to half a second at the default.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self):
        """Blocking, in this thread (the command line's way); whatever it holds goes however it ends."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()
            self.close()

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self.close()

    def close(self):
        """Anything besides the socket to release when the server ends."""

    def route(self, method: str, path: str, query: dict, request: LoopbackHandler) -> Reply:
        raise NotImplementedError

    def control(self, action: str, request: LoopbackHandler, answer: Callable[[str, dict], object]) -> Reply:
        """``POST /_control/<action>``: ``answer(action, body)`` for loopback callers, as JSON."""
        if request.client_address[0] not in LOOPBACK_HOSTS:
            return Reply(403, {"error": "the control API answers loopback only"})
        try:
            return Reply(200, answer(action, request.json()))
        except KeyError as missing:
            return Reply(404, {"error": f"unknown {missing}"})
        except (ValueError, TypeError) as error:
            return Reply(400, {"error": str(error)})


class LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    default_headers: dict = {}  # sent with every reply unless the reply names them itself

    def log_message(self, format, *args):
        """Silent: http.server's own lines quote the request line, whose query holds codes, state or
        the SAML request."""

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
        for name, value in {"Content-Type": content_type, **self.default_headers, **reply.headers}.items():
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


def page(title: str, body_html: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )


class LoginDesk:
    """The login form's POST, for a provider holding ``lock``, ``users`` and ``pending`` (request id ->
    the request waiting at the form). A subclass shows the form (``login_page``) and answers a good
    sign-in (``signed_in``); the answer carries the new browser session's cookie, ``session_cookie``."""

    session_cookie = ""
    login_title = "Sign in"
    login_action = "login"  # relative to the page that shows the form

    def login(self, form: dict) -> Reply:
        request_id = form.get("request_id", "")
        with self.lock:
            waiting = self.pending.get(request_id)
            if waiting is None:
                return Reply(400, page("Sign-in expired", "<p>Start again from the application.</p>"))
            user = self.users.get(form.get("username", ""))
            if user is None or not secrets.compare_digest(user.password, form.get("password", "")):
                return Reply(200, self.login_page(waiting, request_id, "Wrong username or password."))
            del self.pending[request_id]
            session_id = secrets.token_urlsafe(24)
            reply = self.signed_in(waiting, user, session_id)
        reply.headers["Set-Cookie"] = f"{self.session_cookie}={session_id}; Path=/; HttpOnly; SameSite=Lax"
        return reply

    def login_page(self, waiting, request_id: str, error: str = "") -> str:
        """The sign-in form: ``#username``, ``#password`` and ``#sign-in``, as the browser tests fill it."""
        message = f'<p role="alert" id="error">{html.escape(error)}</p>' if error else ""
        return page(
            self.login_title,
            f"{message}<p>Application: {html.escape(self.application(waiting))}</p>"
            f'<form method="post" action="{html.escape(self.login_action)}">'
            f'<input type="hidden" name="request_id" value="{html.escape(request_id)}">'
            '<label>Username <input name="username" id="username" autocomplete="username" required></label>'
            '<label>Password <input name="password" id="password" type="password" required></label>'
            '<button type="submit" id="sign-in">Sign in</button></form>',
        )

    def application(self, waiting) -> str:
        """What the form says the person is signing in to, for the request ``waiting``."""
        raise NotImplementedError

    def signed_in(self, waiting, user: User, session_id: str) -> Reply:
        """A fresh sign-in at the form for the request ``waiting``: record browser session ``session_id``
        and answer the request."""
        raise NotImplementedError


def serve_command(
    package: str,
    usage: str,
    make_server: Callable[[argparse.Namespace], LoopbackServer],
    add_options: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
    argv=None,
) -> int:
    """``python -m <package> --port 0 ...``: serve until interrupted (Ctrl-C or SIGTERM). The first line
    on stdout is ``listening on http://HOST:PORT`` (the port it bound), for whoever started it; ``usage``
    (the command's docstring) is the first line of --help."""
    parser = argparse.ArgumentParser(prog=f"python -m {package}", description=usage.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 binds a free port")
    add_options(parser)
    parser.add_argument(
        "--verbose-http", dest="verbose", action="store_true", help="log each request's method and path to stderr"
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args)
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    for line in server.announce():
        print(line, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _interrupt(signum, frame):
    # SIGTERM (how the tests stop it) ends the server as Ctrl-C does, closing what it holds.
    raise KeyboardInterrupt
