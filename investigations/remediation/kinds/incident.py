"""Remediate and restore: one Mimecast remediation incident each, whose counts the engine polls.

The preview of a remediation is its blast radius: the messages and mailboxes the incident will
touch, joined from every source that can name them, because no single Mimecast call does:

- by file hash: search-hash says whether Mimecast saw the file at all (it names no message); the
  Attachment Protect logs over the request's window name each message (Message-ID, sender,
  recipient, subject) that carried a file with that SHA-256;
- by URL: the URL Protect logs over the window name the messages whose link was clicked; Message
  Finder then lists the other messages of the same sender and subject, since a campaign sends the
  link to people who never click it;
- by Message-ID: Message Finder itself;
- every message a log names is looked up in Message Finder by its Message-ID, which adds the
  recipients the log did not name (a log row names one recipient) and whether it is still delivered.

The sender/recipient narrowing of the request applies to every source, as Mimecast applies it to
the incident. Every read is bounded (pages, lookups, rows kept), with a note when a bound was hit,
and a source that fails is named in preview["errors"] while the others still show. The preview is
stored on the request, so the approver decides on the very list the requester saw.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from investigations.core.problems import problem_from
from investigations.mimecast.errors import MimecastError
from investigations.models import RemediationRequest
from investigations.remediation.kinds import family, register

Kind = RemediationRequest.Kind
SearchBy = RemediationRequest.SearchBy

# Pages (of LOG_PAGE_SIZE) of each TTP log one preview reads: the default window is a month.
LOG_PAGES = 20
LOG_PAGE_SIZE = 100
# Message-IDs looked up in Message Finder, and concurrent lookups (a slice of the rate budget).
FINDER_LOOKUPS = 40
FINDER_WORKERS = 4
# Sender-and-subject searches that widen a URL's clicked messages to the campaign.
CAMPAIGN_SEARCHES = 3
# Rows (one message in one mailbox) kept in the stored preview; the totals count them all.
ROW_LIMIT = 500

# Message Finder statuses: the message is still in the mailbox, or it never was or no longer is.
DELIVERED = {"delivered", "archived", "released"}
NOT_DELIVERED = {"remediated", "held", "rejected", "bounced", "deferred", "failed"}

ATTACHMENT_LOG = "attachment log"
URL_LOG = "URL log"
FINDER = "Message Finder"
CAMPAIGN = "Message Finder: same sender and subject"


def _words(error: MimecastError) -> str:
    return problem_from(error).message


def _matches(address: str, pattern: str) -> bool:
    """Mimecast's from/to narrowing: an address matches itself, a domain its addresses and subdomains."""
    address, pattern = (address or "").strip().lower(), (pattern or "").strip().lower()
    if not pattern:
        return True
    if "@" in pattern:
        return address == pattern
    return address.endswith("@" + pattern) or address.endswith("." + pattern)


def _bare_id(message_id: str) -> str:
    return (message_id or "").strip().strip("<>").lower()


def _url_matches(logged: str, wanted: str) -> bool:
    """The URL itself, or a longer URL it begins (Mimecast's URL remediation matches the same way)."""
    logged, wanted = (logged or "").strip(), (wanted or "").strip()
    if not logged or not wanted:
        return False
    return logged.rstrip("/") == wanted.rstrip("/") or (len(wanted) > 10 and logged.startswith(wanted))


@dataclass
class _Copy:
    """One message in one mailbox."""

    mailbox: str
    message_id: str = ""
    mimecast_id: str = ""
    subject: str = ""
    sender: str = ""
    received: str = ""
    status: str = ""
    sources: list[str] = field(default_factory=list)

    def row(self) -> dict:
        status = self.status.lower()
        delivered = True if status in DELIVERED else False if status in NOT_DELIVERED else None
        return {
            "id": self.mimecast_id,
            "message_id": self.message_id,
            "subject": self.subject,
            "from": self.sender,
            "mailbox": self.mailbox,
            "received": self.received,
            "status": self.status,
            "delivered": delivered,
            "sources": self.sources,
        }


