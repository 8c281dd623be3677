"""Every route in the URLconf, as every persona and anonymously, with a corpus of bad values in each
parameter it has: never a response of 500 or above.

The routes come from the URL resolver, so a new route is walked without anyone listing it. The
parameters are the path converters and the query and form fields the view reads, found by asking
each route once (GET and POST, as a page and as an htmx partial) and noting every field name looked
up in request.GET or request.POST. Then:

- as the route's own persona (the first one allowed to open it), each parameter is varied alone
  over the whole corpus, the other fields holding valid values, so a bad value gets as far as it
  can (a valid search with one absurd date reaches the service);
- as every other persona and anonymously, each corpus value fills every parameter at once.

Personas live in different time zones (behind and ahead of UTC), where year-1 and year-9999 dates
overflow. Mimecast calls go to a simulator of this module's own. Thousands of requests take a few
minutes, so the walk is marked slow (``make test`` runs it, ``make test-fast`` leaves it out)."""

import urllib.parse
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

import tests.conftest as conftest
from investigations.core.roles import CAPABILITIES
from investigations.models import AuditEvent, UserSession
from mimecast_simulator.data import attachment_id
from tests.conftest import simulator_settings
from tests.routes import PUBLIC_ROUTES, SIGNED_IN_ROUTES, page_routes

pytestmark = pytest.mark.slow

# ------------------------------------------------------------------------------------ the corpus

# Bad values, in one place: str values are sent as UTF-8, bytes as they are (invalid UTF-8).
BAD_VALUES = {
    "nul": "\x00",
    "nul inside": "INC\x00-1",
    "invalid utf-8": b"\xff\xfe\xfd",
    "utf-8 surrogate": b"\xed\xa0\x80",
    "year 1": "0001-01-01",
    "year 1 with a time": "0001-01-01T00:00",
    "year 9999": "9999-12-31",
    "year 9999 with a time": "9999-12-31T23:59",
    "year 10000": "10000-01-01T00:00",
    "no such day": "2026-02-30T25:61",
    "zero": "0",
    "negative": "-1",
    "past int64": "9223372036854775808",
    "huge number": "9" * 60,
    "nan": "NaN",
    "superscript digit": "\u00b2",
    "huge string": "A" * 100_000,
    "many four-byte characters": "\U0001f600" * 5_000,
    "bidi override": "\u202eexe.pdf",
    "markup": '<script>alert(1)</script>"><img src=x>',
    "traversal": "../../../etc/passwd",
    "header injection": "x\r\nSet-Cookie: hijacked=1",
}
assert len(BAD_VALUES) >= 20

# ------------------------------------------------------------------------------------- personas

# Every persona conftest defines (each a fixture made by its _persona), plus anonymous.
PERSONAS = sorted(
    name for name, value in vars(conftest).items() if getattr(value, "__qualname__", "") == "_persona.<locals>.persona"
)
ROLES = ["anonymous", *PERSONAS]
ROLE_OF = {
    "analyst": "analyst",
    "second_analyst": "analyst",
    "approver": "approver",
    "second_approver": "approver",
    "auditor": "auditor",
    "admin_user": "admin",
    "outsider": None,
    "anonymous": None,
}
# Time zones behind and ahead of UTC: where a typed year 1 or 9999 does not fit once in UTC.
TIME_ZONES = {
    "analyst": "America/New_York",
    "second_analyst": "Asia/Tokyo",
    "approver": "Pacific/Pago_Pago",
    "second_approver": "Australia/Eucla",
    "auditor": "Pacific/Kiritimati",
    "admin_user": "Europe/Paris",
    "outsider": "America/Los_Angeles",
}
PUBLIC = PUBLIC_ROUTES  # opened signed out
SIGNED_IN = SIGNED_IN_ROUTES | {"logout"}  # any signed-in user
LOGS_OUT = {"logout"}  # the client signs in again after each request to it

# ---------------------------------------------------------------------------------------- routes

# Routes not walked, each with the reason; a route skipped without one fails the test below.
SKIPPED = {}

