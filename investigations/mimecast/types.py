"""Parsed results of Mimecast calls.

Each result type is a msgspec Struct whose fields name the camelCase keys Mimecast sends (``rename="camel"``
or a field's ``name=``); ``parse`` and ``parse_list`` build them. Mimecast omits fields freely and now and
then sends a number where a string belongs, ``null`` for a list, or a date without an offset, and an answer
must never fail for that: an item msgspec refuses is coerced field by field, following the same
declarations (``_coerced``: a missing or unreadable value becomes the field's default), and converted
again. Well-formed items, nearly all of them, take msgspec's single pass.

A handful of types accept more than one spelling of a key; they say so in a ``_prepare`` hook (top-level
types) or a property over the alternative fields (nested types). Top-level results keep the item as
Mimecast sent it in ``.raw``. Dates are aware datetimes, ``None`` when absent or unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec
from msgspec import inspect as mi

T = TypeVar("T")
M = TypeVar("M", bound="Model")

_DATE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


# Mimecast's own dates lie between its "eternal" bounds (1900-01-01 and 2100-01-01). A date far
# outside them is as unreadable as a garbled one, and near year 1 or 9999 moving it to the
# viewer's time zone overflows: it becomes None, shown as missing, rather than failing a page.
PLAUSIBLE_YEARS = range(1900, 2200)


def _plausible(value: datetime | None) -> datetime | None:
    return value if value is not None and value.year in PLAUSIBLE_YEARS else None


def parse_datetime(value: Any) -> datetime | None:
    """Parse Mimecast dates: ``2011-12-03T10:15:30+0000``, ``...+00:00``, ``...Z``, with or without ms;
    None when absent, unreadable or outside ``PLAUSIBLE_YEARS``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    match = _DATE_RE.match(text)
    if not match:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return _plausible(datetime.fromisoformat(text).replace(tzinfo=UTC))
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
        return _plausible(datetime.fromisoformat(iso))
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


# ------------------------------------------------------------------------- coercion of odd values


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
    try:
        if isinstance(value, float):
            return int(value)
        if isinstance(value, str):
            return int(float(value.strip()))
    except (ValueError, OverflowError):  # "x", NaN, infinity
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


def _count(value: Any) -> int:
    return _i(value) or 0


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _l(value) if isinstance(v, dict)]


def _same(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> datetime | None:
    # msgspec reads the usual RFC 3339 dates quickly (as the fast path does); parse_datetime the rest.
    try:
        return _plausible(msgspec.convert(value, Timestamp))
    except msgspec.ValidationError:
        return parse_datetime(value)


_SCALARS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    # msgspec type -> (coercion when the field may be None, coercion when it may not)
    mi.StrType: (_s, _s),
    mi.IntType: (_i, _count),
    mi.FloatType: (_f, _f),
    mi.BoolType: (_b, _b),
    mi.DateTimeType: (_timestamp, _timestamp),
    mi.AnyType: (_same, _same),
}


def _coercion(t: mi.Type) -> Callable[[Any], Any]:
    """How to turn any value into one msgspec accepts for a field declared as ``t``."""
    optional = False
    if isinstance(t, mi.UnionType):
        others = [x for x in t.types if not isinstance(x, mi.NoneType)]
        optional, t = len(others) < len(t.types), others[0]
    if type(t) in _SCALARS:
        return _SCALARS[type(t)][0 if optional else 1]
    if isinstance(t, mi.StructType):
        model = t.cls
        return model._coerce if optional else lambda v: model._coerce(v) or {}
    if isinstance(t, mi.ListType):
        item = t.item_type
        if isinstance(item, mi.StructType):
            return item.cls._coerce_many
        if isinstance(item, mi.StrType):
            return _strs
        return _dicts if isinstance(item, mi.DictType) else _l
    if isinstance(t, mi.DictType):
        value = t.value_type
        if isinstance(value, mi.StructType):
            model = value.cls
            return lambda v: {k: model._coerce(x) for k, x in _d(v).items() if isinstance(x, dict)}
        if isinstance(value, mi.IntType):
            return lambda v: {k: _count(x) for k, x in _d(v).items()}
        return _d
    raise TypeError(f"no coercion for {t!r}")  # a new field type: teach _coercion about it


