"""Who is acting and from where, for the audit writer.

Middleware fills this per web request and a Celery signal per task, so services never pass
request objects around just to get an IP address into the audit trail."""

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

# The session key that holds the id of the investigation (case) the user is working in.
CURRENT_CASE_SESSION_KEY = "investigation_id"


@dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    client_ip: str = ""
    user_agent: str = ""
    # Set for Celery tasks and management commands: the actor when no user is given.
    system_actor: str = "system"
    # The investigation the user works in (from their session): every event they cause carries it.
    case_id: int | None = None
    # Its reason and ticket as case_reason() writes them, for events whose caller asked for none.
    case_reason: str = ""


_current = contextvars.ContextVar("audit_context", default=AuditContext())  # noqa: B039 (frozen)


def case_reason(case):
    """An investigation's reason as Mimecast and the audit trail get it: on one line, with its ticket
    after it, the same shape as a reason and ticket typed on a search form."""
    reason = " ".join(case.reason.split())
    return f"{reason} [ticket {case.ticket_id}]" if case.ticket_id else reason


def current_context():
    return _current.get()


@contextmanager
def audit_context(**values):
    token = _current.set(AuditContext(**values))
    try:
        yield
    finally:
        _current.reset(token)


def set_context(**values):
    """For callers that cannot use a with-block (Celery's prerun/postrun signal pair)."""
    return _current.set(AuditContext(**values))


def reset_context(token):
    _current.reset(token)
