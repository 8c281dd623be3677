from celery import shared_task

from investigations.audit import verification as audit_verification
from investigations.audit.chain import audit_checkpoint_write

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
