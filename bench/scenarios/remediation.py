"""Scenario 5: remediation throughput through two Celery workers against a rate budget.

200 remediation requests (each for a different delivered message, by Message-ID) are drafted,
previewed and submitted by an analyst and approved by an approver, all through the services the
pages use. Two Celery worker processes (prefork, two children each: the default on two cores) run
them against a simulator that allows 10 calls/s (a bucket of 10 refilled at 10/s). The workers get the
Mimecast connection from MIMECAST_* in their environment, as in production.

Figures:
- ratio: the wall time from the first approval until every request is final, divided by the
  rate-limit bound: the Mimecast calls the remediation made (counted by the simulator, refusals left
  out since Mimecast does not run a refused call) / 10 per s. calls_per_request shows what the bound
  is made of: a create, then get-incident until the counts are final (the simulator shows final
  counts from the second read or 1.5 s after the create), and a find-incidents guard on a retry.
- approval_to_call p50/p95: from the approval (decided_at) to the first Mimecast call that names the
  request (its marker, in the create's or find's body), from the simulator's record of calls.
- approval_to_call_floor_p95_s: the same percentile for the least waits the budget allows for these
  approval times (first calls only, in approval order); approval_to_call_unqueued_p50_s: the wait of
  the first 10 requests, which the full bucket serves at once: the portal's own dispatch latency.
- duplicates: requests with more than one incident in the simulator; losses: requests not succeeded
  with their incident recorded. Both must be 0.

The previews run before the budget is switched on, so the measured window holds only the execution.
Approvals are given one after another as fast as the approval service goes: a burst, the hardest
case for the budget.
"""

import time
from datetime import timedelta

from bench import harness

TITLE = "Remediation: 200 approved requests, 2 Celery workers, 10 calls/s"

CALLS_PER_SECOND = 10
WORKERS = 2
CONCURRENCY = 2
FIND = "/api/ttp/remediation/find-incidents"
CREATE = "/api/ttp/remediation/create"
GET_INCIDENT = "/api/ttp/remediation/get-incident"


def _messages(server, count):
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


def _start_workers(ctx, server):
    from mimecast_portal.celery import app

    env = ctx.env(**harness.mimecast_env(server.base_url))
    for n in range(1, WORKERS + 1):
        ctx.start(
            f"worker{n}",
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
                str(CONCURRENCY),
                "-n",
                f"bench-remediation-{n}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc in ctx.processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}; see its log in {ctx.tmp}")
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= WORKERS:
            return
    raise RuntimeError("the Celery workers did not answer a ping within 90 s")


def _pending_requests(server, analyst, messages):
    from investigations.models import RemediationRequest
    from investigations.remediation import services

    pending = []
    for m in messages:
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


def _approve_all(pending, approver, *, timeout):
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
    finals = [r.finished_at for r in requests.values() if r.finished_at]
    all_final = all(r.is_final for r in requests.values())
    wall = ((max(finals) - first_approval).total_seconds()) if all_final else float("nan")
    refused = sum(1 for c in calls if c.status == 429)
    spent = len(calls) - refused
    bound = spent / CALLS_PER_SECOND
    waits, floor, unqueued = _waits(calls, pending, requests)
    duplicates, losses = _integrity(requests, pending, incidents)
    return {
        "wall_s": round(wall, 2),
        "bound_s": round(bound, 2),
        "ratio": round(wall / bound, 3) if bound and all_final else float("nan"),
        "approval_to_call_p50_s": _percentile_s(waits, 50),
        "approval_to_call_p95_s": _percentile_s(waits, 95),
        "approval_to_call_floor_p95_s": round(harness.percentile(floor, 95), 3),
        "approval_to_call_unqueued_p50_s": _percentile_s(unqueued, 50),
        "calls_per_request": round(spent / len(pending), 2),
        "refused_429": refused,
        "duplicates": duplicates,
        "losses": losses,
    }


def run(ctx):
    from investigations.models import RemediationRequest

    count = 4 if ctx.tiny else 200
    server = ctx.simulator()
    harness.use_simulator(server.base_url)
    analyst = harness.portal_user("bench-remediation-analyst", ["analyst"])
    approver = harness.portal_user("bench-remediation-approver", ["approver"])
    pending = _pending_requests(server, analyst, _messages(server, count))
    _start_workers(ctx, server)

    # The budget from here on; buckets start full.
    server.configure(rate_limit_per_minute=CALLS_PER_SECOND * 60, rate_limit_burst=CALLS_PER_SECOND)
    server.calls.clear()
    incidents_before = len(server.state.incidents)
    approvals_s = _approve_all(pending, approver, timeout=60 if ctx.tiny else 480)

    requests = {r.pk: r for r in RemediationRequest.objects.filter(pk__in=[req.pk for req in pending])}
    calls = list(server.calls)
    figures = _figures(requests, pending, calls, server.state.incidents[incidents_before:])
    by_path = {}
    for c in calls:
        by_path[c.path.rsplit("/", 1)[-1]] = by_path.get(c.path.rsplit("/", 1)[-1], 0) + 1
    return {
        "figures": figures,
        "goals": {
            "ratio": harness.goal(figures["ratio"], "<=", 1.3),
            "approval_to_call_p95_s": harness.goal(figures["approval_to_call_p95_s"], "<=", 2),
            "duplicates": harness.goal(figures["duplicates"], "<=", 0),
            "losses": harness.goal(figures["losses"], "<=", 0),
        },
        "info": {
            "requests": count,
            "workers": f"{WORKERS} x prefork concurrency {CONCURRENCY}",
            "budget": f"{CALLS_PER_SECOND} calls/s (bucket of {CALLS_PER_SECOND}, refilled {CALLS_PER_SECOND}/s)",
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
