"""The API's permission matrix: every route of the API, read from the URL resolver and the OpenAPI
schema (so a new route cannot be forgotten), called with no token, a revoked one, an expired one,
each single scope and all scopes, answers 401, 403 or not a refusal as its scope says; and every call,
refused or not, is exactly one `api.called` event. The browser's matrix is
tests/core/test_url_permissions.py, which leaves these routes to this module."""

import re
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from investigations.api.security import UNAUDITED_ROUTES
from investigations.api.views import api as ninja_api
from investigations.integrations.services import token_revoke
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.api.conftest import ALL_SCOPES

# The scope each operation needs: the API's contract, written out so that a change is a decision.
SCOPE_OF = {
    ("GET", "/api/v1/messages"): "read",
    ("GET", "/api/v1/archive"): "read",
    ("GET", "/api/v1/messages/{message_id}"): "read",
    ("POST", "/api/v1/hash-search"): "read",
    ("POST", "/api/v1/url-decode"): "read",
    ("GET", "/api/v1/audit/events"): "audit_read",
    ("GET", "/api/v1/audit/events/{seq}"): "audit_read",
    ("GET", "/api/v1/investigations"): "read",
    ("POST", "/api/v1/investigations"): "request_actions",
    ("GET", "/api/v1/investigations/{case_id}"): "read",
    ("POST", "/api/v1/investigations/{case_id}/evidence"): "request_actions",
    ("GET", "/api/v1/requests"): "read",
    ("POST", "/api/v1/requests"): "request_actions",
    ("GET", "/api/v1/requests/{request_id}"): "read",
    ("POST", "/api/v1/requests/{request_id}/cancel"): "request_actions",
}
CALLERS = ["no token", "revoked", "expired", *(f"only {s}" for s in ALL_SCOPES), "all scopes"]


def _schema_operations():
    schema = ninja_api.get_openapi_schema(path_params={})
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


def _api_url_patterns():
    """The operations' URL patterns in the resolver, under the API's namespace."""

    def walk(patterns, inside):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, inside or entry.namespace == "api-v1")
            # The unnamed catch-all answers "no such route"; it serves no operation.
            elif inside and isinstance(entry, URLPattern) and entry.name and entry.name not in UNAUDITED_ROUTES:
                yield entry

    return list(walk(get_resolver().url_patterns, False))


def _as_schema_path(route):
    """A Django route ("api/v1/requests/<int:request_id>") as the schema writes it."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).rstrip("/")


OPERATIONS = sorted(_schema_operations())


def test_the_matrix_covers_every_route_of_the_api():
    assert set(SCOPE_OF) == set(OPERATIONS), "a route of the API is missing from SCOPE_OF (or gone from the API)"
    # The resolver serves exactly the schema's paths (no operation hidden from the schema).
    patterns = _api_url_patterns()
    served = {_as_schema_path("api/v1/" + str(p.pattern)) for p in patterns}
    assert {path.rstrip("/") for _, path in OPERATIONS} == served


@pytest.fixture
def callers(make_token, admin_user):
    secrets = {"no token": None}
    revoked, secrets["revoked"] = make_token(ALL_SCOPES)
    token_revoke(actor=admin_user, token=revoked)
    _, secrets["expired"] = make_token(ALL_SCOPES, expires_at=timezone.now() - timedelta(minutes=1))
    for scope in ALL_SCOPES:
        _, secrets[f"only {scope}"] = make_token([scope])
    _, secrets["all scopes"] = make_token(ALL_SCOPES)
    return secrets


def _expected(caller, scope):
    if caller in ("no token", "revoked", "expired"):
        return 401
    if caller == "all scopes" or caller == f"only {scope}":
        return "allowed"
    return 403


SAMPLE_BODY = {"reason": "Checking the permission matrix", "title": "Matrix", "kind": "block_sender"}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_each_caller_gets_what_the_routes_scope_allows_and_each_call_is_audited_once(
    sim_env, api, callers, method, path
):
    url = re.sub(r"\{[^}]+\}", "1", path)
    for caller in CALLERS:
        before = AuditEvent.objects.filter(action=AuditAction.API_CALLED).count()
        response = api.request(method, url, token=callers[caller], json=SAMPLE_BODY)
        expected = _expected(caller, SCOPE_OF[(method, path)])
        if expected == "allowed":
            assert response.status_code not in (401, 403) and response.status_code < 500, (caller, response.json())
        else:
            assert response.status_code == expected, (caller, response.status_code)
            assert response["Content-Type"] == "application/problem+json"
        events = AuditEvent.objects.filter(action=AuditAction.API_CALLED).order_by("seq")
        assert events.count() == before + 1, caller
        event = events.last()
        assert event.data["method"] == method and event.data["status"] == response.status_code
        assert _as_schema_path(event.data["route"]) == path
        assert event.actor_type == ("anonymous" if expected == 401 else "user")
    # Nothing any of them posted was decided.
    assert not RemediationRequest.objects.filter(approved_by__isnull=False).exists()
