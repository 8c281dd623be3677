"""Celery tasks: thin, taking ids, idempotent. The work lives in services."""

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import transaction

from .context import reset_context, set_context
from .models import AuditAction
from .services import audit_verification
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


@shared_task(
    name="investigations.tasks.audit_verification_execute",
    # Verifying years of events takes longer than the default limits allow.
    soft_time_limit=audit_verification.SOFT_TIME_LIMIT,
    time_limit=audit_verification.TIME_LIMIT,
)
def audit_verification_execute(run_id):
    run = audit_verification.audit_verification_execute(run_id=run_id)
    return run.status if run else "skipped"


@shared_task(name="investigations.tasks.web_security_ingest")
def web_security_ingest():
    """Periodic (beat): pull web security events from Mimecast's SIEM batch stream into the local
    table. Idempotent: events are upserted by id, and a failed run is simply repeated by the next."""
    from .services.web_security import web_security_ingest as ingest

    result = ingest()
    return {"pages": result.pages, "events": result.events, "stored": result.stored, "error": result.error}


# Remediation (issue 5). Thin: each takes an id (or nothing) and calls one service. Claims and
# compare-and-set updates make every one of them safe to deliver twice.
@shared_task(bind=True, acks_late=True, max_retries=None, name="investigations.tasks.remediation_execute")
def remediation_execute(self, request_id):
    from .services import remediation

    outcome = remediation.remediation_execute(request_id=request_id)
    if outcome.retry_in is not None:
        # Bounded by REMEDIATION_MAX_ATTEMPTS, counted in the database, not by Celery.
        raise self.retry(countdown=outcome.retry_in)
    if outcome.status == "recorded":
        # The first read of the counts; beat (remediation_poll_due) keeps polling if this is lost.
        remediation_poll.apply_async(args=[request_id], countdown=1)
    return outcome.status


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_poll")
def remediation_poll(self, request_id):
    from .services import remediation

    final = remediation.remediation_poll(request_id=request_id)
    if not final:
        self.apply_async(args=[request_id], countdown=remediation.remediation_next_poll_in(request_id=request_id))
    return final


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_poll_due")
def remediation_poll_due(self):
    from .services import remediation

    due = remediation.remediation_poll_due_ids()
    for request_id in due:
        remediation.remediation_poll(request_id=request_id)
    return len(due)


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_sweep")
def remediation_sweep(self):
    from .services import remediation

    return remediation.remediation_sweep()


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_expire_due")
def remediation_expire_due(self):
    from .services import remediation

    return remediation.remediation_expire_due()