REASON = "Route walker: checking bad input, ticket INC-1"
SHA256 = "a" * 64
# Valid values for the fields a route needs, so that one bad value at a time reaches as far as it can.
BASELINE = {
    ("quick-search", "GET"): {"q": "phish@example.test", "reason": REASON},
    ("track-trace", "GET"): {"reason": REASON},
    ("archive-search", "GET"): {"reason": REASON, "text": "invoice"},
    ("mailbox-view", "GET"): {"reason": REASON, "mailbox": "user@example.test"},
    ("message-body", "POST"): {"reason": REASON},
    ("message-download", "POST"): {"reason": REASON, "context": "RECEIVED"},
    ("attachment-download", "POST"): {"reason": REASON},
    ("remediation-new", "POST"): {"kind": "remediate", "search_by": "hash", "search_value": SHA256, "reason": REASON},
    ("remediation-edit", "POST"): {"kind": "remediate", "search_by": "hash", "search_value": SHA256, "reason": REASON},
    ("remediation-decide", "POST"): {"decision": "reject", "reason": REASON, "version": "1"},
    ("tools-hash-search", "GET"): {"hashes": SHA256},
    ("tools-hash-search", "POST"): {"hashes": SHA256},
    ("tools-url-decode", "GET"): {"urls": "https://protect-eu.mimecast.com/s/abc"},
    ("tools-url-decode", "POST"): {"urls": "https://protect-eu.mimecast.com/s/abc"},
    ("awareness-user", "GET"): {"email": "user@example.test"},
    ("login", "POST"): {"username": "nobody", "password": "wrong"},
    ("oversight-rules", "POST"): {
        "flagged_release_approvers": "2",
        "domain_block_admin_threshold": "50",
        "break_glass_review_hours": "24",
        "reason": REASON,
    },
    ("oversight-break-glass-review", "POST"): {"note": REASON},
}
PROBE = "_walker_probe"
UNEXPECTED = "walker_unexpected"  # a field no view reads: it must be ignored
IGNORED_FIELDS = {PROBE, "csrfmiddlewaretoken"}


def _route_names():
    return [name for name, _entry in page_routes()]


ROUTE_NAMES = _route_names()


def test_every_route_is_walked_or_skipped_with_a_reason():
    unnamed = [name for name in ROUTE_NAMES if not name]
    assert unnamed == [], "a route without a name cannot be walked"
    assert all(SKIPPED.get(name) for name in SKIPPED), "each skipped route needs its reason"
    assert set(SKIPPED) <= set(ROUTE_NAMES), f"skipped routes that no longer exist: {set(SKIPPED) - set(ROUTE_NAMES)}"


def test_every_persona_has_a_role_and_a_time_zone():
    assert PERSONAS, "no persona found in tests/conftest.py"
    assert set(PERSONAS) <= set(ROLE_OF) and set(PERSONAS) <= set(TIME_ZONES)


# ------------------------------------------------------------------------------------- requests


def _encode(value):
    raw = value if isinstance(value, bytes) else str(value).encode()
    return urllib.parse.quote_from_bytes(raw, safe="")


def _query(fields):
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in fields.items())


