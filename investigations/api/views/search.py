"""The API's searches and tools: track & trace, archive search, one message's detail, hash search and
URL decode, for a token with the ``read`` scope.

Each route binds the page's own Django form to what it was sent, so the API refuses exactly what the
page refuses (a 422 naming the field), and calls the page's service, which calls Mimecast and audits
the search under the token's service identity. A failed Mimecast call is a problem document
(``problem_for_mimecast``), never a 5xx of ours.
"""

from datetime import datetime

from django.utils.datastructures import MultiValueDict
from django.utils.http import urlencode
from ninja import Field, Query, Router, Schema
from pydantic import AliasPath

from investigations.api.problems import (
    COMMON_PROBLEMS,
    ApiProblem,
    ProblemSchema,
    problem_for_form,
    problem_for_mimecast,
)
from investigations.api.schemas import MessageSummary
from investigations.api.security import token_auth
from investigations.core.validators import MAX_URL_LENGTH, is_token
from investigations.mimecast.types import DeliveredMessage
from investigations.tools import services as tool_services
from investigations.tools.forms import MAX_HASHES, MAX_URLS, HashSearchForm, UrlDecodeForm
from investigations.workspace import services as investigate
from investigations.workspace.forms import ArchiveSearchForm, ReasonFields, TrackTraceForm

router = Router(tags=["search"], auth=token_auth("read"))

# A Mimecast failure is upstream: 404 when what was asked for is not there, 429 when Mimecast
# rate-limits us (with Retry-After), 502 for anything else.
MIMECAST_PROBLEMS = {**COMMON_PROBLEMS, 404: ProblemSchema, 502: ProblemSchema}
REASON_HELP = "Why you are looking (10 to 500 characters): audited, and sent to Mimecast with the search."
TICKET_HELP = "The ticket this search is for (optional); audited with the reason."
MESSAGE_ID_MAX = 2000


def _bound(form_class, fields):
    """The page's form bound to the API's input, None and empty lists left out (as a browser leaves
    out an empty field)."""
    data = MultiValueDict()
    for name, value in fields.items():
        if value is None or value == []:
            continue
        data.setlist(name, value if isinstance(value, list) else [value])
    return form_class(data=data)


def _valid(*forms, names=None):
    """The forms when all are valid, else the 422 naming each field at fault (``names`` maps the
    forms' field names to the API's where they differ)."""
    if not all([form.is_valid() for form in forms]):  # a list: every form validated, so every error told
        raise problem_for_form(*forms, names=names)
    return forms[0] if len(forms) == 1 else forms


def _query_string(form, drop=()):
    """The query string that reruns the search, kept in its audit event (as the pages keep theirs)."""
    return urlencode([(k, v) for k, values in form.data.lists() if k not in drop for v in values])


# ------------------------------------------------------------------------------ track & trace


class TrackTraceParams(Schema):
    message_id: str | None = Field(None, description="A Message-ID header; or search by the fields below.")
    sender: str | None = Field(None, description="From: an address or a domain.")
    recipient: str | None = Field(None, description="To: an address or a domain.")
    subject: str | None = Field(None, description="Subject contains.")
    sender_ip: str | None = None
    route: list[str] = Field([], description="inbound, outbound, internal (repeat the parameter for several).")
    window: str | None = Field(None, description="10m, 1h, 24h (the default), 7d, 30d, or custom (start, end).")
    start: str | None = Field(None, description="A custom window's start, ISO 8601; at most 30 days ago.")
    end: str | None = Field(None, description="A custom window's end, ISO 8601 (default: now).")
    sort: str | None = Field(None, description="received (default), sent, status, from, to, subject, route, ip, spam.")
    dir: str | None = Field(None, description="desc (default) or asc.")
    reason: str = Field(description=REASON_HELP)
    ticket: str | None = Field(None, description=TICKET_HELP)


def _address(value):
    return value.email_address if value is not None else ""


