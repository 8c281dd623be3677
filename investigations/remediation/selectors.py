"""Reads for the remediation pages. Nothing here writes."""

from datetime import UTC, datetime, time, timedelta

from django.db.models import BooleanField, Case, DateTimeField, F, Prefetch, Q, Value, When
from django.utils import timezone

from investigations.models import RemediationItem, RemediationRequest

State = RemediationRequest.State
PAGE_SIZE = 100
# A request's window is what a user typed. Forms keep it within sane years now, but a row written
# before that (year 10000 in UTC, say) cannot even be read back: the driver refuses it, and one such
# row would fail every page that lists requests. So pages read the window through the database,
# as "no window" when it lies outside these bounds (far enough from Python's limits that moving it
# to any time zone or adding days still works).
_READABLE_FROM = datetime(1000, 1, 1, tzinfo=UTC)
_READABLE_UNTIL = datetime(9000, 1, 1, tzinfo=UTC)
_WINDOW = ("start", "end")


def _readable(name):
    inside = Q(**{f"{name}__gte": _READABLE_FROM, f"{name}__lt": _READABLE_UNTIL})
    return Case(When(inside, then=F(name)), default=None, output_field=DateTimeField())


def _unreadable():
    outside = Q()
    for name in _WINDOW:
        outside |= Q(**{f"{name}__lt": _READABLE_FROM}) | Q(**{f"{name}__gte": _READABLE_UNTIL})
    return Case(When(outside, then=Value(True)), default=Value(False), output_field=BooleanField())


def _requests(*related):
    """Requests with their users and their window read safely: an unreadable bound is None, and
    ``window_unreadable`` says so."""
    deferred = [*_WINDOW, *(f"restore_of__{field}" for field in _WINDOW if "restore_of" in related)]
    return (
        RemediationRequest.objects.select_related("requested_by", *related)
        .prefetch_related(Prefetch("items", queryset=RemediationItem.objects.order_by("position")))
        .defer(*deferred)
        .annotate(readable_start=_readable("start"), readable_end=_readable("end"), window_unreadable=_unreadable())
    )


def _with_window(rows):
    for row in rows:
        for name in _WINDOW:
            # Set over the deferred field, so reading it never goes back to the database.
            row.__dict__[name] = getattr(row, f"readable_{name}")
    return rows


def remediation_requests(
    *, state="", requester="", date_from=None, date_to=None, kind="", before=None, limit=PAGE_SIZE
):
    """Newest first; ``before`` (a request id) continues a list where its previous page ended."""
    rows = _requests("approved_by", "rejected_by", "first_approved_by", "integration").order_by("-id")
    if state:
        rows = rows.filter(state=state)
    if kind:
        rows = rows.filter(kind=kind)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    if requester:
        rows = rows.filter(requested_by__username=requester)
    if date_from:
        rows = rows.filter(created_at__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to:
        rows = rows.filter(created_at__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return _with_window(list(rows[:limit]))


def remediation_request_detail(*, request_id):
    row = (
        _requests("approved_by", "rejected_by", "restore_of", "first_approved_by", "reviewed_by", "integration")
        .filter(pk=request_id)
        .first()
    )
    if row is None:
        return None
    for message in (row.preview or {}).get("messages") or []:
        if isinstance(message, dict):
            message["received_at"] = _preview_time(message.get("received"))
    return _with_window([row])[0]


def _preview_time(value):
    """A preview's stored ISO time as an aware datetime, so the page shows it with its zone like
    every other time; None when it is missing or not a time the page can show."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None or not _READABLE_FROM <= parsed < _READABLE_UNTIL:
        return None
    return parsed


def remediation_steps(*, request):
    return list(request.steps.order_by("id"))


def remediation_restores(*, request):
    return _with_window(list(_requests().filter(restore_of=request).order_by("-id")))


def remediation_approval_queue(*, admin_only=False):
    """Waiting for a decision, oldest first (the next to expire at the top). `admin_only`: those the
    approval rules reserve for an admin (what an admin without the approver role may decide)."""
    rows = _requests("first_approved_by", "integration").filter(state=State.PENDING_APPROVAL)
    if admin_only:
        rows = rows.filter(admin_approval_required=True)
    return _with_window(list(rows.order_by("submitted_at", "id")))


def remediation_items(*, request):
    return list(request.items.order_by("position"))


def remediation_pending_count():
    return RemediationRequest.objects.filter(state=State.PENDING_APPROVAL).count()
