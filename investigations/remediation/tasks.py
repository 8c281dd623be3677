from celery import shared_task

from investigations.remediation import services as remediation

# Task names stay "investigations.tasks.*": queued messages, beat schedules and audit actors name them.


# Thin: each takes an id (or nothing) and calls one service. Claims and
# compare-and-set updates make every one of them safe to deliver twice.
@shared_task(bind=True, acks_late=True, max_retries=None, name="investigations.tasks.remediation_execute")
def remediation_execute(self, request_id):
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
    final = remediation.remediation_poll(request_id=request_id)
    if not final:
        self.apply_async(args=[request_id], countdown=remediation.remediation_next_poll_in(request_id=request_id))
    return final


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_poll_due")
def remediation_poll_due(self):
    due = remediation.remediation_poll_due_ids()
    for request_id in due:
        remediation.remediation_poll(request_id=request_id)
    return len(due)


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_sweep")
def remediation_sweep(self):
    return remediation.remediation_sweep()


@shared_task(bind=True, acks_late=True, name="investigations.tasks.remediation_expire_due")
def remediation_expire_due(self):
    return remediation.remediation_expire_due()
