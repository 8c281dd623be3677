"""Errors of the REST API as RFC 9457 problem details (application/problem+json).

Every refusal the API gives, from a bad token to a Mimecast failure, is one of these: a ``type`` URI
naming the kind of problem, a ``title`` that stays the same for that kind, a ``status``, and a
``detail`` in plain words about this occurrence. Routes raise ``ApiProblem``; the handlers in
``views/__init__.py`` turn it, and Django's and Ninja's own errors, into this shape.
"""

from ninja import Schema

from investigations.core.problems import Problem

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are relative URIs under the API's docs, so a client can link to an explanation.
TYPE_BASE = "/api/v1/docs#problem-"


class ProblemSchema(Schema):
    type: str
    title: str
    status: int
    detail: str = ""
    # Extra members some problems carry: the fields at fault, the seconds to wait, the Mimecast code.
    errors: list[dict] | None = None
    retry_after: int | None = None
    code: str | None = None


class ApiProblem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(self, status, kind, title, detail="", *, headers=None, **extra):
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def body(self):
        return {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


# The statuses every route may answer with a problem; routes add their own to `response=`.
COMMON_PROBLEMS = {401: ProblemSchema, 403: ProblemSchema, 422: ProblemSchema, 429: ProblemSchema}


def problem_for_mimecast(problem: Problem) -> ApiProblem:
    """A failed Mimecast call as the API's answer: not found and rate-limited keep their meaning (429 with
    Retry-After, so a playbook backs off instead of hammering us); anything else is a 502, because the
    failure is upstream of the portal, never the portal's own."""
    code = problem.code or None
    if problem.not_found:
        return ApiProblem(404, "not-found", "Not found", problem.message, code=code)
    if problem.rate_limited:
        wait = problem.retry_after or 1
        return ApiProblem(
            429,
            "mimecast-rate-limited",
            "Mimecast is rate-limiting the portal",
            problem.message,
            headers={"Retry-After": str(wait)},
            retry_after=wait,
            code=code,
        )
    return ApiProblem(502, "mimecast-unavailable", "Mimecast could not answer", problem.message, code=code)


def problem_for_form(*forms, names=None) -> ApiProblem:
    """Django forms' errors as the API's 422: one entry per message, naming the field as the API
    calls it (``names`` maps a form field to its API name when they differ). An error about the request
    as a whole (a form's ``clean``) has a null field."""
    names = names or {}
    errors = [
        {"field": None if field == "__all__" else names.get(field, field), "message": str(message)}
        for form in forms
        for field, messages in form.errors.items()
        for message in messages
    ]
    return ApiProblem(422, "invalid-input", "The request is not valid", "See errors for each field.", errors=errors)
