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
from django.db import connection

from investigations.models import CHAIN_FIELDS, GENESIS_HASH, AuditEvent, event_hash

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
    newest_checkpoint: Checkpoint | None = None
    # Set when no checkpoint exists and AUDIT_CHECKPOINTS_KEPT says none are kept: not a failure,
    # but nothing outside the database vouches for the chain, and reports say so.
    unanchored: bool = False

    @property
    def ok(self):
        return self.problem is None and not self.checkpoint_problems

    def newest_checkpoint_age(self, now=None):
        """How long ago the newest checkpoint was written (a timedelta), or None."""
        if self.newest_checkpoint is None:
            return None
        written = datetime.fromisoformat(self.newest_checkpoint.created_at)
        return (now or datetime.now(UTC)) - written


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


def _checkpoint_paths(directory):
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    return sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []


def _read_checkpoint(path, problems):
    """The checkpoint in one file if it is well signed, else None with the reason added to problems."""
    try:
        document = json.loads(path.read_text())
        payload = {k: document[k] for k in ("version", "seq", "hash", "created_at")}
        mac = document["mac"]
    except (OSError, ValueError, KeyError, TypeError):
        problems.append(ChainProblem(None, None, f"checkpoint {path.name} is unreadable"))
        return None
    if not hmac.compare_digest(str(mac), _mac(payload)):
        problems.append(ChainProblem(None, None, f"checkpoint {path.name} has a bad signature"))
        return None
    return Checkpoint(seq=int(payload["seq"]), hash=str(payload["hash"]), created_at=payload["created_at"], path=path)


def read_checkpoints(*, directory=None, problems):
    """Every well-signed checkpoint; badly signed or unreadable files are added to problems."""
    found = (_read_checkpoint(path, problems) for path in _checkpoint_paths(directory))
    return [checkpoint for checkpoint in found if checkpoint is not None]


def newest_checkpoint(*, directory=None, problems):
    """The newest well-signed checkpoint, read from the newest file back: a page showing it reads one
    file, not the years of them verification reads. File names sort by seq (zero-padded)."""
    for path in reversed(_checkpoint_paths(directory)):
        checkpoint = _read_checkpoint(path, problems)
        if checkpoint is not None:
            return checkpoint
    return None


def _chain_rows(chunk_size):
    """(id, hash, *CHAIN_FIELDS) in seq order, streamed (SQLite; PostgreSQL verifies in SQL)."""
    return AuditEvent.objects.order_by("seq").values_list("id", "hash", *CHAIN_FIELDS).iterator(chunk_size)


def audit_verify(*, directory=None, progress=None, chunk_size=None, checkpoints_kept=None):
    """Check the chain in seq order and report the first event that breaks it (a gap, a broken link,
    edited content, or a time before the previous event's), then compare the chain with every signed
    checkpoint. On PostgreSQL the database does the hashing (chain v2, migration 0008), a range of
    seqs per statement; elsewhere the rows are streamed through Python.

    Events without any checkpoint fail the check unless checkpoints are deliberately not kept
    (checkpoints_kept, default AUDIT_CHECKPOINTS_KEPT): the hashes alone cannot tell a chain from
    one rewritten whole."""
    if checkpoints_kept is None:
        checkpoints_kept = settings.AUDIT_CHECKPOINTS_KEPT
    result = VerifyResult()
    checkpoint_problems = []
    found = read_checkpoints(directory=directory, problems=checkpoint_problems)
    checkpoints = {c.seq: c for c in found}
    result.newest_checkpoint = max(found, key=lambda c: c.seq, default=None)
    if connection.vendor == "postgresql":
        seen_at_checkpoints = _verify_in_database(result, checkpoints, progress, chunk_size or 250_000)
    else:
        seen_at_checkpoints = _verify_in_python(result, checkpoints, progress, chunk_size or 5000)

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
    if not checkpoints and result.head_seq:
        if checkpoints_kept:
            checkpoint_problems.append(
                ChainProblem(
                    None,
                    None,
                    f"no signed checkpoint: nothing outside the database vouches for these {result.head_seq} "
                    "events, so a chain rewritten whole would pass (set AUDIT_CHECKPOINTS_KEPT=false only if "
                    "checkpoints are deliberately not kept)",
                )
            )
        else:
            result.unanchored = True
    result.checkpoints_checked = len(checkpoints)
    result.checkpoint_problems = checkpoint_problems
    return result


def _problem(seq, event_id, expected_seq, links, hash_ok, time_ok=True):
    """The first way an event breaks the chain, in the order a reader needs it: a gap, a broken
    link (a moved row is reported as moved, not as edited), content, then time (the database dates
    events under the chain lock, so a time before the previous event's was not written by it)."""
    if seq != expected_seq:
        what = (
            f"events {expected_seq}..{seq - 1} are missing (deleted)"
            if seq > expected_seq
            else "it is out of order (inserted or reordered)"
        )
        return ChainProblem(seq, event_id, f"event seq={seq} (id={event_id}): expected seq {expected_seq}; {what}")
    if not links:
        return ChainProblem(
            seq,
            event_id,
            f"event seq={seq} (id={event_id}): it does not link to the event before it "
            "(an event was inserted, removed or reordered)",
        )
    if not hash_ok:
        return ChainProblem(
            seq, event_id, f"event seq={seq} (id={event_id}): its content does not match its hash (edited)"
        )
    if not time_ok:
        return ChainProblem(
            seq,
            event_id,
            f"event seq={seq} (id={event_id}): its time is before the time of the event before it "
            "(the database dates events in order: this one was dated or inserted by other means)",
        )
    return None


