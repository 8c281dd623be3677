"""Scenario 5: remediation throughput through two Celery workers against a rate budget.

200 remediation requests (each for a different delivered message, by Message-ID) are drafted,
previewed and submitted by an analyst and approved by an approver, all through the services the
pages use. Two Celery worker processes (prefork, two children each: the default on two cores) run
them against a simulator that allows 10 calls/s (a bucket of 10 refilled at 10/s). The workers get the
Mimecast connection from MIMECAST_* in their environment, as in production.

Figures:
- ratio: the wall time from the first approval until every request is final, divided by a bound
  fixed by the work before the run: the fewest calls it needs (a create, and one read of the
  incident: the simulator shows final counts from the second read or 1.5 s after the create, so one
  read 1.5 s later is the fewest) less the full bucket at the start, at 10 calls/s. Extra calls the
  run makes (a second read, a find-incidents guard on a retry) do not raise it; calls_per_request
  shows them.
- approval_to_call p50/p95: from the approval (decided_at) to the first Mimecast call that names the
  request (its marker, in the create's or find's body), from the simulator's record of calls.
- approval_to_call_floor_p95_s: the same percentile for the least waits the budget allows for these
  approval times (first calls only, in approval order); approval_to_call_over_floor_p95_s is the p95
  less that floor: what polls (or anything else) cost the creates. approval_to_call_unqueued_p50_s:
  the wait of the first 10 requests, which the full bucket serves at once: the portal's own dispatch
  latency.
- duplicates: requests with more than one incident in the simulator; losses: requests not succeeded
  with their incident recorded. Both must be 0. A request that is not final with its incident
  recorded when the run ends makes the scenario incomplete (no figures at all).

The previews run before the budget is switched on, so the measured window holds only the execution.
Approvals are given one after another as fast as the approval service goes: a burst, the hardest
case for the budget.
"""

import time
from datetime import timedelta

from bench import harness

TITLE = "Remediation: 200 approved requests, 2 Celery workers, 10 calls/s"

CALLS_PER_SECOND = 10
BURST = CALLS_PER_SECOND  # the bucket holds a second's calls, full at the start
# The simulator's contract: an incident's counts are final from its second read, or from any read
# this long after the create.
SETTLE_S = 1.5
WORKERS = 2
CONCURRENCY = 2
FIND = "/api/ttp/remediation/find-incidents"
CREATE = "/api/ttp/remediation/create"
GET_INCIDENT = "/api/ttp/remediation/get-incident"


def messages(server, count):
    """Distinct delivered messages inside the requests' default window (the last 30 days)."""
    since = server.anchor - timedelta(days=28)
    picked, seen = [], set()
    for m in reversed(server.state.messages):
        usable = m.route == "inbound" and m.status not in ("held", "rejected", "remediated") and m.received >= since
        if usable and m.mime_id not in seen:
            seen.add(m.mime_id)
            picked.append(m)
        if len(picked) == count:
            break
    if len(picked) < count:
        raise RuntimeError(f"the simulator has only {len(picked)} suitable messages")
    return picked


def least_seconds(calls, *, rate=CALLS_PER_SECOND, burst=BURST):
    """The shortest wall time in which a budget of `rate` calls/s with a full bucket of `burst` can
    make `calls` calls, the last read no sooner than SETTLE_S after its create: fixed by the work."""
    return max((calls - burst) / rate, SETTLE_S)


def simulator_and_people(ctx, prefix):
    """The scenario's simulator, the portal pointed at it, and its analyst and approver."""
    server = ctx.simulator()
    harness.use_simulator(server.base_url)
    analyst = harness.portal_user(f"{prefix}-analyst", ["analyst"])
    return server, analyst, harness.portal_user(f"{prefix}-approver", ["approver"])