_PLANS: dict[type, list[tuple[str, Callable[[Any], Any]]]] = {}
_DATE_FIELDS: dict[type, tuple[str, ...]] = {}


def _date_fields(model: type) -> tuple[str, ...]:
    """The attributes of ``model`` that hold a date (all of them optional)."""
    names = _DATE_FIELDS.get(model)
    if names is None:
        names = tuple(
            f.name
            for f in mi.type_info(model).fields
            if isinstance(f.type, mi.UnionType) and any(isinstance(t, mi.DateTimeType) for t in f.type.types)
        )
        _DATE_FIELDS[model] = names
    return names


_LIST_TYPES: dict[type, Any] = {}


def _plan(model: type[Model]) -> list[tuple[str, Callable[[Any], Any]]]:
    plan = _PLANS.get(model)
    if plan is None:
        info = mi.type_info(model)
        plan = [(f.encode_name, _coercion(f.type)) for f in info.fields]
        _PLANS[model] = plan
    return plan


def _coerced(model: type[Model], data: dict[str, Any]) -> dict[str, Any]:
    return {key: coerce(data.get(key)) for key, coerce in _plan(model)}


# -------------------------------------------------------------------------------------- parsing

# Aware datetimes only: a date without an offset is UTC, which the coercion (parse_datetime) says.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class Model(msgspec.Struct, rename="camel", kw_only=True):
    """A part of a Mimecast answer."""

    def __post_init__(self) -> None:
        # msgspec's single pass reads any well-formed date, year 1 and 9999 included.
        for name in _date_fields(type(self)):
            value = getattr(self, name)
            if value is not None and _plausible(value) is None:
                setattr(self, name, None)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Top-level types with several spellings of a key map them to the declared one here."""
        return data

    @classmethod
    def _coerce(cls, value: Any) -> dict[str, Any] | None:
        """The item as msgspec will accept it, or None when nothing of this type can be read from it."""
        return _coerced(cls, value) if isinstance(value, dict) else None

    @classmethod
    def _coerce_many(cls, value: Any) -> list[dict[str, Any]]:
        return [c for c in map(cls._coerce, _l(value)) if c is not None]


class Item(Model, dict=True):
    """A top-level result: one item of an answer's data (or of a list in it). ``raw``, the item as
    Mimecast sent it, is set by ``parse`` beside the fields (so that no key of the answer can fill it)."""

    raw: ClassVar[Mapping[str, Any]] = MappingProxyType({})


def _convert(model: type[M], data: dict[str, Any]) -> M:
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError:
        return msgspec.convert(_coerced(model, data), model)


def parse(model: type[M], data: Any) -> M:
    """One item of a Mimecast answer as ``model``; never fails on odd or missing values."""
    raw = data if isinstance(data, dict) else {}
    item = _convert(model, model._prepare(raw))
    if isinstance(item, Item):
        item.raw = raw
    return item


def parse_list(model: type[M], items: Iterable[Any]) -> list[M]:
    """Items of a Mimecast answer (dicts; anything else is skipped) as ``model``, in one msgspec pass."""
    raws = [i for i in items if isinstance(i, dict)]
    prepared = raws if model._prepare.__func__ is Model._prepare.__func__ else [model._prepare(r) for r in raws]
    list_type = _LIST_TYPES.get(model) or _LIST_TYPES.setdefault(model, list[model])
    try:
        parsed = msgspec.convert(prepared, list_type)
    except msgspec.ValidationError:
        parsed = [_convert(model, p) for p in prepared]
    if issubclass(model, Item):
        for item, raw in zip(parsed, raws, strict=True):
            item.raw = raw
    return parsed


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


class EmailAddress(Model, forbid_unknown_fields=True):
    """An address: Mimecast sends ``{emailAddress, displayableName}``, sometimes ``{address|email, name}``
    or a bare string. Other keys send the item through ``_coerce``, which knows every spelling."""

    email_address: str = ""
    displayable_name: str = ""

    @classmethod
    def _coerce(cls, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            return {"emailAddress": value, "displayableName": ""}
        if not isinstance(value, dict):
            return None
        return {
            "emailAddress": _s(value.get("emailAddress") or value.get("address") or value.get("email")),
            "displayableName": _s(value.get("displayableName") or value.get("name")),
        }

    @classmethod
    def _coerce_many(cls, value: Any) -> list[dict[str, Any]]:
        return super()._coerce_many([value] if isinstance(value, dict) else value)


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


class TrackedEmail(Item):
    id: str = ""
    status: str = ""
    info: str = ""
    from_env: EmailAddress | None = None
    from_hdr: EmailAddress | None = None
    to: list[EmailAddress] = []
    received: Timestamp | None = None
    sent: Timestamp | None = None
    subject: str = ""
    sender_ip: str = msgspec.field(default="", name="senderIP")
    attachments: bool | None = None
    route: str = ""
    spam_score: float | None = None
    detection_level: str = ""


class Component(Model):
    type: str = ""
    name: str = ""
    extension: str = ""
    mime_type: str = ""
    size: int | None = None
    hash: str = ""


class MessageInfoDetails(Model):
    """The ``messageInfo`` block of get-message-info (received or delivered copy)."""

    from_header: str = ""
    from_envelope: str = ""
    to: list[str] = []
    cc: list[str] = []
    subject: str = ""
    sent: Timestamp | None = None
    processed: Timestamp | None = None
    transmission_info: str = ""
    route: str = ""
    attachments: list[Any] = []
    html_body: str = ""
    text_body: str = ""


class TransmissionMeta(Model):
    """``recipientMetaInfo`` (receipt) or ``deliveryMetaInfo`` (delivery) of get-message-info."""

    receipt_event: str = ""
    delivery_event: str = ""
    email_address: str = ""
    spam_event: str = ""
    message_expires_in: int | None = None
    processing_server: str = ""
    transmission_size: int | None = None
    binary_email_size: int | None = None
    remote_ip: str = ""
    remote_host: str = ""
    remote_server_greeting: str = ""
    receipt_acknowledgement: str = ""
    transmission_start: Timestamp | None = None
    transmission_end: Timestamp | None = None
    encryption_info: str = ""
    components: list[Component] = []

    @property
    def event(self) -> str:
        return self.receipt_event or self.delivery_event


class PolicyInfo(Model):
    policy_type: str = ""
    policy_name: str = ""
    inherited: bool | None = None
    inherited_customer_code: str = ""


class RecipientInfo(Model):
    message_info: MessageInfoDetails = msgspec.field(default_factory=MessageInfoDetails)
    meta: TransmissionMeta = msgspec.field(default_factory=TransmissionMeta, name="recipientMetaInfo")
    tx_info: Any = None


class DeliveredMessage(Model):
    recipient: str = ""  # the key of deliveredMessage, set by MessageInfo
    message_info: MessageInfoDetails = msgspec.field(default_factory=MessageInfoDetails)
    policies: list[PolicyInfo] = msgspec.field(default_factory=list, name="policyInfo")
    delivery: TransmissionMeta = msgspec.field(default_factory=TransmissionMeta, name="deliveryMetaInfo")
    tx_info: Any = None


class RetentionInfo(Model):
    current_purge_date: Timestamp | None = None
    original_purge_date: Timestamp | None = None
    purge_based_on: str = ""
    retention_adjustment_days: int | None = None
    litigation_hold_info: list[Any] = []
    smart_tags: list[Any] = []
    audits: list[Any] = []


class SpamCheck(Model):
    allow: bool | None = None
    info: str = ""


class SpamProcessingDetail(Model):
    rbl: SpamCheck | None = None
    spf: SpamCheck | None = None
    dkim: SpamCheck | None = None
    dmarc: SpamCheck | None = None
    permitted_sender: SpamCheck | None = None
    managed_sender: SpamCheck | None = None
    grey_email: bool | None = None
    symbol_groups: list[Any] = []
    verdict: dict[str, Any] = {}


_SPAM_CHECKS = ("rbl", "spf", "dkim", "dmarc", "permittedSender", "managedSender")


class SpamInfo(Model):
    spam_score: float | None = None
    detection_level: str = ""
    detail: SpamProcessingDetail = msgspec.field(default_factory=SpamProcessingDetail, name="spamProcessingDetail")

    @property
    def checks(self) -> dict[str, SpamCheck]:
        """rbl, spf, dkim, dmarc, permittedSender, managedSender -> SpamCheck, for those Mimecast sent."""
        values = (self.detail.rbl, self.detail.spf, self.detail.dkim, self.detail.dmarc)
        values += (self.detail.permitted_sender, self.detail.managed_sender)
        return {name: check for name, check in zip(_SPAM_CHECKS, values, strict=True) if check is not None}

    @property
    def grey_email(self) -> bool | None:
        return self.detail.grey_email

    @property
    def symbol_groups(self) -> list[Any]:
        return self.detail.symbol_groups

    @property
    def verdict(self) -> dict[str, Any]:
        return self.detail.verdict


class MessageInfo(Item):
    """get-message-info: everything Mimecast knows about one tracked message."""

    id: str = ""
    status: str = ""
    recipient_info: RecipientInfo = msgspec.field(default_factory=RecipientInfo)
    delivered: dict[str, DeliveredMessage] = msgspec.field(default_factory=dict, name="deliveredMessage")
    retention: RetentionInfo = msgspec.field(default_factory=RetentionInfo, name="retentionInfo")
    spam: SpamInfo = msgspec.field(default_factory=SpamInfo, name="spamInfo")
    queue_info: dict[str, Any] = {}

    def __post_init__(self) -> None:
        for recipient, delivered in self.delivered.items():
            delivered.recipient = recipient


# ------------------------------------------------------------------------------------------ archive


class ArchiveSearchItem(Item):
    id: str = ""
    subject: str = ""
    display_from: str = msgspec.field(default="", name="displayfrom")
    display_from_address: str = msgspec.field(default="", name="displayfromaddress")
    display_to: str = msgspec.field(default="", name="displayto")
    display_to_addresses: list[EmailAddress] = msgspec.field(default_factory=list, name="displaytoaddresslist")
    received: Timestamp | None = msgspec.field(default=None, name="receiveddate")
    size: int | None = None
    attachment_count: int | None = msgspec.field(default=None, name="attachmentcount")
    status: str = ""
    smash: str = ""


class ArchiveMessage(Item):
    """One item of archive get-message-list."""

    id: str = ""
    subject: str = ""
    received: Timestamp | None = None
    from_: EmailAddress | None = msgspec.field(default=None, name="from")
    to: list[EmailAddress] = []
    attachment_count: int | None = None
    size: int | None = None
    status: str = ""
    smash: str = ""
    read: bool | None = None


class MessageHeader(Model):
    name: str = ""
    values: list[str] = []


class ArchiveAttachment(Model):
    id: str = ""
    filename: str = ""
    extension: str = ""
    content_type: str = ""
    content_id: str = ""
    body_type: int | None = None
    sha256: str = ""
    size: int | None = None


class ArchiveMessageDetail(Item):
    id: str = ""
    status: str = ""
    smash: str = ""
    mime_message_id: str = ""
    has_html_body: bool | None = None
    received: Timestamp | None = None
    processed: Timestamp | None = None
    subject: str = ""
    header_date: Timestamp | None = None
    size: int | None = None
    from_: EmailAddress | None = msgspec.field(default=None, name="from")
    envelope_from: EmailAddress | None = None
    reply_to: EmailAddress | None = None
    to: list[EmailAddress] = []
    cc: list[EmailAddress] = []
    headers: list[MessageHeader] = []
    attachments: list[ArchiveAttachment] = []


# -------------------------------------------------------------------------------------- remediation


class IncidentSearchCriteria(Model):
    start: Timestamp | None = None
    end: Timestamp | None = None
    message_id: str = ""
    message_ids: list[str] = []
    file_hash: str = ""
    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    url: str = ""
    unremediate_code: str = ""
    restore_code: str = ""


class Incident(Item):
    id: str = ""
    code: str = ""
    type: str = ""
    reason: str = ""
    create: Timestamp | None = None
    modified: Timestamp | None = None
    identified: int | None = None
    successful: int | None = None
    failed: int | None = None
    restored: int | None = None
    search_criteria: IncidentSearchCriteria = msgspec.field(default_factory=IncidentSearchCriteria)


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


class UrlClickLog(Item):
    user_email_address: str = ""
    from_user_email_address: str = ""
    url: str = ""
    ttp_definition: str = ""
    subject: str = ""
    action: str = ""
    admin_override: str = ""
    user_override: str = ""
    scan_result: str = ""
    category: str = ""
    sending_ip: str = ""
    user_awareness_action: str = ""
    date: Timestamp | None = None
    route: str = ""
    creation_method: str = ""
    email_parts_description: list[str] = []
    message_id: str = ""


class ManagedUrl(Item):
    id: str = ""
    scheme: str = ""
    domain: str = ""
    port: int | None = None
    path: str = ""
    query_string: str = ""
    match_type: str = ""
    action: str = ""
    comment: str = ""
    disable_user_awareness: bool | None = None
    disable_rewrite: bool | None = None
    disable_log_click: bool | None = None


class ImpersonationResult(Model):
    impersonation_domain_source: str = ""
    similar_domain: str = ""
    string_similar_to_domain: str = ""
    checker_result: str = ""


class ImpersonationLog(Item):
    id: str = ""
    sender_address: str = ""
    recipient_address: str = ""
    subject: str = ""
    definition: str = ""
    hits: int | None = None
    identifiers: list[str] = []
    action: str = ""
    tagged_external: bool | None = None
    tagged_malicious: bool | None = None
    sender_ip_address: str = ""
    event_time: Timestamp | None = None
    impersonation_results: list[ImpersonationResult] = []
    message_id: str = ""


class AttachmentLog(Item):
    sender_address: str = ""
    recipient_address: str = ""
    file_name: str = ""
    file_type: str = ""
    result: str = ""
    action_triggered: str = ""
    date: Timestamp | None = None
    details: str = ""
    route: str = ""
    message_id: str = ""
    subject: str = ""
    file_hash: str = ""
    definition: str = ""


# ------------------------------------------------------------------------------------------ gateway


class HeldMessage(Item):
    id: str = ""
    reason: str = ""
    reason_id: str = ""
    reason_code: str = ""
    from_: EmailAddress | None = msgspec.field(default=None, name="from")
    from_header: EmailAddress | None = None
    to: EmailAddress | None = None
    subject: str = ""
    route: str = ""
    has_attachments: bool | None = None
    size: int | None = None
    date_received: Timestamp | None = None
    policy_info: str = ""

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        to = data.get("to")
        if isinstance(to, list):  # one held copy per recipient: the first is this one
            return {**data, "to": to[0] if to else None}
        return data


class HeldReleaseLog(Item):
    id: str = ""
    attachments: bool | None = None
    detection_level: str = ""
    from_env: EmailAddress | None = None
    from_hdr: EmailAddress | None = None
    held_group: str = ""
    held_reason: str = ""
    message_info: str = ""
    operator: str = ""
    policy: str = ""
    reject_reason: str = ""
    released: Timestamp | None = None
    route: str = ""
    size: int | None = None
    status: str = ""
    subject: str = ""
    to: list[EmailAddress] = []
    verdict: Any = None
    message_id: str = ""

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        operator = data.get("operator")
        if isinstance(operator, dict):  # an object in some tenants, an address in others
            return {**data, "operator": operator.get("email", "")}
        return data


class Rejection(Item):
    id: str = ""
    created: Timestamp | None = None
    from_address: str = ""
    to_address: str = ""
    info: str = ""
    description: str = ""
    ip_address: str = ""
    remote_ehlo: str = ""
    remote_name: str = ""
    spam_score: float | None = None
    detection_level: str = ""
    manage_recipient: bool | None = None
    to_address_pre_check: str = ""
    to_address_post_check: str = ""
    type: int | None = None


@dataclass
class HoldActionResult:
    """Result of hold-release (``released``) or hold-reject (``rejected``) for one message."""

    id: str
    ok: bool
    raw: dict[str, Any] = field(repr=False)


# ------------------------------------------------------------------------------- awareness training


def _first_of(*values: Any) -> Any:
    return next((v for v in values if v), values[-1])


def _count_of(value: Any) -> int | None:
    """A whole, non-negative count sent as a number (tenants' records carry 3 or 3.0), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return int(value) if float(value).is_integer() else None


class PerformanceDetail(Item):
    """Per-user awareness-training performance record. Tenants send ``numCorrect``, ``numIncorrect`` and
    ``numNotWatched`` (modules answered correctly, answered wrongly, not watched yet) beside ``userId`` and
    ``userState``; a module is answered once watched, so those three add up to the modules assigned. The
    ``videos*``/``*Answers`` spellings are read too when a record carries them."""

    email: str = ""
    name: str = ""
    department: str = ""
    user_id: str = ""
    user_state: str = ""
    num_correct: int | None = None
    num_incorrect: int | None = None
    num_not_watched: int | None = None
    videos_assigned: int | None = None
    videos_watched: int | None = None
    correct_answers: int | None = None
    incorrect_answers: int | None = None
    active: bool | None = None
    campaigns: list[dict[str, Any]] = []

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        user = _d(data.get("user"))  # the person may come flat or in a nested user object
        out = {
            **data,
            "email": _first_of(
                data.get("email"), data.get("emailAddress"), user.get("email"), user.get("emailAddress")
            ),
            "name": _first_of(data.get("name"), user.get("name")),
            "department": _first_of(data.get("department"), user.get("department")),
        }
        keys = ("numCorrect", "numIncorrect", "numNotWatched")
        correct, incorrect, not_watched = (_count_of(data.get(key)) for key in keys)
        if None not in (correct, incorrect, not_watched):
            out.setdefault("videosWatched", correct + incorrect)
            out.setdefault("videosAssigned", correct + incorrect + not_watched)
        if correct is not None:
            out.setdefault("correctAnswers", correct)
        if incorrect is not None:
            out.setdefault("incorrectAnswers", incorrect)
        return out


class PhishingCampaign(Item):
    id: str = ""
    name: str = ""
    templates: list[dict[str, Any]] = []
    locale: str = ""
    locked: bool | None = None
    sender: EmailAddress | None = None
    group: dict[str, Any] = {}
    num_sent: int | None = None
    num_opened: int | None = None
    num_clicked: int | None = None
    num_submitted: int | None = None
    launch_date: Timestamp | None = None

    @property
    def scheduled(self) -> bool:
        """Its launch date is still to come: nothing has been sent yet."""
        return self.launch_date is not None and self.launch_date > datetime.now(UTC)

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        sender = _d(data.get("sender"))  # {email, name} here, not the usual address keys
        address = {"emailAddress": sender.get("email", ""), "displayableName": sender.get("name", "")}
        return {**data, "sender": address if sender else None}


class PhishingUserResult(Item):
    """Per-user phishing-simulation result, one of ``data[0].items[]``: when the simulation mail was
    scheduled, opened and clicked, when the user submitted data or reported the mail (each absent until
    it happened), the latest ``status`` and the user's ``userState``. Each step implies the ones before
    it: whoever submitted data clicked, whoever clicked opened."""

    email: str = ""
    name: str = ""
    department: str = ""
    template_name: str = ""
    status: str = ""
    user_state: str = ""
    time_scheduled: Timestamp | None = None
    time_opened: Timestamp | None = None
    time_clicked: Timestamp | None = None
    time_submitted: Timestamp | None = None
    time_reported: Timestamp | None = None
    clicked_ip: str = ""

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "email": _first_of(data.get("email"), data.get("emailAddress"))}

    def _status_is(self, *words: str) -> bool:
        return self.status.strip().lower().replace(" ", "_") in words

    @property
    def submitted(self) -> bool:
        return self.time_submitted is not None or self._status_is("submitted", "data_submitted")

    @property
    def clicked(self) -> bool:
        return self.time_clicked is not None or self.submitted or self._status_is("clicked")

    @property
    def opened(self) -> bool:
        return self.time_opened is not None or self.clicked or self._status_is("opened")

    @property
    def reported(self) -> bool:
        return self.time_reported is not None or self._status_is("reported")

    @property
    def scheduled(self) -> bool:
        """Not sent yet: the simulation mail goes out later."""
        return self._status_is("scheduled") or (
            self.time_scheduled is not None and self.time_scheduled > datetime.now(UTC) and not self.opened
        )


