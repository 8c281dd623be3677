"""Deliveries carried by a real Celery worker on the real broker, retried through beat's sweep."""

from investigations.models import WebhookDelivery
from investigations.webhooks import services
from tests.polling import poll_until
from tests.remediation.support import pending_request

# No wait between attempts: the sweep (beat's task, called here) publishes each retry at once.
WORKER_SETTINGS = {"WEBHOOK_RETRY_SECONDS": [0, 0, 0]}


def test_the_task_names_are_found_by_the_workers_autodiscovery():
    from mimecast_portal.celery import app

    app.loader.import_default_modules()
    assert {services.WEBHOOK_DELIVER, "investigations.tasks.webhook_sweep"} <= set(app.tasks)


def test_a_receiver_failing_twice_gets_the_delivery_on_the_third_try_through_the_worker(
    worker, analyst, endpoint_to, receiver
):
    receiver.script = [500, 503]
    endpoint_to()
    # The state change commits, and its delivery task is published on commit.
    req = pending_request(analyst)

    def read():
        services.webhook_sweep()  # what beat does every few seconds
        return WebhookDelivery.objects.values_list("state", "attempts", "last_status").get(request=req)

    assert poll_until(read, lambda row: row[0] != "pending", interval=0.3) == ("delivered", 3, 200)
    assert len(receiver.received) == 3
    assert [ok for _h, _b, ok in receiver.received] == [True, True, True]
