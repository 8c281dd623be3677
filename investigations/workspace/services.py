"""The investigation workspace: searches, the one-page message detail and its content.

Every Mimecast call goes through the client from ``mimecast_client()``. Independent calls for one
page run concurrently (``fan_out``), and a call that fails becomes a ``Section`` with its problem, so
the page shows that problem in place while the other sections render. Every search, detail view, body
view and download writes its audit event inside a transaction."""

import hashlib
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from investigations.audit.services import audit_read
from investigations.connection.services import mimecast_client
from investigations.core.problems import Problem, Section, fan_out, guarded
from investigations.core.validators import is_email, is_message_id, is_mimecast_id
from investigations.mimecast.archive_query import ArchiveQuery
from investigations.mimecast.types import SafeScore, parse_list
from investigations.models import AuditAction

# Upper bound of concurrent calls for "more details" on an archive page, so one analyst's page never
# spends more than a slice of the account's rate budget at once.
DETAILS_CONCURRENCY = 4
LOG_PAGE_SIZE = 100
LOG_MAX_PAGES = 5

logger = logging.getLogger(__name__)


def _client():
    return guarded(mimecast_client)


def _audit(*, actor, action, target, reason="", data=None, problem=None):
    audit_read(actor=actor, action=action, target=target, reason=reason, data=data, problem=problem)


# ------------------------------------------------------------------------------------ searches

_SORT_KEYS = {
    "received": lambda r: r.received or datetime.min.replace(tzinfo=UTC),
    "sent": lambda r: r.sent or datetime.min.replace(tzinfo=UTC),
    "status": lambda r: r.status.lower(),
    "from": lambda r: (
        (r.from_hdr and r.from_hdr.email_address) or (r.from_env and r.from_env.email_address) or ""
    ).lower(),
    "to": lambda r: (r.to[0].email_address if r.to else "").lower(),
    "subject": lambda r: r.subject.lower(),
    "route": lambda r: r.route.lower(),
    "ip": lambda r: r.sender_ip,
    "spam": lambda r: r.spam_score if r.spam_score is not None else -1.0,
}


def tracked_sorted(rows, *, key="received", direction="desc"):
    return sorted(rows, key=_SORT_KEYS.get(key, _SORT_KEYS["received"]), reverse=direction != "asc")


@dataclass
class SearchOutcome:
    rows: list = field(default_factory=list)
    problem: Problem | None = None
    next_token: str = ""
    previous_token: str = ""
    total: int | None = None


def _without_times(criteria):
    return {k: v for k, v in criteria.items() if not k.endswith("_dt")}


def _track_trace_kwargs(criteria):
    if criteria["message_id"]:
        return {"message_id": criteria["message_id"]}
    names = ("sender", "recipient", "subject", "sender_ip", "route")
    return {name: criteria[name] or None for name in names}


def search_track_trace(*, actor, criteria, reason, query, sort="received", direction="desc"):
    """Message Finder search. ``criteria`` comes from TrackTraceForm.criteria(); ``query`` is the
    query string that reruns it (kept in the audit event for "recent searches")."""
    client, problem = _client()
    rows = []
    if client is not None:
        rows, problem = guarded(
            lambda: client.search_messages(
                **_track_trace_kwargs(criteria),
                start=criteria["start_dt"],
                end=criteria["end_dt"],
                search_reason=reason,
            )
        )
    rows = rows or []
    _audit(
        actor=actor,
        action=AuditAction.SEARCH_TRACK_TRACE,
        target=("search", "track-trace"),
        reason=reason,
        data={"criteria": _without_times(criteria), "query": query, "results": len(rows)},
        problem=problem,
    )
    return SearchOutcome(rows=tracked_sorted(rows, key=sort, direction=direction), problem=problem)


def _paged_search(fetch) -> SearchOutcome:
    """One page of a paged Mimecast search: ``fetch(client)`` returns the page."""
    client, problem = _client()
    if client is None:
        return SearchOutcome(problem=problem)
    page, problem = guarded(lambda: fetch(client))
    if problem:
        return SearchOutcome(problem=problem)
    return SearchOutcome(
        rows=page.items,
        next_token=page.next_token or "",
        previous_token=page.previous_token or "",
        total=page.total_count,
    )


def _archive_query(criteria, page_size):
    names = ("text", "subject", "body", "attachment_text", "document_type", "from_address", "to_address", "mailbox")
    return ArchiveQuery(**{name: criteria[name] for name in names}, date_select=criteria["period"], page_size=page_size)


