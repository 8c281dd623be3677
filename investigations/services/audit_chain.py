"""Checking the audit chain, and the signed checkpoints of its head kept outside the database.

The hashes alone prove the rows agree with each other; someone able to rewrite the table could
recompute them all. The checkpoints, signed with a key the database never sees, pin the head at
points in time, so a rewritten or truncated chain no longer matches them."""

import hashlib
import hmac
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from ..models import CHAIN_FIELDS, GENESIS_HASH, AuditEvent, event_hash

CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    seq: int
    hash: str
    created_at: str
    path: Path | None = None


@dataclass
class ChainProblem:
    seq: int | None
    event_id: int | None
    message: str


@dataclass
class VerifyResult:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problem: ChainProblem | None = None
    checkpoint_problems: list[ChainProblem] = field(default_factory=list)
    checkpoints_checked: int = 0

    @property
    def ok(self):
        return self.problem is None and not self.checkpoint_problems


def _mac(payload):
    key = settings.AUDIT_CHECKPOINT_KEY.encode()
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def audit_chain_head():
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    return head if head else (0, GENESIS_HASH)


def audit_checkpoint_write(*, directory=None):
    """Write a signed checkpoint of the current head, unless the newest one already records it."""
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    seq, head_hash = audit_chain_head()
    if seq == 0:
        return None
    newest = max(read_checkpoints(directory=directory, problems=[]), key=lambda c: c.seq, default=None)
    if newest and newest.seq == seq and newest.hash == head_hash:
        return newest
    payload = {
        "version": CHECKPOINT_VERSION,
        "seq": seq,
        "hash": head_hash,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    document = {**payload, "mac": _mac(payload)}
    target = directory / f"checkpoint-{seq:012d}.json"
    # Write then rename, so a crash never leaves a half-written checkpoint behind.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-")
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return Checkpoint(seq=seq, hash=head_hash, created_at=payload["created_at"], path=target)


def read_checkpoints(*, directory=None, problems):
    """Every well-signed checkpoint; badly signed or unreadable files are added to problems."""
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            document = json.loads(path.read_text())
            payload = {k: document[k] for k in ("version", "seq", "hash", "created_at")}
            mac = document["mac"]
        except (OSError, ValueError, KeyError, TypeError):
            problems.append(ChainProblem(None, None, f"checkpoint {path.name} is unreadable"))
            continue
        if not hmac.compare_digest(str(mac), _mac(payload)):
            problems.append(ChainProblem(None, None, f"checkpoint {path.name} has a bad signature"))
            continue
        found.append(
            Checkpoint(seq=int(payload["seq"]), hash=str(payload["hash"]), created_at=payload["created_at"], path=path)
        )
    return found


def _chain_rows(chunk_size):
    """(id, hash, *CHAIN_FIELDS) in seq order, streamed. On PostgreSQL a plain server-side cursor,
    which is about twice as fast as the ORM's iterator; the values are the same Python types."""
    if connection.vendor != "postgresql":
        yield from AuditEvent.objects.order_by("seq").values_list("id", "hash", *CHAIN_FIELDS).iterator(chunk_size)
        return
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in ("id", "hash", *CHAIN_FIELDS))
    connection.ensure_connection()
    raw = connection.connection
    with transaction.atomic(), raw.cursor(name="audit_verify") as cursor:
        cursor.itersize = chunk_size
        cursor.execute(f"SELECT {columns} FROM {table} ORDER BY seq")  # noqa: S608 (no user input)
        # Django's psycopg setup hands jsonb back as text (JSONField parses it); do the same here.
        data_at = 2 + CHAIN_FIELDS.index("data")
        loads = json.loads
        for row in cursor:
            row = list(row)
            row[data_at] = loads(row[data_at])
            yield row


def audit_verify(*, directory=None, progress=None, chunk_size=5000):
    """Stream the chain in seq order and report the first event that breaks it, then compare
    the chain with every signed checkpoint."""
    result = VerifyResult()
    checkpoint_problems = []
    checkpoints = {c.seq: c for c in read_checkpoints(directory=directory, problems=checkpoint_problems)}
    seen_at_checkpoints = {}

    expected_seq = 1
    prev_hash = GENESIS_HASH
    for row in _chain_rows(chunk_size):
        event_id, stored_hash, *chain = row
        values = dict(zip(CHAIN_FIELDS, chain, strict=True))
        seq = values["seq"]
        if result.problem is None:
            if seq != expected_seq:
                what = (
                    f"events {expected_seq}..{seq - 1} are missing (deleted)"
                    if seq > expected_seq
                    else "it is out of order (inserted or reordered)"
                )
                result.problem = ChainProblem(
                    seq, event_id, f"event seq={seq} (id={event_id}): expected seq {expected_seq}; {what}"
                )
            elif values["prev_hash"] != prev_hash:
                # Checked before the content: a moved row is reported as moved, not as edited.
                result.problem = ChainProblem(
                    seq,
                    event_id,
                    f"event seq={seq} (id={event_id}): it does not link to the event before it "
                    "(an event was inserted, removed or reordered)",
                )
            elif event_hash(values) != stored_hash:
                result.problem = ChainProblem(
                    seq, event_id, f"event seq={seq} (id={event_id}): its content does not match its hash (edited)"
                )
        if seq in checkpoints:
            seen_at_checkpoints[seq] = stored_hash
        expected_seq = seq + 1
        prev_hash = stored_hash
        result.checked += 1
        result.head_seq, result.head_hash = seq, stored_hash
        if progress and result.checked % chunk_size == 0:
            progress(result.checked)

    for seq, checkpoint in sorted(checkpoints.items()):
        name = checkpoint.path.name if checkpoint.path else f"seq {seq}"
        if seq > result.head_seq:
            checkpoint_problems.append(
                ChainProblem(
                    result.head_seq,
                    None,
                    f"the chain ends at seq {result.head_seq}, behind checkpoint {name} (seq {seq}, "
                    f"{checkpoint.created_at}): events after seq {result.head_seq} were removed (truncated tail)",
                )
            )
        elif seen_at_checkpoints.get(seq) != checkpoint.hash:
            checkpoint_problems.append(
                ChainProblem(seq, None, f"event seq={seq} does not match checkpoint {name}: the chain was rewritten")
            )
    result.checkpoints_checked = len(checkpoints)
    result.checkpoint_problems = checkpoint_problems
    return result