class _Join:
    """The copies found so far, one per (message, mailbox), under the request's narrowing."""

    def __init__(self, req):
        self.sender, self.recipient = req.sender or "", req.recipient or ""
        self.copies: dict[tuple[str, str], _Copy] = {}
        # Mimecast's own id of a message, to its Message-ID: Message Finder's answers carry only the former.
        self.known: dict[str, str] = {}
        # The outbound messages that carried it, by Message-ID (or Mimecast's id): in no mailbox of ours.
        self.outbound: set[str] = set()

    def wanted(self, sender: str, mailbox: str) -> bool:
        return bool(mailbox) and _matches(sender, self.sender) and _matches(mailbox, self.recipient)

    def add(self, source: str, *, mailbox: str, message_id="", mimecast_id="", **facts) -> None:
        message_id = message_id or self.known.get(mimecast_id, "")
        if message_id and mimecast_id:
            self.known[mimecast_id] = message_id
        key = (_bare_id(message_id) or f"mimecast:{mimecast_id}", mailbox.strip().lower())
        copy = self.copies.setdefault(key, _Copy(mailbox=mailbox.strip().lower()))
        copy.message_id = copy.message_id or message_id
        copy.mimecast_id = copy.mimecast_id or mimecast_id
        from_log = source in (ATTACHMENT_LOG, URL_LOG)
        for name, value in facts.items():
            # Message Finder speaks for the message itself; a log's time is its scan's, so it only fills gaps.
            if value and not (from_log and getattr(copy, name)):
                setattr(copy, name, value)
        if source not in copy.sources:
            copy.sources.append(source)

    def add_tracked(self, source: str, email, message_id: str = "") -> None:
        """Every recipient of a Message Finder answer; an outbound message is in nobody's mailbox here."""
        header = email.from_hdr.email_address if email.from_hdr else ""
        envelope = email.from_env.email_address if email.from_env else ""
        # Shown as the header's From (what people saw); the narrowing matches either, as Mimecast's does.
        sender = header or envelope
        if email.route.lower() == "outbound":
            self.outbound.add(_bare_id(message_id or self.known.get(email.id, "")) or email.id)
            return
        for address in {a.email_address for a in email.to if a.email_address}:
            if self.wanted(header, address) or self.wanted(envelope, address):
                received = email.received.isoformat() if email.received else ""
                self.add(
                    source,
                    mailbox=address,
                    message_id=message_id,
                    mimecast_id=email.id,
                    subject=email.subject,
                    sender=sender,
                    received=received,
                    status=email.status,
                )

    def message_ids(self) -> list[str]:
        return list(dict.fromkeys(c.message_id for c in self.copies.values() if c.message_id))


def _scan(client, method, **criteria):
    """Every entry of a TTP log over the window, up to LOG_PAGES pages: (entries, pages, capped)."""
    entries, pages, capped = [], 0, False
    for page in client.iter_pages(method, max_pages=LOG_PAGES, page_size=LOG_PAGE_SIZE, **criteria):
        pages += 1
        entries.extend(page.items)
        capped = pages >= LOG_PAGES and bool(page.next_token and page.items)
    return entries, pages, capped


def _run(calls: dict) -> dict:
    """Independent reads at once; each answers (value, None) or (None, error in words)."""

    def one(item):
        name, call = item
        try:
            return name, (call(), None)
        except MimecastError as error:
            return name, (None, _words(error))

    with ThreadPoolExecutor(max_workers=max(1, min(FINDER_WORKERS, len(calls)))) as pool:
        return dict(pool.map(one, calls.items()))


def _log_summary(preview, title, what, found, read, pages, capped):
    preview["searched"].append(f"{title}: {found} {what} (of {read} read over {pages} page{'s' * (pages != 1)}).")
    if capped:
        preview["notes"].append(
            f"{title}: only the newest {pages * LOG_PAGE_SIZE} entries of the window were read; "
            "narrow the window or the sender to see older ones."
        )


def _join_log(join, source, hits, *, sender: str, mailbox: str, received: str = ""):
    """The copies a TTP log's entries name, one message in one mailbox each, added to the join; an outbound
    message is in nobody's mailbox here. `sender`, `mailbox` and `received` name the log's attributes for them."""
    for entry in hits:
        if entry.route.lower() == "outbound":
            join.outbound.add(_bare_id(entry.message_id))
            continue
        sent_by, to = getattr(entry, sender), getattr(entry, mailbox)
        if join.wanted(sent_by, to):
            when = getattr(entry, received) if received else None
            join.add(
                source,
                mailbox=to,
                message_id=entry.message_id,
                subject=entry.subject,
                sender=sent_by,
                received=when.isoformat() if when else "",
            )


