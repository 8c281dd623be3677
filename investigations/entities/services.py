"""The entity page: what Mimecast knows about a sender, recipient, domain, IP address, URL or file
hash, read concurrently (``fan_out``) so one failed part shows its problem while the rest render, and
recorded as one read in the audit trail with the reason it was made for."""

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from investigations.audit.services import audit_read
from investigations.connection.services import mimecast_client
from investigations.core import validators
from investigations.core.problems import Section, fan_out, guarded
from investigations.entities.selectors import KIND_LABELS, entity_history
from investigations.models import AuditAction

# How much of the recent mail the page shows, and over how long: a glance, not a search.
MAIL_DAYS = 7
MAIL_CAP = 50
LOG_DAYS = 30
LOG_PAGE_SIZE = 100
LOG_MAX_PAGES = 3
# Recorded with its own action name; AuditAction lists it once the lead adds it there.
ENTITY_VIEWED = AuditAction.ENTITY_VIEWED


@dataclass
class EntityPage:
    kind: str
    value: str
    sections: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    @property
    def label(self):
        return KIND_LABELS[self.kind]

    @property
    def domain(self):
        if self.kind in ("sender", "recipient"):
            return self.value.rpartition("@")[2]
        if self.kind == "domain":
            return self.value
        if self.kind == "url":
            return (urlsplit(self.value).hostname or "").lower()
        return ""


def _log_items(client, method, *, days=LOG_DAYS):
    end = timezone.now()
    items = []
    for page in client.iter_pages(
        method, start=end - timedelta(days=days), end=end, page_size=LOG_PAGE_SIZE, max_pages=LOG_MAX_PAGES
    ):
        items.extend(page.items)
    return items


def _mail(client, reason, **criteria):
    end = timezone.now()
    rows = client.search_messages(start=end - timedelta(days=MAIL_DAYS), end=end, search_reason=reason, **criteria)
    return sorted(rows, key=lambda r: r.received or end, reverse=True)[:MAIL_CAP]


def _policies(client, *values):
    wanted = {v.lower() for v in values if v}
    return [p for p in client.get_blocked_sender_policies() if (p.from_value or "").lower() in wanted]


def _safe_score(client, address):
    for page in client.iter_pages(client.get_safe_score_details, max_pages=4):
        for score in page.items:
            if score.email_address.lower() == address:
                return score
    return None


def _managed_urls(client, domain):
    return list(client.get_managed_urls(domain_or_url=domain).items) if domain else []


def _calls(client, page, reason):
    value, domain = page.value, page.domain
    if page.kind in ("sender", "recipient"):
        side = "sender" if page.kind == "sender" else "recipient"
        return {
            "mail": lambda: _mail(client, reason, **{side: value}),
            "safe": lambda: _safe_score(client, value),
            "policies": lambda: _policies(client, value, domain),
        }
    if page.kind == "domain":
        return {
            "mail": lambda: _mail(client, reason, sender=value),
            "policies": lambda: _policies(client, value),
            "managed_urls": lambda: _managed_urls(client, value),
        }
    if page.kind == "ip":
        return {"mail": lambda: _mail(client, reason, sender_ip=value)}
    if page.kind == "url":
        calls = {
            "clicks": lambda: [c for c in _log_items(client, client.get_url_logs) if c.url == value],
            "managed_urls": lambda: _managed_urls(client, domain),
        }
        if validators.is_rewritten_url(value):
            calls["decoded"] = lambda: client.decode_url(value)
        return calls
    return {
        "hash_search": lambda: client.search_hashes([value]),
        "attachment_logs": lambda: [
            a for a in _log_items(client, client.get_attachment_logs) if a.file_hash.lower() == value
        ],
    }


def entity_view(*, actor, kind, value, reason):
    """Read what Mimecast knows about one entity, and record the read."""
    page = EntityPage(kind=kind, value=value)
    # The history is read first, so it shows what happened before this visit.
    page.history = entity_history(kind, value)
    client, problem = guarded(mimecast_client)
    calls = _calls(client, page, reason) if client is not None else {}
    page.sections = fan_out(calls) if client is not None else {"connection": Section(problem=problem)}
    failed = sorted(name for name, section in page.sections.items() if not section.ok)
    audit_read(
        actor=actor,
        action=ENTITY_VIEWED,
        target=(kind, value[:255]),
        reason=reason,
        data={"kind": kind, "value": value, "failed_sections": failed},
        problem=problem,
    )
    return page
