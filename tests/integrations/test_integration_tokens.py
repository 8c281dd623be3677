"""The admin's integration token pages: list, create (the secret shown once, on the answer to the
create and nowhere else), revoke; every change audited without the secret; and a token's service
identity never signs in to the browser."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.integrations.forms import DEFAULT_EXPIRY_DAYS
from investigations.integrations.services import token_create, token_digest, token_for_secret
from investigations.models import AuditAction, AuditEvent, IntegrationToken

NEW = {"name": "XSOAR phishing", "scopes": ["read", "request_actions"], "expires_in_days": "30"}


def created(client, data=None):
    response = client.post(reverse("integration-token-new"), {"rate_limit_per_minute": "60", **NEW, **(data or {})})
    assert response.status_code == 200
    return response


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_creating_a_token_shows_its_secret_once_and_stores_only_its_hash(admin_client, admin_user, caplog):
    caplog.set_level(logging.DEBUG)
    before = timezone.now()
    response = created(admin_client)
    secret = re.search(r'id="secret">(mip_[A-Za-z0-9_-]+)<', response.content.decode()).group(1)
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    token = IntegrationToken.objects.get(name="XSOAR phishing")
    assert token.token_hash == token_digest(secret) and token.prefix == secret[:12]
    assert token.scopes == ["read", "request_actions"] and token.rate_limit_per_minute == 60
    assert timedelta(days=30) <= token.expires_at - before < timedelta(days=30, minutes=1)
    assert token.created_by == admin_user and token.service_user.is_integration
    assert token_for_secret(secret) == token
    # Never again: not on the list, not in the database, the audit trail or the logs.
    listing = admin_client.get(reverse("integration-tokens")).content.decode()
    assert "XSOAR phishing" in listing and token.prefix in listing and secret not in listing
    assert not IntegrationToken.objects.filter(token_hash=secret).exists()
    event = AuditEvent.objects.get(action=AuditAction.INTEGRATION_TOKEN_CREATED)
    assert event.actor_id == str(admin_user.pk) and (event.target_type, event.target_id) == (
        "integrationtoken",
        str(token.pk),
    )
    assert event.data["name"] == "XSOAR phishing" and event.data["scopes"] == ["read", "request_actions"]
    assert event.data["expires_at"] == token.expires_at.isoformat()
    assert secret not in json.dumps(event.data) and token.token_hash not in json.dumps(event.data)
    assert all(secret not in record.getMessage() for record in caplog.records)


def test_the_form_asks_for_a_scope_and_offers_a_sensible_expiry(admin_client):
    page = admin_client.get(reverse("integration-token-new")).content.decode()
    assert f'value="{DEFAULT_EXPIRY_DAYS}"' in page and 'type="checkbox"' in page
    response = admin_client.post(reverse("integration-token-new"), {**NEW, "scopes": [], "rate_limit_per_minute": "60"})
    assert response.status_code == 200 and "Choose at least one scope." in response.content.decode()
    for bad in ({"expires_in_days": "0"}, {"expires_in_days": "10000"}, {"rate_limit_per_minute": "0"}, {"name": ""}):
        response = admin_client.post(reverse("integration-token-new"), {**NEW, "rate_limit_per_minute": "60", **bad})
        assert 'id="secret"' not in response.content.decode(), bad
    assert not IntegrationToken.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.INTEGRATION_TOKEN_CREATED).exists()


def test_a_token_needs_a_scope_in_the_service_as_well(admin_user):
    with pytest.raises(ValueError):
        token_create(actor=admin_user, name="none", scopes=[])
    with pytest.raises(ValueError):
        token_create(actor=admin_user, name="bogus", scopes=["approve"])
    assert not IntegrationToken.objects.exists()


def test_two_tokens_cannot_share_a_name(admin_client):
    created(admin_client)
    response = admin_client.post(
        reverse("integration-token-new"), {**NEW, "name": "xsoar PHISHING", "rate_limit_per_minute": "60"}
    )
    assert "exists already" in response.content.decode()
    assert IntegrationToken.objects.count() == 1


def test_revoking_needs_a_post_with_csrf_and_is_audited(admin_user, analyst):
    token, secret = token_create(actor=admin_user, name="splunk", scopes=["read"])
    url = reverse("integration-token-revoke", args=[token.pk])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    assert browser.get(url).status_code == 405
    assert browser.post(url).status_code == 403  # no CSRF token
    page = browser.get(reverse("integration-tokens")).content.decode()
    assert "data-confirm=" in page and url in page
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(url, {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 302 and response["Location"] == reverse("integration-tokens")
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == admin_user
    assert token_for_secret(secret) is None
    event = AuditEvent.objects.get(action=AuditAction.INTEGRATION_TOKEN_REVOKED)
    assert event.actor_id == str(admin_user.pk) and event.data["name"] == "splunk"
    page = browser.get(reverse("integration-tokens")).content.decode()
    assert "revoked" in page and url not in page
    # Only admins: an analyst is refused and nothing changes.
    other, _ = token_create(actor=admin_user, name="other", scopes=["read"])
    analyst_browser = Client()
    analyst_browser.force_login(analyst)
    assert analyst_browser.post(reverse("integration-token-revoke", args=[other.pk])).status_code == 403
    assert IntegrationToken.objects.get(pk=other.pk).revoked_at is None
    assert analyst_browser.get(reverse("integration-tokens")).status_code == 403


def test_the_list_shows_expiry_last_use_and_state(admin_client, admin_user):
    token, _ = token_create(
        actor=admin_user, name="old", scopes=["audit_read"], expires_at=timezone.now() - timedelta(days=1)
    )
    IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now(), last_used_ip="192.0.2.9")
    page = admin_client.get(reverse("integration-tokens")).content.decode()
    assert "expired" in page and "192.0.2.9" in page and "audit_read" in page and admin_user.username in page
    assert reverse("integration-tokens") in admin_client.get(reverse("home")).content.decode()


def test_a_service_identity_cannot_sign_in_to_the_browser(admin_user, client):
    token, _ = token_create(actor=admin_user, name="soar", scopes=["read"])
    user = token.service_user
    user.set_password("somebody-set-this-password")
    user.save(update_fields=["password"])
    response = client.post(reverse("login"), {"username": user.username, "password": "somebody-set-this-password"})
    assert response.status_code == 200 and SESSION_KEY not in client.session
    assert "Please enter a correct" in response.content.decode()


def test_the_users_page_leaves_service_identities_to_the_integrations_page(admin_client, admin_user):
    token, _secret = token_create(actor=admin_user, name="splunk", scopes=["read"])

    users_page = admin_client.get(reverse("user-list")).content.decode()
    tokens_page = admin_client.get(reverse("integration-tokens")).content.decode()

    assert admin_user.username in users_page
    assert token.service_user.username not in users_page
    assert "splunk" in tokens_page