def search_archive(*, actor, criteria, reason, query, page_token="", page_size=25):
    admin = criteria["scope"] == "admin"
    archive_query = _archive_query(criteria, page_size)
    outcome = _paged_search(
        lambda client: client.archive_search(archive_query, admin=admin, page_token=page_token or None)
    )
    _audit(
        actor=actor,
        action=AuditAction.SEARCH_ARCHIVE,
        target=("search", "archive"),
        reason=reason,
        data={"criteria": criteria, "query": query, "page": bool(page_token), "results": len(outcome.rows)},
        problem=outcome.problem,
    )
    return outcome


def search_mailbox(*, actor, criteria, reason, query, page_token="", page_size=50):
    outcome = _paged_search(
        lambda client: client.get_archive_message_list(
            view=criteria["view"],
            mailbox=criteria["mailbox"],
            start=criteria["start_dt"],
            end=criteria["end_dt"],
            page_size=page_size,
            page_token=page_token or None,
        )
    )
    data = {
        "criteria": _without_times(criteria),
        "query": query,
        "page": bool(page_token),
        "results": len(outcome.rows),
    }
    _audit(
        actor=actor,
        action=AuditAction.SEARCH_MAILBOX,
        target=("mailbox", criteria["mailbox"]),
        reason=reason,
        data=data,
        problem=outcome.problem,
    )
    return outcome


def archive_more_details(*, actor, message_ids):
    """get-message-detail for every hit on an archive page, a few at a time (the rate budget)."""
    client, problem = _client()
    if client is None:
        details = {mid: Section(problem=problem) for mid in message_ids}
    else:
        calls = {mid: (lambda mid=mid: client.get_archive_message_detail(mid)) for mid in message_ids}
        details = fan_out(calls, max_workers=DETAILS_CONCURRENCY)
    _audit(
        actor=actor,
        action=AuditAction.SEARCH_ARCHIVE_DETAILS,
        target=("search", "archive"),
        data={"message_ids": message_ids, "failed": [mid for mid, s in details.items() if not s.ok]},
        problem=problem,
    )
    return details


# ---------------------------------------------------------------------------------- selections

# The most message copies one selection on a result list may name: a track & trace answer's cap.
SELECTION_MAX = 500


def _selected_copy(value):
    """A ticked message row's value, "<mailbox>|<message>", as (mailbox, message) or None. The message
    is its Message-ID header when the list knew it, else its Mimecast id."""
    mailbox, sep, ref = str(value).partition("|")
    mailbox, ref = mailbox.strip().lower(), ref.strip()
    if not sep or not is_email(mailbox) or not (is_message_id(ref) or is_mimecast_id(ref)):
        return None
    return mailbox, ref


def _bracketed(message_id):
    return message_id if message_id.startswith("<") else f"<{message_id.strip('<>')}>"


def selection_messages(values, *, actor=None):
    """Ticked message rows as evidence: one item per message (its Message-ID or Mimecast id), labelled
    with the mailboxes whose copies were ticked. Returns (values, labels, message_ids) in one order."""
    mailboxes = {}
    for mailbox, ref in filter(None, map(_selected_copy, values[:SELECTION_MAX])):
        mailboxes.setdefault(ref, []).append(mailbox)
    labels = [
        f"copy in {', '.join(boxes[:5])}" + (f" and {len(boxes) - 5} more" if len(boxes) > 5 else "")
        for boxes in mailboxes.values()
    ]
    to_look_up = [ref for ref in mailboxes if not is_message_id(ref)]
    found = {}
    if to_look_up and actor is not None:
        details = archive_more_details(actor=actor, message_ids=to_look_up)
        found = {mid: s.value.mime_message_id for mid, s in details.items() if s.ok and s.value.mime_message_id}
    message_ids = [ref if is_message_id(ref) else found.get(ref, "") for ref in mailboxes]
    return list(mailboxes), labels, message_ids


def selection_targets(*, actor, values):
    """The remediation targets ("<mailbox>|<Message-ID>") of ticked message rows, and how many rows gave
    none. Message Finder and the archive lists do not carry the Message-ID header, so the rows that name
    their message by Mimecast id are looked up (get-message-detail, a few at a time, audited like the
    archive's "more details"): only what was ticked, when the user asks to act on it."""
    copies = [c for c in map(_selected_copy, values[:SELECTION_MAX]) if c is not None]
    skipped = len(values) - len(copies)  # not a message copy, or beyond the cap
    to_look_up = list(dict.fromkeys(ref for _, ref in copies if not is_message_id(ref)))
    found = {}
    if to_look_up:
        details = archive_more_details(actor=actor, message_ids=to_look_up)
        found = {mid: s.value.mime_message_id for mid, s in details.items() if s.ok and s.value.mime_message_id}
    targets = []
    for mailbox, ref in copies:
        message_id = ref if is_message_id(ref) else found.get(ref, "")
        if not message_id:
            skipped += 1
            continue
        target = f"{mailbox}|{_bracketed(message_id)}"
        if target not in targets:
            targets.append(target)
    return targets, skipped