def _verify_in_python(result, checkpoints, progress, chunk_size):
    seen_at_checkpoints = {}
    expected_seq = 1
    prev_hash = GENESIS_HASH
    prev_time = None
    for row in _chain_rows(chunk_size):
        event_id, stored_hash, *chain = row
        values = dict(zip(CHAIN_FIELDS, chain, strict=True))
        seq = values["seq"]
        if result.problem is None:
            links = values["prev_hash"] == prev_hash
            time_ok = prev_time is None or values["created_at"] >= prev_time
            result.problem = _problem(seq, event_id, expected_seq, links, event_hash(values) == stored_hash, time_ok)
        if seq in checkpoints:
            seen_at_checkpoints[seq] = stored_hash
        expected_seq = seq + 1
        prev_hash = stored_hash
        prev_time = values["created_at"]
        result.checked += 1
        result.head_seq, result.head_hash = seq, stored_hash
        if progress and result.checked % chunk_size == 0:
            progress(result.checked)
    return seen_at_checkpoints


def _verify_in_database(result, checkpoints, progress, chunk_size):
    """Two statements per range of seqs, returning only counts and the first bad seq, so nothing but
    a few numbers crosses the wire. The hashes are recomputed by a plain aggregate, with the function
    the chaining trigger uses: PostgreSQL may spread that, the costly part, over parallel workers. The
    links, seqs and times are compared with the row before (a window), which cannot run in parallel
    and so hashes nothing."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    computed = f"investigations_audit_hash({', '.join(CHAIN_FIELDS)})"
    hashes_sql = f"""
        SELECT count(*), max(seq), min(seq) FILTER (WHERE hash IS DISTINCT FROM {computed})
          FROM {table} WHERE seq > %(after)s AND seq <= %(upto)s"""  # noqa: S608 (no user input)
    links_sql = f"""
        SELECT min(seq) FILTER (WHERE NOT ok) FROM (
            SELECT seq,
                   seq = coalesce(lag(seq) OVER w, %(prev_seq)s) + 1
                   AND prev_hash = coalesce(lag(hash) OVER w, %(prev_hash)s)
                   AND created_at >= coalesce(lag(created_at) OVER w, %(prev_time)s, created_at) AS ok
              FROM {table} WHERE seq > %(after)s AND seq <= %(upto)s
            WINDOW w AS (ORDER BY seq)
        ) linked"""  # noqa: S608 (no user input)
    with connection.cursor() as cursor:
        # The head when we start bounds the check: events appended meanwhile are for the next run.
        cursor.execute(f"SELECT min(seq), max(seq) FROM {table}")  # noqa: S608
        low, high = cursor.fetchone()
        if low is None:
            return {}
        prev_seq, prev_hash, prev_time = 0, GENESIS_HASH, None
        after = min(low, 1) - 1
        while after < high:
            upto = min(after + chunk_size, high)
            params = {
                "prev_seq": prev_seq,
                "prev_hash": prev_hash,
                "prev_time": prev_time,
                "after": after,
                "upto": upto,
            }
            cursor.execute(hashes_sql, params)
            count, last_seq, bad_hash = cursor.fetchone()
            cursor.execute(links_sql, params)
            bad_link = cursor.fetchone()[0]
            first_bad = min((seq for seq in (bad_hash, bad_link) if seq is not None), default=None)
            if first_bad is not None and result.problem is None:
                result.problem = _explain(cursor, table, computed, first_bad)
            if count:
                result.checked += count
                cursor.execute(f"SELECT hash, created_at FROM {table} WHERE seq = %s", [last_seq])  # noqa: S608
                prev_hash, prev_time = cursor.fetchone()
                prev_seq = last_seq
                result.head_seq, result.head_hash = prev_seq, prev_hash
            after = upto
            if progress:
                progress(result.checked)
        if not checkpoints:
            return {}
        cursor.execute(
            f"SELECT seq, hash FROM {table} WHERE seq = ANY(%s) AND seq <= %s",  # noqa: S608
            [sorted(checkpoints), high],
        )
        return dict(cursor.fetchall())


def _explain(cursor, table, computed, seq):
    """Why the event at seq failed: it, and the event stored before it."""
    cursor.execute(
        f"SELECT id, prev_hash, hash = {computed}, created_at FROM {table} WHERE seq = %s",  # noqa: S608
        [seq],
    )
    event_id, prev_hash, hash_ok, created_at = cursor.fetchone()
    cursor.execute(
        f"SELECT seq, hash, created_at FROM {table} WHERE seq < %s ORDER BY seq DESC LIMIT 1",  # noqa: S608
        [seq],
    )
    before = cursor.fetchone() or (0, GENESIS_HASH, None)
    time_ok = before[2] is None or created_at >= before[2]
    return _problem(seq, event_id, before[0] + 1, prev_hash == before[1], hash_ok, time_ok)