def start_workers(ctx, server, *, workers=WORKERS, concurrency=CONCURRENCY, name="bench-remediation", queue=None):
    """`workers` Celery worker processes (prefork, `concurrency` children each) consuming `queue`
    (default: the tasks' own); returns them once they all answer a ping."""
    from mimecast_portal.celery import app

    env = ctx.env(**harness.mimecast_env(server.base_url))
    procs = []
    for n in range(1, workers + 1):
        procs.append(
            ctx.start(
                f"{name}-worker{n}",
                [
                    harness.PY,
                    "-m",
                    "celery",
                    "-A",
                    "mimecast_portal",
                    "worker",
                    "-l",
                    "info",
                    "--concurrency",
                    str(concurrency),
                    "-n",
                    f"{name}-{n}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    *(["-Q", queue] if queue else []),
                ],
                env=env,
            )
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}; see its log in {ctx.tmp}")
        replies = app.control.ping(timeout=1.0) or []
        if sum(1 for reply in replies for node in reply if node.startswith(f"{name}-")) >= workers:
            return procs
    raise RuntimeError("the Celery workers did not answer a ping within 90 s")


def pending_requests(server, analyst, picked):
    from investigations.models import RemediationRequest
    from investigations.remediation import services

    pending = []
    for m in picked:
        values = {
            "kind": RemediationRequest.Kind.REMEDIATE,
            "search_by": RemediationRequest.SearchBy.MESSAGE_ID,
            "search_value": m.mime_id.strip("<>"),
            "reason": f"Bench: pull {m.subject[:60]!r} from every mailbox",
        }
        req = services.remediation_request_create(actor=analyst, values=values)
        services.remediation_request_preview(actor=analyst, request_id=req.pk)
        pending.append(services.remediation_request_submit(actor=analyst, request_id=req.pk))
    return pending


def _first_calls(calls, pending):
    """request id -> time of the first call naming its marker (find's search value, create's reason)."""
    markers = {req.marker: req.pk for req in pending}
    first = {}
    for call in calls:
        if call.path not in (FIND, CREATE) or not isinstance(call.json, dict):
            continue
        for item in call.json.get("data") or []:
            text = str(item.get("searchValue") or item.get("reason") or "") if isinstance(item, dict) else ""
            start = text.find("[MIP-REQ-")
            marker = text[start : text.find("]", start) + 1] if start >= 0 else ""
            pk = markers.get(marker)
            if pk is not None and (pk not in first or call.time < first[pk]):
                first[pk] = call.time
    return first


def approve_all(pending, approver, *, timeout):
    """Approve every request one after another (a burst), then wait until all are final or the
    timeout passes. Returns how long the approvals took."""
    from django.utils import timezone

    from investigations.models import RemediationRequest
    from investigations.remediation import services

    started = time.monotonic()
    for req in pending:
        services.remediation_request_approve(
            actor=approver, request_id=req.pk, reason="Bench approval", authenticated_at=timezone.now()
        )
    approvals_s = time.monotonic() - started
    ids = [req.pk for req in pending]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_count = RemediationRequest.objects.filter(pk__in=ids).exclude(state__in=RemediationRequest.FINAL_STATES)
        if not open_count.exists():
            break
        time.sleep(0.25)
    return approvals_s


def require_complete(requests):
    """Every request final with its incident recorded, or the run did not do its work."""
    from investigations.models import RemediationRequest

    open_ones = [r for r in requests.values() if not r.is_final]
    unrecorded = [r for r in requests.values() if r.state == RemediationRequest.State.SUCCEEDED and not r.incident_id]
    harness.require(
        not open_ones and not unrecorded,
        f"{len(open_ones)} of {len(requests)} requests not final ({_states(open_ones)}), "
        f"{len(unrecorded)} succeeded without an incident recorded",
    )


def _integrity(requests, pending, incidents):
    """Requests with more than one incident (duplicates) and requests not carried out (losses)."""
    from investigations.models import RemediationRequest

    per_request = {}
    for inc in incidents:
        for req in pending:
            if req.marker in inc["reason"]:
                per_request[req.pk] = per_request.get(req.pk, 0) + 1
    duplicates = sum(1 for n in per_request.values() if n > 1)
    losses = sum(
        1
        for pk, r in requests.items()
        if r.state != RemediationRequest.State.SUCCEEDED or not r.incident_id or per_request.get(pk, 0) == 0
    )
    return duplicates, losses


