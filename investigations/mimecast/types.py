"""Parsed results of Mimecast calls.

Each dataclass has a ``from_api`` constructor that is tolerant of missing or oddly typed fields
(Mimecast omits fields freely) and keeps the original item in ``.raw`` for anything not modelled.
Date strings are parsed to aware datetimes (``None`` when absent or unparseable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(value: Any) -> datetime | None:
    """Parse Mimecast dates: ``2011-12-03T10:15:30+0000``, ``...+00:00``, ``...Z``, with or without ms."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _DATE_RE.match(text)
    if not match:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return datetime.fromisoformat(text).replace(tzinfo=UTC)
            except ValueError:
                return None
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    iso = f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}"
    if fraction:
        iso += "." + (fraction + "000000")[:6]
    if not offset or offset == "Z":
        iso += "+00:00"
    else:
        digits = offset.replace(":", "")
        iso += f"{digits[:3]}:{digits[3:]}"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def format_datetime(value: datetime | str | None) -> str | None:
    """Format a datetime the way Mimecast expects in requests: ``2011-12-03T10:15:30+0000`` (UTC).

    Strings are passed through unchanged; naive datetimes are taken to be UTC.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return ""


def _i(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def _f(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _b(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
    if isinstance(value, int | float):
        return bool(value)
    return None


def _strs(value: Any) -> list[str]:
    return [_s(v) for v in _l(value) if isinstance(v, str | int | float)]


# --------------------------------------------------------------------------------------- generic


@dataclass
class Page(Generic[T]):
    """One page of a paginated call. ``next_token`` is None on the last page."""

    items: list[T]
    next_token: str | None = None
    previous_token: str | None = None
    total_count: int | None = None
    page_size: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class EmailAddress:
    email_address: str = ""
    displayable_name: str = ""

    @classmethod
    def from_api(cls, data: Any) -> EmailAddress | None:
        if isinstance(data, str):
            return cls(email_address=data)
        if not isinstance(data, dict):
            return None
        return cls(
            email_address=_s(data.get("emailAddress") or data.get("address") or data.get("email")),
            displayable_name=_s(data.get("displayableName") or data.get("name")),
        )

    @classmethod
    def list_from_api(cls, data: Any) -> list[EmailAddress]:
        if isinstance(data, dict):
            data = [data]
        return [addr for addr in (cls.from_api(item) for item in _l(data)) if addr is not None]


@dataclass
class BinaryContent:
    """A downloaded file (message part, attachment)."""

    content: bytes
    content_type: str = ""
    filename: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


# --------------------------------------------------------------------------------- message finder


@dataclass
class TrackedEmail:
    id: str
    status: str
    info: str
    from_env: EmailAddress | None
    from_hdr: EmailAddress | None
    to: list[EmailAddress]
    received: datetime | None
    sent: datetime | None
    subject: str
    sender_ip: str
    attachments: bool | None
    route: str
    spam_score: float | None
    detection_level: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TrackedEmail:
        return cls(
            id=_s(d.get("id")),
            status=_s(d.get("status")),
            info=_s(d.get("info")),
            from_env=EmailAddress.from_api(d.get("fromEnv")),
            from_hdr=EmailAddress.from_api(d.get("fromHdr")),
            to=EmailAddress.list_from_api(d.get("to")),
            received=parse_datetime(d.get("received")),
            sent=parse_datetime(d.get("sent")),
            subject=_s(d.get("subject")),
            sender_ip=_s(d.get("senderIP")),
            attachments=_b(d.get("attachments")),
            route=_s(d.get("route")),
            spam_score=_f(d.get("spamScore")),
            detection_level=_s(d.get("detectionLevel")),
            raw=d,
        )


@dataclass
class Component:
    type: str
    name: str
    extension: str
    mime_type: str
    size: int | None
    hash: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Component:
        return cls(
            type=_s(d.get("type")),
            name=_s(d.get("name")),
            extension=_s(d.get("extension")),
            mime_type=_s(d.get("mimeType")),
            size=_i(d.get("size")),
            hash=_s(d.get("hash")),
            raw=d,
        )


def _components(value: Any) -> list[Component]:
    return [Component.from_api(c) for c in _l(value) if isinstance(c, dict)]


@dataclass
class MessageInfoDetails:
    """The ``messageInfo`` block of get-message-info (received or delivered copy)."""

    from_header: str
    from_envelope: str
    to: list[str]
    cc: list[str]
    subject: str
    sent: datetime | None
    processed: datetime | None
    transmission_info: str
    route: str
    attachments: list[Any]
    html_body: str
    text_body: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> MessageInfoDetails:
        d = _d(d)
        return cls(
            from_header=_s(d.get("fromHeader")),
            from_envelope=_s(d.get("fromEnvelope")),
            to=_strs(d.get("to")),
            cc=_strs(d.get("cc")),
            subject=_s(d.get("subject")),
            sent=parse_datetime(d.get("sent")),
            processed=parse_datetime(d.get("processed")),
            transmission_info=_s(d.get("transmissionInfo")),
            route=_s(d.get("route")),
            attachments=_l(d.get("attachments")),
            html_body=_s(d.get("htmlBody")),
            text_body=_s(d.get("textBody")),
            raw=d,
        )


@dataclass
class TransmissionMeta:
    """``recipientMetaInfo`` (receipt) or ``deliveryMetaInfo`` (delivery) of get-message-info."""

    event: str
    email_address: str
    spam_event: str
    message_expires_in: int | None
    processing_server: str
    transmission_size: int | None
    binary_email_size: int | None
    remote_ip: str
    remote_host: str
    remote_server_greeting: str
    receipt_acknowledgement: str
    transmission_start: datetime | None
    transmission_end: datetime | None
    encryption_info: str
    components: list[Component]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> TransmissionMeta:
        d = _d(d)
        return cls(
            event=_s(d.get("receiptEvent") or d.get("deliveryEvent")),
            email_address=_s(d.get("emailAddress")),
            spam_event=_s(d.get("spamEvent")),
            message_expires_in=_i(d.get("messageExpiresIn")),
            processing_server=_s(d.get("processingServer")),
            transmission_size=_i(d.get("transmissionSize")),
            binary_email_size=_i(d.get("binaryEmailSize")),
            remote_ip=_s(d.get("remoteIp")),
            remote_host=_s(d.get("remoteHost")),
            remote_server_greeting=_s(d.get("remoteServerGreeting")),
            receipt_acknowledgement=_s(d.get("receiptAcknowledgement")),
            transmission_start=parse_datetime(d.get("transmissionStart")),
            transmission_end=parse_datetime(d.get("transmissionEnd")),
            encryption_info=_s(d.get("encryptionInfo")),
            components=_components(d.get("components")),
            raw=d,
        )


@dataclass
class PolicyInfo:
    policy_type: str
    policy_name: str
    inherited: bool | None
    inherited_customer_code: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PolicyInfo:
        return cls(
            policy_type=_s(d.get("policyType")),
            policy_name=_s(d.get("policyName")),
            inherited=_b(d.get("inherited")),
            inherited_customer_code=_s(d.get("inheritedCustomerCode")),
            raw=d,
        )


@dataclass
class RecipientInfo:
    message_info: MessageInfoDetails
    meta: TransmissionMeta
    tx_info: Any
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> RecipientInfo:
        d = _d(d)
        return cls(
            message_info=MessageInfoDetails.from_api(d.get("messageInfo")),
            meta=TransmissionMeta.from_api(d.get("recipientMetaInfo")),
            tx_info=d.get("txInfo"),
            raw=d,
        )


@dataclass
class DeliveredMessage:
    recipient: str
    message_info: MessageInfoDetails
    policies: list[PolicyInfo]
    delivery: TransmissionMeta
    tx_info: Any
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, recipient: str, d: Any) -> DeliveredMessage:
        d = _d(d)
        return cls(
            recipient=recipient,
            message_info=MessageInfoDetails.from_api(d.get("messageInfo")),
            policies=[PolicyInfo.from_api(p) for p in _l(d.get("policyInfo")) if isinstance(p, dict)],
            delivery=TransmissionMeta.from_api(d.get("deliveryMetaInfo")),
            tx_info=d.get("txInfo"),
            raw=d,
        )


@dataclass
class RetentionInfo:
    current_purge_date: datetime | None
    original_purge_date: datetime | None
    purge_based_on: str
    retention_adjustment_days: int | None
    litigation_hold_info: list[Any]
    smart_tags: list[Any]
    audits: list[Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> RetentionInfo:
        d = _d(d)
        return cls(
            current_purge_date=parse_datetime(d.get("currentPurgeDate")),
            original_purge_date=parse_datetime(d.get("originalPurgeDate")),
            purge_based_on=_s(d.get("purgeBasedOn")),
            retention_adjustment_days=_i(d.get("retentionAdjustmentDays")),
            litigation_hold_info=_l(d.get("litigationHoldInfo")),
            smart_tags=_l(d.get("smartTags")),
            audits=_l(d.get("audits")),
            raw=d,
        )


@dataclass
class SpamCheck:
    allow: bool | None
    info: str


@dataclass
class SpamInfo:
    spam_score: float | None
    detection_level: str
    # rbl, spf, dkim, dmarc, permittedSender, managedSender -> SpamCheck
    checks: dict[str, SpamCheck]
    grey_email: bool | None
    symbol_groups: list[Any]
    verdict: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> SpamInfo:
        d = _d(d)
        detail = _d(d.get("spamProcessingDetail"))
        checks = {}
        for key in ("rbl", "spf", "dkim", "dmarc", "permittedSender", "managedSender"):
            if isinstance(detail.get(key), dict):
                checks[key] = SpamCheck(allow=_b(detail[key].get("allow")), info=_s(detail[key].get("info")))
        return cls(
            spam_score=_f(d.get("spamScore")),
            detection_level=_s(d.get("detectionLevel")),
            checks=checks,
            grey_email=_b(detail.get("greyEmail")),
            symbol_groups=_l(detail.get("symbolGroups")),
            verdict=_d(detail.get("verdict")),
            raw=d,
        )


@dataclass
class MessageInfo:
    """get-message-info: everything Mimecast knows about one tracked message."""

    id: str
    status: str
    recipient_info: RecipientInfo
    delivered: dict[str, DeliveredMessage]
    retention: RetentionInfo
    spam: SpamInfo
    queue_info: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> MessageInfo:
        delivered = {
            _s(key): DeliveredMessage.from_api(_s(key), value)
            for key, value in _d(d.get("deliveredMessage")).items()
            if isinstance(value, dict)
        }
        return cls(
            id=_s(d.get("id")),
            status=_s(d.get("status")),
            recipient_info=RecipientInfo.from_api(d.get("recipientInfo")),
            delivered=delivered,
            retention=RetentionInfo.from_api(d.get("retentionInfo")),
            spam=SpamInfo.from_api(d.get("spamInfo")),
            queue_info=_d(d.get("queueInfo")),
            raw=d,
        )


# ------------------------------------------------------------------------------------------ archive


@dataclass
class ArchiveSearchItem:
    id: str
    subject: str
    display_from: str
    display_from_address: str
    display_to: str
    display_to_addresses: list[EmailAddress]
    received: datetime | None
    size: int | None
    attachment_count: int | None
    status: str
    smash: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ArchiveSearchItem:
        return cls(
            id=_s(d.get("id")),
            subject=_s(d.get("subject")),
            display_from=_s(d.get("displayfrom")),
            display_from_address=_s(d.get("displayfromaddress")),
            display_to=_s(d.get("displayto")),
            display_to_addresses=EmailAddress.list_from_api(d.get("displaytoaddresslist")),
            received=parse_datetime(d.get("receiveddate")),
            size=_i(d.get("size")),
            attachment_count=_i(d.get("attachmentcount")),
            status=_s(d.get("status")),
            smash=_s(d.get("smash")),
            raw=d,
        )


@dataclass
class ArchiveMessage:
    """One item of archive get-message-list."""

    id: str
    subject: str
    received: datetime | None
    from_: EmailAddress | None
    to: list[EmailAddress]
    attachment_count: int | None
    size: int | None
    status: str
    smash: str
    read: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ArchiveMessage:
        return cls(
            id=_s(d.get("id")),
            subject=_s(d.get("subject")),
            received=parse_datetime(d.get("received")),
            from_=EmailAddress.from_api(d.get("from")),
            to=EmailAddress.list_from_api(d.get("to")),
            attachment_count=_i(d.get("attachmentCount")),
            size=_i(d.get("size")),
            status=_s(d.get("status")),
            smash=_s(d.get("smash")),
            read=_b(d.get("read")),
            raw=d,
        )


@dataclass
class MessageHeader:
    name: str
    values: list[str]


@dataclass
class ArchiveAttachment:
    id: str
    filename: str
    extension: str
    content_type: str
    content_id: str
    body_type: int | None
    sha256: str
    size: int | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ArchiveAttachment:
        return cls(
            id=_s(d.get("id")),
            filename=_s(d.get("filename")),
            extension=_s(d.get("extension")),
            content_type=_s(d.get("contentType")),
            content_id=_s(d.get("contentId")),
            body_type=_i(d.get("bodyType")),
            sha256=_s(d.get("sha256")),
            size=_i(d.get("size")),
            raw=d,
        )


@dataclass
class ArchiveMessageDetail:
    id: str
    status: str
    smash: str
    mime_message_id: str
    has_html_body: bool | None
    received: datetime | None
    processed: datetime | None
    subject: str
    header_date: datetime | None
    size: int | None
    from_: EmailAddress | None
    envelope_from: EmailAddress | None
    reply_to: EmailAddress | None
    to: list[EmailAddress]
    cc: list[EmailAddress]
    headers: list[MessageHeader]
    attachments: list[ArchiveAttachment]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ArchiveMessageDetail:
        headers = [
            MessageHeader(name=_s(h.get("name")), values=_strs(h.get("values")))
            for h in _l(d.get("headers"))
            if isinstance(h, dict)
        ]
        return cls(
            id=_s(d.get("id")),
            status=_s(d.get("status")),
            smash=_s(d.get("smash")),
            mime_message_id=_s(d.get("mimeMessageId")),
            has_html_body=_b(d.get("hasHtmlBody")),
            received=parse_datetime(d.get("received")),
            processed=parse_datetime(d.get("processed")),
            subject=_s(d.get("subject")),
            header_date=parse_datetime(d.get("headerDate")),
            size=_i(d.get("size")),
            from_=EmailAddress.from_api(d.get("from")),
            envelope_from=EmailAddress.from_api(d.get("envelopeFrom")),
            reply_to=EmailAddress.from_api(d.get("replyTo")),
            to=EmailAddress.list_from_api(d.get("to")),
            cc=EmailAddress.list_from_api(d.get("cc")),
            headers=headers,
            attachments=[ArchiveAttachment.from_api(a) for a in _l(d.get("attachments")) if isinstance(a, dict)],
            raw=d,
        )


# -------------------------------------------------------------------------------------- remediation


@dataclass
class IncidentSearchCriteria:
    start: datetime | None
    end: datetime | None
    message_id: str
    message_ids: list[str]
    file_hash: str
    from_: str
    to: str
    url: str
    unremediate_code: str
    restore_code: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> IncidentSearchCriteria:
        d = _d(d)
        return cls(
            start=parse_datetime(d.get("start")),
            end=parse_datetime(d.get("end")),
            message_id=_s(d.get("messageId")),
            message_ids=_strs(d.get("messageIds")),
            file_hash=_s(d.get("fileHash")),
            from_=_s(d.get("from")),
            to=_s(d.get("to")),
            url=_s(d.get("url")),
            unremediate_code=_s(d.get("unremediateCode")),
            restore_code=_s(d.get("restoreCode")),
            raw=d,
        )


@dataclass
class Incident:
    id: str
    code: str
    type: str
    reason: str
    create: datetime | None
    modified: datetime | None
    identified: int | None
    successful: int | None
    failed: int | None
    restored: int | None
    search_criteria: IncidentSearchCriteria
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Incident:
        return cls(
            id=_s(d.get("id")),
            code=_s(d.get("code")),
            type=_s(d.get("type")),
            reason=_s(d.get("reason")),
            create=parse_datetime(d.get("create")),
            modified=parse_datetime(d.get("modified")),
            identified=_i(d.get("identified")),
            successful=_i(d.get("successful")),
            failed=_i(d.get("failed")),
            restored=_i(d.get("restored")),
            search_criteria=IncidentSearchCriteria.from_api(d.get("searchCriteria")),
            raw=d,
        )


@dataclass
class HashStatus:
    hash: str
    detected: bool | None


@dataclass
class HashSearchResult:
    hash_status: list[HashStatus]
    # Element type is not documented (string or object); kept as returned.
    failed_hashes: list[Any]
    raw: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def detected(self) -> list[str]:
        return [h.hash for h in self.hash_status if h.detected]


@dataclass
class DecodedUrl:
    original_url: str
    url: str
    success: bool
    raw: dict[str, Any] = field(repr=False)


# ------------------------------------------------------------------------------------------ TTP logs


@dataclass
class UrlClickLog:
    user_email_address: str
    from_user_email_address: str
    url: str
    ttp_definition: str
    subject: str
    action: str
    admin_override: str
    user_override: str
    scan_result: str
    category: str
    sending_ip: str
    user_awareness_action: str
    date: datetime | None
    route: str
    creation_method: str
    email_parts_description: list[str]
    message_id: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> UrlClickLog:
        return cls(
            user_email_address=_s(d.get("userEmailAddress")),
            from_user_email_address=_s(d.get("fromUserEmailAddress")),
            url=_s(d.get("url")),
            ttp_definition=_s(d.get("ttpDefinition")),
            subject=_s(d.get("subject")),
            action=_s(d.get("action")),
            admin_override=_s(d.get("adminOverride")),
            user_override=_s(d.get("userOverride")),
            scan_result=_s(d.get("scanResult")),
            category=_s(d.get("category")),
            sending_ip=_s(d.get("sendingIp")),
            user_awareness_action=_s(d.get("userAwarenessAction")),
            date=parse_datetime(d.get("date")),
            route=_s(d.get("route")),
            creation_method=_s(d.get("creationMethod")),
            email_parts_description=_strs(d.get("emailPartsDescription")),
            message_id=_s(d.get("messageId")),
            raw=d,
        )


@dataclass
class ManagedUrl:
    id: str
    scheme: str
    domain: str
    port: int | None
    path: str
    query_string: str
    match_type: str
    action: str
    comment: str
    disable_user_awareness: bool | None
    disable_rewrite: bool | None
    disable_log_click: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ManagedUrl:
        return cls(
            id=_s(d.get("id")),
            scheme=_s(d.get("scheme")),
            domain=_s(d.get("domain")),
            port=_i(d.get("port")),
            path=_s(d.get("path")),
            query_string=_s(d.get("queryString")),
            match_type=_s(d.get("matchType")),
            action=_s(d.get("action")),
            comment=_s(d.get("comment")),
            disable_user_awareness=_b(d.get("disableUserAwareness")),
            disable_rewrite=_b(d.get("disableRewrite")),
            disable_log_click=_b(d.get("disableLogClick")),
            raw=d,
        )


@dataclass
class ImpersonationResult:
    impersonation_domain_source: str
    similar_domain: str
    string_similar_to_domain: str
    checker_result: str


@dataclass
class ImpersonationLog:
    id: str
    sender_address: str
    recipient_address: str
    subject: str
    definition: str
    hits: int | None
    identifiers: list[str]
    action: str
    tagged_external: bool | None
    tagged_malicious: bool | None
    sender_ip_address: str
    event_time: datetime | None
    impersonation_results: list[ImpersonationResult]
    message_id: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> ImpersonationLog:
        results = [
            ImpersonationResult(
                impersonation_domain_source=_s(r.get("impersonationDomainSource")),
                similar_domain=_s(r.get("similarDomain")),
                string_similar_to_domain=_s(r.get("stringSimilarToDomain")),
                checker_result=_s(r.get("checkerResult")),
            )
            for r in _l(d.get("impersonationResults"))
            if isinstance(r, dict)
        ]
        return cls(
            id=_s(d.get("id")),
            sender_address=_s(d.get("senderAddress")),
            recipient_address=_s(d.get("recipientAddress")),
            subject=_s(d.get("subject")),
            definition=_s(d.get("definition")),
            hits=_i(d.get("hits")),
            identifiers=_strs(d.get("identifiers")),
            action=_s(d.get("action")),
            tagged_external=_b(d.get("taggedExternal")),
            tagged_malicious=_b(d.get("taggedMalicious")),
            sender_ip_address=_s(d.get("senderIpAddress")),
            event_time=parse_datetime(d.get("eventTime")),
            impersonation_results=results,
            message_id=_s(d.get("messageId")),
            raw=d,
        )


@dataclass
class AttachmentLog:
    sender_address: str
    recipient_address: str
    file_name: str
    file_type: str
    result: str
    action_triggered: str
    date: datetime | None
    details: str
    route: str
    message_id: str
    subject: str
    file_hash: str
    definition: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> AttachmentLog:
        return cls(
            sender_address=_s(d.get("senderAddress")),
            recipient_address=_s(d.get("recipientAddress")),
            file_name=_s(d.get("fileName")),
            file_type=_s(d.get("fileType")),
            result=_s(d.get("result")),
            action_triggered=_s(d.get("actionTriggered")),
            date=parse_datetime(d.get("date")),
            details=_s(d.get("details")),
            route=_s(d.get("route")),
            message_id=_s(d.get("messageId")),
            subject=_s(d.get("subject")),
            file_hash=_s(d.get("fileHash")),
            definition=_s(d.get("definition")),
            raw=d,
        )


# ------------------------------------------------------------------------------------------ gateway


@dataclass
class HeldMessage:
    id: str
    reason: str
    reason_id: str
    reason_code: str
    from_: EmailAddress | None
    from_header: EmailAddress | None
    to: EmailAddress | None
    subject: str
    route: str
    has_attachments: bool | None
    size: int | None
    date_received: datetime | None
    policy_info: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> HeldMessage:
        to = d.get("to")
        if isinstance(to, list):
            to = to[0] if to else None
        return cls(
            id=_s(d.get("id")),
            reason=_s(d.get("reason")),
            reason_id=_s(d.get("reasonId")),
            reason_code=_s(d.get("reasonCode")),
            from_=EmailAddress.from_api(d.get("from")),
            from_header=EmailAddress.from_api(d.get("fromHeader")),
            to=EmailAddress.from_api(to),
            subject=_s(d.get("subject")),
            route=_s(d.get("route")),
            has_attachments=_b(d.get("hasAttachments")),
            size=_i(d.get("size")),
            date_received=parse_datetime(d.get("dateReceived")),
            policy_info=_s(d.get("policyInfo")),
            raw=d,
        )


@dataclass
class HeldReleaseLog:
    id: str
    attachments: bool | None
    detection_level: str
    from_env: EmailAddress | None
    from_hdr: EmailAddress | None
    held_group: str
    held_reason: str
    message_info: str
    operator: str
    policy: str
    reject_reason: str
    released: datetime | None
    route: str
    size: int | None
    status: str
    subject: str
    to: list[EmailAddress]
    verdict: Any
    message_id: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> HeldReleaseLog:
        operator = d.get("operator")
        return cls(
            id=_s(d.get("id")),
            attachments=_b(d.get("attachments")),
            detection_level=_s(d.get("detectionLevel")),
            from_env=EmailAddress.from_api(d.get("fromEnv")),
            from_hdr=EmailAddress.from_api(d.get("fromHdr")),
            held_group=_s(d.get("heldGroup")),
            held_reason=_s(d.get("heldReason")),
            message_info=_s(d.get("messageInfo")),
            operator=_s(_d(operator).get("email")) if isinstance(operator, dict) else _s(operator),
            policy=_s(d.get("policy")),
            reject_reason=_s(d.get("rejectReason")),
            released=parse_datetime(d.get("released")),
            route=_s(d.get("route")),
            size=_i(d.get("size")),
            status=_s(d.get("status")),
            subject=_s(d.get("subject")),
            to=EmailAddress.list_from_api(d.get("to")),
            verdict=d.get("verdict"),
            message_id=_s(d.get("messageId")),
            raw=d,
        )


@dataclass
class Rejection:
    id: str
    created: datetime | None
    from_address: str
    to_address: str
    info: str
    description: str
    ip_address: str
    remote_ehlo: str
    remote_name: str
    spam_score: float | None
    detection_level: str
    manage_recipient: bool | None
    to_address_pre_check: str
    to_address_post_check: str
    type: int | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Rejection:
        return cls(
            id=_s(d.get("id")),
            created=parse_datetime(d.get("created")),
            from_address=_s(d.get("fromAddress")),
            to_address=_s(d.get("toAddress")),
            info=_s(d.get("info")),
            description=_s(d.get("description")),
            ip_address=_s(d.get("ipAddress")),
            remote_ehlo=_s(d.get("remoteEhlo")),
            remote_name=_s(d.get("remoteName")),
            spam_score=_f(d.get("spamScore")),
            detection_level=_s(d.get("detectionLevel")),
            manage_recipient=_b(d.get("manageRecipient")),
            to_address_pre_check=_s(d.get("toAddressPreCheck")),
            to_address_post_check=_s(d.get("toAddressPostCheck")),
            type=_i(d.get("type")),
            raw=d,
        )


@dataclass
class HoldActionResult:
    """Result of hold-release (``released``) or hold-reject (``rejected``) for one message."""

    id: str
    ok: bool
    raw: dict[str, Any] = field(repr=False)


# ------------------------------------------------------------------------------- awareness training


@dataclass
class PerformanceDetail:
    """Per-user awareness-training performance record. The contract does not verify these field names
    (§5); the counters follow the seed's description ("number of questions answered correctly or
    incorrectly") and the simulator, and everything else stays in ``raw``."""

    email: str
    name: str
    department: str
    videos_assigned: int | None
    videos_watched: int | None
    correct_answers: int | None
    incorrect_answers: int | None
    active: bool | None
    campaigns: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PerformanceDetail:
        user = _d(d.get("user"))
        return cls(
            email=_s(d.get("email") or d.get("emailAddress") or user.get("email") or user.get("emailAddress")),
            name=_s(d.get("name") or user.get("name")),
            department=_s(d.get("department") or user.get("department")),
            videos_assigned=_i(d.get("videosAssigned")),
            videos_watched=_i(d.get("videosWatched")),
            correct_answers=_i(d.get("correctAnswers")),
            incorrect_answers=_i(d.get("incorrectAnswers")),
            active=_b(d.get("active")),
            campaigns=[c for c in _l(d.get("campaigns")) if isinstance(c, dict)],
            raw=d,
        )


