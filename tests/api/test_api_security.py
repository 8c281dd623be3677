"""The API's security core: who may call (tokens and their refusals), how often (the per-token rate
limit, shared through Redis), the audit of every call, Idempotency-Key on every POST, and the
property that no token can decide anything, on any path."""

import hashlib
import json
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta

import pytest
import requests as http
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from investigations.api.idempotency import KEEP_FOR, idempotency_finish
from investigations.core.roles import CAPABILITIES, HUMAN_ONLY, user_can
from investigations.integrations.ratelimit import LocalLimiter, RedisLimiter
from investigations.integrations.services import token_revoke
from investigations.models import (
    ApiIdempotencyKey,
    AuditAction,
    AuditEvent,
    IntegrationToken,
    RemediationRequest,
    User,
)
from investigations.remediation import services as remediation
from tests.api.conftest import ALL_SCOPES
from tests.factories import RemediationRequestFactory
from tests.remediation.samples import REASON, params_for

Kind = RemediationRequest.Kind
State = RemediationRequest.State


def api_events():
    return AuditEvent.objects.filter(action=AuditAction.API_CALLED).order_by("seq")


def block_sender(sim, **extra):
    return {"kind": Kind.BLOCK_SENDER, "reason": REASON, "params": params_for(Kind.BLOCK_SENDER, sim), **extra}


def case_body(title="Phishing wave"):
    return {"title": title, "reason": "Reported by three users this morning"}


# ------------------------------------------------------------------------------------------ tokens


def test_each_kind_of_bad_token_is_refused_with_a_401_that_says_which(api, make_token):
    token, secret = make_token(["read"])
    revoked_token, revoked = make_token(["read"])
    token_revoke(actor=token.created_by, token=revoked_token)
    _, expired = make_token(["read"], expires_at=timezone.now() - timedelta(seconds=1))
    cases = {
        None: "Authorization: Bearer",
        "not-one-of-ours": "not an integration token",
        "mip_" + "x" * 43: "No integration token matches",
        "mip_" + "x" * 300: "not an integration token",
        revoked: "revoked",
        expired: "expired",
    }
    for presented, words in cases.items():
        response = api.get("investigations", token=presented)
        assert response.status_code == 401, presented
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
        problem = response.json()
        assert problem["status"] == 401 and problem["type"].endswith("unauthenticated")
        assert words in problem["detail"], (presented, problem)
    assert api.get("investigations", token=secret).status_code == 200


def test_a_token_without_the_scope_gets_a_403_naming_it(api, make_token):
    _, secret = make_token(["read"])
    response = api.get("audit/events", token=secret)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "'audit_read'" in response.json()["detail"]
    assert api.post("investigations", case_body(), token=secret).status_code == 403


def test_a_revoked_token_is_refused_on_its_very_next_call(api, make_token, admin_user):
    token, secret = make_token(["read"])
    assert api.get("investigations", token=secret).status_code == 200
    assert token_revoke(actor=admin_user, token=token)
    response = api.get("investigations", token=secret)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert not User.objects.get(pk=token.service_user_id).is_active
    assert not token_revoke(actor=admin_user, token=token)  # once only


def test_last_use_is_written_at_most_once_a_minute(api, make_token):
    token, secret = make_token(["read"])
    assert token.last_used_at is None
    api.get("investigations", token=secret, headers={"X-Forwarded-For": "198.51.100.7"})
    first = IntegrationToken.objects.get(pk=token.pk)
    assert first.last_used_at is not None and first.last_used_ip == "127.0.0.1"
    api.get("investigations", token=secret)
    assert IntegrationToken.objects.get(pk=token.pk).last_used_at == first.last_used_at
    IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=first.last_used_at - timedelta(seconds=61))
    api.get("investigations", token=secret)
    assert IntegrationToken.objects.get(pk=token.pk).last_used_at > first.last_used_at


# -------------------------------------------------------------------------------------- rate limit


