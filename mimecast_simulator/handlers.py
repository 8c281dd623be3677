"""Endpoint handlers. Each takes a Ctx and returns a Reply (JSON envelope or raw bytes)."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mimecast_simulator import render
from mimecast_simulator.data import ACCOUNT_CODE, Message, State, attachment_id, public, spam_processing
from mimecast_simulator.util import (
    PageError,
    decode_page_token,
    encode_page_token,
    envelope,
    error,
    fail_item,
    fmt_date,
    mc_id,
    paginate,
    parse_date,
)


@dataclass
class Reply:
    status: int = 200
    body: dict | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


@dataclass
class Ctx:
    state: State
    path: str
    meta: dict
    data: list
    username: str
    api: str
    config: dict
    base_url: str = ""
    query: dict = field(default_factory=dict)


class Invalid(Exception):
    """A per-item validation failure: becomes HTTP 200 with fail[] (Mimecast's per-item failure)."""

    def __init__(self, key, code, message, field_name=None):
        super().__init__(message)
        self.key, self.code, self.message, self.field = key, code, message, field_name


def ok(data, pagination=None) -> Reply:
    return Reply(body=envelope(data, pagination=pagination))


def failed(key, code, message, field_name=None) -> Reply:
    return Reply(body=envelope([], fail=[fail_item(key, error(code, message, field=field_name))]))


def optional_item(ctx: Ctx) -> dict:
    """The first data item of an endpoint whose request body may be left out."""
    return ctx.data[0] if ctx.data and isinstance(ctx.data[0], dict) else {}


def with_id(item: dict, records: list, code: str, what: str) -> list:
    """All records, or the one the item's optional id names (a Mimecast not-found failure if none)."""
    if not item.get("id"):
        return records
    found = [r for r in records if r["id"] == item["id"]]
    if not found:
        raise Invalid(item, code, f"The {what} could not be found")
    return found


def named_by_id(item: dict, records: list, code: str, what: str) -> dict:
    """The record the item's required id names (a Mimecast not-found failure if none)."""
    wanted = req(item, "id")
    found = next((r for r in records if r["id"] == wanted), None)
    if found is None:
        raise Invalid(item, code, f"The {what} could not be found")
    return found


def first(ctx: Ctx) -> dict:
    item = ctx.data[0] if ctx.data else {}
    if not isinstance(item, dict):
        raise Invalid(item, "err_validation_invalid_type", "data items must be objects")
    return item


def req(item: dict, name: str):
    if name not in item or item[name] is None:
        raise Invalid(item, "err_validation_null", f"{name} must not be null", name)
    if isinstance(item[name], str | list) and not item[name]:
        raise Invalid(item, "err_validation_blank", f"{name} must not be blank", name)
    return item[name]


def req_list(item: dict, name: str, *, of_strings: bool = False) -> list:
    value = req(item, name)
    if not isinstance(value, list) or (of_strings and not all(isinstance(v, str) for v in value)):
        kind = "a list of strings" if of_strings else "a list"
        raise Invalid(item, "err_validation_invalid_type", f"{name} must be {kind}", name)
    return value


def date_arg(item: dict, name: str, default: datetime | None) -> datetime | None:
    value = item.get(name)
    if value in (None, ""):
        return default
    try:
        return parse_date(value)
    except ValueError:
        raise Invalid(item, "err_validation_invalid_date", f"{name} is not a valid date: {value!r}", name) from None


def page(ctx: Ctx, items, scope, default=25, cap=100):
    try:
        return paginate(items, ctx.meta, scope, default=default, cap=cap)
    except PageError as exc:
        raise Invalid(ctx.meta.get("pagination"), "err_validation_invalid_page_token", str(exc), "pageToken") from None


def start_of_today(st: State) -> datetime:
    return now(st).replace(hour=0, minute=0, second=0, microsecond=0)


def now(st: State) -> datetime:
    """Simulated now: the data anchor plus real time elapsed since startup."""
    return st.now + timedelta(seconds=time.monotonic() - st.started_monotonic)  # type: ignore[attr-defined]


def addr_match(value: str, pattern: str) -> bool:
    value, pattern = (value or "").lower(), pattern.lower().strip()
    if "@" in pattern:
        return value == pattern
    return value.endswith("@" + pattern) or value.endswith("." + pattern)


def mbox_name(st: State, addr: str) -> str:
    mb = st.mailbox_by_email.get(addr)
    return mb.name if mb else ""


def person(name, addr):
    return {"displayableName": name or "", "emailAddress": addr}


def internal(st: State, addr: str) -> bool:
    return addr in st.mailbox_by_email


def removed_copies(st: State, m: Message) -> dict:
    return st.removed.get(m.id, {})  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------
# login


def discover_authentication(ctx: Ctx) -> Reply:
    item = first(ctx)
    email = req(item, "emailAddress")
    dom = str(email).split("@")[-1].lower()
    if "@" not in str(email) or dom not in {m.domain for m in ctx.state.mailboxes}:
        return failed(item, "err_user_not_found", "The email address is not a known user of any account")
    region_api = ctx.config.get("discovery_region_api") or ctx.base_url
    return ok(
        [
            {
                "authenticate": ["cloud", "domain"],
                "emailAddress": email,
                "emailToken": mc_id("etok", email),
                "region": {"code": "eu", "name": "Europe", "api": region_api},
            }
        ]
    )


# ------------------------------------------------------------------------------------------------
# message finder


def tracked(st: State, m: Message) -> dict:
    return {
        "id": m.id,
        "status": m.status,
        "info": m.info,
        "fromEnv": {"emailAddress": m.env_from},
        "fromHdr": person(m.from_name, m.from_addr),
        "to": [person(n, a) for n, a in m.to + m.cc],
        "received": fmt_date(m.received),
        "sent": fmt_date(m.sent),
        "subject": m.subject,
        "senderIP": m.sender_ip,
        "attachments": bool(m.attachments),
        "route": m.route,
        "spamScore": m.spam_score,
        "detectionLevel": m.detection_level,
    }


MESSAGE_FINDER_CAP = 500


def message_finder_search(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    adv = item.get("advancedTrackAndTraceOptions") or {}
    if not isinstance(adv, dict):
        raise Invalid(item, "err_validation_invalid_type", "advancedTrackAndTraceOptions must be an object")
    msg_id = (item.get("messageId") or "").strip()
    if not msg_id and not any(adv.get(k) for k in ("from", "to", "subject", "senderIP", "route")):
        raise Invalid(
            item,
            "err_validation_null",
            "Either messageId or at least one advancedTrackAndTraceOptions field is required",
            "advancedTrackAndTraceOptions",
        )
    end = date_arg(item, "end", now(st))
    start = date_arg(item, "start", end - timedelta(days=1))
    if start > end:
        raise Invalid(item, "err_validation_invalid_date_range", "start must be before end", "start")
    routes = adv.get("route")
    if isinstance(routes, str):
        routes = [r.strip() for r in routes.split(",") if r.strip()]
    routes = {r.lower() for r in routes or []}
    subj = (adv.get("subject") or "").lower()
    out = []
    for m in reversed(st.messages):
        if not (start <= m.received <= end):
            continue
        if msg_id and m.mime_id.strip("<>") != msg_id.strip("<>"):
            continue
        if adv.get("from") and not (addr_match(m.from_addr, adv["from"]) or addr_match(m.env_from, adv["from"])):
            continue
        if adv.get("to") and not any(addr_match(r, adv["to"]) for r in m.recipients):
            continue
        if subj and subj not in m.subject.lower():
            continue
        if adv.get("senderIP") and m.sender_ip != adv["senderIP"].strip():
            continue
        if routes and routes != {"all"} and m.route not in routes:
            continue
        out.append(tracked(st, m))
        if len(out) >= MESSAGE_FINDER_CAP:
            break
    return ok([{"trackedEmails": out}], pagination={"pageSize": 0})


def get_message(st: State, item: dict, key="id") -> Message:
    mid = req(item, key)
    m = st.message_by_id.get(mid)
    if m is None:
        raise Invalid(item, "err_message_not_found", "The message could not be found")
    return m


def components(st: State, m: Message) -> list[dict]:
    out = [
        {"type": "Body", "name": "text/plain", "extension": "txt", "mimeType": "text/plain", "size": 900, "hash": ""},
    ]
    for key in m.attachments:
        a = st.attachments[key]
        out.append(
            {
                "type": "Attachment",
                "name": a.filename,
                "extension": a.extension,
                "mimeType": a.mime,
                "size": a.size,
                "hash": a.sha256,
            }
        )
    return out


def message_info(st: State, m: Message, delivered: bool) -> dict:
    info = {
        "fromHeader": m.from_addr,
        "fromEnvelope": m.env_from,
        "to": [a for _, a in m.to],
        "cc": [a for _, a in m.cc],
        "subject": m.subject,
        "sent": fmt_date(m.sent),
        "processed": fmt_date(m.received),
        "transmissionInfo": render.transmission_info(st, m),
        "route": m.route,
        "textBody": render.text_body(m, delivered),
        "htmlBody": render.html_body(m, delivered),
    }
    if m.attachments:
        info["attachments"] = [st.attachments[k].filename for k in m.attachments]
    if not delivered and route_only_in_delivery(m):
        del info["route"]
    return info


def route_only_in_delivery(m: Message) -> bool:
    """Real tenants often give the route only in each delivered copy's messageInfo, not in the received
    copy's: every other delivered message here does the same (held and rejected ones have no copy)."""
    return m.idx % 2 == 0 and m.status not in ("held", "rejected")


def get_message_info(ctx: Ctx) -> Reply:
    st = ctx.state
    out = []
    fails = []
    for item in ctx.data or [{}]:
        try:
            m = get_message(st, item if isinstance(item, dict) else {})
        except Invalid as exc:
            fails.append(fail_item(exc.key, error(exc.code, exc.message, field=exc.field)))
            continue
        out.append(message_info_record(st, m))
    return Reply(body=envelope(out, fail=fails))


RETENTION_DAYS = 2555


def message_info_record(st: State, m: Message) -> dict:
    base_meta = _transmission_meta(st, m)
    rec = {
        "id": m.id,
        "status": m.status,
        "recipientInfo": {
            "messageInfo": message_info(st, m, delivered=False),
            "recipientMetaInfo": {
                "receiptEvent": "Received",
                "spamEvent": "Spam Check Passed" if m.spam_score < 10 else "Spam Detected",
                "messageExpiresIn": RETENTION_DAYS - (st.now - m.received).days,
                "binaryEmailSize": m.size,
                **base_meta,
            },
        },
        "deliveredMessage": {},
        "retentionInfo": _retention_info(m),
        "spamInfo": {
            "spamScore": m.spam_score,
            "detectionLevel": m.detection_level,
            "spamProcessingDetail": spam_processing(m),
        },
    }
    if m.status not in ("held", "rejected"):
        removed = removed_copies(st, m)
        for rcpt in m.recipients:
            rec["deliveredMessage"][rcpt] = _delivered_copy(st, m, rcpt, removed.get(rcpt), base_meta)
    if m.held:
        rec["queueInfo"] = {
            "id": m.id,
            "reason": m.held["reason"],
            "heldGroup": m.held["heldGroup"],
            "createTime": fmt_date(m.received),
            "subject": m.subject,
            "size": m.size,
            "route": m.route,
            "remoteIp": m.sender_ip,
            "policy": m.held["policy"],
        }
    return rec


def _transmission_meta(st: State, m: Message) -> dict:
    """How the message reached Mimecast: shared by the receipt and (overridden in part) each delivery."""
    return {
        "processingServer": f"eu-smtp-inbound-{m.idx % 4 + 1}.mimecast.com",
        "transmissionSize": m.size,
        "remoteIp": m.sender_ip,
        "remoteHost": m.sender_host,
        "remoteServerGreeting": f"250 {m.sender_host}",
        "receiptAcknowledgement": f"250 2.0.0 Ok: queued as {m.idx:08X}",
        "transmissionStart": fmt_date(m.received - timedelta(seconds=2)),
        "transmissionEnd": fmt_date(m.received),
        "encryptionInfo": "TLSv1.3 TLS_AES_256_GCM_SHA384",
        "components": components(st, m),
    }


def _retention_info(m: Message) -> dict:
    purge = fmt_date(m.received + timedelta(days=RETENTION_DAYS))
    return {
        "currentPurgeDate": purge,
        "originalPurgeDate": purge,
        "purgeBasedOn": "original",
        "retentionAdjustmentDays": -1,
        "litigationHoldInfo": [],
        "fbrStamps": [],
        "smartTags": [],
        "fbrExpireCheck": [],
        "audits": [],
    }


def _delivered_copy(st: State, m: Message, rcpt: str, removed_by: str | None, base_meta: dict) -> dict:
    """One recipient's delivered copy; `removed_by` is the remediation incident code that removed it, if any."""
    if m.route == "outbound" or not internal(st, rcpt):
        host = f"mx.{rcpt.split('@')[1]}"
    else:
        host = "acme-corp-com.mail.protection.outlook.com"
    return {
        "messageInfo": message_info(st, m, delivered=True),
        "policyInfo": m.policies,
        "deliveryMetaInfo": {
            **base_meta,
            "deliveryEvent": "Delivered" if removed_by is None else f"Removed by remediation incident {removed_by}",
            "emailAddress": rcpt,
            "messageExpiresIn": RETENTION_DAYS - (st.now - m.received).days,
            "remoteHost": host,
            "remoteIp": "52.101.68.13" if "outlook" in host else "198.51.100.250",
            "remoteServerGreeting": f"220 {host} ESMTP",
            "transmissionStart": fmt_date(m.received + timedelta(seconds=3)),
            "transmissionEnd": fmt_date(m.received + timedelta(seconds=4)),
        },
    }


# ------------------------------------------------------------------------------------------------
# archive


class QueryError(ValueError):
    pass


def parse_archive_query(xml: str, st: State) -> dict:
    root = _xmlquery_root(xml)
    q: dict = {
        "text": "",
        "from": [],
        "to": [],
        "start": None,
        "end": None,
        "docs": None,
        "docs_text": "",
        "mailboxes": [],
        "page_size": 25,
        "startrow": 0,
        "return_fields": [],
    }
    meta = root.find("metadata")
    if meta is not None:
        _read_query_metadata(meta, q)
    muse = root.find("muse")
    if muse is not None:
        _read_query_muse(muse, q, st.now)
    return q


def _xmlquery_root(xml: str) -> ET.Element:
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise QueryError("DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = ET.fromstring(xml.strip().encode())  # noqa: S314 - DOCTYPE/ENTITY refused above
    except ET.ParseError as exc:
        raise QueryError(f"query is not well-formed XML: {exc}") from None
    if root.tag != "xmlquery":
        raise QueryError("root element must be <xmlquery>")
    return root


def _element_texts(parent: ET.Element, tag: str) -> list[str]:
    """The stripped, non-empty texts of every `tag` element under `parent`."""
    return [(el.text or "").strip() for el in parent.iter(tag) if (el.text or "").strip()]


def _read_query_metadata(meta: ET.Element, q: dict):
    """Paging, returned fields and mailboxes."""
    try:
        q["page_size"] = int(meta.get("page-size", 25))
        q["startrow"] = int(meta.get("startrow", 0))
    except ValueError:
        raise QueryError("page-size and startrow must be numbers") from None
    q["return_fields"] = _element_texts(meta, "return-field")
    q["mailboxes"] = [text.lower() for text in _element_texts(meta, "mailbox")]


def _read_query_muse(muse: ET.Element, q: dict, now: datetime):
    """The search itself: text, senders/recipients, date range and documents."""
    text = muse.find("text")
    q["text"] = (text.text or "").strip() if text is not None else ""
    for sent in muse.findall("sent"):
        value = (sent.text or "").strip()
        if value:
            q["to" if sent.get("select") == "to" else "from"].append(value)
    date = muse.find("date")
    if date is not None:
        q["start"], q["end"] = _query_date_range(date, now)
    docs = muse.find("docs")
    if docs is not None and docs.get("select", "optional") != "optional":
        q["docs"] = docs.get("select")
        q["docs_text"] = (docs.text or "").strip().lower()


# <date select="..."> spans: days back from the start of today
DATE_SPANS = {
    "today": 0,
    "yesterday": 1,
    "last_week": 7,
    "last_month": 31,
    "last_3_months": 92,
    "last_6_months": 183,
    "last_year": 366,
    "all": 36500,
}


def _query_date_range(date: ET.Element, now: datetime) -> tuple[datetime, datetime]:
    sel = date.get("select", "last_year")
    if sel == "between":
        try:
            return parse_date(date.get("from", "")), parse_date(date.get("to", ""))
        except ValueError:
            raise QueryError("date between requires valid from and to attributes") from None
    if sel not in DATE_SPANS:
        raise QueryError(f"unknown date select {sel!r}")
    midnight = now.replace(hour=0, minute=0, second=0)
    end = midnight if sel == "yesterday" else now + timedelta(days=1)
    return midnight - timedelta(days=DATE_SPANS[sel]), end


_TEXT_FIELD = re.compile(r"^\(?\s*(subject|body|attachment|from|to)\s*:\s*(.*?)\s*\)?$", re.I)


def archive_match(st: State, m: Message, q: dict) -> bool:
    if q["start"] and m.received < q["start"]:
        return False
    if q["end"] and m.received > q["end"]:
        return False
    for f in q["from"]:
        if not addr_match(m.from_addr, f):
            return False
    for t in q["to"]:
        if not any(addr_match(r, t) for r in m.recipients):
            return False
    if q["mailboxes"] and not any(mb == m.from_addr or mb in m.recipients for mb in q["mailboxes"]):
        return False
    if q["docs"]:
        atts = [st.attachments[k] for k in m.attachments]
        if q["docs"] != "all":
            atts = [a for a in atts if a.doc_type == q["docs"] or a.extension == q["docs"]]
        if not atts:
            return False
        if q["docs_text"] and not any(
            q["docs_text"] in a.text.lower() or q["docs_text"] in a.filename.lower() for a in atts
        ):
            return False
    text = q["text"]
    if text:
        mt = _TEXT_FIELD.match(text)
        field_name, needle = (
            (mt.group(1).lower(), mt.group(2).strip('"').lower()) if mt else ("", text.strip('"').lower())
        )
        if needle:
            atts = [st.attachments[k] for k in m.attachments]
            haystacks = {
                "subject": [m.subject],
                "body": [render.text_body(m, delivered=False)],
                "attachment": [a.filename for a in atts] + [a.text for a in atts],
                "from": [m.from_addr, m.from_name],
                "to": [r for r in m.recipients],
            }
            fields = [field_name] if field_name else list(haystacks)
            if not any(needle in h.lower() for f in fields for h in haystacks[f]):
                return False
    return True


ARCHIVE_FIELDS = [
    "attachmentcount",
    "status",
    "subject",
    "size",
    "receiveddate",
    "displayfrom",
    "id",
    "displayto",
    "smash",
    "displaytoaddresslist",
    "displayfromaddress",
]


def archive_item(st: State, m: Message, fields: list[str]) -> dict:
    full = {
        "id": m.id,
        "subject": m.subject,
        "displayfrom": m.from_name or m.from_addr,
        "displayfromaddress": m.from_addr,
        "displayto": ", ".join(n or a for n, a in m.to),
        "displaytoaddresslist": [person(n, a) for n, a in m.to],
        "receiveddate": fmt_date(m.received),
        "size": m.size,
        "attachmentcount": len(m.attachments),
        "status": "ARCHIVED",
        "smash": mc_id("smash", m.mime_id)[3:35],
    }
    wanted = [f.lower() for f in fields] or ARCHIVE_FIELDS
    out = {k: v for k, v in full.items() if k in wanted}
    out["id"] = m.id
    return out


def archived(m: Message) -> bool:
    return m.status not in ("held", "rejected")


def archive_search(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    xml = req(item, "query")
    admin = bool(item.get("admin", False))
    try:
        q = parse_archive_query(str(xml), st)
    except QueryError as exc:
        raise Invalid(item, "err_archive_search_invalid_query", str(exc), "query") from None
    started = time.monotonic()
    size = max(1, min(q["page_size"], 100))
    startrow = max(0, q["startrow"])
    token = ((ctx.meta or {}).get("pagination") or {}).get("pageToken")
    if token:
        try:
            startrow = decode_page_token(token, "archive-search")
        except PageError as exc:
            raise Invalid(item, "err_validation_invalid_page_token", str(exc), "pageToken") from None
    user = ctx.username.lower()
    hits = []
    for m in reversed(st.messages):
        if not archived(m):
            continue
        if not admin and user != m.from_addr and user not in m.recipients:
            continue
        if archive_match(st, m, q):
            hits.append(m)
    pg = hits[startrow : startrow + size]
    st.search_logs.append(
        {
            "createTime": fmt_date(now(st)),
            "emailAddr": ctx.username,
            "source": "api",
            "searchText": q["text"],
            "searchReason": item.get("searchReason") or "",
            "isAdmin": admin,
            "msgid": "",
            "description": f"Archive search returned {len(hits)} item(s)",
        }
    )
    pagination = {"pageSize": len(pg), "recordStart": startrow}
    if startrow + size < len(hits):
        pagination["next"] = encode_page_token(startrow + size, "archive-search")
    if startrow > 0:
        pagination["previous"] = encode_page_token(max(0, startrow - size), "archive-search")
    data = {
        "items": [archive_item(st, m, q["return_fields"]) for m in pg],
        "queryDuration": int((time.monotonic() - started) * 1000) + 12,
    }
    return ok([data], pagination=pagination)


def archive_get_message_list(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    view = (item.get("view") or "INBOX").upper()
    if view not in ("INBOX", "SENT"):
        raise Invalid(item, "err_validation_invalid_value", "view must be INBOX or SENT", "view")
    mailbox = (item.get("mailbox") or ctx.username).lower()
    today = now(st)
    first_of_month = today.replace(day=1, hour=0, minute=0, second=0)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    start = date_arg(item, "start", last_month)
    end = date_arg(item, "end", today.replace(hour=23, minute=59, second=59))
    msgs = [
        m
        for m in reversed(st.messages)
        if archived(m)
        and start <= m.received <= end
        and ((view == "INBOX" and mailbox in m.recipients) or (view == "SENT" and m.from_addr == mailbox))
    ]
    pg, pagination = page(ctx, msgs, "archive-list")
    return ok(
        [
            {
                "id": m.id,
                "subject": m.subject,
                "received": fmt_date(m.received),
                "from": person(m.from_name, m.from_addr),
                "to": person(*m.to[0]) if m.to else None,
                "attachmentCount": len(m.attachments),
                "size": m.size,
                "status": "ARCHIVED",
                "smash": mc_id("smash", m.mime_id)[3:35],
                "read": False,
                "ccm": False,
                "recalled": False,
                "expired": False,
            }
            for m in pg
        ],
        pagination=pagination,
    )


def detail_record(st: State, m: Message, gateway: bool = False) -> dict:
    atts = []
    for k, key in enumerate(m.attachments):
        a = st.attachments[key]
        att = {
            "id": attachment_id(st.seed, m, k),
            "filename": a.filename,
            "extension": a.extension,
            "contentType": a.mime,
            "contentId": "",
            "bodyType": 2,
            "sha256": a.sha256,
            "size": a.size,
        }
        if gateway:
            att["verdict"] = "malicious" if a.malicious and m.status == "held" else "safe"
            att["scanDate"] = fmt_date(m.received + timedelta(seconds=40))
        atts.append(att)
    hdrs = {}
    for name, value in render.headers(st, m):
        hdrs.setdefault(name, []).append(value)
    return {
        "id": m.id,
        "status": "Active",
        "smash": mc_id("smash", m.mime_id)[3:35],
        "mimeMessageId": m.mime_id,
        "hasHtmlBody": True,
        "received": fmt_date(m.received),
        "processed": fmt_date(m.received),
        "subject": m.subject,
        "headerDate": fmt_date(m.sent),
        "size": m.size,
        "from": person(m.from_name, m.from_addr),
        "envelopeFrom": person(m.from_name, m.env_from),
        "replyTo": person("", m.reply_to or m.from_addr),
        "to": [person(n, a) for n, a in m.to],
        "cc": [person(n, a) for n, a in m.cc],
        "headers": [{"name": n, "values": v} for n, v in hdrs.items()],
        "attachments": atts,
    }


def archive_get_message_detail(ctx: Ctx) -> Reply:
    m = get_message(ctx.state, first(ctx))
    return ok([detail_record(ctx.state, m)])


def gateway_get_message_detail(ctx: Ctx) -> Reply:
    m = get_message(ctx.state, first(ctx))
    return ok([detail_record(ctx.state, m, gateway=True)])


def archive_get_message_part(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    m = get_message(st, item)
    context = (item.get("context") or "DELIVERED").upper()
    kind = (item.get("type") or "RFC822").upper()
    if context not in ("DELIVERED", "RECEIVED"):
        raise Invalid(item, "err_validation_invalid_value", "context must be DELIVERED or RECEIVED", "context")
    if kind not in ("RFC822", "HTML", "PLAIN", "TRANSMISSION_MESSAGE_BODY"):
        raise Invalid(
            item,
            "err_validation_invalid_value",
            "type must be RFC822, HTML, PLAIN or TRANSMISSION_MESSAGE_BODY",
            "type",
        )
    mailbox = (item.get("mailbox") or "").lower()
    if mailbox and mailbox != m.from_addr and mailbox not in m.recipients:
        raise Invalid(item, "err_message_not_found", "The message was not found in that mailbox", "mailbox")
    if context == "DELIVERED":
        if m.status in ("held", "rejected"):
            raise Invalid(
                item,
                "err_message_not_delivered",
                "The message has not been delivered (it is held or was rejected); request the RECEIVED context",
                "context",
            )
        removed = removed_copies(st, m)
        internal_rcpts = [r for r in m.recipients if internal(st, r)]
        if removed and ((mailbox and mailbox in removed) or (not mailbox and len(removed) >= len(internal_rcpts))):
            code = next(iter(removed.values()))
            raise Invalid(
                item,
                "err_message_remediated",
                f"The delivered message was removed by remediation "
                f"incident {code}; the RECEIVED copy remains in the archive",
                "id",
            )
    delivered = context == "DELIVERED"
    if kind in ("RFC822", "TRANSMISSION_MESSAGE_BODY"):
        return Reply(
            raw=render.rfc822(st, m, delivered),
            content_type="message/rfc822",
            headers={"Content-Disposition": f'attachment; filename="{m.idx:06d}.eml"'},
        )
    if kind == "HTML":
        return Reply(
            raw=render.html_body(m, delivered).encode(),
            content_type="text/html; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="body.html"'},
        )
    return Reply(
        raw=render.text_body(m, delivered).encode(),
        content_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="body.txt"'},
    )


def archive_get_file(ctx: Ctx) -> Reply:
    item = first(ctx)
    att_id = req(item, "id")
    found = ctx.state.attachment_by_id(att_id)
    if not found:
        raise Invalid(item, "err_attachment_not_found", "The attachment could not be found")
    _, a = found
    return Reply(
        raw=a.data,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{a.filename}"'},
    )


# ------------------------------------------------------------------------------------------------
# remediation


def _hash_matches(a, value: str) -> bool:
    v = value.lower().strip()
    return v in (a.sha256, a.sha1, a.md5)


def _url_matches(m: Message, value: str) -> bool:
    """Exact original or rewritten URL, or an original URL that starts with the given URL."""
    return any(value in (o, r) or (len(value) > 10 and o.startswith(value)) for o, r in m.urls)


def _incident_public(inc: dict) -> dict:
    return public(inc)


def _copies_for(st: State, msgs: list[Message]) -> list[tuple[Message, str]]:
    out = []
    for m in msgs:
        if not archived(m):
            continue
        if m.route == "outbound":
            continue
        for r in m.recipients:
            if internal(st, r):
                out.append((m, r))
    return out


def _new_incident(ctx: Ctx, *, kind: str, reason: str, criteria: dict, copies, restored_from: dict | None = None):
    st = ctx.state
    st.incident_seq += 1
    inc_id = mc_id("inc", st.seed, st.incident_seq)
    suffix = {"manual": "M", "notify_only": "N", "restored": "R"}[kind]
    code = f"TR-{ACCOUNT_CODE}-{st.incident_seq:05d}-{suffix}"
    t = now(st)
    identified = len(copies)
    successful = failed_n = restored = 0
    applied = []
    if kind == "manual":
        for m, r in copies:
            if st.mailbox_by_email[r].unavailable or r in st.remediation_failures:
                failed_n += 1
                why = st.remediation_failures.get(r) or "mailbox unavailable"
                record_effect(st, "remediate", inc_id, f"{r}|{m.mime_id}", outcome="failed", reason=why, code=code)
                continue
            st.removed.setdefault(m.id, {})[r] = code
            applied.append((m.id, r))
            successful += 1
            record_effect(st, "remediate", inc_id, f"{r}|{m.mime_id}", outcome="removed", code=code)
            m.status, m.info = "remediated", f"Removed from mailbox by remediation incident {code}"
    elif kind == "restored":
        for m, r in copies:
            rem = st.removed.get(m.id, {})
            if rem.pop(r, None):
                restored += 1
                applied.append((m.id, r))
                record_effect(st, "restore", inc_id, f"{r}|{m.mime_id}", code=code)
            if not rem:
                st.removed.pop(m.id, None)
                if m.status == "remediated":
                    m.status, m.info = "archived", "Indexed and archived"
        successful = restored
        restored_from["restored"] = restored_from.get("restored", 0) + restored
        restored_from["_final"]["restored"] += restored
        restored_from["modified"] = fmt_date(t)
    if kind != "restored":
        criteria = {**criteria, "unremediateCode": "UR-" + code[3:], "restoreCode": "RC-" + code[3:]}
    settle_ms = int(ctx.config.get("incident_settle_ms", 1500))
    inc = {
        "id": inc_id,
        "code": code,
        "type": kind,
        "reason": reason,
        "create": fmt_date(t),
        "modified": fmt_date(t),
        "identified": identified,
        "successful": 0,
        "failed": 0,
        "restored": 0,
        "searchCriteria": criteria,
        "_copies": applied,
        "_final": {"identified": identified, "successful": successful, "failed": failed_n, "restored": restored},
        "_settle_at": time.monotonic() + settle_ms / 1000.0,
        "_polls": 0,
    }
    st.incidents.append(inc)
    return inc


def _criteria(item, start, end, **kw) -> dict:
    base = {
        "start": fmt_date(start),
        "end": fmt_date(end),
        "messageId": "",
        "fileHash": "",
        "url": "",
        "from": item.get("from") or "",
        "to": item.get("to") or "",
        "date": "",
    }
    base.update(kw)
    return base


def _select(st: State, msgs, item, start, end):
    out = []
    for m in msgs:
        if not (start <= m.received <= end):
            continue
        if item.get("from") and not addr_match(m.from_addr, item["from"]):
            continue
        if item.get("to") and not any(addr_match(r, item["to"]) for r in m.recipients):
            continue
        out.append(m)
    return out


def _kind(item) -> str:
    t = (item.get("type") or "remediate").lower()
    if t in ("remediate", "manual", "automatic", "remediation"):
        return "manual"
    if t in ("notify_only", "notify"):
        return "notify_only"
    if t in ("restore", "restored", "unremediate"):
        return "restored"
    raise Invalid(item, "err_validation_invalid_value", "type must be remediate, notify_only or restore", "type")


def _restore(ctx: Ctx, item: dict) -> Reply:
    st = ctx.state
    code = item.get("restoreCode") or item.get("unremediateCode") or item.get("hashOrMessageId")
    if not code:
        raise Invalid(item, "err_validation_null", "restoreCode must not be null", "restoreCode")
    orig = next(
        (
            i
            for i in st.incidents
            if code in (i["searchCriteria"].get("restoreCode"), i["searchCriteria"].get("unremediateCode"))
        ),
        None,
    )
    if orig is None:
        raise Invalid(
            item,
            "err_remediation_restore_code_not_found",
            "No remediation incident has this restore code",
            "restoreCode",
        )
    copies = [(st.message_by_id[mid], r) for mid, r in orig["_copies"] if r in st.removed.get(mid, {})]
    crit = {**orig["searchCriteria"], "restoreCode": code}
    inc = _new_incident(
        ctx,
        kind="restored",
        reason=item.get("reason") or f"Restore of {orig['code']}",
        criteria=crit,
        copies=copies,
        restored_from=orig,
    )
    return ok([_incident_public(inc)])


def _by_hash(st: State, item: dict, start, end, value: str):
    msgs = [m for m in st.messages if any(_hash_matches(st.attachments[k], value) for k in m.attachments)]
    return msgs, _criteria(item, start, end, fileHash=value)


def _by_url(st: State, item: dict, start, end):
    value = str(req(item, "url")).strip()
    msgs = [m for m in st.messages if _url_matches(m, value)]
    return msgs, _criteria(item, start, end, url=value)


def _targets_v1(st: State, item: dict, by: str, start, end):
    """API 1.0's searchBy: hash or messageId (both in hashOrMessageId) or url."""
    if by == "hash":
        value = str(req(item, "hashOrMessageId")).lower()
        if not re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", value):
            raise Invalid(
                item,
                "err_validation_invalid_hash",
                "hashOrMessageId is not a valid md5, sha1 or sha256",
                "hashOrMessageId",
            )
        return _by_hash(st, item, start, end, value)
    if by == "messageId":
        value = str(req(item, "hashOrMessageId")).strip()
        if not (value.startswith("<") and value.endswith(">")):
            raise Invalid(
                item,
                "err_validation_invalid_message_id",
                "messageId must include the < > delimiters",
                "hashOrMessageId",
            )
        return [m for m in st.messages if m.mime_id == value], _criteria(item, start, end, messageId=value)
    if by == "url":
        return _by_url(st, item, start, end)
    raise Invalid(item, "err_validation_invalid_value", "searchBy must be hash, messageId or url", "searchBy")


def _targets_v2(st: State, item: dict, by: str, start, end):
    """API 2.0's searchBy: hash (in hash), message_ids (a list in messageIds) or url."""
    if by == "hash":
        return _by_hash(st, item, start, end, str(req(item, "hash")).lower())
    if by == "message_ids":
        ids = req_list(item, "messageIds", of_strings=True)
        if len(ids) > 100:
            raise Invalid(item, "err_validation_max_size_exceeded", "at most 100 messageIds per incident", "messageIds")
        wanted = {i.strip().strip("<>") for i in ids}
        msgs = [m for m in st.messages if m.mime_id.strip("<>") in wanted]
        return msgs, _criteria(item, start, end, messageIds=list(ids))
    if by == "url":
        return _by_url(st, item, start, end)
    raise Invalid(item, "err_validation_invalid_value", "searchBy must be hash, message_ids or url", "searchBy")


def _remediation_create(ctx: Ctx, targets) -> Reply:
    """Create an incident (or a restore of one); `targets` reads the version's searchBy fields."""
    st = ctx.state
    item = first(ctx)
    kind = _kind(item)
    if kind == "restored":
        return _restore(ctx, item)
    reason = req(item, "reason")
    end = date_arg(item, "end", now(st).replace(hour=23, minute=59, second=59))
    start = date_arg(item, "start", end - timedelta(days=30))
    msgs, crit = targets(st, item, item.get("searchBy") or "hash", start, end)
    copies = _copies_for(st, _select(st, msgs, item, start, end))
    if item.get("to"):
        # "to" narrows the removal to the mailboxes it names, not only the search to their messages.
        copies = [(m, r) for m, r in copies if addr_match(r, item["to"])]
        refused = [st.remediation_refusals[r] for _m, r in copies if r in st.remediation_refusals]
        if refused and len(refused) == len(copies):
            raise Invalid(item, "err_remediation_not_permitted", refused[0], "to")
    inc = _new_incident(ctx, kind=kind, reason=reason, criteria=crit, copies=copies)
    return ok([_incident_public(inc)])


def remediation_create(ctx: Ctx) -> Reply:
    return _remediation_create(ctx, _targets_v1)


def remediation_create_v2(ctx: Ctx) -> Reply:
    return _remediation_create(ctx, _targets_v2)


def _incident_view(inc: dict, poll: bool) -> dict:
    if poll:
        inc["_polls"] += 1
    final = inc["_final"]
    if inc["_polls"] >= 2 or time.monotonic() >= inc["_settle_at"]:
        counts = dict(final)
    else:
        counts = {
            "identified": final["identified"],
            "successful": final["successful"] // 2,
            "failed": final["failed"] // 2,
            "restored": final["restored"] // 2,
        }
    inc.update(counts)
    return _incident_public(inc)


def remediation_get_incident(ctx: Ctx) -> Reply:
    item = first(ctx)
    inc = named_by_id(item, ctx.state.incidents, "err_remediation_incident_not_found", "incident")
    return ok([_incident_view(inc, poll=True)])


def remediation_find_incidents(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    if not any(item.get(k) for k in ("start", "end", "searchBy", "filterBy")):
        raise Invalid(
            item, "err_validation_blank", "At least one of start, end, searchBy or filterBy is required", "searchBy"
        )
    start = date_arg(item, "start", None)
    end = date_arg(item, "end", None)
    search = item.get("searchBy") or []
    if isinstance(search, dict):
        search = [search]
    filters = item.get("filterBy") or []
    if isinstance(filters, dict):
        filters = [filters]
    types = set()
    for f in filters:
        if isinstance(f, dict) and f.get("fieldName") == "type":
            types |= {v.strip() for v in str(f.get("value", "")).split(",") if v.strip()}
    out = []
    for inc in reversed(st.incidents):
        created = parse_date(inc["create"])
        if (start and created < start) or (end and created > end):
            continue
        if types and inc["type"] not in types:
            continue
        keep = True
        for s in search:
            if not isinstance(s, dict):
                continue
            fname, value = s.get("fieldName", "all"), str(s.get("value", "")).lower()
            fields = {
                "code": [inc["code"]],
                "file_hash": [inc["searchCriteria"].get("fileHash", "")],
                "reason": [inc["reason"]],
            }
            pool = [v for vs in fields.values() for v in vs] if fname == "all" else fields.get(fname, [])
            if not any(value in (v or "").lower() for v in pool):
                keep = False
        if keep:
            out.append(inc)
    pg, pagination = page(ctx, out, "incidents")
    return ok([{"incidents": [_incident_view(i, poll=False) for i in pg]}], pagination=pagination)


HASH_RE = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$")


def remediation_search_hash(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    hashes = req_list(item, "hashes")
    if len(hashes) > 100:
        raise Invalid(
            item,
            "err_validation_max_size_exceeded",
            f"A maximum of 100 hashes can be submitted in a single call ({len(hashes)} given)",
            "hashes",
        )
    year_ago = st.now - timedelta(days=365)
    seen = set()
    for m in st.messages:
        if m.received >= year_ago:
            for k in m.attachments:
                a = st.attachments[k]
                seen |= {a.sha256, a.sha1, a.md5}
    status, failed_hashes = [], []
    for h in hashes:
        if not isinstance(h, str) or not HASH_RE.match(h.strip()):
            failed_hashes.append(h)
            continue
        status.append({"hash": h, "detected": h.strip().lower() in seen})
    return ok([{"hashStatus": status, "failedHashes": failed_hashes}])


# ------------------------------------------------------------------------------------------------
# TTP logs and URLs


def decode_url(ctx: Ctx) -> Reply:
    out, fails = [], []
    for item in ctx.data:
        url = (item or {}).get("url") if isinstance(item, dict) else None
        if not url:
            fails.append(fail_item(item, error("err_validation_null", "url must not be null", field="url")))
            continue
        token = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] if "/s/" in url else None
        original = ctx.state.url_map.get(token) if token else None
        if original is None:
            fails.append(fail_item(item, error("err_url_decode_failed", "The URL could not be decoded")))
            continue
        out.append({"url": original, "success": True})
    return Reply(body=envelope(out, fail=fails))


def _logs_in_window(ctx: Ctx, records: list) -> tuple[dict, list]:
    """The request item and the log records inside its from/to window (today so far by default)."""
    item = first(ctx)
    start = date_arg(item, "from", start_of_today(ctx.state))
    end = date_arg(item, "to", now(ctx.state))
    return item, [r for r in records if start <= r["_dt"] <= end]


def _log_page(ctx: Ctx, item: dict, logs: list, scope: str):
    """One page of the logs, newest first unless the request asks for oldestFirst."""
    if not item.get("oldestFirst"):
        logs = list(reversed(logs))
    return page(ctx, logs, scope)


def url_get_logs(ctx: Ctx) -> Reply:
    item, logs = _logs_in_window(ctx, ctx.state.click_logs)
    route = (item.get("route") or "all").lower()
    scan = (item.get("scanResult") or "all").lower()
    logs = [c for c in logs if (route == "all" or c["route"] == route) and (scan == "all" or c["scanResult"] == scan)]
    pg, pagination = _log_page(ctx, item, logs, "url-logs")
    return ok([{"clickLogs": [public(c) for c in pg]}], pagination=pagination)


IMPERSONATION_SEARCH_FIELDS = {
    "senderAddress": ["senderAddress"],
    "recipientAddress": ["recipientAddress"],
    "subject": ["subject"],
    "policy": ["definition"],
    "all": ["senderAddress", "recipientAddress", "subject", "definition"],
}


def _impersonation_filter(item: dict):
    """The request's filters (read up front, so a malformed one fails even when no log is in the window)."""
    fields = IMPERSONATION_SEARCH_FIELDS.get(item.get("searchField") or "all", IMPERSONATION_SEARCH_FIELDS["all"])
    query = (item.get("query") or "").lower()
    idents = set(item.get("identifiers") or [])
    actions = set(item.get("actions") or [])
    tagged = item.get("taggedMalicious")

    def keep(lg: dict) -> bool:
        return (
            (tagged is None or lg["taggedMalicious"] == bool(tagged))
            and (not query or any(query in str(lg[f]).lower() for f in fields))
            and (not idents or bool(idents & set(lg["identifiers"])))
            and (not actions or lg["action"] in actions)
        )

    return keep


def impersonation_get_logs(ctx: Ctx) -> Reply:
    item, logs = _logs_in_window(ctx, ctx.state.impersonation_logs)
    logs = list(filter(_impersonation_filter(item), logs))
    pg, pagination = _log_page(ctx, item, logs, "imp-logs")
    return ok([{"impersonationLogs": [public(x) for x in pg], "resultCount": len(logs)}], pagination=pagination)


def attachment_get_logs(ctx: Ctx) -> Reply:
    item, logs = _logs_in_window(ctx, ctx.state.attachment_logs)
    route = (item.get("route") or "all").lower()
    result = (item.get("result") or "all").lower()
    logs = [
        x
        for x in logs
        if (route in ("all", "external") or x["route"] == route) and (result == "all" or x["result"] == result)
    ]
    pg, pagination = _log_page(ctx, item, logs, "att-logs")
    return ok([{"attachmentLogs": [public(x) for x in pg]}], pagination=pagination)


def get_all_managed_urls(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    needle = (item.get("domainOrUrl") or "").lower()
    exact = bool(item.get("exactMatch"))
    urls = ctx.state.managed_urls
    if needle:
        urls = [u for u in urls if (needle == u["domain"] if exact else needle in (u["domain"] + u["path"]).lower())]
    pg, pagination = page(ctx, urls, "managed-urls")
    return ok(pg, pagination=pagination)


def create_managed_url(ctx: Ctx) -> Reply:
    from urllib.parse import urlsplit

    from mimecast_simulator.data import _managed

    item = first(ctx)
    url = req(item, "url")
    action = req(item, "action")
    if action not in ("block", "permit"):
        raise Invalid(item, "err_validation_invalid_value", "action must be block or permit", "action")
    if "#" in url:
        raise Invalid(item, "err_validation_invalid_url", "url must not contain a fragment", "url")
    parts = urlsplit(url if "://" in url else "https://" + url)
    for u in ctx.state.managed_urls:
        if u["domain"] == parts.hostname and u["path"] == (parts.path or ""):
            return Reply(
                body=envelope(
                    [],
                    fail=[
                        fail_item(
                            {**item, "overrideUrl": False},
                            error(
                                "err_managed_url_exists_code",
                                "The managed URL already exists; to update it, delete and recreate",
                            ),
                        )
                    ],
                )
            )
    ctx.state.action_seq += 1
    rec = _managed(
        ctx.state.seed,
        1000 + ctx.state.action_seq,
        parts.scheme,
        parts.hostname,
        parts.path or "",
        item.get("matchType") or "explicit",
        action,
        item.get("comment") or "",
        bool(item.get("disableRewrite")),
        bool(item.get("disableUserAwareness")),
        bool(item.get("disableLogClick")),
    )
    rec["queryString"] = parts.query
    ctx.state.managed_urls.append(rec)
    record_effect(ctx.state, "create-managed-url", rec["id"], url, urlAction=action, matchType=rec["matchType"])
    return ok([rec])


def delete_managed_url(ctx: Ctx) -> Reply:
    item = first(ctx)
    uid = req(item, "id")
    before = len(ctx.state.managed_urls)
    gone = [u for u in ctx.state.managed_urls if u["id"] == uid]
    ctx.state.managed_urls[:] = [u for u in ctx.state.managed_urls if u["id"] != uid]
    if len(ctx.state.managed_urls) == before:
        raise Invalid(item, "err_managed_url_not_found", "Managed URL not found")
    record_effect(ctx.state, "delete-managed-url", uid, gone[0]["domain"] + gone[0]["path"])
    return ok([])


# ------------------------------------------------------------------------------------------------
# gateway: held, release logs, rejections


def hold_item(m: Message) -> dict:
    return {
        "id": m.id,
        "reason": m.held["reason"],
        "reasonId": m.held["reasonId"],
        "reasonCode": m.held["reasonId"].lower(),
        "from": person(m.from_name, m.env_from),
        "fromHeader": person(m.from_name, m.from_addr),
        "to": person(*m.to[0]),
        "subject": m.subject,
        "route": m.route.upper(),
        "hasAttachments": bool(m.attachments),
        "size": m.size,
        "dateReceived": fmt_date(m.received),
        "policyInfo": m.held["policy"],
        "heldGroup": m.held["heldGroup"],
    }


def _held_search(item: dict) -> tuple[str, str, list]:
    """searchBy {fieldName, value} and filterBy (one object or a list) of the held-message endpoints."""
    sb = item.get("searchBy") or {}
    filters = item.get("filterBy") or []
    fname, value = (sb.get("fieldName") or "all"), (sb.get("value") or "").lower()
    return fname, value, [filters] if isinstance(filters, dict) else filters


def _search_hit(fields: dict[str, list], fname: str, value: str) -> bool:
    """Whether the searched value is in the named field (or any field for "all")."""
    if not value:
        return True
    pool = [v for vs in fields.values() for v in vs] if fname == "all" else fields.get(fname, [])
    return any(value in (v or "").lower() for v in pool)


def get_hold_message_list(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    admin = bool(item.get("admin", False))
    start = date_arg(item, "start", None)
    end = date_arg(item, "end", None)
    fname, value, filters = _held_search(item)
    out = []
    for m in reversed(st.messages):
        if m.status != "held":
            continue
        if not admin and ctx.username not in m.recipients:
            continue
        if (start and m.received < start) or (end and m.received > end):
            continue
        fields = {
            "subject": [m.subject],
            "sender": [m.from_addr, m.env_from],
            "recipient": m.recipients,
            "reason_code": [m.held["reasonId"].lower()],
        }
        if not _search_hit(fields, fname, value):
            continue
        skip = False
        for f in filters:
            if f.get("route") and m.route.lower() != str(f["route"]).lower():
                skip = True
            if f.get("heldGroup") and m.held["heldGroup"] != f["heldGroup"]:
                skip = True
        if not skip:
            out.append(hold_item(m))
    pg, pagination = page(ctx, out, "hold-list")
    return ok(pg, pagination=pagination)


def get_hold_summary_list(ctx: Ctx) -> Reply:
    counts: dict[str, int] = {}
    for m in ctx.state.messages:
        if m.status == "held":
            counts[m.held["policy"]] = counts.get(m.held["policy"], 0) + 1
    return ok([{"policyInfo": k, "numberOfItems": v} for k, v in sorted(counts.items())])


def hold_release(ctx: Ctx) -> Reply:
    st = ctx.state
    out, fails = [], []
    for item in ctx.data:
        m = st.message_by_id.get((item or {}).get("id")) if isinstance(item, dict) else None
        if m is None or m.status != "held":
            fails.append(fail_item(item, error("err_hold_message_not_found", "The message is not in the hold queue")))
            continue
        # Released now, so delivered now: Message Finder shows it as it shows any fresh delivery.
        m.status, m.info = "delivered", "Message released from hold"
        from mimecast_simulator.data import _release_log

        st.release_logs.append(_release_log(m, now(st), True, ctx.username))
        record_effect(st, "hold-release", m.id, m.id)
        out.append({"id": m.id, "release": True})
    return Reply(body=envelope(out, fail=fails))


def hold_reject(ctx: Ctx) -> Reply:
    from mimecast_simulator.data import _release_log

    st = ctx.state
    item = first(ctx)
    ids = req_list(item, "ids")
    out = []
    for mid in ids:
        m = st.message_by_id.get(mid)
        if m is None or m.status != "held":
            out.append({"id": mid, "reject": False})
            continue
        m.status, m.info = "rejected", "Held message rejected"
        log = _release_log(m, now(st), False, ctx.username)
        log["rejectReason"] = item.get("reasonType") or "MESSAGE_CONTAINS_UNDESIRABLE_CONTENT"
        st.release_logs.append(log)
        record_effect(
            st,
            "hold-reject",
            mid,
            mid,
            reasonType=log["rejectReason"],
            message=item.get("message") or "",
            notify=bool(item.get("notify")),
        )
        out.append({"id": mid, "reject": True})
    return ok(out)


def get_held_release_logs(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    end = date_arg(item, "end", now(st))
    start = date_arg(item, "start", end - timedelta(days=30))
    fname, value, filters = _held_search(item)
    out = []
    for lg in reversed(st.release_logs):
        if not (start <= lg["_dt"] <= end):
            continue
        fields = {
            "operator": [lg["operator"]["email"]],
            "from": [lg["fromEnv"]["address"], lg["fromHdr"]["address"]],
            "to": lg["_to"],
            "subject": [lg["messageInfo"]],
            "info": [lg["messageInfo"]],
            "heldReason": [lg["heldReason"]],
        }
        if not _search_hit(fields, fname, value):
            continue
        keep = True
        for f in filters:
            fn, fv = f.get("fieldName"), str(f.get("value", "")).lower()
            if (fn == "route" and lg["route"] != fv) or (fn == "status" and lg["_status"] != fv):
                keep = False
            if fn == "attachments" and lg["attachments"] != (fv == "true"):
                keep = False
        if keep:
            out.append(lg)
    pg, pagination = page(ctx, out, "release-logs")
    return ok([{"heldReleaseLogs": [public(x) for x in pg]}], pagination=pagination)


def get_rejections(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    admin = bool(item.get("admin", False))
    mailbox = (item.get("mailbox") or "").lower()
    if not admin and not mailbox:
        mailbox = ctx.username
    start = date_arg(item, "start", start_of_today(st))
    end = date_arg(item, "end", now(st))
    sb = item.get("searchBy") or {}
    fname, value = (sb.get("fieldName") or "all"), (sb.get("value") or "").lower()
    mapping = {"from": "fromAddress", "to": "toAddress", "type": "type", "info": "info", "remoteIp": "ipAddress"}
    out = []
    for r in reversed(st.rejections):
        if not (start <= r["_dt"] <= end):
            continue
        if mailbox and r["toAddress"] != mailbox:
            continue
        if value:
            keys = [*mapping.values(), "description"] if fname == "all" else [mapping.get(fname, fname)]
            if not any(value in str(r.get(k, "")).lower() for k in keys):
                continue
        out.append(r)
    pg, pagination = page(ctx, out, "rejections")
    return ok([{"rejections": [public(x) for x in pg]}], pagination=pagination)


# ------------------------------------------------------------------------------------------------
# awareness training


def _user_filter(item: dict, recs: list[dict], email_key="email") -> list[dict]:
    sb = item.get("searchBy") or {}
    fname, value = sb.get("fieldName"), str(sb.get("value") or "").lower()
    if value and fname in ("name", "email", "department"):
        key = email_key if fname == "email" else fname
        recs = [r for r in recs if value in str(r.get(key, "")).lower()]
    return recs


def get_performance_details(ctx: Ctx) -> Reply:
    st = ctx.state
    item = optional_item(ctx)
    attrs = item.get("attributeIds") or []
    if len(attrs) > 3:
        raise Invalid(item, "err_validation_max_size_exceeded", "attributeIds accepts at most 3 ids", "attributeIds")
    details = bool(item.get("includeUserDetails"))
    recs = []
    for email, t in st.training.items():
        watched = sum(x["watched"] for x in t["training"])
        # Tenants count modules: answered correctly, answered wrongly, not watched yet.
        rec = {
            "email": email,
            "name": t["name"],
            "department": t["department"],
            "userId": mc_id("usr", email),
            "userState": "active",
            "numCorrect": sum(x["myAnswer"] == 1 for x in t["training"]),
            "numIncorrect": sum(x["myAnswer"] == 0 for x in t["training"]),
            "numNotWatched": len(t["training"]) - watched,
        }
        if details:
            rec["campaigns"] = [
                {
                    "title": x["title"],
                    "launchDate": x["assignedTimeStamp"],
                    "completedDate": x["watchedDate"],
                    "timeToCompleteDays": 5 if x["watched"] else None,
                    "answeredCorrectly": x["myAnswer"] == 1,
                }
                for x in t["training"]
            ]
        recs.append(rec)
    recs = _user_filter(item, recs)
    fb = item.get("filterBy") or {}
    val = fb.get("value") if isinstance(fb, dict) else None
    if val and val != "video_count_all":
        m = re.match(r"video_count_(\d)(_or_more)?$", val)
        if not m:
            raise Invalid(item, "err_validation_invalid_value", "unknown filterBy value", "filterBy")
        n = int(m.group(1))
        seen = {r["email"]: r["numCorrect"] + r["numIncorrect"] for r in recs}  # a watched module is answered
        recs = [r for r in recs if (seen[r["email"]] >= n if m.group(2) else seen[r["email"]] == n)]
    pg, pagination = page(ctx, recs, "perf", cap=500)
    return ok(pg, pagination=pagination)


def get_safe_score_details(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    recs = _user_filter(item, list(ctx.state.safe_scores.values()), email_key="emailAddress")
    pg, pagination = page(ctx, recs, "safe", cap=500)
    return ok(pg, pagination=pagination)


def get_safe_score_summary(ctx: Ctx) -> Reply:
    counts = {"a": 0, "b": 0, "c": 0, "d": 0, "f": 0}
    for s in ctx.state.safe_scores.values():
        counts[s["risk"].lower()] += 1
    return ok([{"scoreCounts": counts}])


def get_training_details(ctx: Ctx) -> Reply:
    t = ctx.state.training.get(ctx.username)
    if t is None:
        return ok([{"training": [], "needEngagement": False, "meritBadge": {}}])
    return ok([{"training": t["training"], "needEngagement": t["needEngagement"], "meritBadge": t["meritBadge"]}])


def get_phishing_campaign(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    return ok(with_id(item, ctx.state.phishing_campaigns, "err_campaign_not_found", "campaign"))


def _phishing_user(r: dict) -> dict:
    """One user's result as tenants answer it: a moment per step (null until it happened), the latest
    status and the user's state."""
    status = next(
        (s for s, done in (("submitted", "submitted"), ("clicked", "clicked"), ("opened", "opened")) if r[done]),
        "reported" if r["reported"] else "sent" if r["sent"] else "scheduled",
    )
    return {
        "email": r["email"],
        "name": r["name"],
        "department": r["department"],
        "templateName": r["templateName"],
        "status": status,
        "timeScheduled": r["sentDate"],
        "timeOpened": r.get("openedDate"),
        "timeClicked": r.get("clickedDate"),
        "timeSubmitted": r.get("submittedDate"),
        "timeReported": r.get("reportedDate"),
        "userState": "active" if r["active"] else "inactive",
    }


def get_phishing_user_data(ctx: Ctx) -> Reply:
    item = first(ctx)
    cid = req(item, "id")
    recs = ctx.state.phishing_results.get(cid)
    if recs is None:
        raise Invalid(item, "err_campaign_not_found", "The campaign could not be found")
    pg, pagination = page(ctx, recs, "phish-users:" + cid[:8], cap=500)
    return ok([{"items": [_phishing_user(r) for r in pg]}], pagination=pagination)


# ------------------------------------------------------------------------------------------------
# policy and directory


def blocked_senders_get_policy(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    return ok(with_id(item, ctx.state.policies, "err_policy_not_found", "policy"))


def record_effect(st: State, action: str, rid: str, target: str, **details) -> None:
    """One change a response action made, for the control API's /_sim/effects."""
    st.effects.append({"action": action, "id": rid, "target": target, "at": fmt_date(now(st)), **details})


POLICY_OPTIONS = ("block_sender", "no_action")
PARTY_KEYS = {"email_address": "emailAddress", "email_domain": "emailDomain", "profile_group": "groupId"}
PARTY_TYPES = (*PARTY_KEYS, "everyone", "internal_addresses", "external_addresses", "free_mail_domains")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _policy_side(st: State, item: dict, policy: dict, side: str) -> tuple[dict, str]:
    """A policy's from or to object, from the object or the flat fromType/fromValue spelling."""
    obj = policy.get(side)
    if not isinstance(obj, dict):
        if not policy.get(side + "Type"):
            raise Invalid(item, "err_validation_null", f"{side} must not be null", side)
        kind = policy[side + "Type"]
        obj = {"type": kind, **({PARTY_KEYS[kind]: policy.get(side + "Value")} if kind in PARTY_KEYS else {})}
    kind = obj.get("type")
    if kind not in PARTY_TYPES:
        raise Invalid(item, "err_validation_invalid_value", f"{side}.type is not a known type", side + ".type")
    key = PARTY_KEYS.get(kind)
    if key is None:
        return {"type": kind}, ""
    value = str(obj.get(key) or "").strip()
    if not value:
        raise Invalid(item, "err_validation_blank", f"{side}.{key} must not be blank", f"{side}.{key}")
    if kind == "email_address" and not EMAIL_RE.match(value):
        raise Invalid(item, "err_validation_invalid_email_address", "invalid email address", f"{side}.{key}")
    if kind == "profile_group" and not any(g["id"] == value for g in st.groups):
        raise Invalid(item, "err_validation_invalid_value", "the group does not exist", f"{side}.{key}")
    return {"type": kind, key: value.lower() if kind != "profile_group" else value}, value


def _policy_dates(item: dict, policy: dict) -> dict:
    out = {}
    for end, eternal_date in (("from", "1900-01-01T00:00:00+0000"), ("to", "2100-01-01T23:59:59+0000")):
        when = date_arg(policy, end + "Date", None) if policy.get(end + "Date") else None
        eternal = policy.get(end + "Eternal")
        eternal = when is None if eternal is None else bool(eternal)
        if not eternal and when is None:
            raise Invalid(item, "err_validation_null", f"{end}Date must not be null", f"policy.{end}Date")
        out[end + "Eternal"] = eternal
        out[end + "Date"] = eternal_date if eternal else fmt_date(when)
    return out


def _policy_record(ctx: Ctx, item: dict) -> dict:
    st = ctx.state
    option = req(item, "option")
    if option not in POLICY_OPTIONS:
        raise Invalid(item, "err_validation_invalid_value", "option must be block_sender or no_action", "option")
    policy = req(item, "policy")
    if not isinstance(policy, dict):
        raise Invalid(item, "err_validation_invalid_type", "policy must be an object", "policy")
    description = str(req(policy, "description")).strip()
    from_part = policy.get("fromPart") or "envelope_from"
    if from_part not in ("envelope_from", "header_from", "both"):
        raise Invalid(item, "err_validation_invalid_value", "fromPart is not valid", "policy.fromPart")
    (fobj, fval), (tobj, tval) = _policy_side(st, item, policy, "from"), _policy_side(st, item, policy, "to")
    stamp = fmt_date(now(st))
    return {
        "option": option,
        "policy": {
            "description": description,
            "fromPart": from_part,
            "from": fobj,
            "to": tobj,
            "fromType": fobj["type"],
            "fromValue": fval,
            "toType": tobj["type"],
            "toValue": tval,
            **_policy_dates(item, policy),
            "override": bool(policy.get("override")),
            "bidirectional": bool(policy.get("bidirectional")),
            "enabled": policy.get("enabled") is not False,
            "enforced": bool(policy.get("enforced")),
            "conditions": policy.get("conditions") if isinstance(policy.get("conditions"), dict) else {},
            "createTime": stamp,
            "lastUpdated": stamp,
        },
    }


def blocked_senders_create_policy(ctx: Ctx) -> Reply:
    """Create a policy, or update the one ``id`` names. Nothing stops a second identical policy."""
    st = ctx.state
    item = first(ctx)
    record = _policy_record(ctx, item)
    if item.get("id"):
        existing = named_by_id(item, st.policies, "err_policy_not_found", "policy")
        record["policy"]["createTime"] = existing["policy"].get("createTime", record["policy"]["createTime"])
        existing.update(record)
        record_effect(st, "update-policy", existing["id"], record["policy"]["fromValue"])
        return ok([existing])
    st.action_seq += 1
    record = {"id": "eNo1jr" + mc_id("pol", st.seed, "new", st.action_seq)[6:], **record}
    st.policies.append(record)
    record_effect(st, "create-policy", record["id"], record["policy"]["fromValue"], option=record["option"])
    return ok([record])


def blocked_senders_delete_policy(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    policy = named_by_id(item, st.policies, "err_policy_not_found", "policy")
    st.policies.remove(policy)
    record_effect(st, "delete-policy", policy["id"], policy["policy"].get("fromValue", ""))
    return ok([{"id": policy["id"]}])


def find_groups(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    query = (item.get("query") or "").lower()
    source = item.get("source") or "cloud"
    groups = [g for g in ctx.state.groups if g["source"] == source and query in g["description"].lower()]
    pg, pagination = page(ctx, groups, "groups")
    data = {"source": source, "folders": [{k: v for k, v in g.items() if k != "members"} for g in pg]}
    if query:
        data["query"] = item.get("query")
    return ok([data], pagination=pagination)


def get_group_members(ctx: Ctx) -> Reply:
    item = first(ctx)
    group = _group(ctx, item)
    gid = group["id"]
    pg, pagination = page(ctx, group["members"], "members:" + gid[:8], cap=500)
    return ok(
        [{"groupMembers": pg, "groupInfo": {"id": gid, "description": group["description"]}}], pagination=pagination
    )


def get_training_campaigns(ctx: Ctx) -> Reply:
    st = ctx.state
    out = []
    for j, title in enumerate(_training_titles(st)):
        recs = [t["training"][j] for t in st.training.values()]
        out.append(
            {
                "id": recs[0]["titleId"],
                "name": title,
                "launchDate": recs[0]["assignedTimeStamp"],
                "numSent": len(recs),
                "numWatched": sum(r["watched"] for r in recs),
                "numCorrect": sum(r["myAnswer"] == 1 for r in recs),
                "numIncorrect": sum(r["myAnswer"] == 0 for r in recs),
            }
        )
    return ok(out)


def _training_titles(st: State) -> list[str]:
    first_user = next(iter(st.training.values()), None)
    return [x["title"] for x in first_user["training"]] if first_user else []


def get_training_campaign_user_data(ctx: Ctx) -> Reply:
    st = ctx.state
    item = first(ctx)
    cid = req(item, "id")
    titles = _training_titles(st)
    idx = next(
        (j for j, _ in enumerate(titles) if next(iter(st.training.values()))["training"][j]["titleId"] == cid), None
    )
    if idx is None:
        raise Invalid(item, "err_campaign_not_found", "The campaign could not be found")
    wanted = {str(f.get("value")) for f in item.get("filterBy") or [] if isinstance(f, dict)}
    out = []
    for t in st.training.values():
        x = t["training"][idx]
        status = "correct" if x["myAnswer"] == 1 else "incorrect" if x["myAnswer"] == 0 else "sent"
        if wanted and status not in wanted:
            continue
        out.append(
            {
                "email": t["email"],
                "name": t["name"],
                "department": t["department"],
                "results": {"status": status, "watched": x["watched"], "watchedDate": x["watchedDate"]},
                "acknowledged": x["watched"],
            }
        )
    pg, pagination = page(ctx, out, "trn-users:" + cid[:8], cap=500)
    return ok(pg, pagination=pagination)


def get_watchlist_details(ctx: Ctx) -> Reply:
    out = [
        {
            "email": t["email"],
            "name": t["name"],
            "department": t["department"],
            "watchlistCount": sum(x["onWatchlist"] for x in t["training"]),
            "titles": [x["title"] for x in t["training"] if x["onWatchlist"]],
        }
        for t in ctx.state.training.values()
        if any(x["onWatchlist"] for x in t["training"])
    ]
    pg, pagination = page(ctx, out, "watchlist", cap=500)
    return ok(pg, pagination=pagination)


def _group(ctx: Ctx, item: dict) -> dict:
    return named_by_id(item, ctx.state.groups, "err_folder_not_found", "group")


def add_group_member(ctx: Ctx) -> Reply:
    item = first(ctx)
    group = _group(ctx, item)
    addr = (item.get("emailAddress") or "").lower()
    domain = (item.get("domain") or "").lower()
    if not addr and not domain:
        raise Invalid(item, "err_validation_null", "emailAddress or domain is required", "emailAddress")
    if addr and "@" not in addr:
        raise Invalid(item, "err_validation_invalid_email_address", "invalid email address", "emailAddress")
    for mem in group["members"]:
        if (addr and mem["emailAddress"] == addr) or (domain and not mem["emailAddress"] and mem["domain"] == domain):
            raise Invalid(item, "err_folder_group_member_already_exists", "The group member already exists")
    rec = {
        "emailAddress": addr or None,
        "domain": domain or addr.split("@")[1],
        "name": None,
        "type": "created_manually",
        "internal": (addr or "x@" + domain).split("@")[1] in {m.domain for m in ctx.state.mailboxes},
        "notes": item.get("notes") or "",
    }
    group["members"].append(rec)
    group["userCount"] = len(group["members"])
    out = {"folderId": group["id"], "id": mc_id("mem", group["id"], addr or domain), "internal": rec["internal"]}
    out["emailAddress" if addr else "domain"] = addr or domain
    return ok([out])


def remove_group_member(ctx: Ctx) -> Reply:
    item = first(ctx)
    group = _group(ctx, item)
    addr = (item.get("emailAddress") or "").lower()
    domain = (item.get("domain") or "").lower()
    keep = [
        m
        for m in group["members"]
        if not ((addr and m["emailAddress"] == addr) or (domain and not m["emailAddress"] and m["domain"] == domain))
    ]
    if len(keep) == len(group["members"]):
        raise Invalid(item, "err_folder_email_address_not_found", "The email address was not found in the group")
    group["members"][:] = keep
    group["userCount"] = len(keep)
    return ok([])


def get_archive_search_logs(ctx: Ctx) -> Reply:
    item = optional_item(ctx)
    query = (item.get("query") or "").lower()
    logs = [lg for lg in reversed(ctx.state.search_logs) if not query or query in json_text(lg)]
    pg, pagination = page(ctx, logs, "search-logs")
    return ok([{"logs": pg}], pagination=pagination)


# ------------------------------------------------------------------------------------------------
# new traffic, injected by tests through the control API: what the response actions change shows here


INJECT_MESSAGE_KEYS = {"from", "to", "env_from", "from_name", "subject", "urls", "sender_ip"}
INJECT_CLICK_KEYS = {"url", "user", "message_id", "from", "subject"}


def _known_keys(spec: dict, known: set[str]) -> None:
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}; known: {sorted(known)}")


def _party_matches(st: State, party: dict, address: str) -> bool:
    kind, address = party.get("type"), (address or "").lower()
    domain = address.rpartition("@")[2]
    if kind == "everyone":
        return True
    if kind == "email_address":
        return address == (party.get("emailAddress") or "").lower()
    if kind == "email_domain":
        wanted = (party.get("emailDomain") or "").lower()
        return domain == wanted or domain.endswith("." + wanted)
    if kind in ("internal_addresses", "external_addresses"):
        return internal(st, address) == (kind == "internal_addresses")
    if kind == "free_mail_domains":
        from mimecast_simulator.data import FREE_MAIL_DOMAINS

        return domain in FREE_MAIL_DOMAINS
    group = next((g for g in st.groups if g["id"] == party.get("groupId")), None)
    members = (group or {}).get("members", [])
    return any(address == (x.get("emailAddress") or "").lower() or domain == x.get("domain") for x in members)


def _policy_applies(st: State, pol: dict, senders: tuple[str, str], rcpt: str, at: datetime) -> bool:
    p = pol["policy"]
    if not p.get("enabled", True):
        return False
    if not (parse_date(p["fromDate"]) <= at <= parse_date(p["toDate"])):
        return False
    env_from, hdr_from = senders
    candidates = {"envelope_from": [env_from], "header_from": [hdr_from]}.get(p.get("fromPart"), [env_from, hdr_from])
    pairs = [(s, rcpt) for s in candidates]
    if p.get("bidirectional"):
        pairs += [(rcpt, s) for s in candidates]
    return any(_party_matches(st, p["from"], a) and _party_matches(st, p["to"], b) for a, b in pairs)


def blocking_policy(st: State, env_from: str, hdr_from: str, rcpt: str, at: datetime) -> dict | None:
    """The blocked-sender policy that rejects this message, or None; a matching no_action policy is an
    exception that lets it through."""
    matching = [p for p in st.policies if _policy_applies(st, p, (env_from, hdr_from), rcpt, at)]
    if any(p["option"] == "no_action" for p in matching):
        return None
    return next((p for p in matching if p["option"] == "block_sender"), None)


def inject_message(st: State, spec: dict) -> dict:
    """A new message arriving now: delivered, or rejected (and in the rejection log) when a blocked-sender
    policy matches. Raises ValueError for a spec a test got wrong."""
    import random

    from mimecast_simulator.data import _add_message

    _known_keys(spec, INJECT_MESSAGE_KEYS)
    sender, to = str(spec.get("from") or ""), spec.get("to")
    recipients = [to] if isinstance(to, str) else list(to or [])
    if not EMAIL_RE.match(sender) or not recipients or not all(EMAIL_RE.match(str(r)) for r in recipients):
        raise ValueError("from and to (an address or a list of them) must be email addresses")
    env_from = str(spec.get("env_from") or sender)
    at = now(st)
    policy = blocking_policy(st, env_from.lower(), sender.lower(), str(recipients[0]).lower(), at)
    status = "rejected" if policy else "delivered"
    m = _add_message(
        st,
        random.Random(len(st.messages)),  # noqa: S311 - simulated data, not security
        [],
        route="outbound" if internal(st, sender.lower()) else "inbound",
        sender=(str(spec.get("from_name") or ""), sender),
        to=[(mbox_name(st, str(r)), str(r)) for r in recipients],
        subject=str(spec.get("subject") or "Injected message"),
        received=at,
        ip=(str(spec.get("sender_ip") or "192.0.2.99"), "mail.injected.example"),
        template="inbound",
        urls=[str(u) for u in spec.get("urls") or []],
        status=status,
        info=f"Rejected by blocked sender policy {policy['policy']['description']}" if policy else "Delivered",
    )
    m.env_from = env_from
    result = {"id": m.id, "status": status, "policy_id": policy["id"] if policy else None, "rejection_id": None}
    if policy:
        result["rejection_id"] = _reject(st, m, recipients[0], at)
    return result


def _reject(st: State, m: Message, rcpt: str, at: datetime) -> str:
    rid = mc_id("rej", st.seed, "injected", m.idx)
    st.rejections.append(
        {
            "id": rid,
            "created": fmt_date(at),
            "fromAddress": m.env_from,
            "toAddress": rcpt,
            "info": "Message Rejected",
            "description": "Blocked sender policy",
            "ipAddress": m.sender_ip,
            "remoteEhlo": m.sender_host,
            "remoteName": m.sender_host,
            "spamScore": 0,
            "detectionLevel": "",
            "manageRecipient": False,
            "toAddressPreCheck": rcpt,
            "toAddressPostCheck": rcpt,
            "type": 4,
            "_dt": at,
        }
    )
    return rid


def managed_url_verdict(st: State, url: str) -> dict | None:
    """The managed URL entry a click on ``url`` meets: an explicit entry before a domain one, and a block
    before a permit at the same level."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else "https://" + url)
    host, path = (parts.hostname or "").lower(), parts.path.rstrip("/")

    def explicit(u):
        return u["domain"] == host and u["path"].rstrip("/") == path and u["queryString"] == parts.query

    def domain(u):
        return host == u["domain"] or host.endswith("." + u["domain"])

    for level, test in (("explicit", explicit), ("domain", domain)):
        hits = [u for u in st.managed_urls if u["matchType"] == level and test(u)]
        if hits:
            return next((u for u in hits if u["action"] == "block"), hits[0])
    return None


def inject_click(st: State, spec: dict) -> dict:
    """A user clicking a link now: the URL log shows it blocked while a block entry matches it."""
    from types import SimpleNamespace

    from mimecast_simulator.data import _click

    _known_keys(spec, INJECT_CLICK_KEYS)
    url, user = str(spec.get("url") or ""), str(spec.get("user") or "")
    if not url or "://" not in url or not EMAIL_RE.match(user):
        raise ValueError("url (with its scheme) and user (an email address) are required")
    m = st.message_by_id.get(spec.get("message_id") or "") or SimpleNamespace(
        from_addr=str(spec.get("from") or "sender@external.example"),
        subject=str(spec.get("subject") or "Injected message"),
        sender_ip="192.0.2.99",
        route="inbound",
        mime_id="",
    )
    entry = managed_url_verdict(st, url)
    action = "block" if entry and entry["action"] == "block" else "allow"
    log = _click(m, user, url, now(st), "clean", action, "Uncategorized", "n/a" if action == "block" else "continue")
    log["adminOverride"] = entry["action"] if entry else "N/A"
    st.click_logs.append(log)
    return {**public(log), "managed_url_id": entry["id"] if entry else None}


def json_text(record: dict) -> str:
    return " ".join(str(v) for v in record.values()).lower()


ROUTES = {
    "/api/login/discover-authentication": discover_authentication,
    "/api/message-finder/search": message_finder_search,
    "/api/tracking/search": message_finder_search,
    "/api/message-finder/get-message-info": get_message_info,
    "/api/archive/search": archive_search,
    "/api/archive/get-message-list": archive_get_message_list,
    "/api/archive/get-message-detail": archive_get_message_detail,
    "/api/archive/get-message-part": archive_get_message_part,
    "/api/archive/get-file": archive_get_file,
    "/api/gateway/message/get-message-detail": gateway_get_message_detail,
    "/api/gateway/message/get-file": archive_get_file,
    "/api/ttp/remediation/create": remediation_create,
    "/api/ttp/remediation/v2/create": remediation_create_v2,
    "/api/ttp/remediation/get-incident": remediation_get_incident,
    "/api/ttp/remediation/find-incidents": remediation_find_incidents,
    "/api/ttp/remediation/search-hash": remediation_search_hash,
    "/api/ttp/url/decode-url": decode_url,
    "/api/ttp/url/get-logs": url_get_logs,
    "/api/ttp/url/get-all-managed-urls": get_all_managed_urls,
    "/api/ttp/url/create-managed-url": create_managed_url,
    "/api/ttp/url/delete-managed-url": delete_managed_url,
    "/api/ttp/impersonation/get-logs": impersonation_get_logs,
    "/api/ttp/attachment/get-logs": attachment_get_logs,
    "/api/gateway/get-hold-message-list": get_hold_message_list,
    "/api/gateway/get-hold-summary-list": get_hold_summary_list,
    "/api/gateway/hold-release": hold_release,
    "/api/gateway/hold-reject": hold_reject,
    "/api/gateway/get-held-release-logs": get_held_release_logs,
    "/api/gateway/get-rejections": get_rejections,
    "/api/awareness-training/company/get-performance-details": get_performance_details,
    "/api/awareness-training/company/get-safe-score-details": get_safe_score_details,
    "/api/awareness-training/company/get-safe-score-summary": get_safe_score_summary,
    "/api/awareness-training/user/get-training-details": get_training_details,
    "/api/awareness-training/phishing/campaign/get-campaign": get_phishing_campaign,
    "/api/awareness-training/phishing/campaign/get-user-data": get_phishing_user_data,
    "/api/policy/blockedsenders/get-policy": blocked_senders_get_policy,
    "/api/policy/blockedsenders/create-policy": blocked_senders_create_policy,
    "/api/policy/blockedsenders/delete-policy": blocked_senders_delete_policy,
    "/api/directory/find-groups": find_groups,
    "/api/directory/get-group-members": get_group_members,
    "/api/directory/add-group-member": add_group_member,
    "/api/directory/remove-group-member": remove_group_member,
    "/api/awareness-training/campaign/get-campaigns": get_training_campaigns,
    "/api/awareness-training/campaign/get-user-data": get_training_campaign_user_data,
    "/api/awareness-training/company/get-watchlist-details": get_watchlist_details,
    "/api/archive/get-archive-search-logs": get_archive_search_logs,
}

# The routes whose handlers change nothing in the state: a test that only reads through them leaves
# the simulator as the reset gave it, and the next reset keeps it rather than loading it again. Any
# route left out is treated as a writer.
READ_ONLY = frozenset(
    {
        "/api/login/discover-authentication",
        "/api/message-finder/search",
        "/api/tracking/search",
        "/api/message-finder/get-message-info",
        "/api/archive/get-message-list",
        "/api/archive/get-message-detail",
        "/api/archive/get-message-part",
        "/api/archive/get-file",
        "/api/gateway/message/get-message-detail",
        "/api/gateway/message/get-file",
        "/api/ttp/remediation/search-hash",
        "/api/ttp/url/decode-url",
        "/api/ttp/url/get-logs",
        "/api/ttp/url/get-all-managed-urls",
        "/api/ttp/impersonation/get-logs",
        "/api/ttp/attachment/get-logs",
        "/api/gateway/get-hold-message-list",
        "/api/gateway/get-hold-summary-list",
        "/api/gateway/get-held-release-logs",
        "/api/gateway/get-rejections",
        "/api/awareness-training/company/get-performance-details",
        "/api/awareness-training/company/get-safe-score-details",
        "/api/awareness-training/company/get-safe-score-summary",
        "/api/awareness-training/user/get-training-details",
        "/api/awareness-training/phishing/campaign/get-campaign",
        "/api/awareness-training/phishing/campaign/get-user-data",
        "/api/policy/blockedsenders/get-policy",
        "/api/directory/find-groups",
        "/api/directory/get-group-members",
        "/api/awareness-training/campaign/get-campaigns",
        "/api/awareness-training/campaign/get-user-data",
        "/api/awareness-training/company/get-watchlist-details",
        "/api/archive/get-archive-search-logs",
    }
)
