"""Oversight pages: the admin's approval rules and the approvers' break-glass after-review queue."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from investigations.core.htmx import client_redirect, render_page
from investigations.core.routes import Routes
from investigations.oversight import selectors
from investigations.oversight.forms import RULE_FIELDS, ApprovalRulesForm, BreakGlassReviewForm
from investigations.oversight.services import approval_rules_update
from investigations.remediation import services as remediation_services

routes = Routes()


@routes("rules/", name="oversight-rules", capability="admin_settings", methods=["GET", "POST"])
def approval_rules(request):
    rules = selectors.approval_rules_current()
    if request.method == "POST":
        form = ApprovalRulesForm(request.POST)
        if form.is_valid():
            _, changed = approval_rules_update(
                actor=request.user, values=form.rule_values(), reason=form.cleaned_data["reason"]
            )
            messages.success(request, "Approval rules saved." if changed else "Nothing changed; the rules stay.")
            return client_redirect(request, reverse("oversight-rules"))
        status = 400
    else:
        form, status = ApprovalRulesForm(initial={name: getattr(rules, name) for name in RULE_FIELDS}), 200
    # Admins carry break-glass actions out and approvers review them: the admin sees here what waits.
    context = {"form": form, "rules": rules, "unreviewed": selectors.break_glass_unreviewed(rules=rules)}
    return render_page(request, "oversight/rules.html", context, partial="rules-form", status=status)


def _queue_page(request, *, review_forms=None, status=200):
    now = timezone.now()
    rules = selectors.approval_rules_current()
    context = {
        "rules": rules,
        "unreviewed": selectors.break_glass_unreviewed(now=now, rules=rules),
        "reviewed": selectors.break_glass_reviewed(),
        "review_forms": review_forms or {},
    }
    return render_page(request, "oversight/break_glass.html", context, partial="queue", status=status)


@routes("break-glass/", name="oversight-break-glass", capability="review_break_glass", methods=["GET"])
def break_glass_queue(request):
    return _queue_page(request)


@routes(
    "break-glass/<int:request_id>/review/",
    name="oversight-break-glass-review",
    capability="review_break_glass",
    methods=["POST"],
)
def break_glass_review(request, request_id):
    req = selectors.break_glass_request(request_id=request_id)
    if req is None:
        raise Http404("No break-glass action with that number.")
    if req.requested_by_id == request.user.pk:
        raise PermissionDenied("You carried this action out; another approver must review it.")
    form = BreakGlassReviewForm(request.POST)
    if not form.is_valid():
        return _queue_page(request, review_forms={req.pk: form}, status=400)
    try:
        remediation_services.remediation_request_review(
            actor=request.user, request_id=req.pk, note=form.cleaned_data["note"]
        )
        messages.success(request, f"Break-glass action #{req.pk} reviewed.")
    except remediation_services.SelfApprovalError as error:
        raise PermissionDenied(str(error)) from None
    except remediation_services.RemediationError as error:
        messages.error(request, str(error))
    return client_redirect(request, reverse("oversight-break-glass"))
