from django.contrib import messages
from django.shortcuts import redirect, render

from investigations.connection.forms import MimecastConnectionForm
from investigations.connection.services import (
    mimecast_config_from_env,
    mimecast_connection_save,
    mimecast_connection_stored,
    mimecast_connection_test,
    mimecast_host_label,
    mimecast_secret_hosts,
)
from investigations.core.crypto import DecryptionFailed, decrypt_json, mask
from investigations.core.routes import Routes
from investigations.mimecast import MimecastError
from investigations.models import MimecastConnection

routes = Routes()

_PLAIN_FIELDS = ("api_version", "base_url", "auth_type", "app_id", "username", "client_id", "verify_ssl", "active")


def _stored_secrets(stored):
    if stored is None:
        return {}, ""
    try:
        return decrypt_json(stored.secrets_encrypted), ""
    except DecryptionFailed as error:
        return {}, str(error)


def _environment_summary():
    """What MIMECAST_* configures, so the admin sees what is in force before taking over."""
    try:
        config = mimecast_config_from_env()
    except MimecastError as error:
        return {"error": error.message}
    return {
        "API version": config.api_version,
        "Base URL": config.base_url or "(discovered at login)",
        "Auth": config.auth_type or ("OAuth2" if config.api_version == 2 else "keys given directly"),
        "Application ID": config.app_id,
        "User name": config.username,
        "Client ID": config.client_id,
        "Secrets set": ", ".join(n for n in MimecastConnection.SECRET_FIELDS if getattr(config, n)) or "none",
    }


@routes("", name="mimecast-connection", capability="admin_settings")
def mimecast_connection(request):
    stored = mimecast_connection_stored()
    secrets, secret_problem = _stored_secrets(stored)
    secret_hosts = mimecast_secret_hosts(stored, secrets)
    if request.method == "POST":
        form = MimecastConnectionForm(request.POST, stored_secrets=secrets, secret_hosts=secret_hosts)
        if form.is_valid():
            mimecast_connection_save(
                actor=request.user,
                values={name: form.cleaned_data[name] for name in _PLAIN_FIELDS},
                new_secrets={name: form.cleaned_data[name] for name in MimecastConnection.SECRET_FIELDS},
            )
            messages.success(request, "Mimecast connection saved. Use “Test connection” to check it.")
            return redirect("mimecast-connection")
    else:
        initial = {name: getattr(stored, name) for name in _PLAIN_FIELDS} if stored else {"api_version": 1}
        form = MimecastConnectionForm(initial=initial, stored_secrets=secrets, secret_hosts=secret_hosts)
    context = {
        "form": form,
        "environment": _environment_summary(),
        "stored": stored,
        "masked": {name: mask(secrets.get(name, "")) for name in MimecastConnection.SECRET_FIELDS},
        "saved_for": {name: mimecast_host_label(host) for name, host in secret_hosts.items()},
        "secret_problem": secret_problem,
    }
    return render(request, "connection/mimecast_connection.html", context)


@routes("test/", name="mimecast-connection-test", capability="admin_settings")
def mimecast_connection_check(request):
    if request.method != "POST":
        return redirect("mimecast-connection")
    summary, results = mimecast_connection_test(actor=request.user)
    context = {"summary": summary, "results": results, "ok": bool(results) and all(r.ok for r in results)}
    return render(request, "connection/mimecast_connection.html#test-result", context)
