"""The REST API keeps its own contract: tests generated from its OpenAPI schema, run against a live server.

schemathesis reads /api/v1/openapi.json from a running portal (pytest-django's live server, on a real
socket, with the Mimecast simulator as its Mimecast) and sends every operation generated requests, valid
and invalid, authenticated with real integration tokens. No answer may be a server error, and every
answer must be one the schema declares: a documented status, its content type, a body its schema
accepts. A second pass with a read-only token checks the refusals are documented too, and that such a
token never gets a write or an audit read through.
"""

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from investigations.models import Investigation, RemediationRequest
from investigations.remediation.services import remediation_request_approve
from investigations.webhooks.services import webhook_signature
from tests.api.conftest import ALL_SCOPES
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow

# What must hold for every generated case: no 5xx; status, content type, headers and body as declared.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
PROBLEM = {"$ref": "#/components/schemas/ProblemSchema"}
# Far above what a fuzzing run sends in a minute: the rate limit has tests of its own.
UNLIMITED = 1_000_000


def needs_more_than_read(case):
    """Writes (investigations, evidence, requests, cancels) and the audit trail: not for a `read` token."""
    path, method = case.path, case.method.upper()
    writes = method == "POST" and path.startswith(("/api/v1/investigations", "/api/v1/requests"))
    return writes or path.startswith("/api/v1/audit/")


@pytest.fixture
def portal(live_server, sim_env, make_token):
    """The live portal, its Mimecast the shared simulator, and two tokens: every scope, and read only."""
    _, full = make_token(ALL_SCOPES, name="contract-full", rate_limit_per_minute=UNLIMITED)
    read_token, read = make_token(["read"], name="contract-read", rate_limit_per_minute=UNLIMITED)
    schema = schemathesis.openapi.from_url(live_server.url + "/api/v1/openapi.json")
    schema.config.update(base_url=live_server.url)
    return SimpleNamespace(full=full, read=read, read_user=read_token.service_user, schema=schema)


def call(case, secret):
    headers = {"Authorization": f"Bearer {secret}"}
    if case.method.upper() == "POST":
        # Every POST carries its own key: a fuzzing run is many distinct requests, never a retry.
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return case.call_and_validate(headers=headers, checks=CHECKS)


