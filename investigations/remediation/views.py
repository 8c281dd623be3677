"""Remediation pages: the request form with its dry-run preview, the request
list, the request page with its live timeline, the approval queue and the decision form.

Thin views: authorise, call a selector or a service, pick a template or a "page.html#partial".
The requester never decides their own request: the decision view refuses it before anything else,
the service refuses it again, and a CHECK constraint refuses it in the database."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from investigations.accounts import services as accounts
from investigations.core.htmx import client_redirect, render_page
from investigations.core.roles import capability_required, user_can
from investigations.models import RemediationRequest
from investigations.remediation import selectors, services
from investigations.remediation.forms import CancelForm, DecisionForm, RemediationFilterForm, RemediationRequestForm

PREFILL = {"message_id": "message_id", "file_hash": "hash", "url": "url"}


def _get_request(request_id):
    req = selectors.remediation_request_detail(request_id=request_id)
    if req is None:
        raise Http404("No remediation request has that number.")
    return req


def _prefill(params):
    """GET parameters from other pages (message detail, hash and URL tools) to start a request."""
    initial = {"kind": params.get("kind") or RemediationRequest.Kind.REMEDIATE}
    for name, by in PREFILL.items():
        if params.get(name):
            initial["search_by"], initial["search_value"] = by, params[name][:2048]
            break
    for param, field in (("from", "sender"), ("to", "recipient"), ("restore_of", "restore_of")):
        if params.get(param):
            initial[field] = params[param][:320]
    return initial


@capability_required("request_remediation")
@require_http_methods(["GET", "POST"])
def remediation_new(request):
    if request.method == "GET":
        form = RemediationRequestForm(initial=_prefill(request.GET))
        return render(request, "remediation/form.html", {"form": form, "req": None})
    form = RemediationRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "remediation/form.html", {"form": form, "req": None}, status=400)
    req = services.remediation_request_create(actor=request.user, values=form.cleaned_data)
    services.remediation_request_preview(actor=request.user, request_id=req.pk)
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


def _form_initial(req):
    fmt = "%Y-%m-%dT%H:%M"
    initial = {name: getattr(req, name) for name in services.EDITABLE_FIELDS if name != "restore_of"}
    initial["restore_of"] = req.restore_of_id
    initial["start"] = timezone.localtime(req.start).strftime(fmt) if req.start else ""
    initial["end"] = timezone.localtime(req.end).strftime(fmt) if req.end else ""
    return initial


@capability_required("request_remediation")
@require_http_methods(["GET", "POST"])
def remediation_edit(request, request_id):
    req = _get_request(request_id)
    if req.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the requester can change a request.")
    if req.state not in (RemediationRequest.State.DRAFT, RemediationRequest.State.PENDING_APPROVAL):
        messages.error(request, "This request can no longer be changed.")
        return redirect("remediation-detail", request_id)
    if request.method == "GET":
        form = RemediationRequestForm(initial=_form_initial(req))
        return render(request, "remediation/form.html", {"form": form, "req": req})
    form = RemediationRequestForm(request.POST)
    if not form.is_valid():
        return render(request, "remediation/form.html", {"form": form, "req": req}, status=400)
    try:
        services.remediation_request_edit(actor=request.user, request_id=req.pk, values=form.cleaned_data)
        services.remediation_request_preview(actor=request.user, request_id=req.pk)
    except services.RemediationError as error:
        messages.error(request, str(error))
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


@capability_required("request_remediation")
@require_GET
def remediation_list(request):
    form = RemediationFilterForm(request.GET)
    rows = selectors.remediation_requests(**form.cleaned_data) if form.is_valid() else []
    context = {"form": form, "rows": rows}
    status = 200 if form.is_valid() else 400
    return render_page(request, "remediation/list.html", context, partial={"remediation-rows": "rows"}, status=status)


def _detail_context(request, req):
    return {
        "req": req,
        "steps": selectors.remediation_steps(request=req),
        "restores": selectors.remediation_restores(request=req),
        "is_requester": req.requested_by_id == request.user.pk,
        "can_decide": user_can(request.user, "approve") and req.requested_by_id != request.user.pk,
        "cancel_form": CancelForm(),
    }


@capability_required("request_remediation")
@require_GET
def remediation_detail(request, request_id):
    req = _get_request(request_id)
    return render_page(request, "remediation/detail.html", _detail_context(request, req), partial="live")


def _requester_action(request, request_id, action, **kwargs):
    req = _get_request(request_id)
    if req.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the requester can do this.")
    try:
        action(actor=request.user, request_id=req.pk, **kwargs)
    except services.RemediationError as error:
        messages.error(request, str(error))
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


@capability_required("request_remediation")
@require_POST
def remediation_preview(request, request_id):
    return _requester_action(request, request_id, services.remediation_request_preview)


@capability_required("request_remediation")
@require_POST
def remediation_submit(request, request_id):
    return _requester_action(request, request_id, services.remediation_request_submit)


@capability_required("request_remediation")
@require_POST
def remediation_cancel(request, request_id):
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _requester_action(request, request_id, services.remediation_request_cancel, reason=reason)


@capability_required("approve")
@require_GET
def remediation_approvals(request):
    now = timezone.now()
    rows = [(req, now - (req.submitted_at or req.created_at)) for req in selectors.remediation_approval_queue()]
    return render_page(request, "remediation/approvals.html", {"rows": rows}, partial="queue")


def fresh_authentication_at(request):
    """When this session last proved who is signed in: its sign-in or the password typed again in
    it. Not user.last_login: a sign-in elsewhere moves that, and proves nothing about this session."""
    return accounts.session_proof_at(request.session)


def _is_fresh(request, now):
    at = fresh_authentication_at(request)
    return at is not None and now - at <= timedelta(seconds=settings.FRESH_AUTH_MAX_AGE_SECONDS)


def _locked_message(until):
    return (
        "Too many wrong passwords: your decisions are locked until "
        f"{timezone.localtime(until):%H:%M %Z} (other approvers are not affected)."
    )


def _decide_page(request, req, form, *, status=200, needs_password=None):
    now = timezone.now()
    locked_until = accounts.decisions_locked_until(user=request.user, now=now)
    context = {
        **_detail_context(request, req),
        "form": form,
        "needs_password": (not _is_fresh(request, now)) if needs_password is None else needs_password,
        "locked": _locked_message(locked_until) if locked_until else "",
        "age": now - (req.submitted_at or req.created_at),
    }
    # htmx swaps 200 answers only: its partial answers 200, and the form with its errors replaces itself.
    return render_page(request, "remediation/decide.html", context, partial="decision", status=status)


def _password_confirmed(request, form):
    """A decision needs this session's proof younger than FRESH_AUTH_MAX_AGE_SECONDS, or the password
    again (which then becomes this session's proof), and no lock from too many wrong passwords.
    False puts the reason on the form."""
    now = timezone.now()
    locked_until = accounts.decisions_locked_until(user=request.user, now=now)
    if locked_until is not None:
        form.add_error(None, _locked_message(locked_until))
        return False
    if _is_fresh(request, now):
        return True
    password = form.cleaned_data["password"]
    if not password:
        form.add_error("password", "Enter your password again to decide: your sign-in is more than 10 minutes old.")
        return False
    # Checked against this user only, not through the sign-in backends: their lockout counts by
    # address too, and would lock out every colleague behind the same proxy.
    outcome = accounts.user_reauthenticate(actor=request.user, password=password, now=now)
    if outcome.locked:
        form.add_error(None, _locked_message(outcome.locked_until))
        return False
    if not outcome.ok:
        form.add_error("password", "That password is not correct.")
        return False
    accounts.session_proof_record(session=request.session, at=now)
    return True


def _record_decision(request, req, data):
    # Approve and reject take the same checks, the page's version included: a decision on a request
    # that changed since the approver opened it is refused either way.
    decide = (
        services.remediation_request_approve if data["decision"] == "approve" else services.remediation_request_reject
    )
    try:
        decide(
            actor=request.user,
            request_id=req.pk,
            reason=data["reason"],
            authenticated_at=fresh_authentication_at(request),
            version=data["version"],
        )
        if data["decision"] == "approve":
            messages.success(request, f"Request #{req.pk} approved; the worker will carry it out.")
        else:
            messages.success(request, f"Request #{req.pk} rejected.")
    except services.SelfApprovalError as error:
        raise PermissionDenied(str(error)) from None
    except services.RemediationError as error:
        messages.error(request, str(error))


@capability_required("approve")
@require_http_methods(["GET", "POST"])
def remediation_decide(request, request_id):
    req = _get_request(request_id)
    if req.requested_by_id == request.user.pk:
        if request.method == "POST":
            services.remediation_self_decision_refused(actor=request.user, request_id=req.pk)
        raise PermissionDenied("You requested this; another approver must decide it.")
    if request.method == "GET":
        return _decide_page(request, req, DecisionForm(initial={"version": req.version}))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _decide_page(request, req, form, status=400)
    if not _password_confirmed(request, form):
        return _decide_page(request, req, form, status=400, needs_password=True)
    _record_decision(request, req, form.cleaned_data)
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))
