"""Events on request state changes, and their signed delivery with retries."""

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from investigations.models import RemediationRequest, WebhookDelivery
from investigations.remediation import services as remediation
from investigations.webhooks import selectors, services
from tests.remediation.support import pending_request
from tests.webhooks.conftest import STALL


def _types(req):
    return list(WebhookDelivery.objects.filter(request=req).order_by("pk").values_list("event_type", flat=True))


def test_a_state_change_with_no_endpoint_creates_no_delivery_and_asks_nothing_more(
    analyst, approver, django_assert_num_queries
):
    req = pending_request(analyst)
    remediation.remediation_request_approve(actor=approver, request_id=req.pk, reason="ok")
    assert WebhookDelivery.objects.count() == 0
    # The answer "none active" is remembered: a further step costs no query for webhooks.
    with django_assert_num_queries(0):
        made = services.webhook_request_event(
            req.pk, action=remediation.AuditAction.REMEDIATION_QUEUED, outcome="success", now=timezone.now()
        )
    assert made == []


def test_an_endpoint_saved_in_this_process_is_heard_at_once(analyst, endpoint_to):
    assert selectors.webhook_endpoints_any_active() is False
    endpoint_to()
    req = pending_request(analyst)
    assert _types(req) == ["request.submitted"]


def test_every_state_change_is_an_event_with_the_request_in_it(analyst, approver, endpoint_to, receiver):
    endpoint_to()
    endpoint_to(name="Splunk SOAR")
    approved = pending_request(analyst)
    remediation.remediation_request_approve(actor=approver, request_id=approved.pk, reason="Looked at it")
    rejected = pending_request(analyst)
    remediation.remediation_request_reject(actor=approver, request_id=rejected.pk, reason="Not this one")
    cancelled = pending_request(analyst)
    remediation.remediation_request_cancel(actor=analyst, request_id=cancelled.pk, reason="Wrong hash")
    expired = pending_request(analyst)
    remediation.remediation_request_expire(request_id=expired.pk, now=timezone.now() + timedelta(days=3))

    # One delivery per active endpoint for each step; drafting and previewing are no state change.
    assert _types(approved) == ["request.submitted"] * 2 + ["request.approved"] * 2
    assert _types(rejected)[-2:] == ["request.rejected"] * 2
    assert _types(cancelled)[-2:] == ["request.cancelled"] * 2
    assert _types(expired)[-2:] == ["request.expired"] * 2
    payload = WebhookDelivery.objects.filter(request=approved, event_type="request.approved").first().payload
    assert payload["type"] == "request.approved"
    assert payload["request"] == {
        "id": approved.pk,
        "kind": "remediate",
        "state": RemediationRequest.State.APPROVED,
        "integration": None,
        "investigation": None,
        "reason": approved.reason,
        "ticket_id": "",
        "url": f"/remediation/{approved.pk}/",
    }
    assert payload["occurred_at"].endswith("+00:00")
    ids = list(WebhookDelivery.objects.values_list("event_id", flat=True))
    assert len(set(ids)) == len(ids)


def test_a_rolled_back_state_change_sends_nothing(analyst, endpoint_to):
    endpoint_to()
    req = pending_request(analyst)
    before = WebhookDelivery.objects.count()
    try:
        with transaction.atomic():
            remediation.remediation_request_cancel(actor=analyst, request_id=req.pk, reason="changed my mind")
            raise RuntimeError("the surrounding work failed")
    except RuntimeError:
        pass
    assert WebhookDelivery.objects.count() == before


def test_a_delivery_is_posted_signed_and_the_receiver_verifies_it(analyst, endpoint_to, receiver):
    endpoint_to()
    req = pending_request(analyst)
    delivery = WebhookDelivery.objects.get(request=req)
    assert services.webhook_deliver(delivery_id=delivery.pk) == "delivered"

    (headers, _body, valid) = receiver.received[0]
    assert valid
    assert headers["Content-Type"] == "application/json"
    assert headers["Webhook-Id"] == delivery.event_id
    assert receiver.bodies()[0]["request"]["state"] == "pending_approval"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None


def test_a_wrong_secret_does_not_verify(analyst, endpoint_to, receiver):
    endpoint_to()
    receiver.secret = "whsec_not-the-one"
    pending_request(analyst)
    services.webhook_deliver_due()
    assert receiver.received and not receiver.received[0][2]