class SafeScore(Item):
    email_address: str = ""
    name: str = ""
    department: str = ""
    risk: str = ""
    human_error: Any = None
    sentiment: Any = None
    engagement: Any = None
    knowledge: Any = None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "emailAddress": _first_of(data.get("emailAddress"), data.get("email"))}


class SafeScoreSummary(Item):
    counts: dict[str, int] = msgspec.field(default_factory=dict, name="scoreCounts")


class TrainingItem(Model):
    title: str = ""
    title_id: str = ""
    assigned: Timestamp | None = msgspec.field(default=None, name="assignedTimeStamp")
    watched: bool | None = None
    watched_on: Timestamp | None = msgspec.field(default=None, name="watchedDate")
    watched_data: Timestamp | None = None  # the docs' example spells watchedDate this way
    my_answer: int | None = None
    on_watchlist: bool | None = None

    @property
    def watched_date(self) -> datetime | None:
        return self.watched_on or self.watched_data


class TrainingDetails(Item):
    training: list[TrainingItem] = []
    need_engagement: bool | None = None
    merit_badge: dict[str, Any] = {}


# ------------------------------------------------------------------------------- policy / directory


class PolicyParty(Model):
    type: str = ""
    email_address: str = ""
    email_domain: str = ""
    group_id: str = ""

    @property
    def value(self) -> str:
        return self.email_address or self.email_domain or self.group_id


