"""Reads for the webhook pages and the delivery worker."""

import threading
import time

from django.db.models import Count, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from investigations.models import WebhookDelivery, WebhookEndpoint

DELIVERY_PAGE_SIZE = 50

# Every step of every request asks whether any endpoint is active, and most installations have none.
# The answer is kept in this process for ACTIVE_CACHE_SECONDS, so with no endpoint a step costs no
# query at all (the remediation bench runs this path). A change saved in this process is seen at
# once (the receivers below forget the answer); one saved in another process within those seconds,
# so a new endpoint misses at most a few seconds of events. Django's cache would not do: in
# production it may be shared over the network, which is the round trip per step this avoids.
ACTIVE_CACHE_SECONDS = 5.0
_active = {"value": None, "until": 0.0}
_active_lock = threading.Lock()


def webhook_endpoints_any_active():
    now = time.monotonic()
    with _active_lock:
        if _active["value"] is not None and now < _active["until"]:
            return _active["value"]
    value = WebhookEndpoint.objects.filter(active=True).exists()
    with _active_lock:
        _active.update(value=value, until=now + ACTIVE_CACHE_SECONDS)
    return value


def webhook_endpoints_forget():
    with _active_lock:
        _active.update(value=None, until=0.0)


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="webhook_endpoints_forget_saved")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="webhook_endpoints_forget_deleted")
def _endpoints_changed(sender, **kwargs):
    webhook_endpoints_forget()


def webhook_endpoints_active():
    return list(WebhookEndpoint.objects.filter(active=True).order_by("pk"))


def webhook_endpoint_list():
    """Every endpoint with its delivery counts by state."""
    states = WebhookDelivery.State
    return WebhookEndpoint.objects.select_related("created_by").annotate(
        pending=Count("deliveries", filter=Q(deliveries__state=states.PENDING)),
        delivered=Count("deliveries", filter=Q(deliveries__state=states.DELIVERED)),
        failed=Count("deliveries", filter=Q(deliveries__state=states.FAILED)),
    )


def webhook_endpoint_get(*, endpoint_id):
    return WebhookEndpoint.objects.select_related("created_by").filter(pk=endpoint_id).first()


def webhook_deliveries_page(*, endpoint_id=None, state="", before=None, size=None):
    """One page of the delivery log, newest first, and the cursor of the next page (or None).
    Keyset paging on the id: the log only grows, and a page costs the same at any depth."""
    size = size or DELIVERY_PAGE_SIZE
    criteria = {"endpoint_id": endpoint_id, "state": state, "pk__lt": before}
    rows = WebhookDelivery.objects.select_related("endpoint", "request").order_by("-pk")
    page = list(rows.filter(**{name: value for name, value in criteria.items() if value})[: size + 1])
    return page[:size], (page[size - 1].pk if len(page) > size else None)


def webhook_delivery_get(*, delivery_id):
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()


def webhook_deliveries_due_ids(*, now, limit=500):
    """Pending deliveries whose next attempt is due: a retry's wait is over, or the claim of an
    attempt that never reported back (a dead worker) has lapsed."""
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    rows = WebhookDelivery.objects.filter(due, state=WebhookDelivery.State.PENDING).order_by("next_attempt_at", "pk")
    return list(rows.values_list("pk", flat=True)[:limit])
