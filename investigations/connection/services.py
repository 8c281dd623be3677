"""The Mimecast connection: where the client's configuration comes from, how an admin changes it,
and the "test connection" probe.

The environment (MIMECAST_*) configures the portal with no further setup; a saved, active
MimecastConnection row takes over from it. MIMECAST_ALLOWED_HOSTS always comes from the environment:
which non-Mimecast hosts the portal may call is an operator's decision, not a web form's."""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction

from investigations.audit.services import audit_record
from investigations.core.crypto import decrypt_json, encrypt_json
from investigations.mimecast import MimecastClient, MimecastConfig, MimecastConfigError, MimecastError
from investigations.mimecast.config import split_hosts
from investigations.mimecast.pacing import RatePacer, shared_pacer
from investigations.models import AuditAction, AuditOutcome, MimecastConnection

SETTINGS_TARGET = ("settings", "mimecast-connection")


def mimecast_allowed_hosts():
    """The non-Mimecast hosts the client may call (the simulator): from the environment only."""
    return split_hosts(settings.MIMECAST_ENV.get("MIMECAST_ALLOWED_HOSTS", ""))


def mimecast_connection_stored():
    return MimecastConnection.objects.filter(pk=1).first()


def mimecast_config_from_env():
    return MimecastConfig.from_env(settings.MIMECAST_ENV)


# In the encrypted secrets document, beside the secrets: per secret, the base URL it was typed for.
# A stored secret is only ever sent to that host, so an admin who points the connection elsewhere
# must type it again; kept inside the encryption so a database edit cannot move it either.
SAVED_FOR = "_saved_for"


def mimecast_secret_hosts(stored, secrets):
    """Per stored secret, the base URL ("" for discovery) it was saved for. A secret saved before
    hosts were recorded counts as saved for the base URL the row has now."""
    saved_for = secrets.get(SAVED_FOR) or {}
    return {
        name: saved_for.get(name, stored.base_url if stored else "")
        for name in MimecastConnection.SECRET_FIELDS
        if secrets.get(name)
    }


def mimecast_secrets_needed(*, api_version, auth_type):
    """The secrets a connection of this kind sends to Mimecast."""
    if api_version == 2:
        return ("client_secret",)
    return ("app_key", "password") if auth_type else ("app_key", "access_key", "secret_key")


def mimecast_secrets_saved_elsewhere(*, secret_hosts, base_url, names):
    """Of `names`, the stored secrets that were saved for another host than `base_url`."""
    return [name for name in names if name in secret_hosts and secret_hosts[name] != base_url]


def mimecast_host_label(base_url):
    return base_url or "Mimecast's discovered region"


def mimecast_config():
    """The configuration the portal uses now: the admin's saved connection, else the environment.
    Secrets saved for another host than the row's base URL are never handed to the client."""
    stored = mimecast_connection_stored()
    if stored is None or not stored.active:
        return mimecast_config_from_env()
    secrets = decrypt_json(stored.secrets_encrypted)
    secret_hosts = mimecast_secret_hosts(stored, secrets)
    elsewhere = mimecast_secrets_saved_elsewhere(
        secret_hosts=secret_hosts, base_url=stored.base_url, names=MimecastConnection.SECRET_FIELDS
    )
    needed = mimecast_secrets_needed(api_version=stored.api_version, auth_type=stored.auth_type)
    refused = [name for name in needed if name in elsewhere]
    if refused:
        names, one = ", ".join(name.replace("_", " ") for name in refused), len(refused) == 1
        raise MimecastConfigError(
            f"The stored {names} {'was' if one else 'were'} saved for "
            f"{mimecast_host_label(secret_hosts[refused[0]])}, not {mimecast_host_label(stored.base_url)}: "
            f"type {'it' if one else 'them'} again on the Mimecast connection page."
        )
    return MimecastConfig(
        api_version=stored.api_version,
        base_url=stored.base_url,
        app_id=stored.app_id,
        auth_type=stored.auth_type,
        username=stored.username,
        client_id=stored.client_id,
        verify_ssl=stored.verify_ssl,
        allowed_hosts=mimecast_allowed_hosts(),
        **{name: "" if name in elsewhere else secrets.get(name, "") for name in MimecastConnection.SECRET_FIELDS},
    )


# Every Mimecast client of the process comes from here (web views through their services, Celery
# tasks alike): one client per configuration, since a client holds the login keys or the OAuth token
# and a client per call would fetch them again every time; and one pacer per Mimecast budget.
_client_lock = threading.Lock()
_clients: dict[MimecastConfig, MimecastClient] = {}
_in_force: MimecastConfig | None = None  # the configuration the cached clients were made for
_local_pacer: RatePacer | None = None


def mimecast_client_forget():
    """Drop the cached clients (their keys or token), e.g. when the Mimecast side was reset."""
    global _in_force, _local_pacer
    with _client_lock:
        _clients.clear()
        _in_force = _local_pacer = None