@dataclass
class PhishingCampaign:
    id: str
    name: str
    templates: list[dict[str, Any]]
    locale: str
    locked: bool | None
    sender: EmailAddress | None
    group: dict[str, Any]
    num_sent: int | None
    num_opened: int | None
    num_clicked: int | None
    num_submitted: int | None
    launch_date: datetime | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PhishingCampaign:
        sender = _d(d.get("sender"))
        return cls(
            id=_s(d.get("id")),
            name=_s(d.get("name")),
            templates=[t for t in _l(d.get("templates")) if isinstance(t, dict)],
            locale=_s(d.get("locale")),
            locked=_b(d.get("locked")),
            sender=EmailAddress(_s(sender.get("email")), _s(sender.get("name"))) if sender else None,
            group=_d(d.get("group")),
            num_sent=_i(d.get("numSent")),
            num_opened=_i(d.get("numOpened")),
            num_clicked=_i(d.get("numClicked")),
            num_submitted=_i(d.get("numSubmitted")),
            launch_date=parse_datetime(d.get("launchDate")),
            raw=d,
        )


@dataclass
class PhishingUserResult:
    """Per-user phishing result. Field names are not verified in the contract (§5); they follow the
    seed ("User, department, phishing template, sent/viewed/clicked status, active") and the simulator."""

    email: str
    name: str
    department: str
    template_name: str
    sent: bool | None
    sent_date: datetime | None
    opened: bool | None
    clicked: bool | None
    clicked_date: datetime | None
    submitted: bool | None
    reported: bool | None
    active: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PhishingUserResult:
        return cls(
            email=_s(d.get("email") or d.get("emailAddress")),
            name=_s(d.get("name")),
            department=_s(d.get("department")),
            template_name=_s(d.get("templateName")),
            sent=_b(d.get("sent")),
            sent_date=parse_datetime(d.get("sentDate")),
            opened=_b(d.get("opened")),
            clicked=_b(d.get("clicked")),
            clicked_date=parse_datetime(d.get("clickedDate")),
            submitted=_b(d.get("submitted")),
            reported=_b(d.get("reported")),
            active=_b(d.get("active")),
            raw=d,
        )


