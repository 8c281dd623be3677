"""The admins' webhook pages: who may open them, CSRF, the secret shown once and stored encrypted,
and every change audited without the secret."""

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from investigations.core.crypto import decrypt_json
from investigations.models import AuditEvent, WebhookDelivery, WebhookEndpoint
from investigations.webhooks import selectors, services

SECRET = re.compile(r"whsec_[A-Za-z0-9_-]{20,}")


def _create(client, receiver, name="Cortex XSOAR"):
    return client.post(reverse("webhook-list"), {"name": name, "url": receiver.url, "active": "on"})


def _audited(action):
    return list(AuditEvent.objects.filter(action=action))


def _everything_stored_as_text():
    """Every text and JSON column of the endpoint, delivery and audit tables, as stored."""
    with connection.cursor() as cursor:
        parts = []
        for table in (WebhookEndpoint._meta.db_table, WebhookDelivery._meta.db_table, AuditEvent._meta.db_table):
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")
            parts.extend(row[0] for row in cursor.fetchall())
    return "\n".join(parts)


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "outsider"])
def test_only_admins_open_or_change_webhooks(client, personas, persona, admin_user, receiver, settings):
    endpoint, _ = services.webhook_endpoint_create(actor=admin_user, name="XSOAR", url=receiver.url)
    client.force_login(personas[persona])
    for url in (reverse("webhook-list"), reverse("webhook-detail", args=[endpoint.pk]), reverse("webhook-deliveries")):
        assert client.get(url).status_code == 403
    for name in ("webhook-rotate", "webhook-delete", "webhook-test", "webhook-detail"):
        assert client.post(reverse(name, args=[endpoint.pk]), {"name": "x", "url": receiver.url}).status_code == 403
    assert _create(client, receiver, name="Other").status_code == 403
    assert WebhookEndpoint.objects.count() == 1 and WebhookDelivery.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="webhook.", actor_id=str(personas[persona].pk)).exists()


