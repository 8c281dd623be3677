"""Audit review: the filtered list, one event, one target's timeline, the
exports and the chain verification. Auditors have all of it; admins read but neither export nor
verify (roles.py)."""

from django.db import transaction
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from investigations.audit import selectors as audit_selectors
from investigations.audit.export import FORMATS, audit_export_start
from investigations.audit.forms import AuditFilterForm
from investigations.audit.rows import audit_list_rows, audit_timeline_rows
from investigations.audit.services import audit_record
from investigations.audit.verification import audit_verification_start
from investigations.core.htmx import render_page
from investigations.core.links import page_url, with_query
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.models import AuditAction, AuditEvent

routes = Routes()

TARGET_TYPE_MAX = AuditEvent._meta.get_field("target_type").max_length
TARGET_ID_MAX = AuditEvent._meta.get_field("target_id").max_length


def _verification_context():
    return {
        "run": audit_selectors.audit_verification_active(),
        "last_finished": audit_selectors.audit_verification_last_finished(),
    }


def _filtered_url(form, name, *args, **extra):
    """A page of the trail under the list's filter (as the form normalised it), plus ``extra``."""
    query = QueryDict(form.query_string(), mutable=True)
    for key, value in extra.items():
        query[key] = value
    return with_query(reverse(name, args=args), query)


@routes("", name="audit-list", capability="audit_read", methods=["GET"])
def audit_list(request):
    form = AuditFilterForm(request.GET)
    page = None
    if form.is_valid():
        before = form.cleaned_data.get("before")
        page = audit_selectors.audit_events_page(criteria=form.criteria(), before=before)
        # One event per search, not per "older events" click: paging through a result the auditor
        # already asked for adds nothing to "who looked at what", and would flood the trail.
        if before is None:
            with transaction.atomic():
                audit_record(
                    actor=request.user,
                    action=AuditAction.AUDIT_VIEWED,
                    target=("audit", "list"),
                    data={"filter": form.described()},
                )
    context = {
        "form": form,
        "page": page,
        "rows": audit_list_rows(page.events) if page else "",
        "query": form.query_string(),
        "export_urls": {fmt: _filtered_url(form, "audit-export", fmt) for fmt in FORMATS},
        "older_url": _filtered_url(form, "audit-list", before=page.next_before) if page else "",
        "can_export": user_can(request.user, "audit_export"),
        "can_verify": user_can(request.user, "audit_verify"),
        **_verification_context(),
    }
    partials = {"older-row": "rows", "audit-main": "main"}
    status = 200 if form.is_valid() else 400
    return render_page(request, "audit/list.html", context, partial=partials, status=status)


@routes("event/<int:seq>/", name="audit-event", capability="audit_read", methods=["GET"])
def audit_event(request, seq):
    detail = audit_selectors.audit_event_detail(seq=seq)
    if detail is None:
        raise Http404("No audit event has that number.")
    with transaction.atomic():
        audit_record(actor=request.user, action=AuditAction.AUDIT_EVENT_VIEWED, target=("auditevent", seq))
    return render(request, "audit/event.html", {"detail": detail, "event": detail.event})


def _possible_target(target_type, target_id):
    """Whether an event could name this target: the trail holds no NUL (the database refuses it in
    text) and nothing longer than its columns, so such an address has no timeline."""
    return (
        len(target_type) <= TARGET_TYPE_MAX
        and len(target_id) <= TARGET_ID_MAX
        and "\x00" not in target_type
        and "\x00" not in target_id
    )


# Target ids are whatever the target uses (a message-id may hold "/" and "@"): take the rest.
@routes("target/<str:target_type>/<path:target_id>/", name="audit-timeline", capability="audit_read", methods=["GET"])
def audit_timeline(request, target_type, target_id):
    if not _possible_target(target_type, target_id):
        raise Http404("No audit event names that target.")
    after = request.GET.get("after", "")
    # A cursor is a position in the chain; anything else is a stale or hand-edited link: start over.
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    valid_cursor = after.isascii() and after.isdigit() and len(after) <= 18
    after_seq = int(after) if valid_cursor else 0
    page = audit_selectors.audit_timeline_page(target_type=target_type, target_id=target_id, after=after_seq)
    if after_seq == 0:
        # Aimed at the audit, not at the target: the target's own timeline shows what happened to
        # it, and does not grow each time someone reads it.
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=AuditAction.AUDIT_TIMELINE_VIEWED,
                target=("audit", "timeline"),
                data={"target_type": target_type, "target_id": target_id},
            )
    context = {
        "page": page,
        "rows": audit_timeline_rows(page.events),
        "target_type": target_type,
        "target_id": target_id,
        "bad_cursor": after != "" and not valid_cursor,
        "newer_url": page_url(request, drop=tuple(request.GET), after=page.next_before),
    }
    return render_page(request, "audit/timeline.html", context, partial={"newer-row": "rows"})


@routes("export.<str:fmt>", name="audit-export", capability="audit_export", methods=["GET"])
def audit_export(request, fmt):
    if fmt not in FORMATS:
        raise Http404("No such export format.")
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        # The same page and messages as the list: the export link is only ever built from a valid
        # filter, so this is a hand-edited address.
        return audit_list(request)
    export = audit_export_start(user=request.user, fmt=fmt, criteria=form.criteria(), described_filter=form.described())
    response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Accel-Buffering"] = "no"  # a proxy must pass the stream on, not buffer all of it
    response["Cache-Control"] = "no-store"
    return response


def _verification_page(request):
    context = {"can_verify": user_can(request.user, "audit_verify"), **_verification_context()}
    return render_page(request, "audit/verification.html", context, partial="panel")


@routes("verification/", name="audit-verification", capability="audit_read", methods=["GET"])
def audit_verification(request):
    return _verification_page(request)


@routes("verification/start/", name="audit-verification-start", capability="audit_verify", methods=["POST"])
def audit_verification_begin(request):
    audit_verification_start(user=request.user)
    if request.htmx:
        return _verification_page(request)
    return redirect(reverse("audit-verification"))