def _pacer(config):
    """With Redis configured, every process spending this budget (gunicorn's workers and Celery's)
    books its calls in one queue in Redis; without it (the demo's file-system broker) each process
    paces on its own. Call holding _client_lock."""
    global _local_pacer
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        return shared_pacer(broker, config)
    if _local_pacer is None:
        _local_pacer = RatePacer()
    return _local_pacer


def mimecast_client(*, fresh=False, **changes):
    """The client for the configuration in force, with `changes` to it (e.g. fewer retries for a
    task that retries by itself). One per process and configuration: the client is thread-safe, so
    reusing it saves a discover-and-login (or a token request) on every page. A changed connection
    drops every cached client; `fresh` makes one that shares nothing but the pacer (it signs in
    anew)."""
    global _in_force, _local_pacer
    in_force = mimecast_config()
    config = in_force.with_changes(**changes) if changes else in_force
    with _client_lock:
        if in_force != _in_force:
            _clients.clear()
            _in_force, _local_pacer = in_force, None
        if fresh:
            return MimecastClient(config, pacer=_pacer(config))
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = MimecastClient(config, pacer=_pacer(config))
        return client


def mimecast_connection_save(*, actor, values, new_secrets):
    """Save the admin's connection. `new_secrets` holds only the secrets the admin typed: a blank
    secret field keeps the stored one. The audit event names what changed, never a value."""
    with transaction.atomic():
        stored = MimecastConnection.objects.select_for_update().filter(pk=1).first()
        secrets = decrypt_json(stored.secrets_encrypted) if stored else {}
        # Taken before the row changes, so a kept secret stays bound to the host it was saved for.
        saved_for = mimecast_secret_hosts(stored, secrets)
        before = {name: getattr(stored, name) for name in values} if stored else {}
        stored = stored or MimecastConnection(pk=1)
        for name, value in values.items():
            setattr(stored, name, value)
        typed = {name: value for name, value in new_secrets.items() if value}
        secrets.update(typed)
        saved_for.update(dict.fromkeys(typed, stored.base_url))
        secrets[SAVED_FOR] = saved_for
        stored.secrets_encrypted = encrypt_json(secrets)
        stored.updated_by = actor.get_username()
        stored.save()
        audit_record(
            actor=actor,
            action=AuditAction.SETTINGS_CONNECTION_CHANGED,
            target=SETTINGS_TARGET,
            data={
                "changed": sorted(name for name in values if before.get(name) != values[name]),
                "credentials_replaced": sorted(name for name, value in new_secrets.items() if value),
            },
        )
    return stored


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str


def _last_hour():
    end = datetime.now(UTC)
    return {"start": end - timedelta(hours=1), "end": end}


# One cheap read per area the portal uses, so "test connection" says which features will work.
PROBES = (
    (
        "Message Finder (track & trace)",
        lambda c: c.search_messages(
            sender="probe@example.invalid", search_reason="Portal connection test", **_last_hour()
        ),
    ),
    ("Archive", lambda c: c.get_archive_message_list(view="INBOX", page_size=1, **_last_hour())),
    ("Threat remediation (find incidents)", lambda c: c.find_incidents(page_size=1)),
    ("URL protect logs", lambda c: c.get_url_logs(page_size=1, **_last_hour())),
    ("Held messages", lambda c: c.get_held_messages(page_size=1, **_last_hour())),
    ("Directory groups", lambda c: c.find_groups(page_size=1)),
    ("Awareness training (SAFE score summary)", lambda c: c.get_safe_score_summary()),
)


def _probe(client, name, call):
    try:
        call(client)
    except MimecastError as error:
        return ProbeResult(name, False, error.message)
    return ProbeResult(name, True, "works")


def mimecast_connection_test(*, actor):
    """Authenticate, then try one read per area concurrently. Returns (summary, [ProbeResult])."""
    try:
        # A fresh client, so the test really signs in rather than reusing cached keys or a token.
        client = mimecast_client(fresh=True)
        client.authenticate()
    except MimecastError as error:
        results, summary = [], f"Cannot connect: {error.message}"
    else:
        probes = PROBES
        if client.config.api_version == 2:
            # The event stream web security is ingested from, asked for the types the ingestion uses.
            types = settings.WEB_SECURITY_EVENT_TYPES
            stream = f"Web security event stream (type {', '.join(types)})"
            probes = (*PROBES, (stream, lambda c: c.check_siem_batch(event_types=types)))
        with ThreadPoolExecutor(max_workers=len(probes)) as pool:
            results = list(pool.map(lambda probe: _probe(client, *probe), probes))
        failing = [r.name for r in results if not r.ok]
        summary = (
            f"Connected to {client.base_url}; every area answered."
            if not failing
            else f"Connected to {client.base_url}; these areas failed: {', '.join(failing)}."
        )
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.SETTINGS_CONNECTION_TESTED,
            target=SETTINGS_TARGET,
            outcome=AuditOutcome.SUCCESS if results and all(r.ok for r in results) else AuditOutcome.FAILURE,
            data={"summary": summary, "failed": [r.name for r in results if not r.ok]},
        )
    return summary, results