def _hash_sources(client, req, join, preview):
    """search-hash (seen or not) and the Attachment Protect logs (where), read at once."""
    value = req.search_value.strip().lower()
    window = {"start": req.start, "end": req.end}
    calls = {"hash": lambda: client.search_hashes([value])}
    if len(value) == 64:
        calls["logs"] = lambda: _scan(client, client.get_attachment_logs, **window)
    else:
        preview["notes"].append(
            "The attachment logs name files by SHA-256 only; give the file's SHA-256 to list its messages."
        )
    answers = _run(calls)
    found, error = answers["hash"]
    if error:
        preview["errors"].append(f"Hash search: {error}")
    else:
        preview["hash"] = [{"hash": h.hash, "detected": h.detected} for h in found.hash_status]
        seen = any(h.detected for h in found.hash_status)
        preview["searched"].append(f"Hash search: {'seen' if seen else 'not seen'} in the last year.")
    if "logs" not in answers:
        return
    logs, error = answers["logs"]
    if error:
        preview["errors"].append(f"Attachment logs: {error}")
        return
    entries, pages, capped = logs
    hits = [e for e in entries if e.file_hash.strip().lower() == value]
    _join_log(join, ATTACHMENT_LOG, hits, sender="sender_address", mailbox="recipient_address", received="date")
    _log_summary(preview, "Attachment logs", "entries carry this file", len(hits), len(entries), pages, capped)


def _url_sources(client, req, join, preview):
    """The URL Protect logs: the clicks on this URL, each naming its message and mailbox."""
    try:
        entries, pages, capped = _scan(client, client.get_url_logs, start=req.start, end=req.end)
    except MimecastError as error:
        preview["errors"].append(f"URL logs: {_words(error)}")
        return []
    hits = [e for e in entries if _url_matches(e.url, req.search_value)]
    # A click's date is when it was clicked, not when the message arrived: the URL log gives no receipt time.
    _join_log(join, URL_LOG, hits, sender="from_user_email_address", mailbox="user_email_address")
    _log_summary(preview, "URL logs", "clicks on this URL", len(hits), len(entries), pages, capped)
    return hits


def _lookups(client, req, join, preview):
    """Message Finder for every message the logs named, by its Message-ID, a few at a time."""
    ids = join.message_ids()
    if not ids:
        return
    if len(ids) > FINDER_LOOKUPS:
        preview["notes"].append(
            f"Message Finder looked up the first {FINDER_LOOKUPS} of {len(ids)} messages; the others show "
            "only the mailbox their log names."
        )
        ids = ids[:FINDER_LOOKUPS]
    reason = f"Remediation dry run {req.marker}"
    calls = {
        mid: (
            lambda mid=mid: client.search_messages(message_id=mid, start=req.start, end=req.end, search_reason=reason)
        )
        for mid in ids
    }
    failed = []
    for mid, (emails, error) in _run(calls).items():
        if error:
            failed.append(error)
            continue
        for email in emails:
            join.add_tracked(FINDER, email, message_id=mid)
    preview["searched"].append(f"Message Finder: {len(ids) - len(failed)} of {len(ids)} messages looked up.")
    if failed:
        preview["errors"].append(
            f"Message Finder could not look up {len(failed)} of the messages; their other recipients and "
            f"whether they are still delivered are unknown: {failed[0]}"
        )


