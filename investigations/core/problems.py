"""A failed Mimecast call, and what the user should know about it.

A call never raises into a view: ``guarded`` runs it and hands back a ``Section`` holding either the
value or a ``Problem`` in plain words (with Mimecast's code, the HTTP status, how long to wait, and the
Mimecast permission the credentials lack when that is the cause). ``fan_out`` runs a page's
independent calls concurrently, each guarded on its own, so one failing part never hides the others.
Every page shows a problem with the one partial ``core/_problem.html``.
"""

import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from investigations.core.crypto import DecryptionFailed
from investigations.mimecast import MimecastError
from investigations.mimecast.errors import MimecastAuthError, MimecastNotFound, MimecastRateLimited

logger = logging.getLogger("investigations.problems")

# Upper bound of concurrent calls for one page, so one analyst's page never spends more than a slice
# of the account's rate budget at once.
MAX_PAGE_CONCURRENCY = 8

# Which Mimecast permission each area of the API needs, so a refusal can name the one missing.
PERMISSIONS = {
    "/api/message-finder/": "Gateway | Tracking | Read",
    "/api/archive/": "Archive | Search | Read",
    "/api/ttp/url/": "Monitoring | URL Protection | Read",
    "/api/ttp/attachment/": "Monitoring | Attachment Protection | Read",
    "/api/ttp/impersonation/": "Monitoring | Impersonation Protection | Read",
    "/api/awareness-training/": "Awareness Training | Dashboard | Read",
}


@dataclass(frozen=True)
class Problem:
    """A failed call, in words an analyst can act on, with Mimecast's details for the curious."""

    message: str
    code: str = ""
    status: int | None = None
    request_id: str = ""
    retryable: bool = False
    retry_after: int | None = None  # seconds Mimecast asked us to wait, when it rate-limits
    permission: str = ""  # the Mimecast permission the credentials lack, when that is the cause
    not_found: bool = False
    rate_limited: bool = False

    def __str__(self):
        return self.message

    def audit_data(self) -> dict:
        """What an audit event keeps of the failure."""
        code = self.code or (f"HTTP {self.status}" if self.status and self.status >= 300 else "")
        return {"error": self.message, "code": code}


def _missing_permission(error: MimecastAuthError) -> str:
    if error.status != 403 and error.code != "app_forbidden":
        return ""
    endpoint = error.endpoint or ""
    return next((needed for prefix, needed in PERMISSIONS.items() if endpoint.startswith(prefix)), "")


def problem_from(error: Exception) -> Problem:
    """The one presenter: any failure of a call to Mimecast, as a Problem."""
    if isinstance(error, MimecastRateLimited):
        wait = max(1, math.ceil(error.retry_after)) if error.retry_after else None
        text = f"Mimecast is rate-limiting us; try again in {wait} s." if wait else None
        return Problem(
            text or "Mimecast is rate-limiting us; try again in a moment.",
            code=error.code or "429",
            status=error.status,
            request_id=error.request_id,
            retryable=True,
            retry_after=wait,
            rate_limited=True,
        )
    if isinstance(error, MimecastError):
        permission = _missing_permission(error) if isinstance(error, MimecastAuthError) else ""
        return Problem(
            f"These credentials lack the {permission} permission in Mimecast." if permission else error.message,
            code=error.code,
            status=error.status,
            request_id=error.request_id,
            retryable=error.retryable,
            permission=permission,
            not_found=isinstance(error, MimecastNotFound) or "not_found" in (error.code or ""),
        )
    if isinstance(error, DecryptionFailed):
        return Problem(f"The stored Mimecast credentials cannot be read: {error}", code="decryption")
    logger.exception("unexpected failure while reading from Mimecast")
    return Problem("Mimecast sent an answer the portal could not use; try again, or narrow the search.", retryable=True)


def problem_status(problem: Problem) -> int:
    """The HTTP status of a page that shows a failed Mimecast call instead of what was asked for.
    Not found and rate-limited say so; anything else is shown in the page with 200, as every other
    page shows a failed call in place: the portal did its job, and a 5xx would read as its own fault
    (and trip every alert on 5xx rates)."""
    if problem.not_found:
        return 404
    if problem.rate_limited:
        return 429
    return 200


@dataclass(frozen=True)
class Section:
    """The outcome of one call: its value, or the problem to show in its place. Unpacks as
    ``value, problem = section``."""

    value: Any = None
    problem: Problem | None = None

    @property
    def ok(self):
        return self.problem is None

    def __iter__(self):
        return iter((self.value, self.problem))


# A response shape the client's parser did not foresee must not become a 500 either.
_GUARDED = (MimecastError, DecryptionFailed, ValueError, TypeError, KeyError, AttributeError, IndexError)


def guarded(call: Callable[[], Any]) -> Section:
    """Run one call to Mimecast; never raises for a failure of the call."""
    try:
        return Section(value=call())
    except _GUARDED as error:
        return Section(problem=problem_from(error))


def fan_out(calls: dict[str, Callable[[], Any]], *, max_workers: int = MAX_PAGE_CONCURRENCY) -> dict[str, Section]:
    """Run independent calls concurrently, each guarded on its own."""
    if not calls:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(calls)))) as pool:
        futures = {name: pool.submit(guarded, call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}
