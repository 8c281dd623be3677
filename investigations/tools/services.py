"""Threat tools: the Mimecast logs (searched, paged, filtered, exported), remediation incidents, hash
search and URL decode.

Every Mimecast call goes through the client from ``mimecast_client()``, guarded: a failure comes back
as a ``Problem`` in plain words, so a page shows the error where the result would have been. Searches
are audited as ``search.*`` events (the first page of a search, not every page turned), exports as
``tools.exported``.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from investigations.audit.services import audit_criteria, audit_read
from investigations.connection.services import mimecast_client
from investigations.core.csv import Export, csv_export
from investigations.core.problems import Problem, guarded
from investigations.models import AuditAction
from investigations.tools.logs import PAGE_SIZE, LogKind, csv_header, csv_row, row_matches

# A "contains" filter Mimecast cannot apply itself is applied here, over at most this many pages
# per screen; the next link continues the scan where it stopped.
MAX_SCAN_PAGES = 5
MAX_EXPORT_PAGES = 100
HASH_CHUNK = 100
DECODE_WORKERS = 4
MAILBOX_SCAN_PAGES = 10


def audit_search(actor, action, target, criteria, results, problem=None):
    data = {"criteria": audit_criteria(criteria), "results": results}
    audit_read(actor=actor, action=action, target=target, data=data, problem=problem)


def audit_export(actor, target, kind, criteria, problem=None):
    data = {"kind": kind, "format": "csv", "criteria": audit_criteria(criteria)}
    audit_read(actor=actor, action=AuditAction.TOOLS_EXPORTED, target=target, data=data, problem=problem)


# ---------------------------------------------------------------------------------------- logs


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


def _needle(kind: LogKind, criteria: dict) -> str:
    return (criteria.get(kind.contains) or "").lower() if kind.contains else ""


def log_search(*, actor, kind: LogKind, criteria: dict, page_token: str | None = None) -> LogResult:
    """One screen of a Mimecast log. With a local "contains" filter, pages are scanned until a
    screen's worth matches or MAX_SCAN_PAGES were read; the next token resumes the scan."""
    result = LogResult(kind=kind, searched=True)
    needle = _needle(kind, criteria)
    client, result.problem = guarded(mimecast_client)
    token = page_token or None
    while client is not None:
        page, result.problem = guarded(lambda t=token: kind.fetch(client, criteria, t))
        if result.problem:
            break
        result.scanned_pages += 1
        if result.scanned_pages == 1:
            result.previous_token = page.previous_token
            result.total = page.total_count
        result.items.extend(i for i in page.items if not needle or row_matches(kind, i, needle))
        result.next_token = page.next_token
        if not needle or not page.next_token or len(result.items) >= PAGE_SIZE:
            break
        if result.scanned_pages >= MAX_SCAN_PAGES or page.next_token == token:
            break
        token = page.next_token
    if needle:
        result.total = None  # Mimecast's count is of the unfiltered log
    if not page_token:
        audit_search(actor, kind.action, ("mimecast", kind.slug), criteria, len(result.items), result.problem)
    return result


def _export_rows(client, kind: LogKind, criteria: dict, first):
    needle = _needle(kind, criteria)
    page, pages, seen = first, 1, set()
    while True:
        for item in page.items:
            if not needle or row_matches(kind, item, needle):
                yield csv_row(kind, item)
        token = page.next_token
        if not token or not page.items or token in seen or pages >= MAX_EXPORT_PAGES:
            if token and pages >= MAX_EXPORT_PAGES:
                yield [f"# export stopped after {MAX_EXPORT_PAGES} pages; narrow the search for the rest"]
            return
        seen.add(token)
        page, failure = guarded(lambda t=token: kind.fetch(client, criteria, t))
        if failure:
            yield [f"# export stopped early: {failure.message}"]
            return
        pages += 1


def log_export(*, actor, kind: LogKind, criteria: dict) -> tuple[Export | None, Problem | None]:
    """A streaming CSV of every row matching the criteria (up to MAX_EXPORT_PAGES pages). The first
    page is read before anything is sent, so a Mimecast failure is a plain error page, not a broken
    file; a failure later ends the file with a line saying the export stopped early."""
    client, problem = guarded(mimecast_client)
    first = None
    if client is not None:
        first, problem = guarded(lambda: kind.fetch(client, criteria, None))
    audit_export(actor, ("mimecast", kind.slug), kind.slug, criteria, problem)
    if problem:
        return None, problem
    return csv_export(kind.slug, csv_header(kind), _export_rows(client, kind, criteria, first)), None


