"""Outbound webhooks: every state change of a request is posted, signed, to the active endpoints.

An event is written as one WebhookDelivery per active endpoint inside the transaction of the state
change itself (a rolled-back change sends nothing), and its task is published once that commits. A
delivery is sent by `webhook_deliver`, which first claims it with one conditional UPDATE (the
attempt is counted and the row leased before the call), so a task delivered twice sends once and a
delivered delivery is never sent again. A failed attempt waits WEBHOOK_RETRY_SECONDS before the next;
beat's `webhook_sweep` publishes the due ones again, so a lost task message or a dead worker loses
nothing. After the last wait the delivery is given up (failed).

Signing: the body is posted with `Webhook-Id` (the event id, the same on every retry), `Webhook-Timestamp`
(unix seconds) and `Webhook-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}" with the endpoint's
secret>`. A receiver recomputes the HMAC over the raw body, compares in constant time and refuses
timestamps more than five minutes old (see docs/api.md).

The receiver's URL passes the same kind of checks as the Mimecast base URL (the helpers of
mimecast/urls.py): https only, no user name, no odd characters or look-alike host names, and every
address the host resolves to must be public, unless WEBHOOK_ALLOWED_HOSTS lists its host:port (plain
http only to a listed loopback host). The checks run when an endpoint is saved and again before every
attempt, and the connection goes to the address that was checked, so a DNS answer that changes in
between cannot turn the portal against the internal network.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import re
import secrets
import socket
import ssl
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.core import dispatch
from investigations.core.crypto import decrypt_json, encrypt_json
from investigations.mimecast.errors import MimecastConfigError
from investigations.mimecast.urls import (
    DNS_LABEL,
    SAFE_URL_CHARS,
    has_control,
    is_ip_literal,
    is_loopback_host,
    is_public_address,
    parse_allowed_host,
    resolve_host,
    split_host_port,
)
from investigations.models import AuditAction, RemediationRequest, WebhookDelivery, WebhookEndpoint
from investigations.webhooks import selectors

logger = logging.getLogger(__name__)

WEBHOOK_DELIVER = "investigations.tasks.webhook_deliver"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a marker that makes leaked secrets easy to scan for, not a secret)
TEST_EVENT = "webhook.test"
URL_MAX = 2048
# What of a receiver's answer the log keeps: enough to see why it refused, never a whole page.
ANSWER_KEPT = 300
# Path and query of a receiver URL: RFC 3986's unreserved, sub-delims, ":", "/", "?", "%" escapes.
_PATH_CHARS = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:/?%-]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"https": 443, "http": 80}

Action = AuditAction
# The request steps that are state changes, by audit action; a task attempt is the claim (running)
# when it succeeds and the way back to the queue (a retry) when it fails.
EVENT_TYPES = {
    Action.REMEDIATION_REQUESTED: "request.submitted",
    Action.REMEDIATION_FIRST_APPROVAL: "request.first_approval",
    Action.REMEDIATION_APPROVED: "request.approved",
    Action.REMEDIATION_BREAK_GLASS: "request.break_glass",
    Action.REMEDIATION_REJECTED: "request.rejected",
    Action.REMEDIATION_CANCELLED: "request.cancelled",
    Action.REMEDIATION_EXPIRED: "request.expired",
    Action.REMEDIATION_QUEUED: "request.queued",
    Action.REMEDIATION_SUCCEEDED: "request.succeeded",
    Action.REMEDIATION_FAILED: "request.failed",
    Action.REMEDIATION_ITEM_DONE: "request.item_done",
    Action.REMEDIATION_ITEM_FAILED: "request.item_failed",
}
_ATTEMPT_EVENTS = {"success": "request.running", "failure": "request.retry_scheduled"}


class WebhookUrlRefused(ValueError):
    """A receiver URL the portal will not post to; the message says why, in plain words."""


# ----------------------------------------------------------------------------------- URL checks


@dataclass(frozen=True)
class Target:
    """A checked receiver: where to connect (an address that was checked) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple


def _allowed(host, port, allowed_hosts):
    for entry in allowed_hosts:
        try:
            if parse_allowed_host(entry) == (host, port):
                return True
        except MimecastConfigError:
            continue  # a malformed entry allows nothing
    return False


