"""Reads for the remediation pages. Nothing here writes."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from investigations.models import RemediationRequest

State = RemediationRequest.State
PAGE_SIZE = 100


def remediation_requests(*, state="", requester="", date_from=None, date_to=None, limit=PAGE_SIZE):
    rows = RemediationRequest.objects.select_related("requested_by", "approved_by", "rejected_by").order_by("-id")
    if state:
        rows = rows.filter(state=state)
    if requester:
        rows = rows.filter(requested_by__username=requester)
    if date_from:
        rows = rows.filter(created_at__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to:
        rows = rows.filter(created_at__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return list(rows[:limit])


def remediation_request_detail(*, request_id):
    return (
        RemediationRequest.objects.select_related("requested_by", "approved_by", "rejected_by", "restore_of")
        .filter(pk=request_id)
        .first()
    )


def remediation_steps(*, request):
    return list(request.steps.order_by("id"))


def remediation_restores(*, request):
    return list(request.restores.select_related("requested_by").order_by("-id"))


def remediation_approval_queue():
    """Waiting for a decision, oldest first (the next to expire at the top)."""
    return list(
        RemediationRequest.objects.select_related("requested_by")
        .filter(state=State.PENDING_APPROVAL)
        .order_by("submitted_at", "id")
    )


def remediation_pending_count():
    return RemediationRequest.objects.filter(state=State.PENDING_APPROVAL).count()
