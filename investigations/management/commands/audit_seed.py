"""Append N realistic audit events with a valid chain, fast: for benchmarks and demos.

The events continue the chain from its current head, so `verify_audit` passes afterwards, and a
signed checkpoint of the new head is written. PostgreSQL gets them through COPY and its chaining
trigger hashes and dates them, exactly as it does every real event (so there they carry the time of
seeding: the database, not a writer, says when an event happened); SQLite (the demo) gets them
through bulk_create, spread over --days and hashed here by models.event_hash. Never for production:
the trail would then hold events that did not happen.
"""

import json
import random
import time
from datetime import timedelta
from operator import itemgetter

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from investigations.audit.chain import audit_checkpoint_write
from investigations.audit.services import _lock_chain
from investigations.models import CHAIN_FIELDS, GENESIS_HASH, AuditEvent, event_hash

COLUMNS = (*CHAIN_FIELDS, "hash")
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
    ("audit.viewed", "audit", 2),
    ("audit.exported", "audit", 1),
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
        parser.add_argument("--days", type=int, default=90, help="SQLite: spread the events over this many past days.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")

    def handle(self, *args, count, days, seed, **options):
        if count < 1:
            raise CommandError("count must be at least 1")
        rng = random.Random(seed)  # noqa: S311 (demo data, not secrets)
        started = time.monotonic()
        with transaction.atomic():
            # The writer's own lock: no real event can slip in between our rows and break the chain.
            _lock_chain()
            head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash", "created_at").first()
            # Everything the generator needs from the database is read now: once COPY starts, the
            # connection is busy until the last row is in.
            if connection.vendor == "postgresql":
                _copy(_events(rng, count, days, head, _actors(), hash_here=False))
            else:
                _bulk_create(_events(rng, count, days, head, _actors(), hash_here=True))
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


def _events(rng, count, days, head, actors, *, hash_here):
    """Yield each event as a tuple in COLUMNS order, chained to the one before (hash_here) or
    with seq, prev_hash and hash left for the database's chaining trigger to set."""
    now = timezone.now()
    seq, prev_hash, last_time = (head[0], head[1], head[2]) if head else (0, GENESIS_HASH, None)
    start = now - timedelta(days=days)
    if last_time:
        start = max(start, last_time + timedelta(microseconds=1))
    # Monotonic times, like the real writer's; at least a microsecond apart.
    step = max((now - start) / count, timedelta(microseconds=1))
    pools = _pools(rng, actors)
    actions = [a for a, _, _ in ACTIONS]
    action_weights = [w for _, _, w in ACTIONS]
    outcomes = [o for o, _ in OUTCOMES]
    outcome_weights = [w for _, w in OUTCOMES]
    row_of = itemgetter(*CHAIN_FIELDS)
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
            (actor_type, actor_id, actor_label), target_id, data, reason, ip, agent = pool[picked_variants[k]]
            values = {
                "seq": seq,
                "created_at": start + step * i,
                "actor_type": actor_type,
                "actor_id": actor_id,
                "actor_label": actor_label,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "outcome": picked_outcomes[k],
                "reason": reason,
                "request_id": f"{request_prefix}{seq:016x}",
                "client_ip": ip,
                "user_agent": agent,
                "data": data,
                "prev_hash": prev_hash,
            }
            if hash_here:
                prev_hash = event_hash(values)
            yield (*row_of(values), prev_hash)


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
            pool.append(
                (
                    actor,
                    target_id,
                    data,
                    REASONS[n % len(REASONS)].format(n=n),
                    "" if system else ips[n % len(ips)],
                    "" if system else agents[n % len(agents)],
                )
            )
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
    return "", {}


def _copy(rows):
    table = AuditEvent._meta.db_table
    # seq, created_at, prev_hash and hash are the trigger's to set.
    columns = [name for name in COLUMNS if name not in {"seq", "created_at", "prev_hash", "hash"}]
    picks = [COLUMNS.index(name) for name in columns]
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    data_index = columns.index("data")
    # Payloads come from the pools, so each is serialised once, keyed by the object itself.
    serialised = {}
    # Django's cursor wrapper passes .copy through to psycopg's cursor.
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for full_row in rows:
            row = [full_row[i] for i in picks]
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