def _waits(calls, pending, requests):
    """Seconds from each approval to the request's first call; the floor the budget allows; and the
    waits of the first requests approved, which the full bucket serves at once."""
    first = _first_calls(calls, pending)
    decided = {pk: r.decided_at.timestamp() for pk, r in requests.items()}
    waits = [first[req.pk] - decided[req.pk] for req in pending if req.pk in first]
    floor = _queueing_floor(sorted(decided.values()))
    approved_in_order = sorted((req.pk for req in pending), key=decided.get)
    unqueued = [first[pk] - decided[pk] for pk in approved_in_order[:CALLS_PER_SECOND]]
    return waits, floor, unqueued


def _percentile_s(values, p):
    return round(harness.percentile(values, p), 3) if values else float("nan")


def _figures(requests, pending, calls, incidents):
    first_approval = min(r.decided_at for r in requests.values())
    wall = (max(r.finished_at for r in requests.values()) - first_approval).total_seconds()
    refused = sum(1 for c in calls if c.status == 429)
    spent = len(calls) - refused
    bound = least_seconds(2 * len(pending))
    waits, floor, unqueued = _waits(calls, pending, requests)
    duplicates, losses = _integrity(requests, pending, incidents)
    p95, floor_p95 = _percentile_s(waits, 95), round(harness.percentile(floor, 95), 3)
    return {
        "wall_s": round(wall, 2),
        "bound_s": round(bound, 2),
        "ratio": round(wall / bound, 3),
        "approval_to_call_p50_s": _percentile_s(waits, 50),
        "approval_to_call_p95_s": p95,
        "approval_to_call_floor_p95_s": floor_p95,
        "approval_to_call_over_floor_p95_s": round(p95 - floor_p95, 3),
        "approval_to_call_unqueued_p50_s": _percentile_s(unqueued, 50),
        "calls_per_request": round(spent / len(pending), 2),
        "refused_429": refused,
        "duplicates": duplicates,
        "losses": losses,
    }


def run(ctx):
    from investigations.models import RemediationRequest

    count = 4 if ctx.tiny else 200
    server, analyst, approver = simulator_and_people(ctx, "bench-remediation")
    pending = pending_requests(server, analyst, messages(server, count))
    start_workers(ctx, server)

    # The budget from here on; buckets start full.
    server.configure(rate_limit_per_minute=CALLS_PER_SECOND * 60, rate_limit_burst=BURST)
    server.calls.clear()
    incidents_before = len(server.state.incidents)
    approvals_s = approve_all(pending, approver, timeout=60 if ctx.tiny else 480)

    requests = {r.pk: r for r in RemediationRequest.objects.filter(pk__in=[req.pk for req in pending])}
    require_complete(requests)
    calls = list(server.calls)
    figures = _figures(requests, pending, calls, server.state.incidents[incidents_before:])
    by_path = {}
    for c in calls:
        by_path[c.path.rsplit("/", 1)[-1]] = by_path.get(c.path.rsplit("/", 1)[-1], 0) + 1
    return {
        "figures": figures,
        "goals": {
            "ratio": harness.goal(figures["ratio"], "<=", 1.1),
            "approval_to_call_over_floor_p95_s": harness.goal(figures["approval_to_call_over_floor_p95_s"], "<=", 1),
            "duplicates": harness.goal(figures["duplicates"], "<=", 0),
            "losses": harness.goal(figures["losses"], "<=", 0),
        },
        "info": {
            "requests": count,
            "workers": f"{WORKERS} x prefork concurrency {CONCURRENCY}",
            "budget": f"{CALLS_PER_SECOND} calls/s (bucket of {BURST}, refilled {CALLS_PER_SECOND}/s)",
            "calls_needed": 2 * count,
            "approvals_s": round(approvals_s, 2),
            "calls_by_endpoint": by_path,
            "states": _states(requests.values()),
            "polls": sum(r.polls for r in requests.values()),
            "attempts": sum(r.attempts for r in requests.values()),
        },
    }


def _queueing_floor(approved_at):
    """For approvals given at these times, the least wait for each request's first call that the
    budget allows even if it spent every call on first calls in approval order: the bucket holds
    CALLS_PER_SECOND calls at the first approval and gets CALLS_PER_SECOND back a second."""
    t0 = approved_at[0]
    return [max(0.0, t0 + max(0, k - CALLS_PER_SECOND + 1) / CALLS_PER_SECOND - at) for k, at in enumerate(approved_at)]


def _states(requests):
    states = {}
    for r in requests:
        states[r.state] = states.get(r.state, 0) + 1
    return states
