"""A real HTTP receiver on 127.0.0.1 that checks each delivery's signature as docs/api.md tells a
receiver to, and answers as the test scripts it (a status, or a stall longer than the timeout)."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from investigations.webhooks import selectors, services

STALL = "stall"
# Older than this, a receiver refuses a delivery (a replayed one).
TOLERANCE_SECONDS = 300


def signature_valid(secret, headers, body, *, now=None):
    """What a receiver does: recompute the HMAC over "{timestamp}.{raw body}", compare in constant
    time, refuse a timestamp too far from its own clock."""
    timestamp = headers.get("Webhook-Timestamp", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    given = headers.get("Webhook-Signature", "")
    return given.startswith("v1=") and hmac.compare_digest(given[3:], expected)


class Receiver:
    def __init__(self):
        self.script = []  # what to answer, one entry per request; 200 once it runs out
        self.received = []  # (headers, body, signature valid)
        self.secret = ""
        self.stall_seconds = 3
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/mimecast"
        # A short poll: stopping waits for the loop to notice, up to half a second at the default.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name: value for name, value in self.headers.items()}
                with receiver._lock:
                    receiver.received.append((headers, body, signature_valid(receiver.secret, headers, body)))
                    answer = receiver.script.pop(0) if receiver.script else 200
                if answer == STALL:
                    time.sleep(receiver.stall_seconds)
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler

    def bodies(self):
        return [json.loads(body) for _headers, body, _ok in self.received]


@pytest.fixture
def receiver(settings):
    running = Receiver()
    running.thread.start()
    settings.WEBHOOK_ALLOWED_HOSTS = [f"127.0.0.1:{running.port}"]
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(autouse=True)
def _no_remembered_endpoints():
    # The "any endpoint active?" answer is kept per process; each test starts like a new process.
    selectors.webhook_endpoints_forget()
    yield
    selectors.webhook_endpoints_forget()


@pytest.fixture
def endpoint_to(admin_user, receiver):
    """An active endpoint posting to the receiver, which learns its secret."""

    def make(name="Cortex XSOAR", url=None):
        endpoint, secret = services.webhook_endpoint_create(actor=admin_user, name=name, url=url or receiver.url)
        receiver.secret = secret
        return endpoint

    return make