def _parts(url):
    """(scheme, host, port or None, path and query) of a URL written plainly, or WebhookUrlRefused."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlRefused("Give the receiver's URL.")
    if len(url) > URL_MAX:
        raise WebhookUrlRefused(f"The URL is longer than {URL_MAX} characters.")
    if not url.isascii():
        raise WebhookUrlRefused("The URL contains non-ASCII characters (possibly a look-alike host name).")
    if "@" in url:
        raise WebhookUrlRefused("The URL must not contain a user name or password ('@').")
    if any(ch in url for ch in "\\ \t\r\n#") or has_control(url):
        raise WebhookUrlRefused("The URL must not contain spaces, backslashes or a fragment ('#').")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise WebhookUrlRefused("The URL is malformed.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not url.lower().startswith(f"{scheme}://") or not parts.netloc:
        raise WebhookUrlRefused("The URL must look like https://receiver.example.com/path.")
    if not SAFE_URL_CHARS.match(parts.netloc):
        raise WebhookUrlRefused("The host name contains characters that are not allowed.")
    try:
        host, port = split_host_port(parts.netloc)
    except MimecastConfigError:
        raise WebhookUrlRefused("The host or the port is malformed.") from None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not _PATH_CHARS.match(path) or _BAD_ESCAPE.search(path):
        raise WebhookUrlRefused("The path contains characters that are not allowed.")
    if not host or host == "[]" or host.endswith("."):
        raise WebhookUrlRefused("The host name is missing or ends with a dot.")
    return scheme, host, port, path or "/"


def _public_addresses(host, resolve):
    """The addresses to connect to for a host that is not allowed by name: public ones only."""
    if is_ip_literal(host):
        bare = host.strip("[]")
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            raise WebhookUrlRefused("Write the IP address in its usual form (such as 203.0.113.7).") from None
        addresses = [bare]
    else:
        if host == "localhost" or "." not in host or not all(DNS_LABEL.match(label) for label in host.split(".")):
            raise WebhookUrlRefused(f"'{host}' is not a valid public host name.")
        addresses = list(resolve(host))
        if not addresses:
            raise WebhookUrlRefused(f"'{host}' does not resolve; check the name.")
    if not all(is_public_address(address) for address in addresses):
        raise WebhookUrlRefused(
            f"'{host}' is a private, loopback or link-local address (or resolves to one); the portal does not "
            "post inside its own network."
        )
    return addresses


def webhook_url_check(url, *, resolve=None, allowed_hosts=None):
    """The Target a receiver URL names, or WebhookUrlRefused. `resolve` (host -> addresses) defaults
    to the system resolver, `allowed_hosts` to WEBHOOK_ALLOWED_HOSTS."""
    resolve = resolve or resolve_host
    allowed_hosts = settings.WEBHOOK_ALLOWED_HOSTS if allowed_hosts is None else allowed_hosts
    scheme, host, port, path = _parts(url)
    port = port or _DEFAULT_PORTS[scheme]
    if _allowed(host, port, allowed_hosts):
        if scheme == "http" and not is_loopback_host(host):
            raise WebhookUrlRefused("Plain http is only allowed for a loopback receiver (127.0.0.1, localhost, ::1).")
        addresses = [host.strip("[]")] if is_ip_literal(host) else list(resolve(host))
        if not addresses:
            raise WebhookUrlRefused(f"'{host}' does not resolve; check the name.")
    else:
        if scheme != "https":
            raise WebhookUrlRefused(
                "The URL must use https (plain http only to a loopback receiver listed in WEBHOOK_ALLOWED_HOSTS)."
            )
        addresses = _public_addresses(host, resolve)
    return Target(scheme=scheme, host=host.strip("[]"), port=port, path=path, addresses=tuple(addresses))


# ------------------------------------------------------------------------------------ endpoints


def _new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_endpoint_secret(endpoint):
    return decrypt_json(endpoint.secret_encrypted).get("secret", "")


def _endpoint_data(endpoint):
    """What the audit trail says of an endpoint: never its secret."""
    return {"name": endpoint.name, "url": endpoint.url, "active": endpoint.active}


def _audit(actor, action, endpoint, **data):
    audit_record(actor=actor, action=action, target=("webhookendpoint", endpoint.pk), data=data)


def webhook_endpoint_create(*, actor, name, url, active=True, now=None):
    """A new endpoint; returns (endpoint, secret). The secret is shown once and stored encrypted."""
    webhook_url_check(url)
    now = now or timezone.now()
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            name=name,
            url=url,
            active=active,
            secret_encrypted=encrypt_json({"secret": secret}),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        _audit(actor, Action.WEBHOOK_ENDPOINT_CREATED, endpoint, **_endpoint_data(endpoint))
    return endpoint, secret


def webhook_endpoint_update(*, actor, endpoint_id, name, url, active, now=None):
    """Change an endpoint's name, URL or state; returns (endpoint, changed field names)."""
    webhook_url_check(url)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        before = _endpoint_data(endpoint)
        endpoint.name, endpoint.url, endpoint.active = name, url, active
        after = _endpoint_data(endpoint)
        changed = sorted(key for key in after if after[key] != before[key])
        if not changed:
            return endpoint, []
        endpoint.updated_at = now or timezone.now()
        endpoint.save(update_fields=["name", "url", "active", "updated_at"])
        _audit(
            actor,
            Action.WEBHOOK_ENDPOINT_CHANGED,
            endpoint,
            changed={key: {"from": before[key], "to": after[key]} for key in changed},
        )
    return endpoint, changed


