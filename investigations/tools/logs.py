"""The Mimecast logs the threat tools can search, page, filter, export and link from: for each, how to
fetch a page and the columns a row shows (in the table and in the CSV alike)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from investigations.core.csv import cell_text
from investigations.models import AuditAction

PAGE_SIZE = 100


@dataclass(frozen=True)
class Col:
    header: str
    get: Callable[[Any], Any]
    kind: str = "text"  # text, time, badge, hash, email, url, code


def _addr(value) -> str:
    return value.email_address if value is not None else ""


@dataclass(frozen=True)
class LogKind:
    """One Mimecast log the tools page can search, page, filter, export and link from."""

    slug: str
    title: str
    action: str
    method: str  # the client method that reads one page of this log
    params: Callable[[dict], dict]  # the search criteria as that method's arguments
    columns: tuple[Col, ...]
    # (value, "mimecast" | "internet") naming the message a row is about, when it carries one.
    message: Callable[[Any], tuple[str, str]] | None = None
    help: str = ""
    contains: str = "q"  # the criteria key filtered here rather than by Mimecast, if any

    def fetch(self, client, criteria: dict, page_token):
        """One page of the log for the criteria."""
        method = getattr(client, self.method)
        return method(**self.params(criteria), page_size=PAGE_SIZE, page_token=page_token)


def _window(c) -> dict:
    return {"start": c["start"], "end": c["end"]}


def _search(c) -> dict:
    """Mimecast's "search this field for that value" pair."""
    return {"search_field": c.get("search_field") or "all", "search_value": c.get("value") or None}


def _one_of(c, name):
    return [c[name]] if c.get(name) else None


def _impersonation_params(c):
    tagged = {"yes": True, "no": False}.get(c.get("tagged") or "")
    search = {"search_field": c.get("search_field") or "all", "query": c.get("query") or None}
    return {**_window(c), **search, "tagged_malicious": tagged, "actions": _one_of(c, "action")}


def _release_params(c):
    filters = [(name, c[name]) for name in ("status", "route") if c.get(name)]
    return {**_window(c), **_search(c), "filters": filters}


def _url_params(c):
    return {**_window(c), "route": c.get("route") or "all", "scan_result": c.get("scan_result") or "all"}


def _attachment_params(c):
    return {**_window(c), "route": c.get("route") or "all", "result": c.get("result") or "all"}


def _held_params(c):
    return {"admin": True, **_window(c), **_search(c), "route": c.get("route") or None}


def _rejection_params(c):
    return {"mailbox": c.get("mailbox") or None, "admin": True, **_window(c), **_search(c)}


def _managed_url_params(c):
    return {"domain_or_url": c.get("domain_or_url") or None, "exact_match": True if c.get("exact") else None}


def _incident_params(c):
    return {**_window(c), **_search(c), "types": _one_of(c, "type")}


def _release_status(log) -> str:
    """Mimecast's release-log record has no status: a rejection is the record with a rejectReason."""
    return log.status or ("rejected" if log.reject_reason else "released")


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
            method="get_url_logs",
            params=_url_params,
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
            method="get_attachment_logs",
            params=_attachment_params,
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
            method="get_impersonation_logs",
            params=_impersonation_params,
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
            method="get_held_messages",
            params=_held_params,
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
            method="get_held_release_logs",
            params=_release_params,
            contains="",
            help="Who released or rejected held messages, and when. Mimecast does not say who they were for: "
            "the message page does.",
            columns=(
                Col("Date", lambda i: i.released, "time"),
                Col("Status", _release_status, "badge"),
                Col("Operator", lambda i: i.operator, "email"),
                Col("From", lambda i: _addr(i.from_hdr) or _addr(i.from_env), "email"),
                Col("Subject", lambda i: i.subject or i.message_info),
                Col("Held reason", lambda i: i.held_reason),
                Col("Reject reason", lambda i: i.reject_reason),
                Col("Route", lambda i: i.route),
            ),
            # The record's own id is the message's: get-message-info (the message page) takes it.
            message=lambda i: (i.message_id or i.id, "mimecast"),
        ),
        LogKind(
            slug="rejections",
            title="Rejection logs",
            action=AuditAction.SEARCH_REJECTIONS,
            method="get_rejections",
            params=_rejection_params,
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
            method="get_managed_urls",
            params=_managed_url_params,
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
            method="find_incidents",
            params=_incident_params,
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


def row_matches(kind: LogKind, item, needle: str) -> bool:
    """The local "contains" filter: does any shown value of the row contain the needle?"""
    haystack = [cell_text(col.get(item)) for col in kind.columns]
    if kind.message:
        haystack.append(kind.message(item)[0])
    return any(needle in text.lower() for text in haystack)


def csv_header(kind: LogKind) -> list[str]:
    return [c.header for c in kind.columns] + (["Message id"] if kind.message else [])


def csv_row(kind: LogKind, item) -> list:
    return [c.get(item) for c in kind.columns] + ([kind.message(item)[0]] if kind.message else [])
