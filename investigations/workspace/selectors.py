"""Reads for the investigation workspace. Recent searches come from the audit trail's search events:
every search is audited anyway, so no second table has to be kept in step with it."""

from dataclasses import dataclass
from datetime import datetime

from django.http import QueryDict
from django.urls import reverse

from investigations.core.links import with_query
from investigations.models import AuditAction, AuditEvent

SEARCH_PAGES = {
    AuditAction.SEARCH_TRACK_TRACE: ("track-trace", "Track & trace"),
    AuditAction.SEARCH_ARCHIVE: ("archive-search", "Archive"),
    AuditAction.SEARCH_MAILBOX: ("mailbox-view", "Mailbox"),
}


@dataclass
class RecentSearch:
    when: datetime
    kind: str
    summary: str
    reason: str
    results: int | None
    outcome: str
    url: str


def _summary(criteria):
    parts = []
    for name, value in (criteria or {}).items():
        if name in ("start", "end", "scope", "period", "window", "view") or value in ("", None, []):
            continue
        parts.append(f"{name.replace('_', ' ')}: {', '.join(value) if isinstance(value, list) else value}")
    return "; ".join(parts)[:200]


def recent_searches(*, user, limit=10):
    events = AuditEvent.objects.filter(
        actor_type="user", actor_id=str(user.pk), action__in=list(SEARCH_PAGES)
    ).order_by("-seq")[: limit * 3]
    out, seen = [], set()
    for event in events:
        url_name, label = SEARCH_PAGES[event.action]
        query = str((event.data or {}).get("query") or "")
        url = with_query(reverse(url_name), QueryDict(query))
        if url in seen:
            continue
        seen.add(url)
        results = (event.data or {}).get("results")
        out.append(
            RecentSearch(
                when=event.created_at,
                kind=label,
                summary=_summary((event.data or {}).get("criteria")),
                reason=event.reason,
                results=results if isinstance(results, int) else None,
                outcome=event.outcome,
                url=url,
            )
        )
        if len(out) >= limit:
            break
    return out
