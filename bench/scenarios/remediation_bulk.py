"""Scenario: one bulk request of 100 items (a message pulled from one mailbox each) against 10 calls/s.

An analyst drafts, previews and submits one "remove selected messages, mailbox by mailbox" request
of 100 (mailbox, Message-ID) pairs; an approver approves it, through the services the pages use. The
same two Celery workers as the remediation scenario carry it out: one incident per item (a create
each, in one task), then the items' outcomes read until every one is final, against a simulator that
allows 10 calls/s (a bucket of 10 refilled at 10/s).

Figures:
- ratio: the wall time from the approval until the request is final, divided by a bound fixed by
  the work before the run: the fewest calls it needs (a create and one read per item, the read
  1.5 s or more after the create) less the full bucket at the start, at 10 calls/s.
- calls_per_item: what the run spent (refusals left out: Mimecast does not run a refused call).
- duplicates: items with more than one incident; losses: items without their final outcome. Both
  must be 0. The request not final, or an item without its outcome, makes the scenario incomplete.
"""

from datetime import timedelta

from bench import harness
from bench.scenarios.remediation import (
    BURST,
    CALLS_PER_SECOND,
    approve_all,
    least_seconds,
    simulator_and_people,
    start_workers,
)

TITLE = "Remediation: one bulk request of 100 items, 2 Celery workers, 10 calls/s"


def _copies(server, count):
    """(mailbox, Message-ID) of delivered copies inside the request's default window, one a pair."""
    st = server.state
    since = server.anchor - timedelta(days=28)
    picked, seen = [], set()
    for m in reversed(st.messages):
        if m.route != "inbound" or m.status != "archived" or m.received < since or m.id in st.removed:
            continue
        for mailbox in m.recipients:
            pair = (mailbox, m.mime_id)
            if mailbox in st.mailbox_by_email and pair not in seen:
                seen.add(pair)
                picked.append(pair)
            if len(picked) == count:
                return picked
    raise RuntimeError(f"the simulator has only {len(picked)} suitable copies")


def _pending(analyst, pairs):
    from investigations.models import RemediationRequest
    from investigations.remediation import services
    from investigations.remediation.forms.bulk import RemediateMessagesForm

    lines = "\n".join(f"{mailbox}|{message_id}" for mailbox, message_id in pairs)
    form = RemediateMessagesForm({"targets": lines, "reason": "Bench: pull the selected copies, mailbox by mailbox"})
    if not form.is_valid():
        raise RuntimeError(f"the bulk form refused the bench's targets: {form.errors.as_text()}")
    values = {"kind": RemediationRequest.Kind.REMEDIATE_MESSAGES, **form.to_values()}
    req = services.remediation_request_create(actor=analyst, values=values)
    services.remediation_request_preview(actor=analyst, request_id=req.pk)
    return services.remediation_request_submit(actor=analyst, request_id=req.pk)


def _item_figures(req, items, incidents):
    from investigations.remediation.kinds.bulk import item_marker

    per_item = {item.pk: sum(1 for inc in incidents if item_marker(req, item) in inc["reason"]) for item in items}
    duplicates = sum(1 for n in per_item.values() if n > 1)
    losses = sum(1 for item in items if per_item[item.pk] == 0 or "outcome" not in (item.result or {}))
    outcomes = {}
    for item in items:
        outcome = (item.result or {}).get("outcome", "none")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return duplicates, losses, outcomes


def run(ctx):
    from investigations.models import RemediationItem, RemediationRequest

    count = 5 if ctx.tiny else 100
    server, analyst, approver = simulator_and_people(ctx, "bench-bulk")
    pending = _pending(analyst, _copies(server, count))
    start_workers(ctx, server, name="bench-bulk")

    server.configure(rate_limit_per_minute=CALLS_PER_SECOND * 60, rate_limit_burst=BURST)
    server.calls.clear()
    incidents_before = len(server.state.incidents)
    approve_all([pending], approver, timeout=60 if ctx.tiny else 300)

    req = RemediationRequest.objects.get(pk=pending.pk)
    items = list(RemediationItem.objects.filter(request_id=req.pk).order_by("position"))
    unsettled = [item.position for item in items if "outcome" not in (item.result or {})]
    harness.require(req.is_final, f"the bulk request is {req.state}, not final")
    harness.require(len(items) == count, f"{len(items)} items, not {count}")
    harness.require(not unsettled, f"{len(unsettled)} of {count} items have no final outcome")

    calls = list(server.calls)
    refused = sum(1 for c in calls if c.status == 429)
    wall = (req.finished_at - req.decided_at).total_seconds()
    bound = least_seconds(2 * count)
    duplicates, losses, outcomes = _item_figures(req, items, server.state.incidents[incidents_before:])
    figures = {
        "wall_s": round(wall, 2),
        "bound_s": round(bound, 2),
        "ratio": round(wall / bound, 3),
        "calls_per_item": round((len(calls) - refused) / count, 2),
        "refused_429": refused,
        "duplicates": duplicates,
        "losses": losses,
    }
    decided, finished = req.decided_at.timestamp(), req.finished_at.timestamp()
    by_path = {}
    for c in calls:
        name = c.path.rsplit("/", 1)[-1]
        by_path[name] = by_path.get(name, 0) + 1
    return {
        "figures": figures,
        "goals": {
            "ratio": harness.goal(figures["ratio"], "<=", 1.2),
            "duplicates": harness.goal(duplicates, "<=", 0),
            "losses": harness.goal(losses, "<=", 0),
        },
        "info": {
            "items": count,
            "state": req.state,
            "outcomes": outcomes,
            "calls_needed": 2 * count,
            "calls_by_endpoint": by_path,
            "calls_outside_the_window": sum(1 for c in calls if not decided <= c.time <= finished),
            "first_call_after_approval_s": round(min(c.time for c in calls) - decided, 3) if calls else None,
            "polls": req.polls,
            "attempts": req.attempts,
        },
    }
