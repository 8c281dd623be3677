"""Helpers shared by the remediation tests."""

import os
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import timedelta
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone

from investigations.accounts.services import FRESH_AUTH_SESSION_KEY
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from investigations.remediation import services
from tests.factories import UserFactory
from tests.polling import poll_until

MACRO_REASON = "Macro-laden invoice seen in finance; pull every copy"
# What the audit trail of any request carried out holds, whatever its kind (an item kind adds its
# items' outcomes, an incident kind its incident).
CARRIED_OUT = {
    AuditAction.REMEDIATION_DRAFTED,
    AuditAction.REMEDIATION_PREVIEWED,
    AuditAction.REMEDIATION_REQUESTED,
    AuditAction.REMEDIATION_APPROVED,
    AuditAction.REMEDIATION_SUCCEEDED,
}
# One of these is in the trail too: the dispatcher publishes the task before it marks the request
# queued, and a worker that starts the task in between records "dispatched" instead of "queued".
HANDED_TO_WORKER = {AuditAction.REMEDIATION_QUEUED, AuditAction.REMEDIATION_DISPATCHED}


def signed_in(user):
    """A test client signed in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def audited(req):
    """The audit actions recorded on a request, oldest first."""
    return list(
        AuditEvent.objects.filter(target_type="remediationrequest", target_id=str(req.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def audited_once_confirmed(req, timeout=30):
    """The audit actions of a request carried out, once the worker has recorded its read-back. The
    read-back comes after the request is marked succeeded (it changes nothing), so a test that saw
    the final state waits for it rather than racing the worker."""
    return poll_until(
        lambda: audited(req), lambda actions: AuditAction.REMEDIATION_CONFIRMED in actions, timeout=timeout
    )


def macro_values(simulator, **overrides):
    values = {
        "kind": RemediationRequest.Kind.REMEDIATE,
        "search_by": RemediationRequest.SearchBy.FILE_HASH,
        "search_value": simulator.state.story["macro_sha256"],
        "reason": MACRO_REASON,
    }
    values.update(overrides)
    return values


def hash_values(**overrides):
    values = {
        "kind": RemediationRequest.Kind.REMEDIATE,
        "search_by": RemediationRequest.SearchBy.FILE_HASH,
        "search_value": "a" * 64,
        "reason": "A test request with a long enough reason",
    }
    values.update(overrides)
    return values


def pending_request(requester, *, values=None, now=None):
    """A request submitted for approval without calling Mimecast (the preview is stubbed)."""
    now = now or timezone.now()
    req = services.remediation_request_create(actor=requester, values=values or hash_values(), now=now)
    RemediationRequest.objects.filter(pk=req.pk).update(preview={"messages": [], "errors": []}, previewed_at=now)
    return services.remediation_request_submit(actor=requester, request_id=req.pk, now=now)


# The steps of the property tests' random walks that are one service call on a request: the service, and
# what it takes besides the actor, the request and the time.
WALK_STEPS = {
    "approve": (services.remediation_request_approve, {"reason": "ok"}),
    "reject": (services.remediation_request_reject, {"reason": "no"}),
    "submit": (services.remediation_request_submit, {}),
    "cancel": (services.remediation_request_cancel, {}),
    "break_glass": (services.remediation_request_break_glass, {"reason": "Cannot wait for anyone"}),
    "review": (services.remediation_request_review, {"note": "seen it"}),
}
# The steps that decide on somebody else's request.
DECISIONS = {"approve", "reject", "review"}


def walkers(*roles):
    """The users a random walk picks its actors from: one for each of `roles` ("a+b": both roles)."""
    return [UserFactory(username=f"p{n}-{each}", roles=each.split("+")) for n, each in enumerate(roles)]


@contextmanager
def refusal_allowed(actor, req):
    """A step of a random walk by `actor` on `req`: the services may refuse it, but only the requester
    is ever refused for approving their own request."""
    try:
        yield
    except services.SelfApprovalError:
        assert actor.pk == req.requested_by_id
    except services.RemediationError:
        pass


def walk_step(op, actor, req, now):
    """Step `op` of WALK_STEPS by `actor` on `req` at `now`: the request as the service left it (nobody
    gets through a decision on their own request). Inside refusal_allowed: the service may refuse it."""
    service, extra = WALK_STEPS[op]
    done = service(actor=actor, request_id=req.pk, now=now, **extra)
    if op in DECISIONS:
        assert actor.pk != req.requested_by_id
    return done


def stale_session(session_key, minutes=11):
    """Age the proof of who is signed in that this session holds (its sign-in, as the server keeps it)."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    session[FRESH_AUTH_SESSION_KEY] = (timezone.now() - timedelta(minutes=minutes)).isoformat()
    session.save()


def stale_client(client, minutes=11):
    """stale_session for a Django test client's session."""
    stale_session(client.session.session_key, minutes=minutes)


def browser_session_key(context):
    """The session key a Playwright browser context holds."""
    return next(c["value"] for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)


def kind_draft(requester, values, *, preview=None, now=None):
    """A draft of any kind, its preview set without calling Mimecast (`preview` as the kind's
    preview would give it: the approval rules read it)."""
    now = now or timezone.now()
    req = services.remediation_request_create(actor=requester, values=values, now=now)
    preview = {"errors": [], "warnings": [], "notes": [], **(preview or {})}
    RemediationRequest.objects.filter(pk=req.pk).update(preview=preview, previewed_at=now)
    req.refresh_from_db()
    return req