def _campaign(client, req, join, preview, clicks):
    """The messages of the same sender and subject as the clicked ones: the URL's campaign."""
    pairs = list(dict.fromkeys((c.from_user_email_address, c.subject) for c in clicks if c.from_user_email_address))
    pairs = [(sender, subject) for sender, subject in pairs if _matches(sender, join.sender)]
    if not pairs:
        return
    if len(pairs) > CAMPAIGN_SEARCHES:
        preview["notes"].append(f"Only {CAMPAIGN_SEARCHES} of {len(pairs)} sender-and-subject pairs were searched.")
        pairs = pairs[:CAMPAIGN_SEARCHES]
    reason = f"Remediation dry run {req.marker}"
    calls = {
        pair: (
            lambda pair=pair: client.search_messages(
                sender=pair[0], subject=pair[1] or None, start=req.start, end=req.end, search_reason=reason
            )
        )
        for pair in pairs
    }
    listed = 0
    for (sender, _), (emails, error) in _run(calls).items():
        if error:
            preview["errors"].append(f"Message Finder (messages from {sender}): {error}")
            continue
        listed += len(emails)
        for email in emails:
            join.add_tracked(CAMPAIGN, email)
    preview["searched"].append(f"Message Finder: {listed} messages from the same sender with the same subject.")
    preview["notes"].append(
        "The URL logs list only the clicked messages; the others from the same sender with the same subject "
        "are listed as probably carrying the URL."
    )


def _finder(client, req, join, preview):
    """Message Finder alone: by Message-ID, or by the sender/recipient narrowing."""
    reason = f"Remediation dry run {req.marker}"
    window = {"start": req.start, "end": req.end, "search_reason": reason}
    by_id = req.search_by == SearchBy.MESSAGE_ID
    try:
        if by_id:
            emails = client.search_messages(message_id=req.search_value, **window)
        else:
            emails = client.search_messages(sender=req.sender or None, recipient=req.recipient or None, **window)
    except MimecastError as error:
        preview["errors"].append(f"Message Finder: {_words(error)}")
        return
    for email in emails:
        join.add_tracked(FINDER, email, message_id=req.search_value if by_id else "")
    preview["searched"].append(f"Message Finder: {len(emails)} message{'s' * (len(emails) != 1)} listed.")


def _restore_preview(client, req, preview):
    source = req.restore_of
    if source is None or not source.incident_id:
        return preview
    try:
        incident = client.get_incident(source.incident_id)
    except MimecastError as error:
        preview["errors"].append(f"Incident: {_words(error)}")
        return preview
    preview["incident"] = {
        "code": incident.code,
        "identified": incident.identified,
        "successful": incident.successful,
        "restored": incident.restored,
    }
    return preview


def _totals(join, preview):
    copies = sorted(join.copies.values(), key=lambda c: (c.received, c.message_id, c.mailbox), reverse=True)
    preview["messages"] = [c.row() for c in copies[:ROW_LIMIT]]
    preview["copy_total"] = len(copies)
    preview["message_total"] = len({(_bare_id(c.message_id) or c.mimecast_id) for c in copies})
    preview["mailboxes"] = sorted({c.mailbox for c in copies})
    preview["still_delivered"] = sum(1 for c in copies if c.row()["delivered"])
    if join.outbound:
        count = len(join.outbound)
        preview["notes"].append(
            f"{count} outbound message{'s' * (count != 1)} matched as well; "
            "outbound mail is in no mailbox of ours, so it is not listed."
        )


def preview_incident(client, req) -> dict:
    """What a remediation will touch (the joined list and its size), or the incident a restore undoes."""
    preview = {
        "messages": [],
        "mailboxes": [],
        "message_total": 0,
        "copy_total": 0,
        "hash": None,
        "incident": None,
        "searched": [],
        "errors": [],
        "notes": [],
    }
    if req.kind == Kind.RESTORE:
        return _restore_preview(client, req, preview)
    join = _Join(req)
    if req.search_by == SearchBy.FILE_HASH:
        _hash_sources(client, req, join, preview)
        _lookups(client, req, join, preview)
    elif req.search_by == SearchBy.URL:
        clicks = _url_sources(client, req, join, preview)
        _lookups(client, req, join, preview)
        _campaign(client, req, join, preview, clicks)
    elif req.search_by == SearchBy.MESSAGE_ID or req.sender or req.recipient:
        _finder(client, req, join, preview)
    else:
        preview["notes"].append("Give a Message-ID, a file hash or a URL to list what the remediation will touch.")
    _totals(join, preview)
    return preview


kind = family(
    "incident",
    request_capability="request_remediation",
    forms="investigations.remediation.forms",
    preview=preview_incident,
    incident=True,
)
register(
    kind(Kind.REMEDIATE, "Remove a message from every mailbox", "RemediationRequestForm", undo_kind=Kind.RESTORE),
    kind(Kind.RESTORE, "Put back what a remediation removed", "RemediationRequestForm"),
)
