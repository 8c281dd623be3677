from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import render

from .. import selectors
from ..models import AuditAction
from ..roles import capability_required
from ..services.audit import audit_record


@login_required
def home(request):
    return render(request, "home.html", {"recent_activity": selectors.audit_events_for_user(user=request.user)})


@capability_required("audit_read")
def audit_list(request):
    before = request.GET.get("before", "")
    before_seq = int(before) if before.isdigit() else None
    events = selectors.audit_events_recent(limit=50, before_seq=before_seq)
    # Reading the audit trail is itself audited.
    with transaction.atomic():
        audit_record(
            actor=request.user,
            action=AuditAction.AUDIT_VIEWED,
            target=("audit", "list"),
            data={"before": before_seq},
        )
    older = events[-1].seq if len(events) == 50 else None
    template = "audit_list.html#events" if request.htmx else "audit_list.html"
    return render(request, template, {"events": events, "older": older})


@capability_required("admin_settings")
def user_list(request):
    return render(request, "users.html", {"rows": selectors.users_with_roles()})