def kind_pending(requester, values, *, preview=None, now=None):
    """kind_draft, submitted: its items made and its approval rules applied."""
    req = kind_draft(requester, values, preview=preview, now=now)
    return services.remediation_request_submit(actor=requester, request_id=req.pk, now=now or timezone.now())


# ------------------------------------------------------------------ a real worker, killed at will


def database_url():
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


WORKER_ARGS = (
    *("-A", "mimecast_portal", "worker", "--pool=prefork", "-c", "1", "-B", "-l", "warning"),
    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
)


class WorkerProcess:
    """`celery worker --pool=prefork -c 1 -B` in its own process group, so SIGKILL takes all of it,
    with short leases, retries and sweeps so a killed attempt is taken up again within seconds."""

    def __init__(self, *, broker, tmp_path, simulator_env, extra_env=None):
        self.env = {
            **os.environ,
            **simulator_env,
            "DATABASE_URL": database_url(),
            "DB_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": broker,
            "PORTAL_VAR_DIR": str(tmp_path / "var"),
            "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
            "REMEDIATION_LEASE_SECONDS": "3",
            "REMEDIATION_MAX_ATTEMPTS": "100",
            "REMEDIATION_RETRY_BASE_MS": "200",
            "REMEDIATION_REDISPATCH_AFTER_SECONDS": "2",
            "REMEDIATION_SWEEP_SECONDS": "1",
            "REMEDIATION_POLL_INTERVAL_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        (tmp_path / "var").mkdir(exist_ok=True)
        self.log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), *WORKER_ARGS],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_all_final(ids, timeout):
    """Every request of `ids` final within `timeout` seconds; else fail with where each one is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        states = dict(RemediationRequest.objects.filter(pk__in=ids).values_list("pk", "state"))
        if all(s in RemediationRequest.FINAL_STATES for s in states.values()):
            return states
        time.sleep(0.5)
    detail = [
        (
            (r.pk, r.kind, r.state, r.attempts, r.lease_until, r.next_attempt_at),
            (r.incident_id[:12], r.polls, r.next_poll_at),
            [(i.position, i.state, i.attempts) for i in r.items.all()],
            [(s.action, s.outcome, s.message[:80]) for s in r.steps.all()],
        )
        for r in RemediationRequest.objects.filter(pk__in=ids).exclude(state__in=RemediationRequest.FINAL_STATES)
    ]
    raise AssertionError(f"not final: {states}; now {timezone.now()}; {detail}")


# What the kinds' calls that act, and their reads that confirm, take in the resilience tests (ms): slow,
# so a kill often lands while one is in flight. Each kind calls only its own.
SLOW_CALLS = {
    "/api/policy/blockedsenders/create-policy": 1500,
    "/api/policy/blockedsenders/get-policy": 300,
    "/api/ttp/url/create-managed-url": 1500,
    "/api/ttp/url/get-all-managed-urls": 300,
    "/api/gateway/hold-release": 1500,
    "/api/gateway/hold-reject": 1500,
    "/api/gateway/get-hold-message-list": 300,
    "/api/ttp/remediation/create": 400,
    "/api/ttp/remediation/find-incidents": 150,
    "/api/ttp/remediation/get-incident": 50,
}


def claims(ids):
    """How many times the requests of `ids` and their items have been claimed so far."""
    close_old_connections()
    requests = RemediationRequest.objects.filter(pk__in=ids)
    return sum(r.attempts + sum(i.attempts for i in r.items.all()) for r in requests.prefetch_related("items"))


def all_final(ids):
    close_old_connections()
    return not RemediationRequest.objects.filter(pk__in=ids).exclude(state__in=RemediationRequest.FINAL_STATES).exists()


def first_claim(ids, since, *, timeout=30):
    """Wait until the worker just started claims work on `ids` (True), or all of it is final (False).

    The kill clock starts here, not at the process start: a worker's boot time varies with the
    machine's load, and a kill during boot proves nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if claims(ids) > since:
            return True
        if all_final(ids):
            return False
        time.sleep(0.05)
    raise AssertionError(f"the worker claimed nothing on {ids} within {timeout}s")


def killed_at_random(simulator, settings, tmp_path, ids, seed, *, kills=10, pause=(0.2, 2.5), timeout=180):
    """A worker started and SIGKILLed up to `kills` times, each a random `pause` (seconds, `seed` picks
    them) after it first claims work, then left to finish the requests of `ids` within `timeout`
    seconds: their final states. The simulator's faults (slow calls, so the kills land mid-call) end
    with the kills."""
    worker = WorkerProcess(
        broker=settings.CELERY_BROKER_URL, tmp_path=tmp_path, simulator_env=dict(settings.MIMECAST_ENV)
    )
    rng = random.Random(seed)
    try:
        for _ in range(kills):
            before = claims(ids)
            worker.start()
            working = first_claim(ids, before)
            if working:
                time.sleep(rng.uniform(*pause))
            worker.kill()
            if not working:
                break
        simulator.faults.clear()
        worker.start()
        return wait_all_final(ids, timeout=timeout)
    finally:
        worker.stop()
        simulator.faults.clear()