def test_the_local_limiter_allows_a_minutes_worth_then_one_call_per_share_of_the_minute():
    now = [1000.0]
    limiter = LocalLimiter(clock=lambda: now[0])
    assert [limiter.wait("t", 6) for _ in range(6)] == [0.0] * 6
    wait = limiter.wait("t", 6)
    assert wait == pytest.approx(10.0)  # 60 s / 6 calls
    assert limiter.wait("other", 6) == 0.0  # each token its own books
    now[0] += 10.0
    assert limiter.wait("t", 6) == 0.0
    assert limiter.wait("t", 6) > 0


def test_over_the_rate_limit_a_token_gets_429_with_retry_after(api, make_token):
    assert settings.CELERY_BROKER_URL.startswith("redis://")  # the shared limiter, for real
    token, secret = make_token(["read"], rate_limit_per_minute=3)
    statuses = [api.get("investigations", token=secret).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = api.get("investigations", token=secret)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 20
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    # Refused, and audited under the token's identity.
    last = api_events().last()
    assert last.actor_id == str(token.service_user_id) and last.outcome == "denied" and last.data["status"] == 429
    # Another token's budget is its own.
    _, other = make_token(["read"], rate_limit_per_minute=3)
    assert api.get("investigations", token=other).status_code == 200


def test_the_budget_is_shared_with_other_processes_through_redis(api, make_token):
    token, secret = make_token(["read"], rate_limit_per_minute=2)
    # Another process (a second gunicorn worker, say) spends the token's budget.
    script = (
        "import redis, sys; from investigations.integrations.ratelimit import RedisLimiter;"
        "limiter = RedisLimiter(redis.Redis.from_url(sys.argv[1]));"
        "print([limiter.wait(sys.argv[2], 2) for _ in range(2)])"
    )
    spent = subprocess.run(
        [sys.executable, "-c", script, settings.CELERY_BROKER_URL, f"api:rate:{token.prefix}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    assert spent.stdout.strip() == "[0.0, 0.0]"
    assert api.get("investigations", token=secret).status_code == 429


def test_an_unreachable_redis_lets_calls_through():
    import redis

    limiter = RedisLimiter(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    assert limiter.wait("api:rate:nowhere", 1) == 0.0


# ------------------------------------------------------------------------------------------- audit


def test_every_call_is_one_api_called_event_under_the_tokens_identity(api, make_token):
    token, secret = make_token(["read"], name="splunk-soar")
    before = api_events().count()
    assert api.get("investigations", token=secret).status_code == 200
    event = api_events().last()
    assert api_events().count() == before + 1
    assert (event.actor_type, event.actor_id, event.actor_label) == (
        "user",
        str(token.service_user_id),
        "integration:splunk-soar",
    )
    assert (event.target_type, event.target_id) == ("integrationtoken", str(token.pk))
    assert event.outcome == "success"
    assert event.data == {
        "method": "GET",
        "route": "api/v1/investigations",
        "status": 200,
        "integration": "splunk-soar",
    }
    assert event.client_ip == "127.0.0.1" and event.request_id


def test_refused_calls_are_audited_too_naming_what_was_presented(api, make_token):
    token, secret = make_token(["read"], name="fortisoar")
    api.get("investigations", token="mip_" + "y" * 43)
    unknown = api_events().last()
    assert unknown.actor_type == "anonymous" and unknown.outcome == "denied"
    assert unknown.data == {"method": "GET", "route": "api/v1/investigations", "status": 401, "prefix": "mip_yyyyyyyy"}
    api.get("investigations")
    assert "prefix" not in api_events().last().data
    api.get("audit/events", token=secret)
    wrong_scope = api_events().last()
    assert wrong_scope.actor_id == str(token.service_user_id) and wrong_scope.data["status"] == 403
    token_revoke(actor=token.created_by, token=token)
    api.get("investigations", token=secret)
    revoked = api_events().last()
    assert revoked.actor_type == "anonymous" and revoked.data["integration"] == "fortisoar"
    assert revoked.target_id == str(token.pk)
    # Nothing that identifies the secret beyond the shown prefix.
    for event in api_events():
        assert secret not in json.dumps(event.data) and token.token_hash not in json.dumps(event.data)


def test_the_docs_and_the_schema_are_public_and_not_audited(api, client):
    before = AuditEvent.objects.count()
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    assert client.get("/api/v1/docs").status_code == 200
    assert AuditEvent.objects.count() == before


# ------------------------------------------------------------------------------------- idempotency


def test_every_post_needs_an_idempotency_key_of_at_most_255_characters(api, make_token):
    _, secret = make_token()
    missing = api.post("investigations", case_body(), token=secret, key=False)
    assert missing.status_code == 400 and missing.json()["type"].endswith("idempotency-key-required")
    blank = api.post("investigations", case_body(), token=secret, key="   ")
    assert blank.status_code == 400
    too_long = api.post("investigations", case_body(), token=secret, key="k" * 256)
    assert too_long.status_code == 400 and too_long.json()["type"].endswith("idempotency-key-invalid")
    assert api.post("investigations", case_body(), token=secret, key="k" * 255).status_code == 201
    assert api_events().last().data["idempotency_key"] == "k" * 255


def test_the_schema_declares_the_key_on_every_post(client):
    schema = client.get("/api/v1/openapi.json").json()
    posts = [op for item in schema["paths"].values() for method, op in item.items() if method == "post"]
    assert posts
    for op in posts:
        header = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert header and header[0]["required"] and header[0]["in"] == "header"
        assert {"400", "409"} <= set(op["responses"])


def test_a_retried_create_replays_the_first_answer_and_creates_once(sim, api, make_token):
    token, secret = make_token(["read", "request_actions"])
    first = api.post("requests", block_sender(sim), token=secret, key="retry-1")
    assert first.status_code == 201, first.json()
    requested = AuditEvent.objects.filter(action=AuditAction.REMEDIATION_REQUESTED).count()
    again = api.post("requests", block_sender(sim), token=secret, key="retry-1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert RemediationRequest.objects.filter(integration=token).count() == 1
    # The route did not run again: nothing more was requested, only the call itself audited.
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_REQUESTED).count() == requested
    assert [e.data["status"] for e in api_events().filter(actor_id=str(token.service_user_id))] == [201, 201]


def test_a_key_reused_with_another_body_or_path_is_refused(api, make_token):
    _, secret = make_token(["read", "request_actions"])
    first = api.post("investigations", case_body("One"), token=secret, key="k1")
    assert first.status_code == 201
    other_body = api.post("investigations", case_body("Two"), token=secret, key="k1")
    assert other_body.status_code == 422 and other_body.json()["type"].endswith("idempotency-key-reused")
    case_id = first.json()["id"]
    other_path = api.post(f"investigations/{case_id}/evidence", case_body("One"), token=secret, key="k1")
    assert other_path.status_code == 422
    # Keys belong to their token: another token's same key is its own.
    _, other = make_token(["read", "request_actions"])
    assert api.post("investigations", case_body("Two"), token=other, key="k1").status_code == 201


def test_a_retry_while_the_first_call_runs_is_told_to_wait(api, make_token):
    token, secret = make_token(["request_actions"])
    body = json.dumps(case_body()).encode()
    ApiIdempotencyKey.objects.create(
        token=token,
        key="busy",
        method="POST",
        path="/api/v1/investigations",
        body_sha256=hashlib.sha256(body).hexdigest(),
        created_at=timezone.now(),
    )
    response = api.post("investigations", case_body(), token=secret, key="busy")
    assert response.status_code == 409 and response.json()["type"].endswith("idempotency-key-in-progress")
    assert response["Retry-After"] == "1"
    # A claim its call abandoned (the process died) is taken over after a while.
    ApiIdempotencyKey.objects.filter(key="busy").update(created_at=timezone.now() - timedelta(minutes=11))
    assert api.post("investigations", case_body(), token=secret, key="busy").status_code == 201


def test_keys_are_kept_for_a_day(api, make_token):
    token, secret = make_token(["request_actions"])
    assert api.post("investigations", case_body("Old"), token=secret, key="day").status_code == 201
    assert api.post("investigations", case_body("Old"), token=secret, key="day")["Idempotent-Replayed"] == "true"
    ApiIdempotencyKey.objects.filter(token=token).update(created_at=timezone.now() - KEEP_FOR - timedelta(seconds=1))
    fresh = api.post("investigations", case_body("New"), token=secret, key="day")
    assert fresh.status_code == 201 and not fresh.has_header("Idempotent-Replayed")
    assert ApiIdempotencyKey.objects.filter(token=token).count() == 1


def test_a_server_error_releases_the_key_so_the_retry_runs_again(make_token, rf):
    from django.http import HttpResponse

    token, _ = make_token(["request_actions"])
    claim = ApiIdempotencyKey.objects.create(
        token=token, key="k", method="POST", path="/p", body_sha256="0" * 64, created_at=timezone.now()
    )
    request = rf.post("/p")
    request.idempotency_claim = claim
    idempotency_finish(request, HttpResponse(status=502, content=b'{"status": 502}'))
    assert not ApiIdempotencyKey.objects.filter(pk=claim.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_post_twice_at_once_creates_one_request(sim, live_server, make_token):
    token, secret = make_token(["read", "request_actions"])
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": str(uuid.uuid4())}
    payload = block_sender(sim)
    answers = []
    start = threading.Barrier(2)

    def post():
        start.wait()
        answers.append(http.post(f"{live_server.url}/api/v1/requests", json=payload, headers=headers, timeout=60))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in answers)
    # One created it; the other got its answer replayed, or was told the first is still running.
    assert statuses[0] == 201 and statuses[1] in (201, 409), [r.text for r in answers]
    assert RemediationRequest.objects.filter(integration=token).count() == 1
    created = next(r for r in answers if r.status_code == 201).json()
    retried = http.post(f"{live_server.url}/api/v1/requests", json=payload, headers=headers, timeout=60)
    assert retried.status_code == 201 and retried.json() == created
    assert RemediationRequest.objects.filter(integration=token).count() == 1


# ------------------------------------------------------------------------- no token decides, ever

SCOPE_SETS = st.sets(st.sampled_from(ALL_SCOPES))
DECISION_WORDS = ("approve", "reject", "decide", "decision", "break-glass", "break_glass", "review")


def _token_with(make_token, scopes):
    token, secret = make_token(sorted(scopes) or ["read"])
    if not scopes:  # no admin can make one, but the property must hold for it too
        IntegrationToken.objects.filter(pk=token.pk).update(scopes=[])
    return secret, User.objects.get(pk=token.service_user_id)


def _human_only_browser_routes():
    """Every browser URL whose view needs a capability no token may have, with sample ids."""

    def walk(patterns):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace != "api-v1":
                    yield from walk(entry.url_patterns)
            elif isinstance(entry, URLPattern) and getattr(entry.callback, "capability", None) in HUMAN_ONLY:
                yield entry

    return list(walk(get_resolver().url_patterns))


HUMAN_ONLY_ROUTES = _human_only_browser_routes()


def _api_post_paths():
    from investigations.api.views import api

    schema = api.get_openapi_schema(path_params={})
    return [path for path, item in schema["paths"].items() if "post" in item]


API_POST_PATHS = _api_post_paths()


def test_every_decision_route_of_the_browser_needs_a_human_only_capability():
    names = {entry.name for entry in HUMAN_ONLY_ROUTES}
    assert {"remediation-decide", "remediation-break-glass", "oversight-break-glass-review"} <= names
    assert set(CAPABILITIES) >= HUMAN_ONLY


@pytest.mark.slow  # every path of the API, each asked several ways
@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(scopes=SCOPE_SETS)
def test_no_token_can_decide_on_any_path(sim, api, make_token, analyst, scopes):
    secret, service_user = _token_with(make_token, scopes)
    # (a) no capability a person alone may have
    assert not any(user_can(service_user, c) for c in HUMAN_ONLY)
    # (b) every decision service refuses it, on a pending request someone else made
    pending = RemediationRequestFactory(
        kind=Kind.BLOCK_SENDER,
        state=State.PENDING_APPROVAL,
        requested_by=analyst,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    draft = RemediationRequestFactory(kind=Kind.BLOCK_SENDER, state=State.DRAFT, requested_by=service_user)
    decisions = [
        lambda: remediation.remediation_request_approve(actor=service_user, request_id=pending.pk, reason=REASON),
        lambda: remediation.remediation_request_reject(actor=service_user, request_id=pending.pk, reason=REASON),
        lambda: remediation.remediation_request_break_glass(actor=service_user, request_id=draft.pk, reason=REASON),
        lambda: remediation.remediation_request_review(actor=service_user, request_id=pending.pk, note=REASON),
    ]
    for decide in decisions:
        with pytest.raises(remediation.RemediationError):
            decide()
    # (c) no browser session: the sign-in form refuses it whatever its password...
    service_user.set_password("a-password-someone-gave-it")
    service_user.save(update_fields=["password"])
    signing_in = Client()
    answer = signing_in.post(
        reverse("login"), {"username": service_user.username, "password": "a-password-someone-gave-it"}
    )
    assert answer.status_code == 200 and SESSION_KEY not in signing_in.session
    # ...and a session forced on it gets a refusal from every decision page, which decides nothing.
    browser = Client()
    browser.force_login(service_user)
    for entry in HUMAN_ONLY_ROUTES:
        kwargs = {key: pending.pk for key in getattr(entry.pattern, "converters", {})}
        url = reverse(entry.name, kwargs=kwargs)
        for method in ("get", "post"):
            data = {"decision": "approve", "reason": REASON, "note": REASON, "version": pending.version}
            status = getattr(browser, method)(url, data if method == "post" else None).status_code
            assert status in (302, 403), (entry.name, method, status)
    assert browser.session.get(SESSION_KEY) is not None  # refused for its rights, not for want of a session
    # (d) nothing the API takes by POST decides, whatever the body says; without request_actions
    # every POST is refused outright.
    for path in API_POST_PATHS:
        url = re.sub(r"\{[^}]+\}", str(pending.pk), path)
        body = {"decision": "approve", "state": "approved", "kind": Kind.BLOCK_SENDER, "reason": REASON}
        status = api.post(url, body, token=secret).status_code
        assert status < 500, (url, status)
        if "request_actions" not in scopes and "read" not in scopes:
            assert status == 403, (url, status)
    # A valid request it may make waits for a person; without request_actions it cannot make one.
    made = api.post("requests", block_sender(sim), token=secret)
    if "request_actions" in scopes:
        assert made.status_code == 201 and made.json()["state"] == State.PENDING_APPROVAL, made.json()
    else:
        assert made.status_code == 403
        assert api.post("investigations", case_body(), token=secret).status_code == 403
    pending.refresh_from_db()
    draft.refresh_from_db()
    assert (pending.state, pending.approved_by_id, pending.rejected_by_id) == (State.PENDING_APPROVAL, None, None)
    assert draft.state == State.DRAFT
    undecided = {State.DRAFT, State.PENDING_APPROVAL, State.CANCELLED}
    assert not RemediationRequest.objects.filter(requested_by=service_user).exclude(state__in=undecided).exists()


def test_no_route_of_the_api_decides(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["paths"]
    for path, item in schema["paths"].items():
        assert not any(word in path.lower() for word in DECISION_WORDS), path
        for op in item.values():
            assert not any(word in (op.get("operationId") or "").lower() for word in ("approve", "decide", "break"))
