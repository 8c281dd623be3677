"""A stored Mimecast secret only ever goes to the host it was saved for."""

import pytest
from django.urls import reverse

from investigations.connection.services import mimecast_client, mimecast_config
from investigations.core.crypto import decrypt_json, encrypt_json
from investigations.mimecast import MimecastConfigError
from investigations.models import MimecastConnection
from tests.connection.support import keys_form


@pytest.fixture
def two_hosts(settings, mimecast_env, srv):
    """The shared simulator (where the secrets are saved) and a second allow-listed one (the new host)."""
    hosts = ",".join(s.base_url.removeprefix("http://") for s in (mimecast_env, srv))
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_ALLOWED_HOSTS": hosts}
    return mimecast_env, srv


def _oauth_form(base_url, **overrides):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    values = {
        "api_version": "2",
        "base_url": base_url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "verify_ssl": "on",
        "active": "on",
    }
    values.update(overrides)
    return values


def test_changing_only_the_host_asks_for_the_secret_again_and_saves_nothing(client, admin_user, two_hosts):
    saved_for, new_host = two_hosts
    client.force_login(admin_user)
    assert client.post(reverse("mimecast-connection"), _oauth_form(saved_for.base_url)).status_code == 302

    response = client.post(reverse("mimecast-connection"), _oauth_form(new_host.base_url, client_secret=""))
    assert response.status_code == 200
    error = " ".join(response.context["form"].errors["client_secret"])
    assert f"saved for {saved_for.base_url}" in error and "type it again" in error
    assert MimecastConnection.objects.get().base_url == saved_for.base_url


def test_every_kept_api1_key_is_asked_for_again_on_a_new_host(client, admin_user, two_hosts):
    saved_for, new_host = two_hosts
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), keys_form(saved_for.base_url))
    # The access key is typed again; the application key and secret key are kept.
    response = client.post(reverse("mimecast-connection"), keys_form(new_host.base_url, app_key="", secret_key=""))
    errors = response.context["form"].errors
    assert set(errors) == {"app_key", "secret_key"}
    assert "type it again" in " ".join(errors["secret_key"])


def test_typing_the_secret_again_binds_it_to_the_new_host(client, admin_user, two_hosts):
    saved_for, new_host = two_hosts
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _oauth_form(saved_for.base_url))
    assert client.post(reverse("mimecast-connection"), _oauth_form(new_host.base_url)).status_code == 302
    stored = MimecastConnection.objects.get()
    assert decrypt_json(stored.secrets_encrypted)["_saved_for"]["client_secret"] == new_host.base_url
    before = len(new_host.calls)
    body = client.post(reverse("mimecast-connection-test")).content.decode()
    assert f"Connected to {new_host.base_url}" in body
    assert len(new_host.calls) > before


def test_test_connection_never_sends_a_stored_secret_to_a_host_it_was_not_saved_for(client, admin_user, two_hosts):
    saved_for, new_host = two_hosts
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), _oauth_form(saved_for.base_url))
    # The base URL changes behind the form's back (an edit in the database, or a row saved before
    # hosts were recorded): the secret's own record of its host still holds.
    MimecastConnection.objects.filter(pk=1).update(base_url=new_host.base_url)
    before = len(new_host.calls)

    body = client.post(reverse("mimecast-connection-test"), headers={"HX-Request": "true"}).content.decode()
    assert "Cannot connect" in body
    assert f"saved for {saved_for.base_url}" in body and "type it again" in body
    with pytest.raises(MimecastConfigError):
        mimecast_client()
    assert len(new_host.calls) == before  # not even a token request reached the new host


def test_a_row_saved_before_hosts_were_recorded_is_bound_to_its_base_url(client, admin_user, two_hosts):
    from mimecast_simulator import SIM_CREDENTIALS as sim

    saved_for, new_host = two_hosts
    MimecastConnection.objects.create(
        pk=1,
        api_version=2,
        base_url=saved_for.base_url,
        client_id=sim.client_id,
        secrets_encrypted=encrypt_json({"client_secret": sim.client_secret}),
    )
    assert mimecast_config().client_secret == sim.client_secret
    client.force_login(admin_user)
    response = client.post(reverse("mimecast-connection"), _oauth_form(new_host.base_url, client_secret=""))
    assert "type it again" in " ".join(response.context["form"].errors["client_secret"])
    # Kept for the same host, it keeps working and stays bound there.
    assert (
        client.post(reverse("mimecast-connection"), _oauth_form(saved_for.base_url, client_secret="")).status_code
        == 302
    )
    secrets = decrypt_json(MimecastConnection.objects.get().secrets_encrypted)
    assert secrets["_saved_for"] == {"client_secret": saved_for.base_url}


def test_a_secret_the_connection_does_not_use_does_not_block_it(client, admin_user, two_hosts):
    saved_for, new_host = two_hosts
    client.force_login(admin_user)
    client.post(reverse("mimecast-connection"), keys_form(saved_for.base_url))
    # Switching to API 2.0 on the new host: the old API 1.0 keys stay behind, unused and unsent.
    assert client.post(reverse("mimecast-connection"), _oauth_form(new_host.base_url)).status_code == 302
    config = mimecast_config()
    assert config.client_secret and not (config.app_key or config.access_key or config.secret_key)
