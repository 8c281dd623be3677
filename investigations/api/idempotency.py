"""Idempotency-Key on every POST of the API, so that a playbook that retries a create after a
timeout gets the first answer back instead of a second request.

The key belongs to the token that sent it. The first call with a key claims it (a row with no
answer yet), runs, and stores its status and JSON body; a retry with the same key, method, path and
body gets that stored answer without the route running again. The same key with another body or
path is refused (422), and a retry while the first call is still running is told to wait (409).
An answer of 500 or more is not stored: the key is released, so the retry runs the route again.

Keys are kept for KEEP_FOR (24 hours, as clients such as Stripe's and the IETF draft
"The Idempotency-Key HTTP Header Field" expect); each new claim first deletes the token's keys
older than that, so the table holds at most a day of one token's POSTs and needs no purge task.

Route authors do nothing: ``security.TokenAuth`` claims the key once the token is known, and the
API's URL wrapper (``security.api_call``) stores or releases it when the answer is ready.
"""

import hashlib
import json
from datetime import timedelta

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.utils import timezone

from investigations.api.problems import ApiProblem
from investigations.core.validators import has_control_characters
from investigations.models import ApiIdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX = 255
KEEP_FOR = timedelta(hours=24)
# A claim with no answer after this long belongs to a call that died (its process killed): the
# retry takes the key over instead of being told to wait for a day.
ABANDONED_AFTER = timedelta(minutes=10)


class IdempotentReplay(Exception):
    """The stored answer to a retried POST; the API's handler sends it as it was."""

    def __init__(self, stored):
        super().__init__(stored.key)
        self.status = stored.status_code
        self.body = stored.response


def _presented_key(request):
    key = request.headers.get(HEADER, "")
    if not key.strip():
        raise ApiProblem(
            400,
            "idempotency-key-required",
            "Idempotency-Key required",
            f"Every POST needs an {HEADER} header (a new UUID per operation; the same one when retrying it).",
        )
    if len(key) > KEY_MAX or has_control_characters(key):
        raise ApiProblem(
            400,
            "idempotency-key-invalid",
            "Idempotency-Key not valid",
            f"An {HEADER} is at most {KEY_MAX} printable characters.",
        )
    return key


def _body_digest(request):
    try:
        return hashlib.sha256(request.body).hexdigest()
    except RequestDataTooBig:
        raise ApiProblem(
            413, "too-large", "Request too large", "The request body is larger than the portal accepts."
        ) from None


def idempotency_begin(request, token, *, now=None):
    """Claim the POST's key for ``token`` (noted on ``request.idempotency_claim``), or raise: the
    stored answer to replay, or the problem with the key. Does nothing for other methods."""
    if request.method != "POST":
        return None
    key = _presented_key(request)
    digest = _body_digest(request)
    path = request.path[:512]
    now = now or timezone.now()
    ApiIdempotencyKey.objects.filter(token=token, created_at__lt=now - KEEP_FOR).delete()
    # Two rounds: the second after taking over a claim that was abandoned or expired.
    for _ in range(2):
        try:
            with transaction.atomic():
                claim = ApiIdempotencyKey.objects.create(
                    token=token, key=key, method=request.method, path=path, body_sha256=digest, created_at=now
                )
        except IntegrityError:
            stored = ApiIdempotencyKey.objects.filter(token=token, key=key).first()
            if stored is None:
                continue  # released by its call a moment ago: claim it now
            _refuse_or_replay(stored, request.method, path, digest, now)
            continue
        request.idempotency_claim = claim
        return claim
    raise ApiProblem(409, "idempotency-key-in-progress", "Request in progress", "Retry in a moment.")


def _refuse_or_replay(stored, method, path, digest, now):
    if (stored.method, stored.path, stored.body_sha256) != (method, path, digest):
        raise ApiProblem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            f"This {HEADER} was used for another request (a different path or body); use a new key.",
        )
    if stored.status_code is not None:
        raise IdempotentReplay(stored)
    if now - stored.created_at < ABANDONED_AFTER:
        raise ApiProblem(
            409,
            "idempotency-key-in-progress",
            "Request in progress",
            "The first request with this Idempotency-Key is still being answered; retry in a moment.",
            headers={"Retry-After": "1"},
            retry_after=1,
        )
    # Abandoned: release it, and the caller claims it afresh.
    ApiIdempotencyKey.objects.filter(pk=stored.pk, status_code__isnull=True).delete()


def idempotency_finish(request, response):
    """Store the answer under the claimed key, or release the key when there is nothing worth
    replaying (a server error, a body that is not JSON)."""
    claim = getattr(request, "idempotency_claim", None)
    if claim is None:
        return
    request.idempotency_claim = None
    # A server error or a 429 is not an answer to keep: the retry (after Retry-After) must run again.
    replayable = (
        response is not None
        and response.status_code < 500
        and response.status_code != 429
        and not getattr(response, "streaming", False)
    )
    try:
        body = json.loads(response.content or b"{}") if replayable else None
    except ValueError:
        replayable = False
    if not replayable:
        ApiIdempotencyKey.objects.filter(pk=claim.pk).delete()
        return
    ApiIdempotencyKey.objects.filter(pk=claim.pk).update(status_code=response.status_code, response=body)