def test_posts_without_the_csrf_token_are_refused(admin_user, receiver):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert _create(client, receiver).status_code == 403
    assert not WebhookEndpoint.objects.exists()
    page = client.get(reverse("webhook-list"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        reverse("webhook-list"), {"name": "XSOAR", "url": receiver.url, "active": "on", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200 and WebhookEndpoint.objects.count() == 1


def test_the_secret_is_shown_once_stored_encrypted_and_never_audited(client, admin_user, receiver):
    client.force_login(admin_user)
    response = _create(client, receiver)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = SECRET.search(response.content.decode()).group(0)

    endpoint = WebhookEndpoint.objects.get()
    assert decrypt_json(endpoint.secret_encrypted) == {"secret": secret}
    assert secret not in _everything_stored_as_text()
    for url in (reverse("webhook-list"), reverse("webhook-detail", args=[endpoint.pk])):
        assert not SECRET.search(client.get(url).content.decode())
    (event,) = _audited("webhook.endpoint_created")
    assert event.data == {"name": "Cortex XSOAR", "url": receiver.url, "active": True}
    assert event.actor_id == str(admin_user.pk)


def test_rotating_shows_a_new_secret_once_and_the_old_one_stops_signing(client, admin_user, receiver):
    client.force_login(admin_user)
    old = SECRET.search(_create(client, receiver).content.decode()).group(0)
    endpoint = WebhookEndpoint.objects.get()
    response = client.post(reverse("webhook-rotate", args=[endpoint.pk]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    new = SECRET.search(response.content.decode()).group(0)
    assert new != old
    endpoint.refresh_from_db()
    assert services.webhook_endpoint_secret(endpoint) == new
    assert new not in _everything_stored_as_text() and old not in _everything_stored_as_text()
    assert len(_audited("webhook.secret_rotated")) == 1


def test_a_refused_url_is_a_form_error_in_plain_words(client, admin_user):
    client.force_login(admin_user)
    for url, words in (
        ("http://10.0.0.1/hook", "must use https"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://admin@receiver.example.com/", "user name or password"),
    ):
        response = client.post(reverse("webhook-list"), {"name": "XSOAR", "url": url, "active": "on"})
        assert response.status_code == 400
        assert words in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_editing_deactivating_and_deleting_are_audited(client, admin_user, receiver):
    client.force_login(admin_user)
    _create(client, receiver)
    endpoint = WebhookEndpoint.objects.get()
    page = reverse("webhook-detail", args=[endpoint.pk])
    assert client.post(page, {"name": "XSOAR", "url": "http://10.0.0.1/"}).status_code == 400
    new_url = receiver.url + "/v2"
    response = client.post(page, {"name": "XSOAR", "url": new_url})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.url, endpoint.active) == ("XSOAR", new_url, False)
    (event,) = _audited("webhook.endpoint_changed")
    assert event.data["changed"]["active"] == {"from": True, "to": False}
    assert event.data["changed"]["url"] == {"from": receiver.url, "to": new_url}
    assert selectors.webhook_endpoints_any_active() is False

    assert client.post(reverse("webhook-delete", args=[endpoint.pk])).status_code == 302
    assert not WebhookEndpoint.objects.exists()
    (deleted,) = _audited("webhook.endpoint_deleted")
    assert deleted.data["name"] == "XSOAR" and deleted.target_id == str(endpoint.pk)


def test_the_test_button_queues_a_test_event_and_the_log_shows_it(client, admin_user, receiver):
    client.force_login(admin_user)
    _create(client, receiver)
    endpoint = WebhookEndpoint.objects.get()
    receiver.secret = services.webhook_endpoint_secret(endpoint)
    assert client.post(reverse("webhook-test", args=[endpoint.pk])).status_code == 302
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "webhook.test" and delivery.payload["request"] is None
    assert _audited("webhook.test_sent")[0].data["event_id"] == delivery.event_id
    assert services.webhook_deliver(delivery_id=delivery.pk) == "delivered"
    assert receiver.received[0][2]
    log = client.get(reverse("webhook-deliveries")).content.decode()
    assert delivery.event_id in log and "Delivered" in log


def test_the_delivery_log_is_paged_and_filtered(client, admin_user, receiver, settings, monkeypatch):
    monkeypatch.setattr(selectors, "DELIVERY_PAGE_SIZE", 3)
    client.force_login(admin_user)
    endpoint, _ = services.webhook_endpoint_create(actor=admin_user, name="XSOAR", url=receiver.url)
    made = [services.webhook_endpoint_test(actor=admin_user, endpoint_id=endpoint.pk) for _ in range(4)]
    first = client.get(reverse("webhook-deliveries"), {"endpoint": endpoint.pk})
    body = first.content.decode()
    assert [d.event_id in body for d in made] == [False, True, True, True]
    next_url = first.context["next_url"]
    assert next_url
    second = client.get(next_url, headers={"HX-Request": "true"}).content.decode()
    assert made[0].event_id in second and made[3].event_id not in second
    assert "<html" not in second  # the htmx partial only
    assert client.get(reverse("webhook-deliveries"), {"state": "delivered"}).context["rows"] == []


@pytest.mark.parametrize("query", [{"endpoint": "abc"}, {"page": "x'"}, {"state": "nope"}, {"page": "9" * 40}])
def test_damaged_log_links_are_refused_gently(client, admin_user, query):
    client.force_login(admin_user)
    response = client.get(reverse("webhook-deliveries"), query)
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert 'role="alert"' in response.content.decode()


def test_the_admin_nav_links_to_webhooks(client, admin_user, analyst):
    client.force_login(admin_user)
    assert reverse("webhook-list") in client.get(reverse("home")).content.decode()
    client.force_login(analyst)
    assert reverse("webhook-list") not in client.get(reverse("home")).content.decode()


def test_the_payload_never_holds_the_secret(admin_user, receiver, analyst):
    from tests.remediation.support import pending_request

    endpoint, secret = services.webhook_endpoint_create(actor=admin_user, name="XSOAR", url=receiver.url)
    pending_request(analyst)
    assert secret not in json.dumps(list(WebhookDelivery.objects.values_list("payload", flat=True)))
    assert endpoint.pk
