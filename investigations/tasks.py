"""Celery tasks: thin, taking ids, idempotent. The work lives in services."""

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import transaction

from .context import reset_context, set_context
from .models import AuditAction
from .services.audit import audit_record
from .services.audit_chain import audit_checkpoint_write

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


@shared_task(name="investigations.tasks.audit_write_checkpoint")
def audit_write_checkpoint():
    checkpoint = audit_checkpoint_write()
    return checkpoint.seq if checkpoint else 0


@shared_task(name="investigations.tasks.system_ping")
def system_ping(nonce):
    """A round trip through broker, worker and database: it records who ran it and echoes the nonce."""
    with transaction.atomic():
        event = audit_record(
            actor=None, action=AuditAction.SYSTEM_PING, target=("system", "ping"), data={"nonce": nonce}
        )
    return {"nonce": nonce, "seq": event.seq, "actor": event.actor_label}