@dataclass
class SafeScore:
    email_address: str
    name: str
    department: str
    risk: str
    human_error: Any
    sentiment: Any
    engagement: Any
    knowledge: Any
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SafeScore:
        return cls(
            email_address=_s(d.get("emailAddress") or d.get("email")),
            name=_s(d.get("name")),
            department=_s(d.get("department")),
            risk=_s(d.get("risk")),
            human_error=d.get("humanError"),
            sentiment=d.get("sentiment"),
            engagement=d.get("engagement"),
            knowledge=d.get("knowledge"),
            raw=d,
        )


@dataclass
class SafeScoreSummary:
    counts: dict[str, int]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> SafeScoreSummary:
        counts = {k: _i(v) or 0 for k, v in _d(d.get("scoreCounts")).items()}
        return cls(counts=counts, raw=d)


@dataclass
class TrainingItem:
    title: str
    title_id: str
    assigned: datetime | None
    watched: bool | None
    watched_date: datetime | None
    my_answer: int | None
    on_watchlist: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TrainingItem:
        return cls(
            title=_s(d.get("title")),
            title_id=_s(d.get("titleId")),
            assigned=parse_datetime(d.get("assignedTimeStamp")),
            watched=_b(d.get("watched")),
            # The docs' example spells it watchedData; accept both.
            watched_date=parse_datetime(d.get("watchedDate") or d.get("watchedData")),
            my_answer=_i(d.get("myAnswer")),
            on_watchlist=_b(d.get("onWatchlist")),
            raw=d,
        )


