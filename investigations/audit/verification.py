"""Verification runs: an auditor starts one, a Celery task carries it out, the row reports it.

The check itself is audit_chain.audit_verify (the same code as `manage.py verify_audit`); this
module only gives it a row to report progress and the result to, and audits the start and the
outcome of each run.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from investigations.audit.chain import audit_chain_head, audit_verify
from investigations.audit.selectors import audit_verification_active
from investigations.audit.services import audit_record
from investigations.core import dispatch
from investigations.models import AuditAction, AuditOutcome, AuditVerificationRun

logger = logging.getLogger(__name__)
Status = AuditVerificationRun.Status

TIME_LIMIT = AuditVerificationRun.TIME_LIMIT
SOFT_TIME_LIMIT = TIME_LIMIT - 60


def _stale_before():
    return timezone.now() - timedelta(seconds=TIME_LIMIT)


def audit_verification_start(*, user):
    """Queue a verification, or return the one already queued or running: two auditors pressing
    the button at once get one run, not two racing over the same table."""
    with transaction.atomic():
        active = audit_verification_active(for_update=True)
        if active is not None:
            return active, False
        head_seq, _ = audit_chain_head()
        # head_seq is the row count of an intact chain, and free to read (unlike COUNT(*)).
        run = AuditVerificationRun.objects.create(started_by=user, total=head_seq)
        audit_record(
            actor=user,
            action=AuditAction.AUDIT_VERIFICATION_STARTED,
            target=run,
            data={"head_seq": head_seq},
        )
        dispatch.enqueue_on_commit(dispatch.AUDIT_VERIFICATION_EXECUTE, run.pk)
    return run, True


def audit_verification_execute(*, run_id):
    """Carry out one run. Idempotent: a second delivery of the same task finds the run claimed
    (or finished) and does nothing."""
    now = timezone.now()
    claimed = (
        AuditVerificationRun.objects.filter(pk=run_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, heartbeat_at__lt=_stale_before()))
        .update(status=Status.RUNNING, started_at=now, heartbeat_at=now, checked=0)
    )
    if not claimed:
        return None

    def progress(checked):
        AuditVerificationRun.objects.filter(pk=run_id).update(checked=checked, heartbeat_at=timezone.now())

    try:
        result = audit_verify(directory=settings.AUDIT_CHECKPOINT_DIR, progress=progress)
    except Exception as exc:
        # Recorded with its reason on the run and in the trail, then re-raised for Celery's log.
        logger.exception("audit verification run %s could not finish", run_id)
        _record_error(run_id, exc)
        raise
    _record_result(run_id, result)
    return AuditVerificationRun.objects.get(pk=run_id)


def _record_error(run_id, exc):
    with transaction.atomic():
        AuditVerificationRun.objects.filter(pk=run_id).update(
            status=Status.ERROR, finished_at=timezone.now(), problem=f"{type(exc).__name__}: {exc}"[:2000]
        )
        audit_record(
            actor=None,
            action=AuditAction.AUDIT_VERIFIED,
            target=("auditverificationrun", run_id),
            outcome=AuditOutcome.ERROR,
            data={"error": type(exc).__name__},
        )


def _record_result(run_id, result):
    age = result.newest_checkpoint_age()
    with transaction.atomic():
        AuditVerificationRun.objects.filter(pk=run_id).update(
            status=Status.PASSED if result.ok else Status.FAILED,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            checked=result.checked,
            total=max(result.checked, result.head_seq),
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            problem=result.problem.message if result.problem else "",
            problem_seq=result.problem.seq if result.problem else None,
            checkpoint_problems=[p.message for p in result.checkpoint_problems],
            checkpoints_checked=result.checkpoints_checked,
        )
        audit_record(
            actor=None,
            action=AuditAction.AUDIT_VERIFIED,
            target=("auditverificationrun", run_id),
            outcome=AuditOutcome.SUCCESS if result.ok else AuditOutcome.FAILURE,
            reason="" if result.ok else (result.problem.message if result.problem else "checkpoint mismatch"),
            data={
                "checked": result.checked,
                "head_seq": result.head_seq,
                "checkpoints_checked": result.checkpoints_checked,
                "checkpoint_problems": len(result.checkpoint_problems),
                "newest_checkpoint_seq": result.newest_checkpoint.seq if result.newest_checkpoint else None,
                "newest_checkpoint_age_seconds": int(age.total_seconds()) if age is not None else None,
                "checkpoints_not_kept": result.unanchored,
            },
        )