def test_a_receiver_that_fails_twice_gets_the_delivery_on_the_third_try(settings, analyst, endpoint_to, receiver):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_RETRY_SECONDS = [10, 30, 120]
    receiver.script = [500, STALL, 200]
    endpoint_to()
    t0 = timezone.now()
    req = pending_request(analyst, now=t0)
    delivery = WebhookDelivery.objects.get(request=req)

    assert services.webhook_deliver(delivery_id=delivery.pk, now=t0) == "retry"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt_at == t0 + timedelta(seconds=10)
    # Not due before its wait is over.
    assert services.webhook_deliver_due(now=t0 + timedelta(seconds=5)) == []

    assert services.webhook_deliver_due(now=t0 + timedelta(seconds=11)) == ["retry"]
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.last_status is None
    assert "timed out" in delivery.last_error
    assert delivery.next_attempt_at == t0 + timedelta(seconds=41)

    assert services.webhook_deliver_due(now=t0 + timedelta(seconds=42)) == ["delivered"]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == ("delivered", 3, 200, "")
    # Every attempt is the same event, signed afresh; the third one verifies.
    assert {headers["Webhook-Id"] for headers, _b, _ok in receiver.received} == {delivery.event_id}
    assert receiver.received[-1][2]


def test_a_task_run_twice_sends_once_and_a_delivered_one_never_again(analyst, endpoint_to, receiver):
    endpoint_to()
    req = pending_request(analyst)
    delivery = WebhookDelivery.objects.get(request=req)
    now = timezone.now()
    assert services.webhook_deliver(delivery_id=delivery.pk, now=now) == "delivered"
    assert services.webhook_deliver(delivery_id=delivery.pk, now=now) == "skipped"
    assert services.webhook_deliver(delivery_id=delivery.pk, now=now + timedelta(days=1)) == "skipped"
    assert services.webhook_sweep(now=now + timedelta(days=1)) == 0
    assert len(receiver.received) == 1


def test_a_claimed_attempt_is_not_taken_by_a_second_run(settings, analyst, endpoint_to, receiver):
    endpoint_to()
    req = pending_request(analyst)
    delivery = WebhookDelivery.objects.get(request=req)
    now = timezone.now()
    assert services._claim(delivery.pk, now) == 1  # a worker holds it, and dies before it reports
    assert services.webhook_deliver(delivery_id=delivery.pk, now=now) == "skipped"
    # Once the claim lapses, the delivery is due again and goes out.
    later = now + timedelta(seconds=services._lease_seconds() + 1)
    assert services.webhook_deliver_due(now=later) == ["delivered"]
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and len(receiver.received) == 1


def test_a_delivery_is_given_up_after_the_last_wait(settings, analyst, endpoint_to, receiver):
    settings.WEBHOOK_RETRY_SECONDS = [0]
    receiver.script = [503, 503, 503]
    endpoint_to()
    req = pending_request(analyst)
    delivery = WebhookDelivery.objects.get(request=req)
    assert services.webhook_deliver(delivery_id=delivery.pk) == "retry"
    assert services.webhook_deliver(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 2, 503)
    assert services.webhook_deliver(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.received) == 2


def test_the_sweep_gives_up_an_attempt_that_never_finished(settings, analyst, endpoint_to):
    settings.WEBHOOK_RETRY_SECONDS = []
    endpoint_to()
    req = pending_request(analyst)
    delivery = WebhookDelivery.objects.get(request=req)
    now = timezone.now()
    assert services._claim(delivery.pk, now) == 1
    services.webhook_sweep(now=now + timedelta(seconds=services._lease_seconds() + 1))
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "never finished" in delivery.last_error


def test_the_url_is_checked_again_before_each_attempt(settings, analyst, endpoint_to, receiver):
    endpoint_to()
    req = pending_request(analyst)
    settings.WEBHOOK_ALLOWED_HOSTS = []  # as if the host now resolved somewhere it may not go
    delivery = WebhookDelivery.objects.get(request=req)
    assert services.webhook_deliver(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("Not sent:") and "https" in delivery.last_error
    assert receiver.received == []


def test_an_inactive_endpoint_hears_nothing_and_its_pending_deliveries_stop(admin_user, analyst, endpoint_to, receiver):
    endpoint = endpoint_to()
    first = pending_request(analyst)
    services.webhook_endpoint_update(
        actor=admin_user, endpoint_id=endpoint.pk, name=endpoint.name, url=endpoint.url, active=False
    )
    pending_request(analyst)
    assert WebhookDelivery.objects.count() == 1
    assert services.webhook_deliver_due() == ["failed"]
    assert WebhookDelivery.objects.get(request=first).last_error == "The endpoint is inactive."
    assert receiver.received == []


def test_no_secret_reaches_the_logs(caplog, settings, analyst, endpoint_to, receiver):
    caplog.set_level(logging.DEBUG)
    settings.WEBHOOK_RETRY_SECONDS = [0]
    receiver.script = [500]
    endpoint_to()
    pending_request(analyst)
    services.webhook_deliver_due()
    services.webhook_deliver_due()
    assert len(receiver.received) == 2
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert receiver.secret not in logged
    assert receiver.received[0][0]["Webhook-Signature"][3:] not in logged