# ------------------------------------------------------------------------------ message detail

_URL_RE = re.compile(r"https?://[^\s\"'<>]+", re.I)
_AUTH_RE = re.compile(r"\b(spf|dkim|dmarc|arc|compauth)=([A-Za-z]+)", re.I)


@dataclass
class Header:
    name: str
    value: str

    @property
    def is_auth(self):
        return self.name.lower() in (
            "authentication-results",
            "received-spf",
            "arc-authentication-results",
            "dkim-signature",
        )


def headers_from_transmission_info(text):
    """get-message-info's transmissionInfo is an HTML <pre> of the raw headers."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", text or ""))
    out: list[Header] = []
    for line in plain.splitlines():
        if line[:1] in (" ", "\t") and out:
            out[-1].value += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            out.append(Header(name.strip(), value.strip()))
    return out


def auth_verdicts(headers):
    """SPF / DKIM / DMARC results named in Authentication-Results headers."""
    verdicts = {}
    for header in headers:
        if header.name.lower() == "authentication-results":
            for method, result in _AUTH_RE.findall(header.value):
                verdicts.setdefault(method.lower(), result.lower())
    return verdicts


def _urls_in(text):
    seen = []
    for url in _URL_RE.findall(text or ""):
        url = url.rstrip(".,);]")
        if url not in seen:
            seen.append(url)
    return seen


@dataclass
class FoundUrl:
    original: str
    rewritten: str


def found_urls(info):
    """URLs in the message: the received copy has the originals, a delivered copy the rewritten ones."""
    received = info.recipient_info.message_info
    originals = _urls_in(received.text_body) or _urls_in(received.html_body)
    delivered = next(iter(info.delivered.values()), None)
    rewritten = []
    if delivered is not None:
        rewritten = _urls_in(delivered.message_info.text_body) or _urls_in(delivered.message_info.html_body)
    rewritten = [u for u in rewritten if u not in originals]
    if len(rewritten) == len(originals):
        return [FoundUrl(o, r) for o, r in zip(originals, rewritten, strict=True)]
    return [FoundUrl(o, "") for o in originals] + [FoundUrl("", r) for r in rewritten]


@dataclass
class AttachmentRow:
    name: str
    mime_type: str
    size: int | None
    sha256: str
    download_id: str = ""


def attachment_rows(info, archive):
    """Attachments from get-message-info's components, with the archive's ids for download."""
    archived = archive.attachments if archive is not None else []
    rows = []
    components = info.recipient_info.meta.components if info is not None else []
    for c in components:
        if c.type.lower() != "attachment":
            continue
        match = next((a for a in archived if (c.hash and a.sha256 == c.hash) or a.filename == c.name), None)
        rows.append(AttachmentRow(c.name, c.mime_type, c.size, c.hash, match.id if match else ""))
    known = {r.download_id for r in rows}
    for a in archived:
        if a.id not in known:
            rows.append(AttachmentRow(a.filename, a.content_type, a.size, a.sha256, a.id))
    return rows


@dataclass
class MessageDetail:
    message_id: str
    info: Section
    archive: Section
    headers: list = field(default_factory=list)
    verdicts: dict = field(default_factory=dict)
    attachments: list = field(default_factory=list)
    urls: list = field(default_factory=list)

    @property
    def subject(self):
        if self.info.ok:
            return self.info.value.recipient_info.message_info.subject
        if self.archive.ok:
            return self.archive.value.subject
        return ""

    @property
    def mime_id(self):
        if self.archive.ok and self.archive.value.mime_message_id:
            return self.archive.value.mime_message_id
        return next((h.value for h in self.headers if h.name.lower() == "message-id"), "")

    @property
    def sender(self):
        if self.info.ok:
            mi = self.info.value.recipient_info.message_info
            return mi.from_header or mi.from_envelope
        if self.archive.ok and self.archive.value.from_:
            return self.archive.value.from_.email_address
        return ""

    @property
    def received(self):
        if self.info.ok and self.info.value.recipient_info.meta.transmission_end:
            return self.info.value.recipient_info.meta.transmission_end
        if self.info.ok and self.info.value.recipient_info.message_info.processed:
            return self.info.value.recipient_info.message_info.processed
        if self.archive.ok:
            return self.archive.value.received
        return None

    @property
    def route(self):
        """inbound, outbound or internal. Real tenants often leave it out of the received copy and give
        it only in each delivered copy's messageInfo (a held message's in its queueInfo)."""
        if not self.info.ok:
            return ""
        info = self.info.value
        routes = [info.recipient_info.message_info.route, *(d.message_info.route for d in info.delivered.values())]
        queued = info.queue_info.get("route") if isinstance(info.queue_info, dict) else ""
        return next((r for r in [*routes, queued] if r and isinstance(r, str)), "")

    @property
    def recipients(self):
        if self.info.ok:
            mi = self.info.value.recipient_info.message_info
            return list(dict.fromkeys([*mi.to, *mi.cc, *self.info.value.delivered.keys()]))
        if self.archive.ok:
            return [a.email_address for a in [*self.archive.value.to, *self.archive.value.cc]]
        return []

    @property
    def found(self):
        return self.info.ok or self.archive.ok

    @property
    def not_found(self):
        return all(s.problem is not None and s.problem.not_found for s in (self.info, self.archive))


def message_detail(*, actor, message_id, reason=""):
    """The message page's first round: get-message-info and the archive detail, concurrently.
    ``reason`` is audited when the caller asked for one (the API does; the page is reached by a link)."""
    detail = _message_fetch(message_id)
    failed = [name for name in ("info", "archive") if not getattr(detail, name).ok]
    _audit(
        actor=actor,
        action=AuditAction.MESSAGE_VIEWED,
        target=("message", message_id),
        reason=reason,
        data={"subject": detail.subject[:200], "failed_sections": failed},
        problem=detail.info.problem if not detail.found else None,
    )
    return detail


def _message_fetch(message_id):
    """The first round, not audited: the page's second section asks again rather than wait for the first."""
    client, problem = _client()
    if client is None:
        sections = {"info": Section(problem=problem), "archive": Section(problem=problem)}
    else:
        sections = fan_out(
            {
                "info": lambda: client.get_message_info(message_id),
                "archive": lambda: client.get_archive_message_detail(message_id),
            }
        )
    detail = MessageDetail(message_id=message_id, info=sections["info"], archive=sections["archive"])
    if detail.archive.ok and detail.archive.value.headers:
        detail.headers = [Header(h.name, v) for h in detail.archive.value.headers for v in (h.values or [""])]
    elif detail.info.ok:
        detail.headers = headers_from_transmission_info(detail.info.value.recipient_info.message_info.transmission_info)
    detail.verdicts = auth_verdicts(detail.headers)
    detail.attachments = attachment_rows(
        detail.info.value if detail.info.ok else None, detail.archive.value if detail.archive.ok else None
    )
    detail.urls = found_urls(detail.info.value) if detail.info.ok else []
    return detail


