"""Celery plumbing every feature shares: the audit context of a running task. Tasks are thin, take
ids and are idempotent; the work lives in services."""

from celery.signals import task_postrun, task_prerun

from investigations.core.context import reset_context, set_context

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