class TrackedMessage(MessageSummary):
    """A Message Finder row. The resolvers read it from the client's row as it comes."""

    sent: datetime | None = None
    envelope_sender: str
    header_sender: str
    sender_ip: str
    route: str
    info: str
    has_attachments: bool | None = None
    spam_score: float | None = None
    detection_level: str

    @staticmethod
    def resolve_sender(row):
        return _address(row.from_hdr) or _address(row.from_env)

    @staticmethod
    def resolve_recipients(row):
        return [t.email_address for t in row.to]

    @staticmethod
    def resolve_envelope_sender(row):
        return _address(row.from_env)

    @staticmethod
    def resolve_header_sender(row):
        return _address(row.from_hdr)

    @staticmethod
    def resolve_has_attachments(row):
        return row.attachments


class TrackTraceResult(Schema):
    """Every message Message Finder found in the window (Mimecast caps the answer; no further page)."""

    items: list[TrackedMessage]
    start: datetime
    end: datetime


@router.get("/messages", response={200: TrackTraceResult, **MIMECAST_PROBLEMS}, summary="Track & trace")
def track_trace(request, params: Query[TrackTraceParams]):
    """Message Finder, as the track & trace page searches it: a Message-ID, or from / to / subject /
    sender IP / route, within a window of the last 30 days."""
    form = _valid(_bound(TrackTraceForm, params.dict()))
    criteria = form.criteria()
    start, end = form.cleaned_data["range"]
    criteria["start_dt"], criteria["end_dt"] = start, end
    outcome = investigate.search_track_trace(
        actor=request.user,
        criteria=criteria,
        reason=form.full_reason(),
        query=_query_string(form, drop=("sort", "dir")),
        sort=form.cleaned_data["sort"],
        direction=form.cleaned_data["dir"],
    )
    if outcome.problem:
        raise problem_for_mimecast(outcome.problem)
    return TrackTraceResult(items=outcome.rows, start=start, end=end)


# ------------------------------------------------------------------------------------ archive


class ArchiveParams(Schema):
    text: str | None = Field(None, description="Text anywhere in the message.")
    subject: str | None = None
    body: str | None = None
    attachment_text: str | None = None
    from_address: str | None = Field(None, description="An address or a domain.")
    to_address: str | None = Field(None, description="An address or a domain.")
    mailbox: str | None = Field(None, description="An address.")
    scope: str | None = Field(None, description="admin (the whole archive, the default) or user.")
    period: str | None = Field(
        None, description="today, yesterday, last_week, last_month (default), last_3_months, last_6_months, …"
    )
    document_type: str | None = Field(None, description="documents, spreadsheets, presentations, pdf, text.")
    page_token: str | None = Field(None, description="next_page_token of the previous page.")
    reason: str = Field(description=REASON_HELP)
    ticket: str | None = Field(None, description=TICKET_HELP)


class ArchivedMessage(MessageSummary):
    """An archive search hit, read from the client's row by the resolvers."""

    sender_name: str
    size: int | None = None
    attachment_count: int | None = None

    @staticmethod
    def resolve_sender(row):
        return row.display_from_address

    @staticmethod
    def resolve_sender_name(row):
        return row.display_from

    @staticmethod
    def resolve_recipients(row):
        return [t.email_address for t in row.display_to_addresses]


class ArchiveResult(Schema):
    items: list[ArchivedMessage]
    next_page_token: str | None = Field(None, description="Pass as page_token for the next page; null on the last.")
    total: int | None = Field(None, description="How many messages match, when Mimecast says.")


@router.get("/archive", response={200: ArchiveResult, **MIMECAST_PROBLEMS}, summary="Archive search")
def archive_search(request, params: Query[ArchiveParams]):
    """The archive search page's search, one page at a time."""
    fields = params.dict()
    fields["page"] = fields.pop("page_token")
    form = _valid(_bound(ArchiveSearchForm, fields), names={"page": "page_token"})
    outcome = investigate.search_archive(
        actor=request.user,
        criteria=form.criteria(),
        reason=form.full_reason(),
        query=_query_string(form, drop=("page",)),
        page_token=form.cleaned_data["page"],
    )
    if outcome.problem:
        raise problem_for_mimecast(outcome.problem)
    return ArchiveResult(items=outcome.rows, next_page_token=outcome.next_token or None, total=outcome.total)


# ----------------------------------------------------------------------------- message detail


