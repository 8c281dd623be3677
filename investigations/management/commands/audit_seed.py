"""Append N realistic audit events with a valid chain, fast: for benchmarks and demos.

The events continue the chain from its current head, so `verify_audit` passes afterwards, and a
signed checkpoint of the new head is written. They are spread over the last --days, each hashed and
chained here by models.event_hash (the definition PostgreSQL's trigger and verify_audit agree on),
with times strictly increasing along seq and after the head's. SQLite (the demo) gets them through
bulk_create. PostgreSQL gets them through COPY with the audit table's triggers switched off for the
seeding transaction, which only the tables' owner or a superuser may do (the benchmark and the demos
run as one); the runtime role may not, so there the chaining trigger hashes and dates every event
as it does real ones, all at the time of seeding, and the command says so. Never for production:
the trail would then hold events that did not happen.
"""

import json
import random
import time
from datetime import UTC, timedelta
from hashlib import sha256

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from investigations.audit.chain import audit_checkpoint_write
from investigations.audit.services import _lock_chain
from investigations.models import CHAIN_FIELDS, GENESIS_HASH, AuditEvent, _json_text, event_hash

COLUMNS = (*CHAIN_FIELDS, "hash")
# What the chaining trigger sets on PostgreSQL, whatever the INSERT says.
_SET_BY_TRIGGER = {"seq", "created_at", "prev_hash", "hash"}
_TABLE = AuditEvent._meta.db_table
# insufficient_privilege: only the table's owner (or a superuser) may alter it.
_REFUSED = "42501"
_BATCH = 5000
_POOL = 256

# (action, target type, weight): roughly the mix a SOC produces, reads far outnumbering changes.
ACTIONS = (
    ("auth.login", "user", 6),
    ("auth.logout", "user", 4),
    ("auth.login_failed", "", 1),
    ("search.track_trace", "search", 14),
    ("search.archive", "search", 5),
    ("search.hash", "search", 2),
    ("message.viewed", "message", 20),
    ("message.body_viewed", "message", 4),
    ("message.downloaded", "message", 2),
    ("attachment.downloaded", "message", 1),
    ("remediation.previewed", "remediationrequest", 2),
    ("remediation.requested", "remediationrequest", 2),
    ("remediation.approved", "remediationrequest", 1),
    ("remediation.rejected", "remediationrequest", 1),
    ("remediation.queued", "remediationrequest", 1),
    ("remediation.incident_created", "remediationrequest", 1),
    ("remediation.polled", "remediationrequest", 2),
    ("remediation.succeeded", "remediationrequest", 1),
    ("task.attempt", "remediationrequest", 2),
    ("settings.connection_changed", "mimecastconnection", 1),
    ("user.roles_changed", "user", 1),
    ("case.created", "investigation", 1),
    ("case.evidence_added", "investigation", 2),
    ("audit.viewed", "audit", 2),
    ("audit.exported", "audit", 1),
    ("api.called", "integrationtoken", 2),
)
REASONS = (
    "INC-{n}: user reported phishing",
    "INC-{n}: credential phishing campaign, pulling from all mailboxes",
    "INC-{n}: macro attachment seen by finance",
    "triage of SIEM alert {n}",
    "CEO impersonation attempt, ticket SOC-{n}",
    "quarterly access review",
    "",
)
DOMAINS = ("example.test", "contoso.test", "fabrikam.test", "northwind.test")
OUTCOMES = (("success", 92), ("failure", 4), ("denied", 3), ("error", 1))