# ------------------------------------------------------------- related activity and blast radius


@dataclass
class RelatedQuery:
    """What the related-activity section needs to know about the message (from the first round)."""

    message_id: str
    mime_id: str = ""
    sender: str = ""
    subject: str = ""
    received: datetime | None = None
    hashes: list = field(default_factory=list)
    recipients: list = field(default_factory=list)


def related_query_of(detail):
    """What the first round learnt, bounded as the section's own address bounds it."""
    return RelatedQuery(
        message_id=detail.message_id,
        mime_id=detail.mime_id[:998],
        sender=detail.sender[:254],
        subject=detail.subject[:255],
        received=detail.received,
        hashes=[a.sha256 for a in detail.attachments if a.sha256][:20],
        recipients=[r[:254] for r in detail.recipients[:100]],
    )


def _log_items(client, method, *, start, end):
    items = []
    for page in client.iter_pages(method, start=start, end=end, page_size=LOG_PAGE_SIZE, max_pages=LOG_MAX_PAGES):
        items.extend(page.items)
    return items


def _safe_scores_cache_key(client):
    """One entry per Mimecast account and credential: two connections (another tenant, or the admin's
    saved connection replacing the environment's) never read each other's scores. A digest, so no
    identifier of the connection is stored in the cache."""
    config = client.config
    who = config.client_id if config.api_version == 2 else (config.access_key or config.username)
    identity = "|".join((str(config.api_version), config.base_url, config.app_id, who))
    return "workspace:safe-scores:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def _all_safe_scores(client):
    """Every user's SAFE score. The list is the same for every message page and changes slowly, so it
    is kept in Django's cache for SAFE_SCORE_CACHE_SECONDS (a failed call is not kept). The cache holds
    the records as Mimecast sent them, parsed again on the way out."""
    lifetime = settings.SAFE_SCORE_CACHE_SECONDS
    key = _safe_scores_cache_key(client)
    if lifetime:
        try:
            cached = cache.get(key)
        except Exception:  # a cache that is down costs a Mimecast call, never the page
            logger.warning("SAFE score cache unavailable", exc_info=True)
            cached = None
        if cached is not None:
            return parse_list(SafeScore, cached)
    scores = []
    for page in client.iter_pages(client.get_safe_score_details, max_pages=4):
        scores.extend(page.items)
    if lifetime:
        try:
            cache.set(key, [dict(s.raw) for s in scores], lifetime)
        except Exception:
            logger.warning("SAFE score cache unavailable", exc_info=True)
    return scores