class ReasonParams(Schema):
    reason: str = Field(description=REASON_HELP)
    ticket: str | None = Field(None, description=TICKET_HELP)


class HeaderOut(Schema):
    name: str
    value: str


class AttachmentOut(Schema):
    name: str
    size: int | None = None
    sha256: str
    type: str = Field(validation_alias="mime_type")


class UrlOut(Schema):
    original: str = Field(description="The URL as the sender wrote it.")
    rewritten: str = Field(description="The URL as URL Protect rewrote it in the delivered copy.")


class PolicyOut(Schema):
    type: str = Field(validation_alias="policy_type")
    name: str = Field(validation_alias="policy_name")


def _delivered(name):
    """A delivery field read from a delivered copy's transmission record."""
    return AliasPath("delivery", name)


class DeliveryOut(Schema):
    """A delivered copy (or the receipt), read from get-message-info's answer as it comes."""

    recipient: str = Field(description="Empty for the receipt (Mimecast receiving the message).")
    event: str = Field(validation_alias=_delivered("event"))
    remote_host: str = Field(validation_alias=_delivered("remote_host"))
    remote_ip: str = Field(validation_alias=_delivered("remote_ip"))
    tls: str = Field(validation_alias=_delivered("encryption_info"))
    started: datetime | None = Field(None, validation_alias=_delivered("transmission_start"))
    ended: datetime | None = Field(None, validation_alias=_delivered("transmission_end"))
    processing_server: str = Field(validation_alias=_delivered("processing_server"))
    policies: list[PolicyOut]


class AuthResultOut(Schema):
    method: str
    result: str


class SectionProblemOut(Schema):
    section: str = Field(description="info (Message Finder) or archive.")
    detail: str
    code: str


def _info(detail):
    return detail.info.value if detail.info.ok else None


class MessageDetailOut(Schema):
    """The message page's facts, read from the workspace's ``MessageDetail`` as the page reads them.
    One Mimecast call may fail while the other answers; ``problems`` then says which part is missing."""

    id: str = Field(validation_alias="message_id", description="Mimecast's id of the message.")
    message_id: str = Field(validation_alias="mime_id", description="The Message-ID header.")
    subject: str
    sender: str
    recipients: list[str]
    received: datetime | None = None
    status: str
    route: str
    spam_score: float | None = None
    detection_level: str = ""
    held: bool
    authentication: list[AuthResultOut]
    headers: list[HeaderOut]
    attachments: list[AttachmentOut]
    urls: list[UrlOut]
    delivery: list[DeliveryOut] = Field(description="The receipt first, then one entry per recipient delivered to.")
    problems: list[SectionProblemOut]

    @staticmethod
    def resolve_status(detail):
        found = _info(detail) or detail.archive.value
        return found.status

    @staticmethod
    def resolve_spam_score(detail):
        info = _info(detail)
        return info.spam.spam_score if info else None

    @staticmethod
    def resolve_detection_level(detail):
        info = _info(detail)
        return info.spam.detection_level if info else ""

    @staticmethod
    def resolve_held(detail):
        info = _info(detail)
        return bool(info and info.queue_info)

    @staticmethod
    def resolve_authentication(detail):
        return investigate.auth_results(detail.headers, _info(detail))

    @staticmethod
    def resolve_delivery(detail):
        info = _info(detail)
        # The receipt reads as a copy delivered to nobody in particular.
        return [DeliveredMessage(delivery=info.recipient_info.meta), *info.delivered.values()] if info else []

    @staticmethod
    def resolve_problems(detail):
        sections = (("info", detail.info), ("archive", detail.archive))
        return [
            SectionProblemOut(section=name, detail=section.problem.message, code=section.problem.code)
            for name, section in sections
            if section.problem
        ]


