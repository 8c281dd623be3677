"""Who is calling the API, how often, and the audit of every call.

`token_auth(scope)` is what a router or an operation passes as `auth=`. For every call it looks the
presented token up afresh (a token revoked a moment ago is refused on its next call), notes its
last use, books the call against the token's rate limit, checks the scope, makes the token's service
identity the request's user (so the services the pages use see it as the actor and audit it under
its own name), and on a POST claims the Idempotency-Key. Refusals are problem documents: 401 for a
token that is missing, malformed, unknown, revoked or expired (saying which: whoever presents a
revoked or expired token holds its secret, so naming the state tells an attacker nothing), 429 with
Retry-After over the rate limit, 403 naming a missing scope.

`AuditedNinjaAPI` wraps every operation's URL in `api_call`, which writes one `api.called` event
per call, refused ones included, and stores or releases the call's Idempotency-Key.
"""

import math
from functools import wraps

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.urls import URLPattern
from ninja import NinjaAPI
from ninja.security import HttpBearer

from investigations.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from investigations.api.idempotency import KEY_MAX, idempotency_begin, idempotency_finish
from investigations.api.problems import PROBLEM_CONTENT_TYPE, ApiProblem, ProblemSchema
from investigations.audit.services import audit_record
from investigations.core.context import current_context
from investigations.integrations.ratelimit import token_rate_wait
from investigations.integrations.services import SHOWN_CHARS, TOKEN_PREFIX, token_check, token_mark_used
from investigations.models import AuditAction, AuditOutcome

_REFUSALS = {
    "malformed": "The bearer token is not an integration token of this portal.",
    "unknown": "No integration token matches the bearer token.",
    "revoked": "This integration token has been revoked; ask an admin for a new one.",
    "expired": "This integration token has expired; ask an admin for a new one.",
}
# The API's own documentation, public and not audited: it holds no data.
UNAUDITED_ROUTES = frozenset({"openapi-json", "openapi-view", "api-root"})


def _unauthenticated(detail):
    return ApiProblem(
        401,
        "unauthenticated",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class TokenAuth(HttpBearer):
    def __init__(self, scope):
        super().__init__()
        self.scope = scope

    def __call__(self, request):
        found = super().__call__(request)
        if found is None:  # no Authorization header, or not a Bearer one
            raise _unauthenticated("Send an integration token: Authorization: Bearer <token>.")
        return found

    def authenticate(self, request, token):
        if token.startswith(TOKEN_PREFIX):
            # What the audit may name of a refused token: the same characters the pages show.
            request.api_token_prefix = token[:SHOWN_CHARS]
        check = token_check(token)
        if check.refusal:
            request.api_refused_token = check.token
            raise _unauthenticated(_REFUSALS[check.refusal])
        found = check.token
        request.integration_token = found
        token_mark_used(token=found, ip=current_context().client_ip)
        wait = token_rate_wait(found)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiProblem(
                429,
                "rate-limited",
                "Too many requests",
                f"This token may make {found.rate_limit_per_minute} calls a minute; retry in {seconds} s.",
                headers={"Retry-After": str(seconds)},
                retry_after=seconds,
            )
        if self.scope not in found.scopes:
            raise ApiProblem(403, "insufficient-scope", "Not allowed", f"This token lacks the {self.scope!r} scope.")
        request.user = found.service_user
        idempotency_begin(request, found)
        return found


def token_auth(scope):
    return TokenAuth(scope)


def _outcome(status):
    if status < 400:
        return AuditOutcome.SUCCESS
    if status in (401, 403, 429):
        return AuditOutcome.DENIED
    return AuditOutcome.FAILURE if status < 500 else AuditOutcome.ERROR


def api_call_record(request, status):
    """The call's one `api.called` event: under the token's service identity when the token was
    live (refused for its scope or its rate included), else anonymous with what it presented."""
    token = getattr(request, "integration_token", None)
    refused = getattr(request, "api_refused_token", None)
    match = getattr(request, "resolver_match", None)
    data = {"method": request.method, "route": match.route if match else request.path[:512], "status": status}
    if token is None and getattr(request, "api_token_prefix", ""):
        data["prefix"] = request.api_token_prefix
    if token is not None or refused is not None:
        data["integration"] = (token or refused).name
    key = request.headers.get(IDEMPOTENCY_HEADER, "") if request.method == "POST" else ""
    if key:
        data["idempotency_key"] = key[:KEY_MAX]
    with transaction.atomic():
        audit_record(
            actor=token.service_user if token else AnonymousUser(),
            action=AuditAction.API_CALLED,
            target=token or refused,
            outcome=_outcome(status),
            data=data,
        )


def api_call(view):
    """An API operation's URL view: the call, then its Idempotency-Key's answer and its audit."""

    @wraps(view)
    def call(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            idempotency_finish(request, None)
            api_call_record(request, 500)
            raise
        idempotency_finish(request, response)
        api_call_record(request, response.status_code)
        return response

    return call


# What every POST answers besides its own responses (idempotency.py), as the schema declares it.
_POST_PROBLEMS = {
    400: "Idempotency-Key missing or not valid",
    409: "A request with this Idempotency-Key is still being answered",
    413: "Request body too large",
    422: "Idempotency-Key already used with another body or path, or an invalid input",
}
_IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": True,
    "description": (
        "A new unique value (a UUID) per operation, the same one when retrying it: a retry gets the first "
        "answer back and the operation runs once. Kept for 24 hours."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX, "pattern": "^[!-~]+$"},
}


PROBLEM_REF = "#/components/schemas/ProblemSchema"


def _problems_as_problem_json(responses):
    """Ninja declares every response application/json; problem documents are sent (and so declared)
    as application/problem+json."""
    for response in responses.values():
        content = response.get("content", {})
        if content.get("application/json", {}).get("schema", {}).get("$ref") == PROBLEM_REF:
            content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")


class AuditedNinjaAPI(NinjaAPI):
    """NinjaAPI whose operations are each wrapped in `api_call` (its docs are left as they are), and
    whose schema declares what every POST needs and may answer because of its Idempotency-Key."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        problem = {"content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}
        for item in schema["paths"].values():
            for operation in item.values():
                _problems_as_problem_json(operation.get("responses", {}))
            operation = item.get("post")
            if operation is None:
                continue
            operation.setdefault("parameters", []).append(dict(_IDEMPOTENCY_PARAMETER))
            for status, description in _POST_PROBLEMS.items():
                operation["responses"].setdefault(status, {"description": description, **problem})
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ProblemSchema", ProblemSchema.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        return schema

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            if isinstance(pattern, URLPattern) and pattern.name not in UNAUDITED_ROUTES:
                pattern.callback = api_call(pattern.callback)
        return patterns, app_name, namespace