@dataclass
class TrainingDetails:
    training: list[TrainingItem]
    need_engagement: bool | None
    merit_badge: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> TrainingDetails:
        return cls(
            training=[TrainingItem.from_api(t) for t in _l(d.get("training")) if isinstance(t, dict)],
            need_engagement=_b(d.get("needEngagement")),
            merit_badge=_d(d.get("meritBadge")),
            raw=d,
        )


# ------------------------------------------------------------------------------- policy / directory


@dataclass
class PolicyParty:
    type: str
    value: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: Any) -> PolicyParty:
        d = _d(d)
        value = d.get("emailAddress") or d.get("emailDomain") or d.get("groupId") or ""
        return cls(type=_s(d.get("type")), value=_s(value), raw=d)


@dataclass
class BlockedSenderPolicy:
    id: str
    option: str
    description: str
    from_part: str
    from_: PolicyParty
    to: PolicyParty
    from_type: str
    from_value: str
    to_type: str
    to_value: str
    from_date: datetime | None
    to_date: datetime | None
    from_eternal: bool | None
    to_eternal: bool | None
    override: bool | None
    bidirectional: bool | None
    enabled: bool | None
    enforced: bool | None
    conditions: dict[str, Any]
    create_time: datetime | None
    last_updated: datetime | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> BlockedSenderPolicy:
        p = _d(d.get("policy"))
        return cls(
            id=_s(d.get("id")),
            option=_s(d.get("option")),
            description=_s(p.get("description")),
            from_part=_s(p.get("fromPart")),
            from_=PolicyParty.from_api(p.get("from")),
            to=PolicyParty.from_api(p.get("to")),
            from_type=_s(p.get("fromType")),
            from_value=_s(p.get("fromValue")),
            to_type=_s(p.get("toType")),
            to_value=_s(p.get("toValue")),
            from_date=parse_datetime(p.get("fromDate")),
            to_date=parse_datetime(p.get("toDate")),
            from_eternal=_b(p.get("fromEternal")),
            to_eternal=_b(p.get("toEternal")),
            override=_b(p.get("override")),
            bidirectional=_b(p.get("bidirectional")),
            enabled=_b(p.get("enabled")),
            enforced=_b(p.get("enforced")),
            conditions=_d(p.get("conditions")),
            create_time=parse_datetime(p.get("createTime")),
            last_updated=parse_datetime(p.get("lastUpdated")),
            raw=d,
        )