@router.get(
    "/messages/{message_id}", response={200: MessageDetailOut, **MIMECAST_PROBLEMS}, summary="One message's detail"
)
def message_detail(request, message_id: str, params: Query[ReasonParams]):
    """What the message page shows of one message: summary, authentication, delivery per recipient
    with the policies applied, attachments with their SHA-256, URLs and headers."""
    if not (0 < len(message_id) <= MESSAGE_ID_MAX and is_token(message_id)):
        # Not an id Mimecast could have given: nothing to ask it.
        raise ApiProblem(404, "not-found", "Not found", "No message has that id.")
    form = _valid(_bound(ReasonFields, params.dict()))
    detail = investigate.message_detail(actor=request.user, message_id=message_id, reason=form.full_reason())
    if not detail.found:
        sections = (detail.info, detail.archive)
        # "Not found" only when both say so; any other failure is the one to tell.
        raise problem_for_mimecast(next((s.problem for s in sections if not s.problem.not_found), detail.info.problem))
    return detail


# ------------------------------------------------------------------------------------- tools


class HashSearchIn(Schema):
    hashes: list[str] = Field(description=f"MD5, SHA-1 or SHA-256 hashes, at most {MAX_HASHES:,}.")
    reason: str = Field(description=REASON_HELP)
    ticket: str | None = Field(None, description=TICKET_HELP)


class HashRowOut(Schema):
    hash: str
    kind: str = Field(description="MD5, SHA-1 or SHA-256; empty for a value that is none of them.")
    status: str = Field(description="detected, not_detected, unknown, error, refused (by Mimecast) or invalid.")
    note: str
    mailboxes: list[str] = Field(description="Who received a detected SHA-256 in the last 30 days.")


class HashSearchOut(Schema):
    items: list[HashRowOut]
    detected: int
    not_detected: int
    invalid: int
    problems: list[str] = Field(description="Mimecast calls that failed; their hashes have status error.")


def _lines(values, longest):
    """A list as the page's text area has it, one element a line (each cut where it is already too
    long to be valid, so the form still names it)."""
    return "\n".join(value[:longest] for value in values)


@router.post("/hash-search", response={200: HashSearchOut, **MIMECAST_PROBLEMS}, summary="Hash search")
def hash_search(request, body: HashSearchIn):
    """Were these files seen, and by whom: the hash search page's search. Values that are not hashes
    come back as rows with status ``invalid``; a request with no hash at all is refused."""
    form, reasons = _valid(
        _bound(HashSearchForm, {"hashes": _lines(body.hashes, 200)}),
        _bound(ReasonFields, {"reason": body.reason, "ticket": body.ticket}),
    )
    parsed = form.cleaned_data["hashes"]
    search = tool_services.hash_search(
        actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"], reason=reasons.full_reason()
    )
    answered = any(r.status in ("detected", "not_detected", "refused") for r in search.rows)
    if search.problems and not answered:
        raise problem_for_mimecast(search.problems[0])
    return HashSearchOut(
        items=search.rows,
        detected=search.detected,
        not_detected=search.not_detected,
        invalid=search.invalid,
        problems=[p.message for p in search.problems],
    )


class UrlDecodeIn(Schema):
    urls: list[str] = Field(description=f"URLs rewritten by URL Protect, at most {MAX_URLS}.")


class DecodedUrlOut(Schema):
    url: str
    decoded: str = Field(description="Where the URL really points; empty when it could not be decoded.")
    error: str = Field(description="Why it could not be decoded: Mimecast's answer, or why it is not a URL.")


class UrlDecodeOut(Schema):
    items: list[DecodedUrlOut]
    decoded: int


@router.post("/url-decode", response={200: UrlDecodeOut, **MIMECAST_PROBLEMS}, summary="URL decode")
def url_decode(request, body: UrlDecodeIn):
    """What a rewritten link really points to, one row per URL (each with its own error)."""
    form = _valid(_bound(UrlDecodeForm, {"urls": _lines(body.urls, MAX_URL_LENGTH + 1)}))
    parsed = form.cleaned_data["urls"]
    rows, problem = tool_services.url_decode(actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"])
    failed = [r.problem for r in rows if r.problem]
    if problem or (failed and not any(r.decoded for r in rows)):
        raise problem_for_mimecast(problem or failed[0])
    items = [
        DecodedUrlOut(url=r.url, decoded=r.decoded, error=r.problem.message if r.problem else r.invalid) for r in rows
    ]
    return UrlDecodeOut(items=items, decoded=sum(1 for r in rows if r.decoded))