def webhook_endpoint_rotate(*, actor, endpoint_id, now=None):
    """A new signing secret (returned, shown once); the old one stops signing at once."""
    secret = _new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.secret_encrypted = encrypt_json({"secret": secret})
        endpoint.updated_at = now or timezone.now()
        endpoint.save(update_fields=["secret_encrypted", "updated_at"])
        _audit(actor, Action.WEBHOOK_SECRET_ROTATED, endpoint, name=endpoint.name)
    return endpoint, secret


def webhook_endpoint_delete(*, actor, endpoint_id):
    """Delete an endpoint and its delivery log (the audit trail keeps that it existed)."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        deliveries = endpoint.deliveries.count()
        _audit(actor, Action.WEBHOOK_ENDPOINT_DELETED, endpoint, **_endpoint_data(endpoint), deliveries=deliveries)
        endpoint.delete()


def webhook_endpoint_test(*, actor, endpoint_id, now=None):
    """Queue a test event to one endpoint (active or not, so an admin can try it before turning it on)."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        delivery = _deliveries_create([endpoint], TEST_EVENT, now=now, request=None)[0]
        _audit(actor, Action.WEBHOOK_TEST_SENT, endpoint, name=endpoint.name, event_id=delivery.event_id)
    return delivery


# --------------------------------------------------------------------------------------- events


def _event_type(action, outcome):
    if action == Action.TASK_ATTEMPT:
        return _ATTEMPT_EVENTS.get(str(outcome))
    return EVENT_TYPES.get(action)


def _request_link(request_id):
    return settings.PORTAL_BASE_URL + reverse("remediation-detail", args=[request_id])


def _request_summary(req):
    return {
        "id": req.pk,
        "kind": req.kind,
        "state": req.state,
        "integration": req.integration.name if req.integration_id else None,
        "investigation": req.investigation_id,
        "reason": req.reason,
        "ticket_id": req.ticket_id,
        "url": _request_link(req.pk),
    }


def _deliveries_create(endpoints, event_type, *, now, request, extra=None):
    """One delivery per endpoint, each published once the surrounding transaction commits."""
    rows = []
    for endpoint in endpoints:
        event_id = str(uuid.uuid4())
        payload = {
            "id": event_id,
            "type": event_type,
            "occurred_at": now.isoformat(),
            "request": _request_summary(request) if request is not None else None,
            **(extra or {}),
        }
        rows.append(
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                request=request,
                payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
                next_attempt_at=now,
                created_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(rows)
    for row in rows:
        # robust: a broker that is down must not fail the state change that already committed; the
        # sweep publishes the delivery later.
        transaction.on_commit(partial(dispatch.enqueue, WEBHOOK_DELIVER, row.pk), robust=True)
    return rows


def webhook_request_event(request_id, *, action, outcome, now, message="", data=None):
    """Called by the request engine with every step it records, inside that step's transaction.
    Costs nothing (no query) when the step is no state change or no endpoint is active."""
    event_type = _event_type(action, outcome)
    if event_type is None or not selectors.webhook_endpoints_any_active():
        return []
    endpoints = selectors.webhook_endpoints_active()
    if not endpoints:
        return []
    req = RemediationRequest.objects.select_related("integration").get(pk=request_id)
    extra = {"message": (message or "")[:1000]}
    if action in (Action.REMEDIATION_ITEM_DONE, Action.REMEDIATION_ITEM_FAILED):
        item = data or {}
        extra["item"] = {"position": item.get("item"), "key": item.get("key", ""), "label": item.get("label", "")}
    return _deliveries_create(endpoints, event_type, now=now, request=req, extra=extra)


# ------------------------------------------------------------------------------------- delivery


def webhook_signature(secret, timestamp, body):
    """`v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`, body being the exact bytes posted."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that passed the checks, whatever the host name resolves to now."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate is still checked against the host name (SNI too)."""

    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(target, body, headers):
    """(status, the start of the answer). One request, no redirect followed (http.client follows none)."""
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = cls(target.host, target.port, address=target.addresses[0], timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(ANSWER_KEPT).decode("utf-8", "replace")
    finally:
        connection.close()


def _lease_seconds():
    # Longer than one attempt can take (connect and read each bounded by the timeout), so only the
    # claim of a worker that died lapses.
    return settings.WEBHOOK_TIMEOUT_SECONDS * 3 + 30


def _max_attempts():
    return len(settings.WEBHOOK_RETRY_SECONDS) + 1


def _claim(delivery_id, now):
    """pending and due -> attempt counted and leased, in one conditional UPDATE. Returns the attempt
    number, or None when it is not due, already delivered or given up, or another run holds it."""
    due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
    won = WebhookDelivery.objects.filter(
        due, pk=delivery_id, state=WebhookDelivery.State.PENDING, attempts__lt=_max_attempts()
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=_lease_seconds()))
    if not won:
        return None
    return WebhookDelivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)


