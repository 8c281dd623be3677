import logging

import pytest
from django.db import connection
from django.urls import reverse

from investigations.connection.services import mimecast_config
from investigations.core.crypto import decrypt_json
from investigations.models import AuditAction, AuditEvent, MimecastConnection
from tests.connection.support import keys_form

PAGES = ["mimecast-connection", "mimecast-connection-test"]


def _form(simulator, **overrides):
    return keys_form(**{"base_url": simulator.base_url, **overrides})


@pytest.mark.parametrize("persona", ["analyst", "approver", "auditor", "outsider"])
@pytest.mark.parametrize("url_name", PAGES)
def test_only_admins_reach_the_connection_settings(client, personas, persona, url_name):
    client.force_login(personas[persona])
    assert client.get(reverse(url_name)).status_code == 403
    assert client.post(reverse(url_name), {}, headers={"HX-Request": "true"}).status_code == 403


def test_an_admin_sees_the_environments_connection_without_its_secrets(client, admin_user, mimecast_env):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    client.force_login(admin_user)
    response = client.get(reverse("mimecast-connection"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "MIMECAST_*" in page
    assert mimecast_env.base_url in page and "Basic-Cloud" in page and sim.username in page
    assert "app_key, password" in page  # which secrets are set, by name only
    assert sim.password not in page and sim.app_key not in page


def test_saved_secrets_are_encrypted_in_the_database_and_masked_on_the_page(client, admin_user, mimecast_env):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    client.force_login(admin_user)
    response = client.post(reverse("mimecast-connection"), _form(mimecast_env))
    assert response.status_code == 302
    # A dump of the table: no secret appears in any column.
    with connection.cursor() as cursor, cursor.copy("COPY investigations_mimecastconnection TO STDOUT") as copy:
        dump = b"".join(bytes(chunk) for chunk in copy).decode()
    for secret in (sim.app_key, sim.access_key, sim.secret_key):
        assert secret not in dump
    assert decrypt_json(MimecastConnection.objects.get().secrets_encrypted)["secret_key"] == sim.secret_key
    page = client.get(reverse("mimecast-connection")).content.decode()
    for secret in (sim.app_key, sim.access_key, sim.secret_key):
        assert secret not in page
        assert f"••••••••{secret[-4:]}" in page


def test_a_blank_secret_keeps_the_stored_one_and_the_change_is_audited_without_values(client, admin_user, mimecast_env):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _form(mimecast_env))
    client.post(reverse("mimecast-connection"), _form(mimecast_env, app_key="", access_key="", secret_key=""))
    assert mimecast_config().secret_key == sim.secret_key
    events = list(AuditEvent.objects.filter(action=AuditAction.SETTINGS_CONNECTION_CHANGED))
    assert len(events) == 2
    assert events[1].data["credentials_replaced"] == []
    assert sim.secret_key not in str([e.data for e in events])


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"base_url": "https://eu-api.mimecast.com.evil.example"}, "base_url", "not allowed"),
        ({"base_url": "http://169.254.169.254"}, "base_url", "not allowed"),
        ({"app_id": ""}, "app_id", "needs the application ID"),
        ({"access_key": ""}, "access_key", "Give the key"),
        ({"api_version": "2"}, "client_id", "needs the client ID"),
        ({"auth_type": "Basic-Cloud"}, "username", "needs a user name"),
    ],
)
def test_bad_settings_are_refused_next_to_the_field_and_nothing_is_saved(
    client, admin_user, mimecast_env, overrides, field, message
):
    client.force_login(admin_user)
    response = client.post(reverse("mimecast-connection"), _form(mimecast_env, **overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not MimecastConnection.objects.exists()


def test_test_connection_reports_the_simulator_healthy_from_the_environment(client, admin_user, mimecast_env):
    client.force_login(admin_user)
    response = client.post(reverse("mimecast-connection-test"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "every area answered" in body
    assert body.count("badge-success") == 7
    event = AuditEvent.objects.get(action=AuditAction.SETTINGS_CONNECTION_TESTED)
    assert event.outcome == "success"


def test_test_connection_says_in_plain_words_what_fails(client, admin_user, mimecast_env):
    mimecast_env.faults.add(path="/api/directory/find-groups", kind="status", status=403, count=None)
    client.force_login(admin_user)
    body = client.post(reverse("mimecast-connection-test")).content.decode()
    assert "these areas failed: Directory groups" in body
    assert body.count("badge-success") == 6


def test_test_connection_with_wrong_keys_says_it_cannot_connect(client, admin_user, mimecast_env, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_PASSWORD": "wrong-password"}
    client.force_login(admin_user)
    body = client.post(reverse("mimecast-connection-test")).content.decode()
    assert "Cannot connect" in body
    assert AuditEvent.objects.get(action=AuditAction.SETTINGS_CONNECTION_TESTED).outcome == "failure"


def test_saved_settings_take_over_from_the_environment(client, admin_user, mimecast_env):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    assert mimecast_config().username == sim.username  # from the environment
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _form(mimecast_env))
    config = mimecast_config()
    assert config.access_key == sim.access_key and config.username == ""
    body = client.post(reverse("mimecast-connection-test")).content.decode()
    assert "every area answered" in body


def test_no_secret_reaches_the_logs_during_a_full_connection_test(client, admin_user, mimecast_env, caplog):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    caplog.set_level(logging.DEBUG)
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _form(mimecast_env))
    client.post(reverse("mimecast-connection-test"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/" in logged  # the client did log its calls
    # The admin's session key is a secret too: neither the logs nor the audit trail name it.
    session_key = client.session.session_key
    trail = str(list(AuditEvent.objects.values()))
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN).exists()
    for secret in (sim.app_key, sim.access_key, sim.secret_key, sim.password, session_key):
        assert secret and secret not in logged
        assert secret not in trail


def test_the_encryption_key_rotates(client, admin_user, mimecast_env, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _form(mimecast_env))
    before = MimecastConnection.objects.get().secrets_encrypted
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    call_command("rotate_encryption_key", stdout=__import__("io").StringIO())
    after = MimecastConnection.objects.get().secrets_encrypted
    assert after != before
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone; the data still decrypts
    assert mimecast_config().access_key
    assert AuditEvent.objects.filter(action=AuditAction.SETTINGS_KEY_ROTATED).count() == 1