# ------------------------------------------------------------------------------------ incidents


def incident_get(*, actor, incident_id: str):
    client, problem = guarded(mimecast_client)
    incident = None
    if client is not None:
        incident, problem = guarded(lambda: client.get_incident(incident_id))
    audit_read(
        actor=actor,
        action=AuditAction.SEARCH_INCIDENT,
        target=("incident", incident_id),
        data={"id": incident_id},
        problem=problem,
    )
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


_HASH_ORDER = {"detected": 0, "error": 1, "unknown": 2, "not_detected": 3, "refused": 4, "invalid": 5}


def _mailboxes_by_hash(client, sha256s: set[str]) -> tuple[dict[str, list[str]], Problem | None]:
    """Which mailboxes got each SHA-256 in the last 30 days, from the attachment protect logs
    (search-hash itself only says "seen or not")."""
    found: dict[str, list[str]] = {h: [] for h in sha256s}
    end = timezone.now()
    start = end - timedelta(days=30)
    token = None
    for _ in range(MAILBOX_SCAN_PAGES):
        page, problem = guarded(
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


def _ask_hashes(client, rows: dict[str, HashRow], chunk: list[str]) -> Problem | None:
    """One search-hash call; a failing call marks only its own hashes as failed."""
    result, problem = guarded(lambda: client.search_hashes(chunk, chunk_size=HASH_CHUNK))
    if problem:
        for h in chunk:
            rows[h].status, rows[h].note = "error", problem.message
        return problem
    for status in result.hash_status:
        row = rows.get(status.hash.lower())
        if row is not None:
            row.status = {True: "detected", False: "not_detected"}.get(status.detected, "unknown")
    for failed in result.failed_hashes:
        value = failed.get("hash") if isinstance(failed, dict) else failed
        row = rows.get(str(value or "").lower())
        if row is not None:
            row.status, row.note = "refused", "Mimecast refused this hash"
    return None


def hash_search(*, actor, valid: list[tuple[str, str]], invalid: list[tuple[str, str]], reason="") -> HashSearch:
    """Ask Mimecast about each valid hash, at most HASH_CHUNK per call; the rest still answer when
    one call fails. Detected SHA-256 hashes get the mailboxes that received them."""
    rows = {h: HashRow(hash=h, kind=kind, status="unknown") for h, kind in valid}
    client, problem = guarded(mimecast_client)
    problems = [problem] if problem else []
    hashes = [h for h, _ in valid]
    chunks = [hashes[offset : offset + HASH_CHUNK] for offset in range(0, len(hashes) if client else 0, HASH_CHUNK)]
    problems += [p for p in (_ask_hashes(client, rows, chunk) for chunk in chunks) if p]
    search = HashSearch(rows=list(rows.values()), problems=problems, calls=len(chunks))
    detected = {r.hash for r in search.rows if r.status == "detected" and r.kind == "SHA-256"}
    if detected and client is not None:
        mailboxes, search.mailbox_problem = _mailboxes_by_hash(client, detected)
        for row in search.rows:
            row.mailboxes = mailboxes.get(row.hash, [])
    search.rows += [HashRow(hash=t, kind="", status="invalid", note=why) for t, why in invalid]
    search.rows.sort(key=lambda r: _HASH_ORDER.get(r.status, 9))
    data = {"hashes": hashes, "invalid": len(invalid), "detected": search.detected, "calls": search.calls}
    audit_read(
        actor=actor,
        action=AuditAction.SEARCH_HASH,
        target=("mimecast", "hash-search"),
        reason=reason,
        data=data,
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
    client, problem = guarded(mimecast_client)
    rows = [DecodeRow(url=u) for u in valid]
    if client is not None:

        def decode(row):
            decoded, row.problem = guarded(lambda: client.decode_url(row.url))
            row.decoded = decoded.url if decoded else ""

        with ThreadPoolExecutor(max_workers=DECODE_WORKERS) as pool:
            list(pool.map(decode, rows))
    else:
        for row in rows:
            row.problem = problem
    rows += [DecodeRow(url=t, invalid=why) for t, why in invalid]
    data = {
        "urls": [u[:500] for u in valid],
        "decoded": sum(1 for r in rows if r.decoded),
        "failed": sum(1 for r in rows if r.problem),
    }
    audit_read(
        actor=actor,
        action=AuditAction.SEARCH_URL_DECODE,
        target=("mimecast", "url-decode"),
        data=data,
        problem=problem,
    )
    return rows, problem