def _finish(delivery_id, attempt, **changes):
    """Record an attempt's outcome, only while this attempt still holds the delivery."""
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.PENDING, attempts=attempt).update(
            **changes
        )
    )


def _attempt(delivery, now):
    """(status or None, error text) of one attempt: the URL checked again, then the signed POST."""
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.event_type != TEST_EVENT:
        return None, "The endpoint is inactive."
    try:
        target = webhook_url_check(endpoint.url)
    except WebhookUrlRefused as error:
        return None, f"Not sent: {error}"
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Mimecast-Investigation-Portal-Webhooks/1",
        "Webhook-Id": delivery.event_id,
        "Webhook-Timestamp": timestamp,
        "Webhook-Signature": webhook_signature(webhook_endpoint_secret(endpoint), timestamp, body),
    }
    try:
        status, answer = _post(target, body, headers)
    except (OSError, http.client.HTTPException) as error:
        return None, f"{type(error).__name__}: {error}"[:1000]
    if 200 <= status < 300:
        return status, ""
    return status, f"HTTP {status}: {answer}".strip()[:1000]


def webhook_deliver(*, delivery_id, now=None):
    """One attempt at a delivery, if it is due and nobody else holds it. Returns "delivered",
    "retry", "failed" (given up) or "skipped"."""
    now = now or timezone.now()
    attempt = _claim(delivery_id, now)
    if attempt is None:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    status, error = _attempt(delivery, now)
    if status is not None and 200 <= status < 300:
        _finish(
            delivery_id,
            attempt,
            state=WebhookDelivery.State.DELIVERED,
            delivered_at=now,
            last_status=status,
            last_error="",
            next_attempt_at=None,
        )
        return "delivered"
    waits = settings.WEBHOOK_RETRY_SECONDS
    inactive = not delivery.endpoint.active and delivery.event_type != TEST_EVENT
    gave_up = inactive or attempt > len(waits)
    changes = {"last_status": status, "last_error": error}
    if gave_up:
        changes.update(state=WebhookDelivery.State.FAILED, next_attempt_at=None)
    else:
        changes["next_attempt_at"] = now + timedelta(seconds=waits[attempt - 1])
    _finish(delivery_id, attempt, **changes)
    logger.info("webhook delivery %s attempt %s: %s", delivery.event_id, attempt, error)
    return "failed" if gave_up else "retry"


def webhook_deliver_due(*, now=None):
    """Attempt every due delivery here and now (tests and operators; beat publishes them instead)."""
    now = now or timezone.now()
    return [webhook_deliver(delivery_id=pk, now=now) for pk in selectors.webhook_deliveries_due_ids(now=now)]


def webhook_sweep(*, now=None):
    """Beat: publish again every due delivery (a retry whose wait is over, a task message lost, a dead
    worker's lapsed claim) and give up those whose last attempt never reported back."""
    now = now or timezone.now()
    WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PENDING, attempts__gte=_max_attempts(), next_attempt_at__lte=now
    ).update(state=WebhookDelivery.State.FAILED, next_attempt_at=None, last_error="The last attempt never finished.")
    published = 0
    for pk in selectors.webhook_deliveries_due_ids(now=now):
        try:
            dispatch.enqueue(WEBHOOK_DELIVER, pk)
        except Exception as error:  # the broker is down: the next sweep tries again
            logger.warning("webhook delivery %s not published: %s", pk, error)
            break
        published += 1
    return published
