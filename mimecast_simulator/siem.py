"""API 2.0 Cloud Gateway SIEM batch: pages of signed file URLs, each a gzip of JSON lines.

One file per (event type, UTC day). Files are served by the simulator itself at
`/siem/v1/batch/files/<name>?Expires=<epoch>&Signature=<hmac>`; the URL is pre-signed (no bearer needed,
like an S3 pre-signed URL) and refused after expiry or if tampered with.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta

from mimecast_simulator.data import ACCOUNT_CODE, Message, State, public
from mimecast_simulator.handlers import now as clock
from mimecast_simulator.util import b64url, b64url_decode, fmt_date

TYPES = [
    "receipt",
    "process",
    "delivery",
    "av",
    "spam",
    "internal email protect",
    "impersonation protect",
    "url protect",
    "attachment protect",
    "journal",
    "web security",
]
URL_TTL_S = 900


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _base(m: Message, typ: str) -> dict:
    """The fields every message event shares."""
    return {
        "timestamp": _ms(m.received),
        "aggregateId": m.id[3:27],
        "processingId": m.id[27:51],
        "accountId": ACCOUNT_CODE,
        "messageId": m.mime_id,
        "subject": m.subject,
        "senderEnvelope": m.env_from,
        "senderHeader": m.from_addr,
        "senderIp": m.sender_ip,
        "direction": m.route.capitalize(),
        "type": typ,
    }


def _receipt(st: State, m: Message, base: dict) -> list[dict]:
    return [
        {
            **base,
            "subtype": "Allow",
            "recipients": m.recipients,
            "spamScore": m.spam_score,
            "tlsVersion": "TLSv1.3",
            "tlsCipher": "TLS_AES_256_GCM_SHA384",
        }
    ]


def _process(st: State, m: Message, base: dict) -> list[dict]:
    return [
        {
            **base,
            "subtype": "Hold" if m.held else "Allow",
            "action": "Hold" if m.held else "Allow",
            "holdReason": (m.held or {}).get("reason"),
            "numberAttachments": len(m.attachments),
            "attachments": [st.attachments[k].filename for k in m.attachments],
        }
    ]


def _delivery(st: State, m: Message, base: dict) -> list[dict]:
    """One event per recipient; held messages are not delivered."""
    if m.held:
        return []
    return [
        {
            **base,
            "subtype": "Delivery",
            "recipients": r,
            "delivered": True,
            "remoteIp": "52.101.68.13",
            "remoteHost": "acme-corp-com.mail.protection.outlook.com",
        }
        for r in m.recipients
    ]


def _av(st: State, m: Message, base: dict) -> list[dict]:
    """One event per attachment."""
    return [
        {
            **base,
            "subtype": "Allow",
            "fileName": a.filename,
            "sha256": a.sha256,
            "virusFound": None,
            "fileMime": a.mime,
        }
        for a in (st.attachments[k] for k in m.attachments)
    ]


def _spam(st: State, m: Message, base: dict) -> list[dict]:
    subtype = "Hold" if m.spam_score >= 10 else "Allow"
    return [{**base, "subtype": subtype, "spamScore": m.spam_score, "detectionLevel": m.detection_level}]


def _internal_email_protect(st: State, m: Message, base: dict) -> list[dict]:
    if m.route != "internal" or not m.urls:
        return []
    return [{**base, "subtype": "Allow", "urls": [o for o, _ in m.urls], "scanResult": "clean"}]


def _journal(st: State, m: Message, base: dict) -> list[dict]:
    if m.route == "inbound":
        return []
    return [{**base, "subtype": "Journal", "recipients": m.recipients}]


# Event types built from the day's messages, and those copied from the protection logs (State attributes).
MESSAGE_EVENTS = {
    "receipt": _receipt,
    "process": _process,
    "delivery": _delivery,
    "av": _av,
    "spam": _spam,
    "internal email protect": _internal_email_protect,
    "journal": _journal,
}
LOG_EVENTS = {
    "impersonation protect": "impersonation_logs",
    "url protect": "click_logs",
    "attachment protect": "attachment_logs",
    "web security": "web_events",
}


def events_for(st: State, typ: str, day: date) -> list[dict]:
    lo = datetime(day.year, day.month, day.day, tzinfo=UTC)
    hi = lo + timedelta(days=1)
    if typ in MESSAGE_EVENTS:
        events = MESSAGE_EVENTS[typ]
        return [e for m in st.messages if lo <= m.received < hi for e in events(st, m, _base(m, typ))]
    return [
        {**public(rec), "type": typ, "timestamp": _ms(rec["_dt"]), "accountId": ACCOUNT_CODE}
        for rec in getattr(st, LOG_EVENTS[typ])
        if lo <= rec["_dt"] < hi
    ]


def file_bytes(st: State, typ: str, day: date) -> bytes:
    lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events_for(st, typ, day))
    return gzip.compress(lines.encode(), mtime=0)


def _sig(secret: bytes, name: str, expires: int) -> str:
    return b64url(hmac.new(secret, f"{name}:{expires}".encode(), hashlib.sha256).digest())


def batch(st: State, query: dict, base_url: str, secret: bytes):
    """Returns (http_status, body)."""
    types_raw = query.get("type") or ",".join(TYPES)
    types = [t.strip() for t in types_raw.split(",") if t.strip()]
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        return 400, {"fail": [{"code": "validation_error", "message": f"unknown type(s): {', '.join(unknown)}"}]}
    # Today is the moving clock's, not the data anchor's: a simulator started before midnight is asked
    # for "today" after it by a client reading the wall clock.
    today = clock(st).date()
    try:
        start = date.fromisoformat(query.get("dateRangeStartsAt") or (today - timedelta(days=1)).isoformat())
        end = date.fromisoformat(query.get("dateRangeEndsAt") or today.isoformat())
        page_size = max(1, min(int(query.get("pageSize") or 100), 100))
    except ValueError:
        return 400, {
            "fail": [
                {
                    "code": "validation_error",
                    "message": "invalid dateRangeStartsAt, dateRangeEndsAt (YYYY-MM-DD) or pageSize",
                }
            ]
        }
    if end < start:
        return 400, {"fail": [{"code": "validation_error", "message": "dateRangeEndsAt is before dateRangeStartsAt"}]}
    files = []
    d = start
    while d <= end and d <= today:
        for t in types:
            if events_for(st, t, d):
                files.append((t, d))
        d += timedelta(days=1)
    offset = 0
    token = query.get("nextPage")
    if token:
        try:
            obj = json.loads(b64url_decode(token))
            offset = int(obj["o"])
        except Exception:
            return 400, {"fail": [{"code": "validation_error", "message": "invalid nextPage token"}]}
    chunk = files[offset : offset + page_size]
    expires = int(time.time()) + URL_TTL_S
    value = []
    for t, d in chunk:
        name = b64url(json.dumps({"t": t, "d": d.isoformat()}).encode())
        data = file_bytes(st, t, d)
        value.append(
            {
                "url": f"{base_url}/siem/v1/batch/files/{name}.json.gz?Expires={expires}"
                f"&Signature={_sig(secret, name, expires)}",
                "size": len(data),
                "expiry": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            }
        )
    new_offset = offset + len(chunk)
    body = {
        "value": value,
        "@nextPage": b64url(json.dumps({"o": new_offset}).encode()),
        "isCaughtUp": new_offset >= len(files),
    }
    return 200, body


def download(st: State, path: str, query: dict, secret: bytes):
    """Returns (http_status, bytes_or_body, content_type)."""
    name = path.rsplit("/", 1)[-1].removesuffix(".json.gz")
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        expires = 0
    sig = query.get("Signature", "")
    if not hmac.compare_digest(sig.encode(), _sig(secret, name, expires).encode()):
        return 403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>", "application/xml"
    if expires < time.time():
        return 403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", "application/xml"
    obj = json.loads(b64url_decode(name))
    return 200, file_bytes(st, obj["t"], date.fromisoformat(obj["d"])), "application/gzip"


__all__ = ["TYPES", "batch", "download", "fmt_date"]