# How far back the related-activity logs look (the TTP logs' reach): no window starts earlier.
RELATED_REACH_DAYS = 30
_RELATED_SECTIONS = (
    "clicks",
    "attachments",
    "attachments_before",
    "impersonation",
    "same_id",
    "same_sender_subject",
    "safe",
)
_WHO_ELSE = "Portal: who else received this message"


def _related_calls(client, query: RelatedQuery, reason=""):
    """The calls of the related-activity section, over windows around when the message arrived.
    ``reason`` is what Message Finder is told (the investigation's, inside one), else our own words."""
    reason = reason or _WHO_ELSE
    now = timezone.now()
    received = query.received or now - timedelta(days=1)
    # "When it arrived" comes from the page's link, so anything may be there: a time after now
    # or before the logs' reach says nothing the windows can use, and near year 1 or 9999 the
    # arithmetic below would overflow. Bounded, the windows always run forwards.
    received = min(max(received, now - timedelta(days=RELATED_REACH_DAYS)), now)
    log_start = max(received - timedelta(minutes=10), now - timedelta(days=RELATED_REACH_DAYS))
    log_end = min(received + timedelta(days=7), now)
    wide_start = max(received - timedelta(days=7), now - timedelta(days=RELATED_REACH_DAYS))
    calls = {
        "clicks": lambda: _log_items(client, client.get_url_logs, start=log_start, end=log_end),
        # The week before it arrived only serves "same attachment elsewhere": asked for apart, and
        # concurrently, so neither window's pages wait on the other's.
        "attachments": lambda: _log_items(client, client.get_attachment_logs, start=log_start, end=log_end),
        "impersonation": lambda: _log_items(client, client.get_impersonation_logs, start=log_start, end=log_end),
        # Every user's SAFE score (a page or two), filtered later: asking in the same round is faster
        # than waiting to learn who clicked.
        "safe": lambda: _all_safe_scores(client),
    }
    if wide_start < log_start:
        calls["attachments_before"] = lambda: _log_items(
            client, client.get_attachment_logs, start=wide_start, end=log_start
        )
    if query.mime_id:
        calls["same_id"] = lambda: client.search_messages(
            message_id=query.mime_id, start=wide_start, end=log_end, search_reason=reason
        )
    if query.sender and query.subject:
        calls["same_sender_subject"] = lambda: client.search_messages(
            sender=query.sender, subject=query.subject[:200], start=wide_start, end=log_end, search_reason=reason
        )
    return calls


def _related_rows(query: RelatedQuery, sections):
    """Keep the log entries about this message (or, for clicks, the same campaign)."""
    mid = query.mime_id.strip("<>").lower()
    hashes = {h.lower() for h in query.hashes if h}

    def about_message(entry_message_id):
        return mid and entry_message_id.strip("<>").lower() == mid

    def same_campaign(click):
        sender = query.sender.lower()
        return query.sender and click.from_user_email_address.lower() == sender and click.subject == query.subject

    def items(name):
        section = sections.get(name)
        return section.value if section is not None and section.ok else []

    logs = items("attachments_before") + items("attachments")
    return {
        "sections": sections,
        "clicks": [c for c in items("clicks") if about_message(c.message_id) or same_campaign(c)],
        "attachment_logs": [a for a in logs if about_message(a.message_id)],
        "impersonation": [i for i in items("impersonation") if about_message(i.message_id)],
        "same_hash": [a for a in logs if a.file_hash.lower() in hashes and not about_message(a.message_id)],
    }


def message_related(*, query: RelatedQuery, reason=""):
    """TTP log entries about the message, SAFE scores and "who else received it", concurrently."""
    client, problem = _client()
    if client is None:
        sections = {name: Section(problem=problem) for name in _RELATED_SECTIONS}
    else:
        sections = fan_out(_related_calls(client, query, reason))
    return _related_from(query, sections)


