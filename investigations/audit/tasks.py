from celery import shared_task
from django.db import transaction

from investigations.audit import verification as audit_verification
from investigations.audit.chain import audit_checkpoint_write
from investigations.audit.services import audit_record
from investigations.models import AuditAction

# Task names stay "investigations.tasks.*": queued messages, beat schedules and audit actors name them.


@shared_task(name="investigations.tasks.audit_write_checkpoint")
def audit_write_checkpoint():
    checkpoint = audit_checkpoint_write()
    return checkpoint.seq if checkpoint else 0


@shared_task(
    name="investigations.tasks.audit_verification_execute",
    # Verifying years of events takes longer than the default limits allow.
    soft_time_limit=audit_verification.SOFT_TIME_LIMIT,
    time_limit=audit_verification.TIME_LIMIT,
)
def audit_verification_execute(run_id):
    run = audit_verification.audit_verification_execute(run_id=run_id)
    return run.status if run else "skipped"


@shared_task(name="investigations.tasks.system_ping")
def system_ping(nonce):
    """A round trip through broker, worker and database: it records who ran it and echoes the nonce."""
    with transaction.atomic():
        event = audit_record(
            actor=None, action=AuditAction.SYSTEM_PING, target=("system", "ping"), data={"nonce": nonce}
        )
    return {"nonce": nonce, "seq": event.seq, "actor": event.actor_label}
