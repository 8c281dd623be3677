"""Reads for the dashboards, from our own records. Nothing here writes, and nothing calls Mimecast."""

from datetime import timedelta

from django.db.models import Count, Q

from investigations.models import AuditAction, AuditEvent, Investigation, RemediationItem, RemediationRequest

State = RemediationRequest.State
Kind = RemediationRequest.Kind

# The audit actions that are a call to Mimecast on someone's behalf: the newest one's outcome is how
# the connection last fared.
MIMECAST_CALL_ACTIONS = tuple(value for value, _ in AuditAction.choices if value.startswith("search."))
# The kinds that take messages out of mailboxes.
REMOVING_KINDS = (Kind.REMEDIATE, Kind.REMEDIATE_MESSAGES)


def open_cases(*, user, limit=10):
    """The user's cases (owned or joined) that are not closed, most recently changed first."""
    rows = Investigation.objects.select_related("owner").exclude(status=Investigation.Status.CLOSED)
    rows = rows.filter(Q(owner=user) | Q(members=user)).distinct()
    return list(rows.order_by("-updated_at", "-id")[:limit])


def requests_by_state():
    """{state: count} of every request."""
    return dict(RemediationRequest.objects.values_list("state").annotate(n=Count("id")).order_by())


def decisions_since(*, since):
    """(submitted_at, decided_at) of the requests approved or rejected since then."""
    rows = RemediationRequest.objects.filter(
        decided_at__gte=since,
        submitted_at__isnull=False,
        state__in=[State.APPROVED, State.QUEUED, State.RUNNING, State.SUCCEEDED, State.FAILED, State.REJECTED],
    )
    return list(rows.values_list("submitted_at", "decided_at"))


def removals_finished_since(*, since):
    """The succeeded removals finished since then, with what they found and their done items."""
    return list(
        RemediationRequest.objects.filter(kind__in=REMOVING_KINDS, state=State.SUCCEEDED, finished_at__gte=since)
        .only("id", "kind", "preview", "params", "successful", "finished_at")
        .order_by("finished_at")
    )


def done_items(*, request_ids):
    """{request id: [item, ...]} of the items carried out (each a mailbox cleaned by a per-mailbox removal)."""
    found = {}
    for item in RemediationItem.objects.filter(request_id__in=request_ids, state=RemediationItem.State.DONE).only(
        "request_id", "key", "result", "updated_at"
    ):
        found.setdefault(item.request_id, []).append(item)
    return found


def newest_event(*, actions):
    """The newest event of any of these actions. One newest-per-action lookup each, on the (action,
    seq) index, joined in one query: a filter on every action at once would walk the whole trail
    back by seq when none of them happened lately."""
    actions = list(actions)
    if not actions:
        return None
    newest = [AuditEvent.objects.filter(action=a).order_by("-seq").values_list("seq", flat=True)[:1] for a in actions]
    seqs = list(newest[0].union(*newest[1:], all=True)) if len(newest) > 1 else list(newest[0])
    return AuditEvent.objects.filter(seq=max(seqs)).first() if seqs else None


def newest_connection_test():
    return newest_event(actions=[AuditAction.SETTINGS_CONNECTION_TESTED])


def newest_mimecast_call():
    return newest_event(actions=MIMECAST_CALL_ACTIONS)


def since(now, *, days):
    return now - timedelta(days=days)