def _related_from(query: RelatedQuery, sections):
    related = _related_rows(query, sections)
    # SAFE scores for the recipients and everyone who clicked.
    people = {p.lower() for p in [*query.recipients, *(c.user_email_address for c in related["clicks"])]}
    safe = sections["safe"]
    related["safe"] = (
        Section(
            value=sorted((s for s in safe.value if s.email_address.lower() in people), key=lambda s: s.email_address)
        )
        if safe.ok
        else safe
    )
    return related


# --------------------------------------------------------------------------------------- content


def message_body(*, message_id, kind):
    """The body as received: ``kind`` is "html" or "text". Returns (text, problem)."""
    client, problem = _client()
    if client is None:
        return "", problem
    part_type = "HTML" if kind == "html" else "PLAIN"
    part, problem = guarded(lambda: client.get_message_part(message_id, context="RECEIVED", part_type=part_type))
    if problem:
        return "", problem
    return part.content.decode("utf-8", errors="replace"), None


def record_body_view(*, actor, message_id, reason):
    _audit(actor=actor, action=AuditAction.MESSAGE_BODY_VIEWED, target=("message", message_id), reason=reason)


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name, default):
    """A file name safe in a Content-Disposition header and on any file system."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    base = re.sub(r"_+", "_", base)
    if not base or base.strip("_") == "":
        return default
    if len(base) > 120:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 120 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else base[:120]
    return base


def _download(fetch):
    client, problem = _client()
    if client is None:
        return None, problem
    return guarded(lambda: fetch(client))


def download_message(*, actor, message_id, context, reason):
    """The original message (.eml) as received or delivered. Returns (BinaryContent | None, problem)."""
    content, problem = _download(
        lambda client: client.get_message_part(message_id, context=context, part_type="RFC822")
    )
    _audit(
        actor=actor,
        action=AuditAction.MESSAGE_DOWNLOADED,
        target=("message", message_id),
        reason=reason,
        data={"context": context, "size": content.size if content else None},
        problem=problem,
    )
    return content, problem


def download_attachment(*, actor, message_id, attachment_id, reason):
    content, problem = _download(lambda client: client.get_file(attachment_id))
    _audit(
        actor=actor,
        action=AuditAction.ATTACHMENT_DOWNLOADED,
        target=("message", message_id),
        reason=reason,
        data={
            "attachment_id": attachment_id[:200],
            "filename": (content.filename if content else "")[:200],
            "size": content.size if content else None,
            "sha256": hashlib.sha256(content.content).hexdigest() if content else None,
        },
        problem=problem,
    )
    return content, problem


# ------------------------------------------------------- authentication, verdict banner, timeline

# One colour scheme for authentication results: pass green, none or neutral grey, anything else red.
_AUTH_METHODS = ("spf", "dkim", "dmarc", "arc", "compauth")
_AUTH_QUIET = frozenset({"none", "neutral", "unknown", ""})
# Each tone's badge (portal.css): the one place a verdict's colour is chosen.
AUTH_BADGES = {"pass": "badge-success", "none": "badge-muted", "fail": "badge-failure"}


@dataclass
class AuthResult:
    method: str
    result: str
    info: str = ""

    @property
    def tone(self):
        if self.result == "pass":
            return "pass"
        return "none" if self.result in _AUTH_QUIET else "fail"

    @property
    def badge(self):
        return AUTH_BADGES[self.tone]


def _spam_check_result(name, check):
    """Mimecast's spam check as a result word: its info names it ("SPF fail"); else allow says pass."""
    words = (check.info or "").lower().split()
    if len(words) >= 2 and words[0] == name:
        return words[1]
    if check.allow is None:
        return "none"
    return "pass" if check.allow else "fail"


def auth_results(headers, info):
    """SPF, DKIM, DMARC (and ARC, compauth when present), each once: the Authentication-Results
    header says what the receiving gateway decided, so it wins; Mimecast's spam checks fill the gaps."""
    found = auth_verdicts(headers)
    checks = info.spam.checks if info is not None else {}
    results = []
    for method in _AUTH_METHODS:
        if method in found:
            results.append(AuthResult(method, found[method]))
        elif method in checks:
            check = checks[method]
            results.append(AuthResult(method, _spam_check_result(method, check), check.info))
    return results


