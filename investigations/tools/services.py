"""Threat tools, directory and awareness reads (issue 4, items 6 to 8).

Every Mimecast call goes through the client from ``mimecast_client()``. A call never raises into a
view: failures come back as a ``problem`` in plain words (with Mimecast's code at hand), so a page
shows the error where the result would have been. Searches are audited as ``search.*`` events (the
first page of a search, not every page turned), exports as ``tools.exported``.
"""

import csv
import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.connection.services import mimecast_client
from investigations.core.crypto import DecryptionFailed
from investigations.mimecast import MimecastError
from investigations.mimecast.errors import MimecastRateLimited
from investigations.models import AuditAction, AuditOutcome

logger = logging.getLogger("investigations.tools")

PAGE_SIZE = 100
# A "contains" filter Mimecast cannot apply itself is applied here, over at most this many pages
# per screen; the next link continues the scan where it stopped.
MAX_SCAN_PAGES = 5
MAX_EXPORT_PAGES = 100
HASH_CHUNK = 100
DECODE_WORKERS = 4
MAILBOX_SCAN_PAGES = 10


# ------------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class Problem:
    """A failed call, in words an analyst can act on, with Mimecast's code for the curious."""

    message: str
    code: str = ""
    retryable: bool = False

    def __str__(self):
        return self.message


def problem_from(error: Exception) -> Problem:
    if isinstance(error, MimecastRateLimited):
        wait = error.retry_after
        text = (
            f"Mimecast is rate-limiting us; try again in {max(1, math.ceil(wait))} s."
            if wait
            else "Mimecast is rate-limiting us; try again in a moment."
        )
        return Problem(text, error.code or "429", True)
    if isinstance(error, MimecastError):
        code = error.code or (f"HTTP {error.status}" if error.status and error.status >= 300 else "")
        return Problem(error.message, code, error.retryable)
    logger.exception("unexpected failure while reading from Mimecast")
    return Problem("Mimecast sent an answer the portal could not use; try again, or narrow the search.", "", True)


def _guarded(call: Callable[[], Any]) -> tuple[Any, Problem | None]:
    """Run one call to Mimecast; return (value, None) or (None, Problem). Never raises."""
    try:
        return call(), None
    except MimecastError as error:
        return None, problem_from(error)
    except DecryptionFailed as error:
        return None, Problem(f"The stored Mimecast credentials cannot be read: {error}", "decryption")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        # A response shape the client's parser did not foresee must not become a 500.
        return None, problem_from(error)


def _audit(actor, action, target, *, data, problem=None):
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            target=target,
            outcome=AuditOutcome.FAILURE if problem else AuditOutcome.SUCCESS,
            data={**data, **({"error": problem.message, "code": problem.code} if problem else {})},
        )


def audit_search(actor, action, target, criteria, results, problem=None):
    _audit(actor, action, target, data={"criteria": _jsonable(criteria), "results": results}, problem=problem)


def audit_export(actor, target, kind, criteria, problem=None):
    _audit(
        actor,
        AuditAction.TOOLS_EXPORTED,
        target,
        data={"kind": kind, "format": "csv", "criteria": _jsonable(criteria)},
        problem=problem,
    )


def _jsonable(criteria: dict) -> dict:
    out = {}
    for key, value in criteria.items():
        if key == "page" or value in (None, "", False):
            continue
        out[key] = value.astimezone(UTC).isoformat(timespec="seconds") if isinstance(value, datetime) else value
    return out


# --------------------------------------------------------------------------------- log kinds


@dataclass(frozen=True)
class Col:
    header: str
    get: Callable[[Any], Any]
    kind: str = "text"  # text, time, badge, hash, email, url, code


def _addr(value) -> str:
    return value.email_address if value is not None else ""


def _addrs(values) -> str:
    return ", ".join(a.email_address for a in values or [])


@dataclass(frozen=True)
class LogKind:
    """One Mimecast log the tools page can search, page, filter, export and link from."""

    slug: str
    title: str
    action: str
    fetch: Callable[..., Any]  # (client, criteria, page_token) -> Page
    columns: tuple[Col, ...]
    # (value, "mimecast" | "internet") naming the message a row is about, when it carries one.
    message: Callable[[Any], tuple[str, str]] | None = None
    help: str = ""
    contains: str = "q"  # the criteria key filtered here rather than by Mimecast, if any


