"""How the threat tools show a log row: its cells (text, badge colour, links) and the pivots to other
portal pages (the message, track & trace, hash search, the incident)."""

from investigations.core.csv import cell_text
from investigations.core.links import portal_url
from investigations.remediation.kinds.held import hold_reason_flag

_BAD = {"malicious", "block", "blocked", "hold", "held", "rejected", "unsafe", "bounce", "yes", "error", "failed"}
_GOOD = {"clean", "safe", "allow", "allowed", "released", "permit", "no", "none", "continue"}


def message_detail_url(message_id):
    return portal_url("message-detail", message_id) if message_id else ""


def track_trace_url(**query):
    """Track & trace prefilled, e.g. to=<address> or message_id=<internet Message-ID>."""
    return portal_url("track-trace", **{k: v for k, v in query.items() if v})


def hash_search_url(*hashes):
    return portal_url("tools-hash-search", hashes="\n".join(hashes))


def message_link(value, kind):
    """A log row names its message by Mimecast id (opens the detail page) or by internet
    Message-ID (opens track & trace on it, which leads to the detail page)."""
    if not value:
        return ""
    if kind == "mimecast":
        return message_detail_url(value)
    return track_trace_url(message_id=value)


def badge(text):
    value = (text or "").lower()
    if value in _BAD:
        return "failure"
    if value in _GOOD:
        return "success"
    return "warn" if value else ""


# Which entity page a column's value opens (an address as a sender or as a recipient, a URL, an IP).
_ENTITY_COLUMNS = {
    "User": "recipient",
    "Recipient": "recipient",
    "To": "recipient",
    "From": "sender",
    "Sender": "sender",
    "Envelope from": "sender",
    "URL": "url",
    "Sender IP": "ip",
    "Remote IP": "ip",
}


def _cells(kind, item):
    cells = []
    for col in kind.columns:
        value = col.get(item)
        text = cell_text(value)
        cell = {"kind": col.kind, "text": text, "value": value, "href": "", "badge": ""}
        cell["entity"] = _ENTITY_COLUMNS.get(col.header, "") if col.kind in ("email", "url", "code") else ""
        if col.kind == "badge":
            cell["badge"] = badge(text)
        elif col.kind == "hash" and text:
            cell["href"] = hash_search_url(text)
        elif col.kind == "code" and kind.slug == "incidents" and col.header == "Code":
            cell["href"] = portal_url("tools-incident", id=item.id)
        cells.append(cell)
    return cells


def _pick(kind, item):
    """What ticking the row selects, for the lists that offer a selection: a URL-log row its URL; an
    attachment-log row the recipient's copy of the message, "<mailbox>|<Message-ID>"."""
    if kind.slug == "url-logs" and item.url:
        return {"kind": "url", "value": item.url}
    if kind.slug == "attachment-logs" and item.recipient_address and item.message_id:
        return {"kind": "message", "value": f"{item.recipient_address.lower()}|{item.message_id}"}
    return None


def log_rows(kind, result):
    if result is None:
        return []
    rows = []
    for item in result.items:
        message_id, id_kind = kind.message(item) if kind.message else ("", "")
        rows.append(
            {
                "cells": _cells(kind, item),
                "message_href": message_link(message_id, id_kind),
                "message_id": message_id,
                "pick": _pick(kind, item),
            }
        )
    return rows


def held_rows(kind, result):
    """The hold queue's rows: a log row plus the held message's id (the checkbox's value) and why its
    hold reason flags it, if it does."""
    rows = log_rows(kind, result)
    for row, item in zip(rows, result.items if result else [], strict=True):
        row["held_id"] = item.id
        row["flag"] = hold_reason_flag(item)
    return rows
