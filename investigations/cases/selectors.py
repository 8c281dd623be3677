"""Reads for investigations (cases): who sees which, a case with its evidence and the live state of
each item, the requests made in it, and its timeline from the audit trail. Nothing here writes."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from investigations.core.roles import APPROVER, AUDITOR, user_can, user_roles
from investigations.models import AuditAction, AuditEvent, Evidence, Investigation, RemediationItem, RemediationRequest

TIMELINE_LIMIT = 500
LIST_LIMIT = 200
# Approvers decide the requests of every case and auditors read everything: both see every case.
_SEE_ALL_ROLES = frozenset({APPROVER, AUDITOR})

Kind = RemediationRequest.Kind
State = RemediationRequest.State
_ITEM_KINDS = (Kind.BLOCK_SENDER, Kind.MANAGE_URL, Kind.REMEDIATE_MESSAGES, Kind.RESTORE_MESSAGES)
_UNDO_ITEM_KINDS = (Kind.UNBLOCK_SENDER, Kind.REMOVE_MANAGED_URL)
_ACTION_LABELS = dict(AuditAction.choices)


def _member(user):
    return Exists(Investigation.members.through.objects.filter(investigation_id=OuterRef("pk"), user_id=user.pk))


def cases_for_user(*, user, status="", scope="mine"):
    """The cases a user's list shows: their own (owner or member), or with scope "all" every case
    (what approvers and auditors see by default)."""
    rows = Investigation.objects.select_related("owner")
    if scope != "all":
        rows = rows.filter(Q(owner=user) | _member(user))
    if status:
        rows = rows.filter(status=status)
    return list(rows[:LIST_LIMIT])


def default_scope(user):
    return "all" if user_roles(user) & _SEE_ALL_ROLES else "mine"


def case_get(*, case_id):
    """One case with its owner and members, or None."""
    return Investigation.objects.select_related("owner").prefetch_related("members").filter(pk=case_id).first()


def case_may_change(*, user, case):
    """Whether ``user`` may work in ``case``: somebody who may work cases, and its owner or a member."""
    if not user_can(user, "work_cases"):
        return False
    return case.owner_id == user.pk or any(m.pk == user.pk for m in case.members.all())


def case_requests(*, case):
    rows = RemediationRequest.objects.filter(investigation=case).select_related("requested_by").defer("preview")
    return list(rows.prefetch_related("items"))


# ----------------------------------------------------------------------------------- live state


@dataclass(frozen=True)
class LiveState:
    """What our requests did to one evidence item, as the case page shows it."""

    text: str
    tone: str = "none"  # none, done, undone, partial
    request_id: int | None = None


NO_ACTION = LiveState("no action yet")


def _message_ids(evidence):
    """The Message-ID header of a message item, bracketed and bare, when it is known."""
    mid = (evidence.details or {}).get("message_id") or (evidence.value if "@" in evidence.value else "")
    if not mid:
        return []
    bare = mid.strip("<>")
    return [f"<{bare}>", bare]


def _domain_of(value):
    return value.rsplit("@", 1)[1] if "@" in value else value


def evidence_with_state(*, case):
    """The case's evidence, each with ``live`` (a LiveState) read from our own requests: two queries
    besides the evidence, whatever the number of items, and no Mimecast call."""
    evidence = list(case.evidence.select_related("added_by"))
    message_ids = {e.pk: _message_ids(e) for e in evidence if e.kind == Evidence.Kind.MESSAGE}
    exact = {e.value for e in evidence if e.kind in ("sender", "domain", "url")}
    exact |= {_domain_of(e.value) for e in evidence if e.kind == "sender"}
    suffixes = {mid for mids in message_ids.values() for mid in mids}

    items_q = Q(key__in=exact) if exact else Q(pk__in=[])
    for mid in suffixes:
        items_q |= Q(key__endswith=f"|{mid}")
    items = []
    if exact or suffixes:
        undone = RemediationItem.objects.filter(
            state=RemediationItem.State.DONE, request__kind__in=_UNDO_ITEM_KINDS, key=OuterRef("mimecast_id")
        ).exclude(key="")
        items = list(
            RemediationItem.objects.filter(items_q, state=RemediationItem.State.DONE, request__kind__in=_ITEM_KINDS)
            .annotate(undone=Exists(undone))
            .select_related("request")
            .only("key", "mimecast_id", "updated_at", "request__id", "request__kind", "request__params")
            .order_by("updated_at", "id")
        )

    incident_values = {e.value for e in evidence if e.kind == "hash"} | suffixes
    incidents = []
    if incident_values:
        incidents = list(
            RemediationRequest.objects.filter(
                kind__in=(Kind.REMEDIATE, Kind.RESTORE), state=State.SUCCEEDED, search_value__in=incident_values
            )
            .only("id", "kind", "search_value", "finished_at", "successful", "restored")
            .order_by("finished_at", "id")
        )

    for e in evidence:
        e.live = _state_of(e, items, incidents, message_ids.get(e.pk, []))
    return evidence


def _state_of(evidence, items, incidents, mids):
    kind = evidence.kind
    if kind == "message":
        return _message_state(items, incidents, set(mids))
    if kind == "hash":
        return _incident_state([r for r in incidents if r.search_value == evidence.value]) or NO_ACTION
    if kind in ("sender", "domain"):
        return _block_state(evidence, items)
    if kind == "url":
        return _url_state(evidence, items)
    return NO_ACTION


def _incident_state(requests):
    if not requests:
        return None
    last = requests[-1]  # in time order: the latest remediation or restore decides
    if last.kind == Kind.RESTORE:
        return LiveState("restored", "undone", last.pk)
    return LiveState("remediated", "done", last.pk)


def _message_state(items, incidents, mids):
    if not mids:
        return NO_ACTION
    latest = {}
    for item in items:
        mailbox, _, mid = item.key.rpartition("|")
        if mailbox and mid in mids:
            latest[mailbox] = item  # items are in time order: the last one per mailbox wins
    whole = _incident_state([r for r in incidents if r.search_value in mids])
    if latest:
        removed = [i for i in latest.values() if i.request.kind == Kind.REMEDIATE_MESSAGES]
        last = max(latest.values(), key=lambda i: (i.updated_at, i.pk))
        if removed and len(removed) == len(latest):
            return LiveState(
                f"remediated from {len(removed)} mailbox{'es' if len(removed) != 1 else ''}", "done", last.request.pk
            )
        if removed:
            return LiveState(
                f"remediated from {len(removed)} of {len(latest)} mailboxes, the rest restored",
                "partial",
                last.request.pk,
            )
        return LiveState("restored", "undone", last.request.pk)
    return whole or NO_ACTION


def _policy_state(items, kind, keys, removed, in_force):
    """The state of a policy kind's items (sender blocks, managed URLs) for the keys that cover the
    evidence: ``removed`` when every one was undone, else ``in_force(the latest one still there)``."""
    covering = [i for i in items if i.request.kind == kind and i.key in keys]
    if not covering:
        return NO_ACTION
    active = [i for i in covering if not i.undone]
    if not active:
        return LiveState(removed, "undone", covering[-1].request.pk)
    last = active[-1]
    return LiveState(in_force(last), "done", last.request.pk)


def _block_state(evidence, items):
    value = evidence.value
    return _policy_state(
        items,
        Kind.BLOCK_SENDER,
        (value, _domain_of(value)),
        "block removed",
        lambda last: "blocked" if last.key == value else f"blocked (the domain {last.key})",
    )


def _url_state(evidence, items):
    def in_force(last):
        return "permitted" if (last.request.params or {}).get("action", "block") == "permit" else "blocked"

    return _policy_state(items, Kind.MANAGE_URL, (evidence.value,), "managed URL removed", in_force)


# ------------------------------------------------------------------------------------ timeline


def case_timeline(*, case, before=None, limit=TIMELINE_LIMIT):
    """The case's audit events in time order: every event made while working in it and the case's
    own events. At most ``limit``, the newest ones before ``before`` (a seq); returns (events, the
    seq to pass as ``before`` for older ones, or None)."""
    request_ids = [str(pk) for pk in RemediationRequest.objects.filter(investigation=case).values_list("pk", flat=True)]
    rows = AuditEvent.objects.filter(
        Q(data__case=case.pk)
        | Q(target_type="investigation", target_id=str(case.pk))
        | Q(target_type="remediationrequest", target_id__in=request_ids)
    )
    if before is not None:
        rows = rows.filter(seq__lt=before)
    newest = list(rows.order_by("-seq")[: limit + 1])
    older = newest[limit - 1].seq if len(newest) > limit else None
    events = list(reversed(newest[:limit]))
    for event in events:
        event.label = _ACTION_LABELS.get(event.action, event.action)
        event.request_id = (
            int(event.target_id) if event.target_type == "remediationrequest" and event.target_id.isdigit() else None
        )
    return events, older