class Command(BaseCommand):
    help = "Append N realistic audit events with a valid hash chain (COPY on PostgreSQL). Demo and benchmark data."

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            help="Spread the events over this many past days (on PostgreSQL: as the tables' owner or a superuser).",
        )
        parser.add_argument(
            "--ending-days-ago",
            type=int,
            default=0,
            help="End the span this many days ago, so that later seeding can still fill the days after it.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")

    def handle(self, *args, count, days, seed, ending_days_ago=0, **options):
        if count < 1:
            raise CommandError("count must be at least 1")
        if ending_days_ago < 0:
            raise CommandError("--ending-days-ago cannot be negative")
        rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
        started = time.monotonic()
        with transaction.atomic():
            # Before the chain lock, not after: the triggers go off under the table's exclusive
            # lock, and a writer whose INSERT holds the table while its trigger waits for the chain
            # lock would otherwise deadlock with us.
            chain_here = connection.vendor != "postgresql" or _triggers_off()
            if not chain_here:
                self.stdout.write(
                    f"this role may not switch the audit triggers off (only the tables' owner or a superuser may):"
                    f" the database chains and dates every event now, not over the last {days} days"
                )
            # The writer's own lock: no real event can slip in between our rows and break the chain.
            _lock_chain()
            head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash", "created_at").first()
            # Everything the generator needs from the database is read now: once COPY starts, the
            # connection is busy until the last row is in.
            end = timezone.now() - timedelta(days=ending_days_ago)
            rows = _events(rng, count, days, head, _actors(), hash_here=chain_here, end=end)
            if connection.vendor != "postgresql":
                _bulk_create(rows)
            elif chain_here:
                _copy(rows, COLUMNS)
                _triggers_on()
            else:
                _copy(rows, [name for name in COLUMNS if name not in _SET_BY_TRIGGER])
        elapsed = time.monotonic() - started
        # Thousands of events at once pass many AUDIT_CHECKPOINT_EVERY marks: anchor the new head now.
        audit_checkpoint_write()
        self.stdout.write(f"appended {count} events in {elapsed:.2f}s ({count / max(elapsed, 1e-9):,.0f}/s)")


def _actors():
    users = list(get_user_model().objects.values_list("pk", "username")[:50])
    if not users:
        users = [(9000 + i, name) for i, name in enumerate(("alice", "bob", "carol", "dave", "erin", "frank"))]
    actors = [("user", str(pk), name) for pk, name in users]
    actors += [("system", "", "task:investigations.tasks.remediation_execute"), ("system", "", "web")]
    return actors


def _events(rng, count, days, head, actors, *, hash_here, end):
    """Yield each event as a tuple in COLUMNS order, chained to the one before (hash_here) or
    with seq, prev_hash and hash left for the database's chaining trigger to set; spread over the
    `days` before `end`, or from just after the head to `end` when the head is later."""
    seq, prev_hash, last_time = (head[0], head[1], head[2]) if head else (0, GENESIS_HASH, None)
    start = end - timedelta(days=days)
    if last_time:
        start = max(start, last_time + timedelta(microseconds=1))
    start = start.astimezone(UTC)  # the hashed text is UTC's
    # Monotonic times, like the real writer's; at least a microsecond apart.
    step = max((end - start) / count, timedelta(microseconds=1))
    pools = _pools(rng, actors)
    actions = [a for a, _, _ in ACTIONS]
    action_weights = [w for _, _, w in ACTIONS]
    outcomes = [o for o, _ in OUTCOMES]
    outcome_weights = [w for _, w in OUTCOMES]
    outcome_texts = {o: _json_text(o) for o in outcomes}
    request_prefix = f"{rng.getrandbits(32):08x}"
    for block_start in range(0, count, _BATCH):
        size = min(_BATCH, count - block_start)
        # Drawn a block at a time: per-event random calls would cost more than the hashing.
        picked_actions = rng.choices(actions, action_weights, k=size)
        picked_outcomes = rng.choices(outcomes, outcome_weights, k=size)
        picked_variants = [rng.randrange(_POOL) for _ in range(size)]
        for k in range(size):
            i = block_start + k
            seq += 1
            action = picked_actions[k]
            target_type, pool = pools[action]
            (actor_type, actor_id, actor_label), target_id, data, reason, ip, agent, texts = pool[picked_variants[k]]
            created_at = start + step * i
            outcome = picked_outcomes[k]
            request_id = f"{request_prefix}{seq:016x}"
            row = (
                seq,
                created_at,
                actor_type,
                actor_id,
                actor_label,
                action,
                target_type,
                target_id,
                outcome,
                reason,
                request_id,
                ip,
                agent,
                data,
                prev_hash,
            )
            if hash_here:
                # models.canonical_bytes, with every pooled part's text made once (_pools): it is
                # most of the per-event cost. Checked against event_hash itself once a block.
                who, reason_text, rest = texts
                canonical = (
                    f'[{seq}, "{created_at:%Y-%m-%dT%H:%M:%S.%f}+00:00", {who}, {outcome_texts[outcome]}, '
                    f'{reason_text}, "{request_id}", {rest}, "{prev_hash}"]'
                )
                prev_hash = sha256(canonical.encode()).hexdigest()
                if k == 0 and prev_hash != event_hash(dict(zip(CHAIN_FIELDS, row, strict=True))):
                    raise RuntimeError(f"seeded event seq={seq} hashed unlike models.event_hash")
            yield (*row, prev_hash)


