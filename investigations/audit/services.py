"""The one audit writer, and the hash chain it maintains.

audit_record() must run inside the transaction of the change it records: it writes in the
caller's transaction, without a savepoint, so if the caller rolls back the event goes with it, and
if the event cannot be written the caller's change fails too.
"""

import functools
import json
import logging
import re
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.encoding import force_str

from investigations.core import dispatch
from investigations.core.context import current_context
from investigations.models import GENESIS_HASH, AuditEvent, AuditOutcome, event_hash

# Any key, at any depth, whose name looks like a credential is replaced before it can be stored.
_SECRET_KEY_PATTERN = re.compile(r"pass(word)?|secret|token|api[_-]?key|app[_-]?key|access[_-]?key|authorization", re.I)
_REDACTED = "[redacted]"
# An arbitrary constant: the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_ID = 0x4D43_4155  # "MCAU"
_MAX_REASON = 4000
_MAX_UA = 512
# By name, like every task a service hands over (see core.dispatch).
_CHECKPOINT_TASK = "investigations.tasks.audit_write_checkpoint"

logger = logging.getLogger(__name__)


def _redact(value):
    if isinstance(value, dict):
        return {str(k): (_REDACTED if _SECRET_KEY_PATTERN.search(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def _normalise_data(data):
    # A JSON round trip makes what we hash identical to what the database gives back later.
    return json.loads(json.dumps(_redact(data or {}), default=str, sort_keys=True))


def _actor_fields(actor, context):
    if actor is None:
        return "system", "", context.system_actor
    if isinstance(actor, str):
        return "system", "", actor
    if isinstance(actor, AnonymousUser) or not getattr(actor, "is_authenticated", False):
        return "anonymous", "", ""
    return "user", str(actor.pk), actor.get_username()


def _target_fields(target):
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.model_name, str(target.pk)
    target_type, target_id = target
    return str(target_type), force_str(target_id)


def _lock_chain():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
    # SQLite (the demo) runs every transaction with BEGIN IMMEDIATE, which already serialises
    # writers for the whole transaction.


def _chain_in_python(event):
    """SQLite only: what the PostgreSQL trigger does, with the same hash definition. The time is
    read here, with the write lock held, and never before the head's: times follow seq order."""
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash", "created_at").first()
    event.seq, event.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    event.created_at = max(timezone.now(), head[2]) if head else timezone.now()
    event.hash = event_hash(event.chain_values())


@functools.cache
def _insert_statement():
    """PostgreSQL: the event's INSERT, built once from the model. The writer sends the columns it
    fills; the database sets id, seq, created_at, prev_hash and hash (the chaining trigger) and
    hands them back. Every audited action waits for this write, and Model.save() spends about as
    long compiling a 16-column INSERT as the database takes to chain it. Model.save() is not called,
    so no pre_save or post_save signal is sent for an event (nothing listens for one)."""
    meta = AuditEvent._meta
    quote = connection.ops.quote_name
    written = [f for f in meta.concrete_fields if not f.primary_key and not f.has_db_default()]
    returned = [meta.pk, *(f for f in meta.concrete_fields if f.has_db_default())]
    columns = ", ".join(quote(f.column) for f in written)
    values = ", ".join(["%s"] * len(written))
    back = ", ".join(quote(f.column) for f in returned)
    # Names from the model's metadata only; every value goes as a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) RETURNING {back}"  # noqa: S608
    return sql, written, returned


def _insert_chained(event):
    sql, written, returned = _insert_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(getattr(event, f.attname), connection) for f in written])
        row = cursor.fetchone()
    for field, value in zip(returned, row, strict=True):
        setattr(event, field.attname, value)
    event._state.adding = False
    event._state.db = connection.alias


def _checkpoint_soon():
    try:
        dispatch.enqueue(_CHECKPOINT_TASK)
    except Exception:
        # The event is committed; the next periodic checkpoint covers it.
        logger.warning("could not queue an audit checkpoint", exc_info=True)


def audit_checkpoint_due(seq):
    """Every AUDIT_CHECKPOINT_EVERY events a checkpoint is queued, as well as beat's periodic one, so
    that at most that many events (or one interval) are ever unanchored."""
    every = settings.AUDIT_CHECKPOINT_EVERY
    return bool(every) and seq % every == 0


def audit_record(*, actor, action, target, outcome=AuditOutcome.SUCCESS, reason="", data=None):
    """Append one event to the audit chain and return it.

    actor: a user, None for the current system/task actor, or a string naming a system actor.
    target: a model instance, a (type, id) pair, or None.
    """
    context = current_context()
    if context.case_id is not None:
        data = {**(data or {}), "case": context.case_id}
    actor_type, actor_id, actor_label = _actor_fields(actor, context)
    target_type, target_id = _target_fields(target)
    # No created_at: the database dates the event (the chaining trigger on PostgreSQL, the Python
    # chaining on SQLite), under the chain lock.
    event = AuditEvent(
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label[:150],
        action=str(action),
        target_type=target_type[:64],
        target_id=target_id[:255],
        outcome=str(outcome),
        reason=(reason or "")[:_MAX_REASON],
        request_id=context.request_id[:64],
        client_ip=context.client_ip[:45],
        user_agent=context.user_agent[:_MAX_UA],
        data=_normalise_data(data),
    )
    # No savepoint: one INSERT is atomic by itself, and if it fails the caller's whole transaction
    # must fail with it. On PostgreSQL the chaining trigger (migration 0008) takes the chain lock and
    # sets seq, prev_hash and hash, which come back through INSERT ... RETURNING: one round trip.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _insert_chained(event)
        else:
            _chain_in_python(event)
            event.save(force_insert=True)
    if audit_checkpoint_due(event.seq):
        transaction.on_commit(_checkpoint_soon)
    return event


def audit_read(*, actor, action, target, data=None, problem=None, reason=""):
    """Record a search, a view or an export of Mimecast data in its own transaction: a success, or a
    failure carrying what the user was told (``problem`` is a core.problems.Problem)."""
    failure = problem.audit_data() if problem else {}
    with transaction.atomic():
        return audit_record(
            actor=actor,
            action=action,
            target=target,
            outcome=AuditOutcome.FAILURE if problem else AuditOutcome.SUCCESS,
            reason=reason,
            data={**(data or {}), **failure},
        )


def audit_criteria(criteria: dict) -> dict:
    """Search criteria as an audit event keeps them: set values only, times in UTC, no page token."""
    out = {}
    for key, value in criteria.items():
        if key == "page" or value in (None, "", False):
            continue
        out[key] = value.astimezone(UTC).isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out