def _send(client, method, url, fields, *, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return client.get(url, QUERY_STRING=_query(fields), headers=headers)
    return client.post(url, data=_query(fields), content_type="application/x-www-form-urlencoded", headers=headers)


@contextmanager
def _recording(seen):
    """Note every field name a view looks up in a QueryDict (request.GET, request.POST)."""
    originals = {name: getattr(QueryDict, name) for name in ("get", "getlist", "__getitem__", "__contains__")}

    def wrap(name):
        original = originals[name]

        def recorded(self, key, *args, **kwargs):
            if isinstance(key, str) and key not in IGNORED_FIELDS:
                seen.setdefault(key, None)
            return original(self, key, *args, **kwargs)

        return recorded

    for name in originals:
        setattr(QueryDict, name, wrap(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(QueryDict, name, original)


class Route:
    """One URL pattern: how to build its URL with a sample or a bad value in each path parameter."""

    def __init__(self, name, entry, samples):
        self.name = name
        self.capability = getattr(entry.callback, "capability", None)
        self.converters = dict(getattr(entry.pattern, "converters", {}))
        missing = [key for key in self.converters if (self.name, key) not in samples]
        assert not missing, f"{self.name}: give walk_env a sample value for the path parameter(s) {missing}"
        self.samples = {key: samples[(self.name, key)] for key in self.converters}

    def url(self, **bad):
        markers = {
            key: (987654321 + i if self._is_int(key) else f"WALKER{i}MARK") for i, key in enumerate(self.samples)
        }
        url = reverse(self.name, kwargs=markers)
        for key, marker in markers.items():
            value = bad[key] if key in bad else self.samples[key]
            url = url.replace(str(marker), _encode(value), 1)
        return url

    def _is_int(self, key):
        return type(self.converters[key]).__name__ == "IntConverter"

    def allows(self, persona):
        if self.name in PUBLIC:
            return True
        if persona == "anonymous":
            return False
        if self.name in SIGNED_IN:
            return True
        return ROLE_OF[persona] in CAPABILITIES[self.capability]

    def own_persona(self):
        """Who walks the parameters one at a time: anonymous for the sign-in page, otherwise the
        first persona allowed in (the requester of the sample remediation request, for its routes)."""
        if self.name in PUBLIC:
            return "anonymous"
        return next(p for p in ("analyst", "approver", "auditor", "admin_user") if self.allows(p))


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def walk_env(request, settings, srv, db):
    """The portal on this module's simulator, every persona in a time zone, and one of each object
    a path names: a remediation request of the analyst's, its audit event, a seeded message."""
    from investigations.cases.services import case_create
    from investigations.integrations.services import token_create
    from investigations.remediation import services
    from investigations.webhooks.services import webhook_endpoint_create

    srv.faults.clear()
    settings.MIMECAST_ENV = simulator_settings(srv, "keys")
    users = {}
    for persona in PERSONAS:
        user = request.getfixturevalue(persona)
        user.time_zone = TIME_ZONES[persona]
        user.save(update_fields=["time_zone"])
        users[persona] = user
    draft = services.remediation_request_create(
        actor=users["analyst"],
        values={"kind": "remediate", "search_by": "hash", "search_value": SHA256, "reason": REASON},
    )
    case = case_create(
        actor=users["analyst"], values={"title": "Walk", "reason": "A walk through every route", "ticket_id": ""}
    )
    event = AuditEvent.objects.order_by("-seq").first()
    message = next(m for m in srv.state.messages if m.attachments)
    token, _secret = token_create(actor=users["admin_user"], name="walker", scopes=["read"])
    # Nothing listens there: the walk opens and posts the endpoint's pages, and a test event only
    # queues a delivery (no worker runs in this module).
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1:9"]
    endpoint, _ = webhook_endpoint_create(actor=users["admin_user"], name="walker", url="http://127.0.0.1:9/hook")
    # The users pages act on a user of their own: walking them must not deactivate a persona it signs in as.
    walk_target = get_user_model().objects.create_user("walk-target")
    elsewhere = Client()
    elsewhere.force_login(users["analyst"])
    other_session = UserSession.objects.get(session_key=elsewhere.session.session_key)
    samples = {
        ("account-session-revoke", "session_id"): other_session.pk,
        ("user-sessions-revoke", "user_id"): users["analyst"].pk,
        ("integration-token-revoke", "token_id"): token.pk,
        ("audit-event", "seq"): event.seq,
        ("break-glass-sign-in-acknowledge", "seq"): event.seq,
        ("audit-timeline", "target_type"): event.target_type,
        ("audit-timeline", "target_id"): event.target_id,
        ("audit-export", "fmt"): "csv",
        ("attachment-download", "attachment_id"): attachment_id(srv.seed, message, 0),
        ("entity", "kind"): "sender",
        ("entity", "value"): "user@example.test",
        ("user-password-set", "uidb64"): "MQ",
        ("user-password-set", "token"): "set-password",
    }
    for name, entry in page_routes():
        for key in getattr(entry.pattern, "converters", {}):
            if key == "endpoint_id":
                samples[(name, key)] = endpoint.pk
            elif key == "request_id":
                samples[(name, key)] = draft.pk
            elif key == "message_id":
                samples[(name, key)] = message.id
            elif key == "case_id":
                samples[(name, key)] = case.pk
            elif key == "user_id" and name != "user-sessions-revoke":
                samples[(name, key)] = walk_target.pk
    return users, samples


def _client(users, persona):
    client = Client(raise_request_exception=False)
    if persona != "anonymous":
        client.force_login(users[persona])
    return client


def _parameters(client, route, persona):
    """{(method, htmx): field names the view reads}; a method the view refuses (405) is left out."""
    found = {}
    for method in ("GET", "POST"):
        for htmx in (False, True):
            seen = {}
            fields = {**BASELINE.get((route.name, method), {}), PROBE: "1"}
            with _recording(seen):
                response = _send(client, method, route.url(), fields, htmx=htmx)
            if response.status_code != 405:
                found[(method, htmx)] = list(seen)
            _sign_in_again(client, route, persona)
    return found


def _sign_in_again(client, route, persona):
    if route.name in LOGS_OUT and persona != "anonymous":
        client.force_login(client._walker_user)


# ----------------------------------------------------------------------------------------- walk


def _walk_route(route, users):
    failures, counted = [], 0

    def check(persona, method, url, fields, htmx, what):
        nonlocal counted
        response = _send(clients[persona], method, url, fields, htmx=htmx)
        counted += 1
        _sign_in_again(clients[persona], route, persona)
        if response.status_code >= 500:
            failures.append(f"{route.name} as {persona}: {method} {what} -> {response.status_code}")

    clients = {}
    for persona in ROLES:
        clients[persona] = _client(users, persona)
        clients[persona]._walker_user = users.get(persona)
    own = route.own_persona()
    modes = _parameters(clients[own], route, own)
    fields_read = {}
    for mode, names in modes.items():
        for name in names:
            fields_read.setdefault(name, mode)
    # The route's own persona: one parameter at a time, the others valid.
    for name, (method, htmx) in fields_read.items():
        for label, value in BAD_VALUES.items():
            fields = {**BASELINE.get((route.name, method), {}), name: value}
            check(own, method, route.url(), fields, htmx, f"{name}={label}")
    methods = sorted({method for method, _ in modes}) or ["GET"]
    for key in route.samples:
        for label, value in BAD_VALUES.items():
            for method in methods:
                check(
                    own,
                    method,
                    route.url(**{key: value}),
                    BASELINE.get((route.name, method), {}),
                    False,
                    f"<{key}>={label}",
                )
    # Everyone else (and the route's own persona, when the view reads no field at all): each value
    # in every parameter at once, and in one the view does not expect.
    everywhere_fields = [*fields_read, UNEXPECTED]
    for persona in ROLES:
        if persona == own and fields_read:
            continue
        for label, value in BAD_VALUES.items():
            everywhere = dict.fromkeys(everywhere_fields, value)
            for method in methods:
                check(persona, method, route.url(), everywhere, False, f"every field={label}")
                if route.samples:
                    bad_path = route.url(**dict.fromkeys(route.samples, value))
                    check(persona, method, bad_path, everywhere, False, f"every parameter={label}")
    return failures, counted, fields_read


def _walkable():
    return [name for name in ROUTE_NAMES if name not in SKIPPED]


@pytest.mark.parametrize("name", _walkable())
def test_no_bad_value_in_any_parameter_makes_a_route_fail(walk_env, name):
    users, samples = walk_env
    entry = next(e for n, e in page_routes() if n == name)
    route = Route(name, entry, samples)
    failures, counted, fields_read = _walk_route(route, users)
    assert counted >= len(BAD_VALUES) * len(ROLES)
    assert failures == [], f"{len(failures)} responses >= 500 (fields read: {sorted(fields_read)}):\n" + "\n".join(
        failures[:40]
    )