def _pools(rng, actors):
    """Each action's pool of varied targets, reasons and payloads, built once. Events draw from the
    pools: the hashing alone is the per-event cost, which is what makes seeding fast."""
    ips = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(64)]
    agents = ("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0", "")
    pools = {}
    for action, target_type, _ in ACTIONS:
        pool = []
        for _ in range(_POOL):
            n = rng.randrange(1, 4000)
            actor = ("anonymous", "", "") if action == "auth.login_failed" else actors[n % len(actors)]
            target_id, data = _target_and_data(rng, action, target_type, n, actor[1])
            system = actor[0] == "system"
            reason = REASONS[n % len(REASONS)].format(n=n)
            ip = "" if system else ips[n % len(ips)]
            agent = "" if system else agents[n % len(agents)]
            # The canonical text of the fields an event takes from its pool entry, in CHAIN_FIELDS
            # order around the ones each event draws itself (outcome, request_id).
            texts = (
                ", ".join(_json_text(v) for v in (*actor, action, target_type, target_id)),
                _json_text(reason),
                ", ".join(_json_text(v) for v in (ip, agent, data)),
            )
            pool.append((actor, target_id, data, reason, ip, agent, texts))
        pools[action] = (target_type, pool)
    return pools


def _target_and_data(rng, action, target_type, n, actor_id):
    domain = DOMAINS[n % len(DOMAINS)]
    if target_type == "message":
        return f"<{n:x}.{rng.getrandbits(32):08x}@mail.{domain}>", {"mailbox": f"user{n % 400}@{domain}"}
    if target_type == "remediationrequest":
        data = {"incident_type": "remediate" if n % 5 else "restore", "message_id": f"<{n:x}@mail.{domain}>"}
        if action in {"remediation.incident_created", "remediation.polled", "remediation.succeeded"}:
            data.update(incident_code=f"MC-{n:06d}", removed=n % 40, failed=n % 3)
        return str(1 + n % 500), data
    if target_type == "search":
        return "", {"criteria": {"from": f"billing@{domain}", "window_days": 1 + n % 30}, "results": n % 120}
    if target_type == "user":
        return actor_id or str(n % 50), {}
    if target_type == "audit":
        return "list" if action == "audit.viewed" else "export", {"filter": {"outcome": "failure"}}
    if target_type == "mimecastconnection":
        return "1", {"changed": ["base_url", "verify_ssl"]}
    if target_type == "investigation":
        case = 1 + n % 200
        return str(case), {"case": case, "kind": "message", "added": 1 + n % 5}
    return "", {}


def _triggers_off():
    """Switch the audit table's triggers off for this transaction (ALTER TABLE is transactional:
    nobody else sees them off, and a rollback switches them back on). False if this role may not."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {_TABLE} DISABLE TRIGGER USER")
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) != _REFUSED:
            raise
        return False
    return True


def _triggers_on():
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {_TABLE} ENABLE TRIGGER USER")


def _copy(rows, columns):
    """COPY the rows (tuples in COLUMNS order) into the given columns."""
    picks = [COLUMNS.index(name) for name in columns]
    statement = f"COPY {_TABLE} ({', '.join(columns)}) FROM STDIN"
    data_index = columns.index("data")
    every_column = list(columns) == list(COLUMNS)
    # Payloads come from the pools, so each is serialised once, keyed by the object itself.
    serialised = {}
    # Django's cursor wrapper passes .copy through to psycopg's cursor.
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for full_row in rows:
            row = list(full_row) if every_column else [full_row[i] for i in picks]
            data = row[data_index]
            text = serialised.get(id(data))
            if text is None:
                text = serialised[id(data)] = json.dumps(data, ensure_ascii=False)
            row[data_index] = text
            copy.write_row(row)


def _bulk_create(rows):
    batch = []
    for row in rows:
        batch.append(AuditEvent(**dict(zip(COLUMNS, row, strict=True))))
        if len(batch) >= _BATCH:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        AuditEvent.objects.bulk_create(batch)
