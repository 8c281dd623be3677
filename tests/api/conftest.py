"""Fixtures for the REST API's tests: integration tokens, and a client that presents them."""

import json as jsonlib
import uuid

import pytest
from django.test import Client

from investigations.integrations.services import token_create
from investigations.models import User

ALL_SCOPES = ("read", "request_actions", "audit_read")


@pytest.fixture
def token_admin(db):
    """The admin who creates the tests' tokens (tokens need a creator, not a persona of the test)."""
    from tests.factories import UserFactory

    return UserFactory(username="token-admin", roles=["admin"])


@pytest.fixture
def make_token(token_admin):
    """make_token(scopes, name=None, **kw) -> (token, secret); kw go to token_create
    (expires_at, rate_limit_per_minute)."""
    counter = iter(range(1, 10_000))

    def make(scopes=ALL_SCOPES, name=None, **kw):
        name = name or f"soar-{next(counter)}-{uuid.uuid4().hex[:6]}"
        return token_create(actor=token_admin, name=name, scopes=list(scopes), **kw)

    return make


@pytest.fixture
def reader(make_token):
    """A token that reads (searches, tools, requests, cases) and changes nothing."""
    return make_token(["read"])


@pytest.fixture
def auditor_token(make_token):
    """A SIEM's token: it reads the audit trail and nothing else."""
    return make_token(["audit_read"])


class ApiClient:
    """A Django test client that speaks to /api/v1/ with a Bearer token and, on every POST, an
    Idempotency-Key (a fresh uuid4 unless the test names one; key=False sends none)."""

    def __init__(self, client):
        self.client = client

    @staticmethod
    def _url(path):
        return path if path.startswith("/") else "/api/v1/" + path

    @staticmethod
    def _headers(token, headers):
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return sent

    def get(self, path, token=None, headers=None, **params):
        return self.client.get(self._url(path), params, headers=self._headers(token, headers))

    def post(self, path, json=None, token=None, key=None, headers=None):
        sent = self._headers(token, headers)
        if key is not False:
            sent["Idempotency-Key"] = str(uuid.uuid4()) if key is None else key
        body = jsonlib.dumps({} if json is None else json)
        return self.client.post(self._url(path), body, content_type="application/json", headers=sent)

    def request(self, method, path, token=None, json=None, key=None, headers=None, **params):
        if method.upper() == "POST":
            return self.post(path, json=json, token=token, key=key, headers=headers)
        return self.get(path, token=token, headers=headers, **params)


@pytest.fixture
def api(db):
    return ApiClient(Client(enforce_csrf_checks=True))


@pytest.fixture
def service_user_of():
    """The service identity a token acts as."""

    def of(token):
        return User.objects.get(pk=token.service_user_id)

    return of
