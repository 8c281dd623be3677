"""Services hand work to Celery through here, by task name, so no service imports a task module
(the task modules import the services). Task names are the stable "investigations.tasks.*"."""

from celery import current_app
from django.db import transaction

REMEDIATION_EXECUTE = "investigations.tasks.remediation_execute"
AUDIT_VERIFICATION_EXECUTE = "investigations.tasks.audit_verification_execute"


def enqueue(task_name, *args):
    """Publish now; raises when the broker refuses, so callers with an outbox can retry later."""
    return current_app.send_task(task_name, args=list(args))


def enqueue_on_commit(task_name, *args):
    """Publish once the surrounding transaction commits: a rolled-back change queues nothing."""
    transaction.on_commit(lambda: enqueue(task_name, *args))
