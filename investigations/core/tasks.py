"""Celery plumbing every feature shares: the audit context of a running task, and a ping through
broker, worker and database. Tasks are thin, take ids and are idempotent; the work lives in services."""

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import transaction

from investigations.audit.services import audit_record
from investigations.core.context import reset_context, set_context
from investigations.models import AuditAction

# Task names stay "investigations.tasks.*": queued messages, beat schedules and audit actors name them.

_tokens = {}


@task_prerun.connect(dispatch_uid="audit_task_context")
def _enter_task_context(task_id=None, task=None, **kwargs):
    # Events written by a task name the task as actor and carry its id as the request id.
    _tokens[task_id] = set_context(request_id=str(task_id or "")[:64], system_actor=f"task:{task.name}")


@task_postrun.connect(dispatch_uid="audit_task_context_exit")
def _leave_task_context(task_id=None, **kwargs):
    token = _tokens.pop(task_id, None)
    if token is not None:
        reset_context(token)


@shared_task(name="investigations.tasks.system_ping")
def system_ping(nonce):
    """A round trip through broker, worker and database: it records who ran it and echoes the nonce."""
    with transaction.atomic():
        event = audit_record(
            actor=None, action=AuditAction.SYSTEM_PING, target=("system", "ping"), data={"nonce": nonce}
        )
    return {"nonce": nonce, "seq": event.seq, "actor": event.actor_label}
