"""Mimecast API simulator: API 1.0 (HMAC) and API 2.0 (OAuth2) on one loopback HTTP server.

Standard library only; it does not import Django (``manage.py mimecast_simulator`` wraps it).

    srv = SimulatorServer(host="127.0.0.1", port=0, seed=1, rate_limit_per_minute=None, latency_ms=0)
    srv.start(); srv.base_url; srv.faults.add(path=..., kind=..., ...); srv.calls; srv.state
    srv.expire_binding(access_key); srv.expire_tokens(); srv.reset(); srv.stop()
    srv.configure(token_lifetime_s=..., discovery_region_api=..., ...)   # also POST /_sim/config
    srv.inject_message(**{"from": ..., "to": ...}); srv.inject_click(url=..., user=...)   # new traffic, now
    srv.effects("create-policy", id=..., target=...)   # what response actions changed; GET /_sim/effects
    srv.fail_remediation(mailbox, reason)   # remediating that mailbox fails from now on; POST /_sim/fail-remediation

Fault kinds (``faults.py``): latency, status, rate_limit, hang, truncate, fail (optionally with an HTTP
status and a field), meta_status, redirect (3xx + Location), raw (any status, bytes, content type and
headers), repeat_token (the next token equals the one sent), empty_page (no records but a next token);
every kind takes ``skip=N`` to let the first N matching calls through. ``srv.faults.add(**fields)`` and
``POST /_sim/faults`` with the same fields as JSON are equivalent.

Choices where Mimecast's API documentation is silent:

- Auth refusals: unknown app id -> 401 err_developer_key; missing headers, unknown access key, wrong
  signature, x-mc-date more than 15 min off -> 401 err_xdk_client_unauthorized; expired binding -> 418
  err_xdk_binding_expired "AccessKey has expired" (login with ``accessKey`` in the body refreshes it).
  API 2.0: unknown/expired bearer -> 401 fail[0].code token_expired; bad client -> 401
  InvalidClientIdentifier. Auth failures do not spend rate budget.
- Rate limit: a token bucket per user (1.0, shared by all that user's keys) or per client id (2.0).
  With ``rate_limit_per_minute=None`` the headers report a limit of 1,000,000. The bucket holds a
  minute's budget unless ``rate_limit_burst`` says how many calls it holds (e.g. 1,200 a minute with a
  burst of 20 is 20 calls/s); X-RateLimit-Limit reports what it holds, Remaining what is left and
  Reset the milliseconds until the next call is added back.
  Order per call: authenticate -> rate limit (429, function not run) -> faults -> function.
- Per-item validation problems answer HTTP 200 with ``fail[]`` (``key``, ``errors[{code, message,
  retryable, field}]``); malformed JSON -> 400; unknown path -> 404 err_resource_not_found.
- Remediation: customer incidents have type ``manual`` (code suffix -M), ``notify_only`` (-N), restore
  incidents ``restored`` (-R, created with ``type: "restore"`` and ``restoreCode`` or ``unremediateCode``).
  Messages are removed at create time; the counts returned by create are identified=N, others 0; the first
  get-incident shows half of the final counts, the second get-incident (or any call after
  ``incident_settle_ms``, default 1500 ms) shows the final counts. A remediated message has status
  ``remediated`` in Message Finder, its delivery event names the incident, and get-message-part with
  context DELIVERED fails with err_message_remediated (the RECEIVED copy stays in the archive).
  Some mailboxes are "unavailable" so remediation reports real ``failed`` counts. A ``to`` given to
  create narrows the removal to the mailboxes it matches (one mailbox for an address). The effect
  journal records each copy an incident removed or failed to remove (``remediate``, target
  ``mailbox|<Message-ID>``, with the reason of a failure) and each copy a restore put back (``restore``).
- API 2.0 tokens live ``token_lifetime_s`` seconds (default 1799, reported as ``expires_in``); after that
  the simulator answers 401 token_expired. discover-authentication answers ``region.api`` = this server's
  base URL unless ``discovery_region_api`` is set (another instance, or a non-Mimecast host for tests).
- ``tls_certfile``/``tls_keyfile`` serve HTTPS instead of HTTP (``base_url`` then starts with https://),
  so clients' certificate verification can be exercised on loopback.
- Calls with a form body (``/oauth/token``) record it in ``Call.form``; the control API redacts
  client_secret/password there, as it redacts Authorization headers.
- Message Finder returns at most 500 newest matches with ``meta.pagination.pageSize`` 0 (as Mimecast's
  real sample); the default window is the last 24 h.
"""

from mimecast_simulator.auth import SIM_CREDENTIALS, SimCredentials, sign
from mimecast_simulator.server import Call, SimulatorServer

__all__ = ["SIM_CREDENTIALS", "Call", "SimCredentials", "SimulatorServer", "sign"]
