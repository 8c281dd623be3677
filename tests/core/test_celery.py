import json
import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import transaction
from kombu import Connection

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


# Run with the demo's configuration (no broker URL): one process publishes large messages while this
# one takes them as fast as it can, through the transport the settings choose for the demo.
DEMO_BROKER_RACE = """
import json, multiprocessing, time
from mimecast_portal.celery import app

COUNT, BODY = 300, "x" * 200_000

def publish():
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue("race")
        for i in range(COUNT):
            queue.put({"i": i, "body": BODY})

if __name__ == "__main__":
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("race")
        publisher = multiprocessing.Process(target=publish)
        publisher.start()
        got, errors = [], []
        deadline = time.monotonic() + 120
        while len(got) + len(errors) < COUNT and time.monotonic() < deadline:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                continue
            except Exception as exc:
                errors.append(type(exc).__name__)
                continue
            got.append(message.payload["i"])
            message.ack()
        publisher.join()
    print(json.dumps({"got": got, "errors": errors[:5], "error_count": len(errors)}))
"""


@pytest.mark.slow
def test_the_demo_broker_never_hands_a_consumer_a_half_written_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update(PORTAL_VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "-c", DEMO_BROKER_RACE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["error_count"] == 0, outcome["errors"]
    assert sorted(outcome["got"]) == list(range(300))


def test_a_broken_message_file_is_set_aside_and_the_next_one_still_arrives(tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport="investigations.core.broker:Transport", transport_options=options) as c:
        queue = c.SimpleQueue("aside")
        # Older than anything published now, and not JSON: what a crashed writer of old could leave.
        (folder / "000000000000001_0.aside.msg").write_bytes(b'{"body": "trunc')
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        message.ack()
    assert message.payload == {"n": 1}
    assert [p.name for p in (tmp_path / "processed").iterdir()] == ["000000000000001_0.aside.msg.unreadable"]