def _url_logs(client, c, token):
    return client.get_url_logs(
        start=c["start"],
        end=c["end"],
        route=c.get("route") or "all",
        scan_result=c.get("scan_result") or "all",
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _attachment_logs(client, c, token):
    return client.get_attachment_logs(
        start=c["start"],
        end=c["end"],
        route=c.get("route") or "all",
        result=c.get("result") or "all",
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _impersonation_logs(client, c, token):
    tagged = {"yes": True, "no": False}.get(c.get("tagged") or "")
    return client.get_impersonation_logs(
        start=c["start"],
        end=c["end"],
        tagged_malicious=tagged,
        search_field=c.get("search_field") or "all",
        query=c.get("query") or None,
        actions=[c["action"]] if c.get("action") else None,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _held(client, c, token):
    return client.get_held_messages(
        admin=True,
        start=c["start"],
        end=c["end"],
        search_field=c.get("search_field") or "all",
        search_value=c.get("value") or None,
        route=c.get("route") or None,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _release_logs(client, c, token):
    filters = [(name, c[name]) for name in ("status", "route") if c.get(name)]
    return client.get_held_release_logs(
        start=c["start"],
        end=c["end"],
        search_field=c.get("search_field") or "all",
        search_value=c.get("value") or None,
        filters=filters,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _rejections(client, c, token):
    return client.get_rejections(
        mailbox=c.get("mailbox") or None,
        admin=True,
        start=c["start"],
        end=c["end"],
        search_field=c.get("search_field") or "all",
        search_value=c.get("value") or None,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _managed_urls(client, c, token):
    return client.get_managed_urls(
        domain_or_url=c.get("domain_or_url") or None,
        exact_match=True if c.get("exact") else None,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _incidents(client, c, token):
    return client.find_incidents(
        start=c["start"],
        end=c["end"],
        search_field=c.get("search_field") or "all",
        search_value=c.get("value") or None,
        types=[c["type"]] if c.get("type") else None,
        page_size=PAGE_SIZE,
        page_token=token,
    )


def _managed_target(u) -> str:
    port = f":{u.port}" if u.port and u.port > 0 else ""
    query = f"?{u.query_string}" if u.query_string else ""
    return f"{u.scheme}://{u.domain}{port}{u.path}{query}" if u.scheme else f"{u.domain}{u.path}"


LOG_KINDS: dict[str, LogKind] = {
    kind.slug: kind
    for kind in (
        LogKind(
            slug="url-logs",
            title="URL protect logs",
            action=AuditAction.SEARCH_URL_LOGS,
            fetch=_url_logs,
            help="Clicks on rewritten links: who clicked what, and what Mimecast decided.",
            columns=(
                Col("Date", lambda i: i.date, "time"),
                Col("User", lambda i: i.user_email_address, "email"),
                Col("From", lambda i: i.from_user_email_address, "email"),
                Col("URL", lambda i: i.url, "url"),
                Col("Verdict", lambda i: i.scan_result, "badge"),
                Col("Action", lambda i: i.action, "badge"),
                Col("Category", lambda i: i.category),
                Col("User action", lambda i: i.user_awareness_action),
                Col("Route", lambda i: i.route),
                Col("Subject", lambda i: i.subject),
            ),
            message=lambda i: (i.message_id, "internet"),
        ),
        LogKind(
            slug="attachment-logs",
            title="Attachment protect logs",
            action=AuditAction.SEARCH_ATTACHMENT_LOGS,
            fetch=_attachment_logs,
            help="Sandbox verdicts on attachments, per recipient.",
            columns=(
                Col("Date", lambda i: i.date, "time"),
                Col("Sender", lambda i: i.sender_address, "email"),
                Col("Recipient", lambda i: i.recipient_address, "email"),
                Col("File", lambda i: i.file_name),
                Col("Type", lambda i: i.file_type),
                Col("Verdict", lambda i: i.result, "badge"),
                Col("Action", lambda i: i.action_triggered),
                Col("SHA-256", lambda i: i.file_hash, "hash"),
                Col("Details", lambda i: i.details),
                Col("Subject", lambda i: i.subject),
            ),
            message=lambda i: (i.message_id, "internet"),
        ),
        LogKind(
            slug="impersonation-logs",
            title="Impersonation protect logs",
            action=AuditAction.SEARCH_IMPERSONATION_LOGS,
            fetch=_impersonation_logs,
            contains="",
            help="Messages that looked like someone they were not (lookalike domains, display names).",
            columns=(
                Col("Date", lambda i: i.event_time, "time"),
                Col("Sender", lambda i: i.sender_address, "email"),
                Col("Recipient", lambda i: i.recipient_address, "email"),
                Col("Subject", lambda i: i.subject),
                Col("Hits", lambda i: i.hits),
                Col("Identifiers", lambda i: ", ".join(i.identifiers)),
                Col(
                    "Similar to",
                    lambda i: ", ".join(
                        f"{r.string_similar_to_domain} ≈ {r.similar_domain}" for r in i.impersonation_results
                    ),
                ),
                Col("Action", lambda i: i.action, "badge"),
                Col("Malicious", lambda i: "yes" if i.tagged_malicious else "no", "badge"),
                Col("Sender IP", lambda i: i.sender_ip_address, "code"),
                Col("Policy", lambda i: i.definition),
            ),
            message=lambda i: (i.message_id, "internet"),
        ),
        LogKind(
            slug="held",
            title="Held messages",
            action=AuditAction.SEARCH_HELD_MESSAGES,
            fetch=_held,
            contains="",
            help="Messages waiting in the hold queue, and why.",
            columns=(
                Col("Received", lambda i: i.date_received, "time"),
                Col("From", lambda i: _addr(i.from_header) or _addr(i.from_), "email"),
                Col("Envelope from", lambda i: _addr(i.from_), "email"),
                Col("To", lambda i: _addr(i.to), "email"),
                Col("Subject", lambda i: i.subject),
                Col("Reason", lambda i: i.reason),
                Col("Policy", lambda i: i.policy_info),
                Col("Route", lambda i: i.route),
                Col("Size", lambda i: i.size),
            ),
            message=lambda i: (i.id, "mimecast"),
        ),
        LogKind(
            slug="release-logs",
            title="Held message release logs",
            action=AuditAction.SEARCH_RELEASE_LOGS,
            fetch=_release_logs,
            contains="",
            help="Who released or rejected held messages, and when.",
            columns=(
                Col("Date", lambda i: i.released, "time"),
                Col("Status", lambda i: i.status, "badge"),
                Col("Operator", lambda i: i.operator, "email"),
                Col("From", lambda i: _addr(i.from_hdr) or _addr(i.from_env), "email"),
                Col("To", lambda i: _addrs(i.to)),
                Col("Subject", lambda i: i.subject),
                Col("Held reason", lambda i: i.held_reason),
                Col("Reject reason", lambda i: i.reject_reason),
                Col("Route", lambda i: i.route),
            ),
            message=lambda i: (i.message_id, "mimecast"),
        ),
        LogKind(
            slug="rejections",
            title="Rejection logs",
            action=AuditAction.SEARCH_REJECTIONS,
            fetch=_rejections,
            contains="",
            help="Messages refused at the gateway (the last 7 days; Mimecast keeps no more).",
            columns=(
                Col("Date", lambda i: i.created, "time"),
                Col("From", lambda i: i.from_address, "email"),
                Col("To", lambda i: i.to_address, "email"),
                Col("Info", lambda i: i.info),
                Col("Description", lambda i: i.description),
                Col("Remote IP", lambda i: i.ip_address, "code"),
                Col("Remote host", lambda i: i.remote_name),
                Col("Spam score", lambda i: i.spam_score),
            ),
        ),
        LogKind(
            slug="managed-urls",
            title="Managed URLs",
            action=AuditAction.SEARCH_MANAGED_URLS,
            fetch=_managed_urls,
            contains="",
            help="The account's permitted and blocked URLs.",
            columns=(
                Col("URL or domain", _managed_target, "code"),
                Col("Match", lambda i: i.match_type),
                Col("Action", lambda i: i.action, "badge"),
                Col("Comment", lambda i: i.comment),
                Col("Rewrite off", lambda i: "yes" if i.disable_rewrite else "no"),
                Col("Awareness off", lambda i: "yes" if i.disable_user_awareness else "no"),
                Col("Click log off", lambda i: "yes" if i.disable_log_click else "no"),
            ),
        ),
        LogKind(
            slug="incidents",
            title="Remediation incidents",
            action=AuditAction.SEARCH_INCIDENTS,
            fetch=_incidents,
            contains="",
            help="Every remediation incident on the account, including those Mimecast created automatically.",
            columns=(
                Col("Created", lambda i: i.create, "time"),
                Col("Code", lambda i: i.code, "code"),
                Col("Type", lambda i: i.type, "badge"),
                Col("Reason", lambda i: i.reason),
                Col("Identified", lambda i: i.identified),
                Col("Removed", lambda i: i.successful),
                Col("Failed", lambda i: i.failed),
                Col("Restored", lambda i: i.restored),
                Col("Hash", lambda i: i.search_criteria.file_hash, "hash"),
                Col("From", lambda i: i.search_criteria.from_, "email"),
            ),
        ),
    )
}


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row_matches(kind: LogKind, item, needle: str) -> bool:
    haystack = [cell_text(col.get(item)) for col in kind.columns]
    if kind.message:
        haystack.append(kind.message(item)[0])
    return any(needle in text.lower() for text in haystack)


@dataclass
class LogResult:
    kind: LogKind
    items: list = field(default_factory=list)
    next_token: str | None = None
    previous_token: str | None = None
    total: int | None = None
    problem: Problem | None = None
    scanned_pages: int = 0
    searched: bool = False


def log_search(*, actor, kind: LogKind, criteria: dict, page_token: str | None = None) -> LogResult:
    """One screen of a Mimecast log. With a local "contains" filter, pages are scanned until a
    screen's worth matches or MAX_SCAN_PAGES were read; the next token resumes the scan."""
    result = LogResult(kind=kind, searched=True)
    needle = (criteria.get(kind.contains) or "").lower() if kind.contains else ""
    client, result.problem = _guarded(mimecast_client)
    token = page_token or None
    while client is not None:
        page, result.problem = _guarded(lambda t=token: kind.fetch(client, criteria, t))
        if result.problem:
            break
        result.scanned_pages += 1
        if result.scanned_pages == 1:
            result.previous_token = page.previous_token
            result.total = page.total_count
        result.items.extend(i for i in page.items if not needle or _row_matches(kind, i, needle))
        result.next_token = page.next_token
        if not needle or not page.next_token or len(result.items) >= PAGE_SIZE:
            break
        if result.scanned_pages >= MAX_SCAN_PAGES or page.next_token == token:
            break
        token = page.next_token
    if needle:
        result.total = None  # Mimecast's count is of the unfiltered log
    if not page_token:
        _audit(
            actor,
            kind.action,
            ("mimecast", kind.slug),
            data={"criteria": _jsonable(criteria), "results": len(result.items)},
            problem=result.problem,
        )
    return result


# --------------------------------------------------------------------------------------- CSV


class _Echo:
    def write(self, value):
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Mail is written by strangers: a subject starting with "=" must not become a spreadsheet
    formula. Such cells get a leading apostrophe (numbers like -5 are left alone)."""
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def csv_lines(header: list[str], rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header)
    buffer = []
    for row in rows:
        buffer.append(writer.writerow([csv_safe(cell_text(v)) for v in row]))
        if len(buffer) >= 200:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def log_csv_header(kind: LogKind) -> list[str]:
    return [c.header for c in kind.columns] + (["Message id"] if kind.message else [])


def _log_row(kind: LogKind, item) -> list:
    return [c.get(item) for c in kind.columns] + ([kind.message(item)[0]] if kind.message else [])


@dataclass
class Export:
    filename: str
    lines: Iterator[str]


def log_export(*, actor, kind: LogKind, criteria: dict) -> tuple[Export | None, Problem | None]:
    """A streaming CSV of every row matching the criteria (up to MAX_EXPORT_PAGES pages). The first
    page is read before anything is sent, so a Mimecast failure is a plain error page, not a broken
    file; a failure later ends the file with a line saying the export stopped early."""
    client, problem = _guarded(mimecast_client)
    first = None
    if client is not None:
        first, problem = _guarded(lambda: kind.fetch(client, criteria, None))
    _audit(
        actor,
        AuditAction.TOOLS_EXPORTED,
        ("mimecast", kind.slug),
        data={"kind": kind.slug, "format": "csv", "criteria": _jsonable(criteria)},
        problem=problem,
    )
    if problem:
        return None, problem
    needle = (criteria.get(kind.contains) or "").lower() if kind.contains else ""

    def rows():
        page, pages, seen = first, 1, set()
        while True:
            for item in page.items:
                if not needle or _row_matches(kind, item, needle):
                    yield _log_row(kind, item)
            token = page.next_token
            if not token or not page.items or token in seen or pages >= MAX_EXPORT_PAGES:
                if token and pages >= MAX_EXPORT_PAGES:
                    yield [f"# export stopped after {MAX_EXPORT_PAGES} pages; narrow the search for the rest"]
                return
            seen.add(token)
            page, failure = _guarded(lambda t=token: kind.fetch(client, criteria, t))
            if failure:
                yield [f"# export stopped early: {failure.message}"]
                return
            pages += 1

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Export(filename=f"{kind.slug}-{stamp}.csv", lines=csv_lines(log_csv_header(kind), rows())), None


# ------------------------------------------------------------------------------------ incidents


def incident_get(*, actor, incident_id: str):
    client, problem = _guarded(mimecast_client)
    incident = None
    if client is not None:
        incident, problem = _guarded(lambda: client.get_incident(incident_id))
    _audit(actor, AuditAction.SEARCH_INCIDENT, ("incident", incident_id), data={"id": incident_id}, problem=problem)
    return incident, problem


# --------------------------------------------------------------------------------- hash search


@dataclass
class HashRow:
    hash: str
    kind: str
    status: str  # detected, not_detected, invalid, refused, unknown, error
    note: str = ""
    mailboxes: list[str] = field(default_factory=list)


@dataclass
class HashSearch:
    rows: list[HashRow]
    problems: list[Problem]
    mailbox_problem: Problem | None = None
    calls: int = 0

    def count(self, status):
        return sum(1 for r in self.rows if r.status == status)

    @property
    def detected(self):
        return self.count("detected")

    @property
    def not_detected(self):
        return self.count("not_detected")

    @property
    def invalid(self):
        return self.count("invalid") + self.count("refused")


def _mailboxes_by_hash(client, sha256s: set[str]) -> tuple[dict[str, list[str]], Problem | None]:
    """Which mailboxes got each SHA-256 in the last 30 days, from the attachment protect logs
    (search-hash itself only says "seen or not")."""
    found: dict[str, list[str]] = {h: [] for h in sha256s}
    end = timezone.now()
    start = end - timedelta(days=30)
    token = None
    for _ in range(MAILBOX_SCAN_PAGES):
        page, problem = _guarded(
            lambda t=token: client.get_attachment_logs(start=start, end=end, page_size=PAGE_SIZE, page_token=t)
        )
        if problem:
            return found, problem
        for log in page.items:
            key = log.file_hash.lower()
            if key in found and log.recipient_address and log.recipient_address not in found[key]:
                found[key].append(log.recipient_address)
        if not page.next_token or page.next_token == token:
            break
        token = page.next_token
    return found, None


def hash_search(*, actor, valid: list[tuple[str, str]], invalid: list[tuple[str, str]]) -> HashSearch:
    """Ask Mimecast about each valid hash, at most HASH_CHUNK per call. A failing call marks only
    its own hashes as failed; the rest still answer."""
    rows = {h: HashRow(hash=h, kind=kind, status="unknown") for h, kind in valid}
    problems: list[Problem] = []
    client, problem = _guarded(mimecast_client)
    calls = 0
    if problem:
        problems.append(problem)
    hashes = [h for h, _ in valid]
    for offset in range(0, len(hashes) if client else 0, HASH_CHUNK):
        chunk = hashes[offset : offset + HASH_CHUNK]
        result, problem = _guarded(lambda c=chunk: client.search_hashes(c, chunk_size=HASH_CHUNK))
        calls += 1
        if problem:
            problems.append(problem)
            for h in chunk:
                rows[h].status, rows[h].note = "error", problem.message
            continue
        for status in result.hash_status:
            row = rows.get(status.hash.lower())
            if row is not None:
                row.status = {True: "detected", False: "not_detected"}.get(status.detected, "unknown")
        for failed in result.failed_hashes:
            value = failed.get("hash") if isinstance(failed, dict) else failed
            row = rows.get(str(value or "").lower())
            if row is not None:
                row.status, row.note = "refused", "Mimecast refused this hash"
    search = HashSearch(rows=list(rows.values()), problems=problems, calls=calls)
    detected = {r.hash for r in search.rows if r.status == "detected" and r.kind == "SHA-256"}
    if detected and client is not None:
        mailboxes, search.mailbox_problem = _mailboxes_by_hash(client, detected)
        for row in search.rows:
            row.mailboxes = mailboxes.get(row.hash, [])
    search.rows += [HashRow(hash=t, kind="", status="invalid", note=why) for t, why in invalid]
    order = {"detected": 0, "error": 1, "unknown": 2, "not_detected": 3, "refused": 4, "invalid": 5}
    search.rows.sort(key=lambda r: order.get(r.status, 9))
    _audit(
        actor,
        AuditAction.SEARCH_HASH,
        ("mimecast", "hash-search"),
        data={
            "hashes": hashes,
            "invalid": len(invalid),
            "detected": search.detected,
            "calls": calls,
        },
        problem=problems[0] if problems else None,
    )
    return search


# ---------------------------------------------------------------------------------- URL decode


@dataclass
class DecodeRow:
    url: str
    decoded: str = ""
    problem: Problem | None = None
    invalid: str = ""


def url_decode(*, actor, valid: list[str], invalid: list[tuple[str, str]]) -> tuple[list[DecodeRow], Problem | None]:
    """Decode each URL (one call each, a few at a time); each row carries its own error."""
    client, problem = _guarded(mimecast_client)
    rows = [DecodeRow(url=u) for u in valid]
    if client is not None:

        def decode(row):
            decoded, row.problem = _guarded(lambda: client.decode_url(row.url))
            row.decoded = decoded.url if decoded else ""

        with ThreadPoolExecutor(max_workers=DECODE_WORKERS) as pool:
            list(pool.map(decode, rows))
    else:
        for row in rows:
            row.problem = problem
    rows += [DecodeRow(url=t, invalid=why) for t, why in invalid]
    _audit(
        actor,
        AuditAction.SEARCH_URL_DECODE,
        ("mimecast", "url-decode"),
        data={
            "urls": [u[:500] for u in valid],
            "decoded": sum(1 for r in rows if r.decoded),
            "failed": sum(1 for r in rows if r.problem),
        },
        problem=problem,
    )
    return rows, problem


# ------------------------------------------------------------------------- directory and policy


def group_search(*, actor, query: str, source: str, page_token: str | None):
    client, problem = _guarded(mimecast_client)
    page = None
    if client is not None:
        page, problem = _guarded(
            lambda: client.find_groups(
                query=query or None, source=source or None, page_size=PAGE_SIZE, page_token=page_token or None
            )
        )
    if not page_token:
        _audit(
            actor,
            AuditAction.SEARCH_GROUPS,
            ("mimecast", "groups"),
            data={"criteria": _jsonable({"query": query, "source": source})},
            problem=problem,
        )
    return page, problem


def group_members(*, actor, group_id: str, page_token: str | None, page_size: int = 500):
    client, problem = _guarded(mimecast_client)
    page = None
    if client is not None:
        page, problem = _guarded(
            lambda: client.get_group_members(group_id, page_size=page_size, page_token=page_token or None)
        )
    if not page_token:
        _audit(actor, AuditAction.SEARCH_GROUP_MEMBERS, ("group", group_id), data={"id": group_id}, problem=problem)
    return page, problem


@dataclass
class PolicyRow:
    policy: Any
    applies: bool = False
    why: str = ""
    group_name: str = ""


def _sender_parts(sender: str) -> tuple[str, str]:
    sender = (sender or "").lower()
    if "@" in sender:
        return sender, sender.rsplit("@", 1)[1]
    return "", sender


def blocked_sender_policies(*, actor, sender: str = ""):
    """The blocked-sender policies, read-only. Given a sender, each policy says whether its "from"
    side covers that sender and why: the address, its domain, a group it belongs to, everyone."""
    client, problem = _guarded(mimecast_client)
    policies = None
    if client is not None:
        policies, problem = _guarded(client.get_blocked_sender_policies)
    rows = [PolicyRow(policy=p) for p in policies or []]
    group_problem = None
    if rows and client is not None:
        groups_by_id = {}
        groups, group_problem = _guarded(lambda: client.find_groups(page_size=PAGE_SIZE))
        if groups:
            groups_by_id = {g.id: g.name for g in groups.items}
        for row in rows:
            party = row.policy.from_
            if party.type == "profile_group":
                row.group_name = groups_by_id.get(party.value, "")
    address, domain = _sender_parts(sender)
    if sender and rows:
        members_cache: dict[str, set[str] | None] = {}
        for row in rows:
            party = row.policy.from_
            kind, raw_value = party.type, party.value or ""
            value = raw_value.lower()
            if kind == "everyone":
                row.applies, row.why = True, "applies to every sender"
            elif kind == "email_address" and address and value == address:
                row.applies, row.why = True, "names this address"
            elif kind == "email_domain" and domain and (domain == value or domain.endswith("." + value)):
                row.applies, row.why = True, f"covers the domain {value}"
            elif kind == "profile_group" and client is not None:
                if raw_value not in members_cache:
                    members_cache[raw_value] = _group_addresses(client, raw_value)
                members = members_cache[raw_value]
                if members is None:
                    row.why = "group membership could not be read"
                elif (address and address in members) or (domain and domain in members):
                    row.applies, row.why = True, f"the sender is in the group {row.group_name or raw_value}"
            elif kind == "external_addresses":
                row.why = "applies if the sender is external"
            elif kind == "free_mail_domains":
                row.why = "applies if the sender uses a free mail domain"
        rows.sort(key=lambda r: (not r.applies, not (r.policy.enabled is not False)))
    _audit(
        actor,
        AuditAction.SEARCH_BLOCKED_SENDERS,
        ("mimecast", "blocked-senders"),
        data={"sender": sender, "policies": len(rows), "applying": sum(1 for r in rows if r.applies)},
        problem=problem,
    )
    return rows, problem, group_problem


def _group_addresses(client, group_id: str) -> set[str] | None:
    out: set[str] = set()
    token = None
    for _ in range(20):
        page, problem = _guarded(lambda t=token: client.get_group_members(group_id, page_size=500, page_token=t))
        if problem:
            return None
        for member in page.items:
            # A member is an address, or a whole domain when it has no address.
            value = member.email_address or member.domain
            if value:
                out.add(value.lower())
        if not page.next_token or page.next_token == token:
            break
        token = page.next_token
    return out


# ----------------------------------------------------------------------------------- awareness


@dataclass
class AwarenessOverview:
    summary: Any = None
    summary_problem: Problem | None = None
    scores: list = field(default_factory=list)
    scores_next: str | None = None
    scores_problem: Problem | None = None
    campaigns: list = field(default_factory=list)
    campaigns_problem: Problem | None = None
    training: Any = None
    training_problem: Problem | None = None


def awareness_overview(*, actor, q: str = "", risk: str = "", page_token: str | None = None) -> AwarenessOverview:
    """SAFE score summary, per-user scores (filtered here: Mimecast cannot), phishing campaigns and
    the API user's own training status, read concurrently; each part fails on its own."""
    out = AwarenessOverview()
    client, problem = _guarded(mimecast_client)
    if client is None:
        out.summary_problem = out.scores_problem = out.campaigns_problem = out.training_problem = problem
    else:
        with ThreadPoolExecutor(max_workers=4) as pool:
            summary = pool.submit(_guarded, client.get_safe_score_summary)
            scores = pool.submit(
                _guarded, lambda: client.get_safe_score_details(page_size=500, page_token=page_token or None)
            )
            campaigns = pool.submit(_guarded, client.get_phishing_campaigns)
            training = pool.submit(_guarded, client.get_training_details)
        out.summary, out.summary_problem = summary.result()
        page, out.scores_problem = scores.result()
        out.campaigns, out.campaigns_problem = campaigns.result()
        out.campaigns = out.campaigns or []
        out.training, out.training_problem = training.result()
        if page is not None:
            needle = q.lower()
            out.scores = [
                s
                for s in page.items
                if (not risk or s.risk.upper() == risk)
                and (not needle or any(needle in v.lower() for v in (s.email_address, s.name, s.department)))
            ]
            # Riskiest first: F, D, C, B, A, then anything without a grade.
            out.scores.sort(key=lambda s: ("FDCBA".find(s.risk.upper()) % 6, s.email_address))
            out.scores_next = page.next_token
    if not page_token:
        _audit(
            actor,
            AuditAction.SEARCH_AWARENESS,
            ("mimecast", "awareness"),
            data={"criteria": _jsonable({"q": q, "risk": risk})},
            problem=out.summary_problem or out.scores_problem,
        )
    return out


def campaign_results(*, actor, campaign_id: str, result: str = "", page_token: str | None = None):
    client, problem = _guarded(mimecast_client)
    campaign = page = None
    if client is not None:
        campaigns, problem = _guarded(lambda: client.get_phishing_campaigns(campaign_id))
        campaign = campaigns[0] if campaigns else None
        if problem is None:
            page, problem = _guarded(
                lambda: client.get_phishing_user_data(campaign_id, page_size=500, page_token=page_token or None)
            )
    users = list(page.items) if page else []
    if result:
        users = [u for u in users if getattr(u, result, None)]
    if not page_token:
        _audit(
            actor,
            AuditAction.SEARCH_AWARENESS,
            ("campaign", campaign_id),
            data={"campaign": campaign_id, "result": result},
            problem=problem,
        )
    return campaign, users, (page.next_token if page else None), problem


@dataclass
class AwarenessUser:
    email: str
    score: Any = None
    score_problem: Problem | None = None
    performance: Any = None
    performance_problem: Problem | None = None
    phishing: list = field(default_factory=list)  # (campaign, result)
    phishing_problem: Problem | None = None


def _find_score(client, email):
    token = None
    for _ in range(20):
        page = client.get_safe_score_details(page_size=500, page_token=token)
        for score in page.items:
            if score.email_address.lower() == email:
                return score
        if not page.next_token or page.next_token == token:
            return None
        token = page.next_token
    return None


def _find_performance(client, email):
    page = client.get_performance_details(search_field="email", search_value=email, page_size=500)
    return next((p for p in page.items if p.email.lower() == email), None)


def _find_phishing(client, email):
    found = []
    for campaign in client.get_phishing_campaigns():
        token = None
        for _ in range(20):
            page = client.get_phishing_user_data(campaign.id, page_size=500, page_token=token)
            match = next((r for r in page.items if r.email.lower() == email), None)
            if match is not None:
                found.append((campaign, match))
                break
            if not page.next_token or page.next_token == token:
                break
            token = page.next_token
    return found


def awareness_user(*, actor, email: str) -> AwarenessUser:
    """One user's SAFE score, training performance and phishing-simulation results."""
    email = email.lower()
    out = AwarenessUser(email=email)
    client, problem = _guarded(mimecast_client)
    if client is None:
        out.score_problem = out.performance_problem = out.phishing_problem = problem
    else:
        with ThreadPoolExecutor(max_workers=3) as pool:
            score = pool.submit(_guarded, lambda: _find_score(client, email))
            perf = pool.submit(_guarded, lambda: _find_performance(client, email))
            phishing = pool.submit(_guarded, lambda: _find_phishing(client, email))
        out.score, out.score_problem = score.result()
        out.performance, out.performance_problem = perf.result()
        out.phishing, out.phishing_problem = phishing.result()
        out.phishing = out.phishing or []
    _audit(
        actor,
        AuditAction.SEARCH_AWARENESS_USER,
        ("mailbox", email),
        data={"email": email},
        problem=out.score_problem or out.performance_problem or out.phishing_problem,
    )
    return out
