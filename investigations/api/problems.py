"""Errors of the REST API as RFC 9457 problem details (application/problem+json).

Every refusal the API gives, from a bad token to a Mimecast failure, is one of these: a ``type`` URI
naming the kind of problem, a ``title`` that stays the same for that kind, a ``status``, and a
``detail`` in plain words about this occurrence. Routes raise ``ApiProblem``; the handlers in
``views/__init__.py`` turn it, and Django's and Ninja's own errors, into this shape.
"""

from ninja import Schema

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