class BlockedSenderPolicy(Item):
    id: str = ""
    option: str = ""
    description: str = ""
    from_part: str = ""
    from_: PolicyParty = msgspec.field(default_factory=PolicyParty, name="from")
    to: PolicyParty = msgspec.field(default_factory=PolicyParty)
    from_type: str = ""
    from_value: str = ""
    to_type: str = ""
    to_value: str = ""
    from_date: Timestamp | None = None
    to_date: Timestamp | None = None
    from_eternal: bool | None = None
    to_eternal: bool | None = None
    override: bool | None = None
    bidirectional: bool | None = None
    enabled: bool | None = None
    enforced: bool | None = None
    conditions: dict[str, Any] = {}
    create_time: Timestamp | None = None
    last_updated: Timestamp | None = None

    @classmethod
    def _prepare(cls, data: dict[str, Any]) -> dict[str, Any]:
        # The policy's settings sit in a nested "policy" object beside its id and option.
        return {**_d(data.get("policy")), "id": data.get("id", ""), "option": data.get("option", "")}


class Group(Item):
    id: str = ""
    description: str = ""
    source: str = ""
    parent_id: str = ""
    user_count: int | None = None
    folder_count: int | None = None

    @property
    def name(self) -> str:
        return self.description


class GroupMember(Item):
    email_address: str = ""
    domain: str = ""
    name: str = ""
    type: str = ""
    internal: bool | None = None
    notes: str = ""


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


# ------------------------------------------------------------------------------------ thread safety


def _subclasses(model: type[Model]) -> list[type[Model]]:
    found, pending = [], [model]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _prepare_for_threads() -> frozenset[type[Model]]:
    """msgspec builds a type's decoding plan the first time the type is used, and two threads doing that
    for the same type at once can crash the process (a segfault: a message page's sections parse their
    answers in parallel threads, and a fresh worker meets each type for the first time there). So every
    plan, msgspec's and ours, is built here, while this module is imported: one thread, under the import
    lock. A Model defined outside this module would miss this; a test checks there is none."""
    models = _subclasses(Model)
    for model in models:
        msgspec.json.Decoder(list[model])
        _date_fields(model)
        _plan(model)
    return frozenset(models)


PREPARED_MODELS = _prepare_for_threads()
