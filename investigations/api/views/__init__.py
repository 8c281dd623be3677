"""The REST API under /api/v1/: one NinjaAPI, one router per area, errors as problem details.

The routers are this feature's views: thin, each checks the token's scope (``security``), calls the
same services and selectors the pages use, and returns a schema. Every call is authenticated by an
integration token and audited under the token's service identity.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from investigations.api.idempotency import IdempotentReplay
from investigations.api.problems import PROBLEM_CONTENT_TYPE, ApiProblem
from investigations.api.security import AuditedNinjaAPI

# Every operation's call is audited and its Idempotency-Key kept (security.AuditedNinjaAPI).
api = AuditedNinjaAPI(
    title="Mimecast Investigation Portal API",
    version="1",
    description=(
        "Search and read through the portal, and request response actions that a person approves in "
        "the portal. Authenticate with an integration token: `Authorization: Bearer <token>`."
    ),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _problem(request, problem):
    response = api.create_response(request, problem.body(), status=problem.status)
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    for name, value in problem.headers.items():
        response[name] = value
    return response


@api.exception_handler(ApiProblem)
def _api_problem(request, exc):
    return _problem(request, exc)


@api.exception_handler(IdempotentReplay)
def _replay(request, exc):
    # A retried POST: the first call's answer, as it was, and the route does not run again.
    response = api.create_response(request, exc.body, status=exc.status)
    if exc.status >= 400:
        response["Content-Type"] = PROBLEM_CONTENT_TYPE
    response["Idempotent-Replayed"] = "true"
    return response


def _field(loc):
    """Ninja's error location ("query", "reason") or ("body", <parameter>, "kind") as the field a
    client sent ("reason", "kind"), the same names the forms' own errors use."""
    where, *parts = [str(p) for p in loc] or [""]
    if where == "body" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or where


@api.exception_handler(NinjaValidationError)
def _validation(request, exc):
    errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors]
    problem = ApiProblem(422, "invalid-input", "The request is not valid", "See errors for each field.", errors=errors)
    return _problem(request, problem)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    detail = str(exc) if str(exc) else "Send a valid integration token: Authorization: Bearer <token>."
    problem = ApiProblem(
        401, "unauthenticated", "Authentication required", detail, headers={"WWW-Authenticate": "Bearer"}
    )
    return _problem(request, problem)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _problem(request, ApiProblem(403, "forbidden", "Not allowed", str(exc)))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _problem(request, ApiProblem(404, "not-found", "Not found", "Nothing here by that id."))


def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a problem document, not the portal's HTML 404 page."""
    return _problem(request, ApiProblem(404, "not-found", "Not found", "The API has no such route; see /api/v1/docs."))


def method_not_allowed(request, allowed):
    """A method the route does not take: a problem document with its Allow header, like every
    other refusal of the API (Ninja's own answer is an empty text/html 405)."""
    methods = ", ".join(m.strip() for m in allowed.split(",") if m.strip())
    problem = ApiProblem(405, "method-not-allowed", "Method not allowed", f"This route takes {methods}.")
    response = _problem(request, problem)
    response["Allow"] = allowed
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return _problem(request, ApiProblem(exc.status_code, "http-error", str(exc.message), str(exc.message)))


# The routers, one module per area (imported here so the API knows every route at import time).
from investigations.api.views import actions, audit, cases, search  # noqa: E402

api.add_router("/", search.router)
api.add_router("/investigations", cases.router)
api.add_router("/requests", actions.router)
api.add_router("/audit", audit.router)