def _edit_distance(a, b, limit=2):
    """Levenshtein distance, giving up (limit + 1) once it is sure to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def lookalike_of(domain, own_domains):
    """The organisation's domain that ``domain`` imitates (one or two characters changed, or the
    whole name with extra characters around it), or "" when it imitates none."""
    domain = (domain or "").lower()
    for own in sorted({d.lower() for d in own_domains if d}):
        if domain == own or domain.endswith("." + own):
            continue
        stem = own.rsplit(".", 1)[0]
        if _edit_distance(domain, own) <= 2 or (len(stem) >= 4 and stem in domain):
            return own
    return ""


def _domain_of(address):
    return address.rpartition("@")[2].lower() if "@" in (address or "") else ""


@dataclass
class Activity:
    """What the second round learnt about the message: its clicks, TTP verdicts and releases."""

    clicks: list = field(default_factory=list)
    malicious_urls: set = field(default_factory=set)
    attachment_logs: list = field(default_factory=list)
    impersonation: list = field(default_factory=list)
    releases: list = field(default_factory=list)
    remediations: list = field(default_factory=list)
    problems: dict = field(default_factory=dict)


def _message_urls(detail):
    return {u for found in detail.urls for u in (found.original, found.rewritten) if u}


def _releases_call(client, detail):
    """The held-message release log, asked for only when the message was held or released."""
    info = detail.info.value if detail.info.ok else None
    if info is None or not (info.queue_info or "held" in info.status.lower() or "releas" in info.status.lower()):
        return None
    now = timezone.now()
    received = min(detail.received or now - timedelta(days=1), now)
    start = max(received - timedelta(minutes=10), now - timedelta(days=RELATED_REACH_DAYS))
    end = min(received + timedelta(days=7), now)
    return lambda: _log_items(client, client.get_held_release_logs, start=start, end=end)


def _remediations_of(mime_id):
    """Our remediation and restore requests that name this message: by Message-ID, or as one item of
    a bulk request (whose item keys end with the Message-ID)."""
    from django.db.models import Q

    from investigations.models import RemediationRequest

    bare = mime_id.strip("<>")
    if not bare:
        return []
    names = [bare, f"<{bare}>"]
    query = Q(search_by="message_id", search_value__in=names)
    for name in names:
        query |= Q(items__key__endswith=f"|{name}")
    return list(RemediationRequest.objects.filter(query).distinct().order_by("created_at")[:20])


# The calls whose failure leaves a gap in the timeline.
_ACTIVITY_SECTIONS = ("attachments", "impersonation", "clicks", "releases")


def _activity_from(detail, sections):
    activity = Activity()
    mime = detail.mime_id.strip("<>").lower()
    activity.remediations = _remediations_of(detail.mime_id) if detail.mime_id else []
    activity.problems = {n: s.problem for n, s in sections.items() if not s.ok and n in _ACTIVITY_SECTIONS}

    def items(name):
        section = sections.get(name)
        return section.value if section is not None and section.ok else []

    def about(entry_id):
        return bool(mime) and (entry_id or "").strip("<>").lower() == mime

    urls = _message_urls(detail)
    clicks = [c for c in items("clicks") if c.url in urls]
    activity.malicious_urls = {c.url for c in clicks if c.scan_result.lower() == "malicious"}
    activity.clicks = [c for c in clicks if about(c.message_id)]
    activity.attachment_logs = [a for a in items("attachments") if about(a.message_id)]
    activity.impersonation = [i for i in items("impersonation") if about(i.message_id)]
    activity.releases = [r for r in items("releases") if r.id == detail.message_id or about(r.message_id)]
    return activity


def message_surroundings(*, message_id, reason=""):
    """The message page's second section: the first round again (its answer is not kept between
    requests), then in one concurrent round the activity that the banner and the timeline need and
    the related section's calls, one call per log for both. Returns (detail, activity, related);
    activity and related are None when the message was not found."""
    detail = _message_fetch(message_id)
    client, _problem = _client()
    if not detail.found or client is None:
        return detail, None, None
    query = related_query_of(detail)
    calls = _related_calls(client, query, reason)
    releases = _releases_call(client, detail)
    if releases:
        calls["releases"] = releases
    sections = fan_out(calls)
    # Without a URL in the message no click is about it: the click log's failure leaves no gap then.
    about = sections if detail.urls else {n: s for n, s in sections.items() if n != "clicks"}
    return detail, _activity_from(detail, about), _related_from(query, sections)


@dataclass
class Verdict:
    """The banner: what is wrong, in one line, and what to do next."""

    tone: str  # "danger", "warn" or "ok"
    findings: list = field(default_factory=list)
    next_steps: list = field(default_factory=list)
    lookalike: str = ""
    malicious_urls: list = field(default_factory=list)


def _ttp_findings(activity):
    findings = []
    bad_attachments = [a for a in activity.attachment_logs if a.result.lower() in ("malicious", "unsafe")]
    if bad_attachments:
        findings.append(f"Attachment Protect found {len(bad_attachments)} malicious attachment(s)")
    hits = [i for i in activity.impersonation if i.tagged_malicious or (i.hits or 0) > 0]
    if hits:
        findings.append(f"Impersonation Protect hits ({', '.join(sorted({x for i in hits for x in i.identifiers}))})")
    blocked = [c for c in activity.clicks if c.scan_result.lower() == "malicious" and c.action.lower() != "allow"]
    if blocked:
        findings.append(f"URL Protect blocked {len(blocked)} click(s) on a malicious URL")
    return findings


def message_verdict(*, detail, auth, activity):
    """What is wrong with the message, from what the page already has."""
    findings, steps = [], []
    allowed = [c for c in activity.clicks if c.action.lower() == "allow" and c.url in activity.malicious_urls]
    if allowed:
        who = sorted({c.user_email_address for c in allowed})
        findings.append(f"{len(who)} recipient(s) clicked a URL now known to be malicious and were let through")
        steps.append("reset the passwords of those who clicked")
    failed = [a.method.upper() for a in auth if a.tone == "fail"]
    if failed:
        findings.append(f"failed authentication ({', '.join(failed)})")
    findings.extend(_ttp_findings(activity))
    own = {_domain_of(r) for r in detail.recipients} if detail.route != "outbound" else set()
    lookalike = lookalike_of(_domain_of(detail.sender), own)
    if lookalike:
        findings.append(f"the sender's domain {_domain_of(detail.sender)} looks like {lookalike}")
    if findings:
        steps[:0] = ["remediate this message", "block the sender domain"]
        if activity.malicious_urls:
            steps.append("block the URL")
    tone = "danger" if allowed or (findings and (failed or lookalike)) else ("warn" if findings else "ok")
    return Verdict(
        tone=tone,
        findings=findings,
        next_steps=steps,
        lookalike=lookalike,
        malicious_urls=sorted(activity.malicious_urls),
    )


@dataclass
class TimelineEvent:
    at: datetime | None
    kind: str  # delivery, hold, release, click, ttp, remediation
    text: str
    danger: bool = False


def _delivery_events(detail):
    if not detail.info.ok:
        return []
    info = detail.info.value
    meta, mi = info.recipient_info.meta, info.recipient_info.message_info
    events = [
        TimelineEvent(meta.transmission_end or meta.transmission_start, "delivery", f"Received from {meta.remote_ip}"),
        TimelineEvent(mi.processed, "delivery", "Processed by Mimecast"),
    ]
    for rcpt, d in info.delivered.items():
        sent = d.delivery.transmission_end or d.delivery.transmission_start
        events.append(TimelineEvent(sent, "delivery", f"Delivered to {rcpt}"))
    if info.queue_info:
        reason = info.queue_info.get("reason", "") if isinstance(info.queue_info, dict) else ""
        events.append(TimelineEvent(mi.processed, "hold", f"Held: {reason}".strip(": ")))
    return events


def _activity_events(activity):
    events = [
        TimelineEvent(
            c.date,
            "click",
            f"{c.user_email_address} clicked {c.url}: {c.action} (scan {c.scan_result or 'unknown'})",
            danger=c.action.lower() == "allow" and c.url in activity.malicious_urls,
        )
        for c in activity.clicks
    ]
    events += [
        TimelineEvent(a.date, "ttp", f"Attachment Protect: {a.file_name} {a.result} ({a.action_triggered})")
        for a in activity.attachment_logs
    ]
    events += [
        TimelineEvent(i.event_time, "ttp", f"Impersonation Protect: {i.action} ({', '.join(i.identifiers)})")
        for i in activity.impersonation
    ]
    for r in activity.releases:
        verb = f"rejected ({r.reject_reason})" if r.reject_reason else "released"
        events.append(TimelineEvent(r.released, "release", f"{verb} by {r.operator or 'an administrator'}"))
    for req in activity.remediations:
        what = req.get_kind_display()
        events.append(TimelineEvent(req.submitted_at or req.created_at, "remediation", f"{what} requested (#{req.pk})"))
        if req.decided_at:
            decision = "rejected" if req.rejected_by_id else "approved"
            events.append(TimelineEvent(req.decided_at, "remediation", f"{what} #{req.pk} {decision}"))
        if req.finished_at:
            events.append(TimelineEvent(req.finished_at, "remediation", f"{what} #{req.pk} {req.state}"))
    return events


def message_timeline(*, detail, activity):
    """Every dated thing we know about the message, oldest first; undated ones last."""
    events = _delivery_events(detail) + _activity_events(activity)
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: e.at or far)