def fuzz(schema, check, max_examples):
    """Run `check(case)` on generated cases of every operation, valid ones and invalid ones, and fail
    once at the end with every operation that broke the contract (one broken route hides no other).

    (schemathesis' own pytest loader for a schema served by a fixture does not run under pytest 9, so
    the operations are walked here, each with its own Hypothesis test.)"""
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema has no operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Derandomized: the same cases every run, so a failure reproduces on the next run and in CI.
            @settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                check(case)

            try:
                run()
            # schemathesis reports a case's failed checks as one group (not an Exception): collected too.
            except (Exception, BaseExceptionGroup) as error:
                notes = "\n".join(getattr(error, "__notes__", ()))
                failures.append(f"{operation.label} ({mode.value}): {error}\n{notes}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_answers_as_its_schema_says(portal):
    fuzz(portal.schema, lambda case: call(case, portal.full), max_examples=25)


def test_a_read_only_token_is_refused_as_documented(portal):
    def check(case):
        response = call(case, portal.read)
        if needs_more_than_read(case):
            assert not 200 <= response.status_code < 300, f"{case.method} {case.path} let a read-only token through"

    fuzz(portal.schema, check, max_examples=8)
    assert not RemediationRequest.objects.filter(requested_by=portal.read_user).exists()
    assert not Investigation.objects.filter(owner=portal.read_user).exists()


def test_the_schema_is_openapi_3_1_and_every_operation_declares_its_security_and_problems(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items() if scheme == {"type": "http", "scheme": "bearer"}]
    assert bearer, schemes
    operations = [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]
    assert operations
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("security") and all(set(s) <= set(bearer) for s in operation["security"]), where
        for status in ("401", "403", "422", "429"):
            content = operation["responses"].get(status, {}).get("content", {})
            assert content.get("application/problem+json", {}).get("schema") == PROBLEM, (
                f"{where} does not declare its {status} problem"
            )


# ------------------------------------------------------------------------------ the docs


def test_the_api_docs_render_every_operation_under_the_portals_csp(live_server, client, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM here stays synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    operations = sum(len(item) for item in client.get("/api/v1/openapi.json").json()["paths"].values())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = page.goto(live_server.url + "/api/v1/docs")
            assert "default-src" in response.headers["content-security-policy"]
            page.locator(".opblock").nth(operations - 1).wait_for()
            assert page.locator(".opblock").count() == operations
            assert page.locator(".opblock-summary-path", has_text="/api/v1/requests/{request_id}/cancel").count() == 1
        finally:
            browser.close()
    assert errors == []


DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def docs_example(heading):
    """The first Python block after `heading` in docs/api.md."""
    section = DOCS.read_text().split(heading, 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_the_docs_receiver_check_accepts_the_portals_signature_and_nothing_else():
    namespace = {}
    exec(docs_example("**How a receiver verifies**"), namespace)  # noqa: S102 (our own docs' code)
    verify = namespace["verify"]
    secret, body, now = "whsec_test", b'{"id":"e1","type":"request.approved"}', str(int(time.time()))
    headers = {"Webhook-Timestamp": now, "Webhook-Signature": webhook_signature(secret, now, body)}
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body.replace(b"approved", b"rejected"))
    assert not verify("whsec_other", headers, body)
    old = str(int(time.time()) - 600)
    assert not verify(
        secret, {"Webhook-Timestamp": old, "Webhook-Signature": webhook_signature(secret, old, body)}, body
    )


def test_the_docs_route_table_names_every_operation_and_the_scope_it_asks_for(api, make_token):
    document = api.get("openapi.json").json()
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    table = re.findall(r"^\| `((?:GET|POST) /api/v1/[^`]*)` \| (\w+) \|", DOCS.read_text(), flags=re.MULTILINE)
    assert {route for route, _ in table} == operations
    tokens = {scope: make_token([scope])[1] for scope in ALL_SCOPES}
    for route, scope in table:
        method, path = route.split(" ")
        path = re.sub(r"\{\w+\}", "1", path)
        for held, secret in tokens.items():
            refused = api.request(method, path, token=secret).json().get("type", "").endswith("insufficient-scope")
            assert refused == (held != scope), f"{route} with a {held!r} token"


WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1}


def test_the_docs_playbook_runs_against_a_live_portal_and_a_person_approves(
    live_server, worker, mimecast_env, make_token, approver, tmp_path
):
    simulator = mimecast_env
    token, secret = make_token(["read", "request_actions"], name="docs-playbook")
    script = tmp_path / "playbook.py"
    script.write_text(docs_example("## A playbook in Python"))
    env = {
        **os.environ,
        "PORTAL_URL": live_server.url,
        "PORTAL_TOKEN": secret,
        "SHA256": simulator.state.story["macro_sha256"],
        "POLL_SECONDS": "0.5",
    }
    playbook = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        # A person approves, in the portal, what the playbook asked for.
        deadline = time.monotonic() + 120
        while (req := RemediationRequest.objects.filter(integration=token, state="pending_approval").first()) is None:
            assert playbook.poll() is None, playbook.stdout.read()
            assert time.monotonic() < deadline, "the playbook never asked for the remediation"
            time.sleep(0.2)
        remediation_request_approve(actor=approver, request_id=req.pk, reason="Sandbox verdict: malicious")
        output, _ = playbook.communicate(timeout=180)
    finally:
        playbook.kill()
    assert playbook.returncode == 0, output
    assert f"request {req.pk} pending_approval" in output
    assert f"request {req.pk} succeeded decided by {approver.username}" in output
    req.refresh_from_db()
    assert req.state == RemediationRequest.State.SUCCEEDED
    assert req.investigation.evidence.filter(kind="hash", value=env["SHA256"]).exists()