@dataclass
class Group:
    id: str
    description: str
    source: str
    parent_id: str
    user_count: int | None
    folder_count: int | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return self.description

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> Group:
        return cls(
            id=_s(d.get("id")),
            description=_s(d.get("description")),
            source=_s(d.get("source")),
            parent_id=_s(d.get("parentId")),
            user_count=_i(d.get("userCount")),
            folder_count=_i(d.get("folderCount")),
            raw=d,
        )


@dataclass
class GroupMember:
    email_address: str
    domain: str
    name: str
    type: str
    internal: bool | None
    notes: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> GroupMember:
        return cls(
            email_address=_s(d.get("emailAddress")),
            domain=_s(d.get("domain")),
            name=_s(d.get("name")),
            type=_s(d.get("type")),
            internal=_b(d.get("internal")),
            notes=_s(d.get("notes")),
            raw=d,
        )


# --------------------------------------------------------------------------------------------- SIEM


@dataclass
class SiemFile:
    url: str = field(repr=False)
    size: int | None
    expiry: datetime | None


@dataclass
class SiemBatchPage:
    """One page of /siem/v1/batch/events/cg with its files downloaded and parsed."""

    events: list[dict[str, Any]]
    files: list[SiemFile]
    next_page: str | None
    is_caught_up: bool
    raw: dict[str, Any] = field(repr=False)
