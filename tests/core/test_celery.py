import uuid

import pytest
from django.db import transaction

from investigations.audit.tasks import audit_write_checkpoint, system_ping
from investigations.models import AuditAction, AuditEvent
from mimecast_portal.celery import app


def test_a_task_round_trips_through_redis_and_a_real_worker(worker):
    nonce = uuid.uuid4().hex
    result = system_ping.delay(nonce)
    reply = result.get(timeout=30)
    assert reply["nonce"] == nonce
    assert reply["actor"] == "task:investigations.tasks.system_ping"
    event = AuditEvent.objects.get(action=AuditAction.SYSTEM_PING)
    assert event.data == {"nonce": nonce}
    assert event.request_id == result.id


def test_a_task_enqueued_on_commit_is_not_sent_when_the_transaction_rolls_back(worker):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        system_ping.delay_on_commit("never")
        raise Abort
    with transaction.atomic():
        system_ping.delay_on_commit("sent")
    # The committed one runs; the rolled-back one never reaches the broker.
    audit_write_checkpoint.delay().get(timeout=30)
    # The solo worker takes tasks in order, so once the later task is done the ping has run.
    assert list(AuditEvent.objects.filter(action=AuditAction.SYSTEM_PING).values_list("data", flat=True)) == [
        {"nonce": "sent"}
    ]


def test_tasks_are_late_acknowledged_with_time_limits():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.task_time_limit and app.conf.task_soft_time_limit < app.conf.task_time_limit
