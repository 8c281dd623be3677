"""Response-action pages: the kind picker and each kind's request form, the request list, the
request page (the kind's preview, the items' outcomes, the approvals, undo, break-glass, the live
timeline), the approval queue and the decision form.

Thin views: authorise, call a selector or a service, pick a template or a "page.html#partial".
The requester never decides their own request: the decision view refuses it before anything else,
the service refuses it again, and a CHECK constraint refuses it in the database."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from investigations.accounts import stepup
from investigations.core.htmx import client_redirect, render_page
from investigations.core.http import found_or_404
from investigations.core.links import with_query
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.models import RemediationRequest
from investigations.remediation import selectors, services
from investigations.remediation.forms import (
    BreakGlassForm,
    CancelForm,
    DecisionForm,
    RemediationFilterForm,
)
from investigations.remediation.kinds import KINDS

routes = Routes()

PREFILL = {"message_id": "message_id", "file_hash": "hash", "url": "url"}
# What the remediation form is opened with from other pages (without ?kind=).
REMEDIATION_PREFILL = (*PREFILL, "from", "to", "restore_of")


def _get_request(request_id):
    return found_or_404(
        selectors.remediation_request_detail(request_id=request_id), "No remediation request has that number."
    )


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


def _undo_kinds():
    return {kind.undo_kind for kind in KINDS.values() if kind.undo_kind}


def pickable_kinds(user):
    """The kinds `user` may start from the picker. An undo starts from the request it undoes (restore
    stays reachable through the remediation form's own type field)."""
    undo = _undo_kinds()
    return [kind for kind in KINDS.values() if kind.name not in undo and services.may_request(user, kind)]


def _form_class(kind):
    return import_string(kind.form)


def _form_page(request, kind, form, req=None, status=200):
    action = reverse("remediation-edit", args=[req.pk]) if req else reverse("remediation-new")
    if not kind.incident and req is None:
        action = with_query(action, {"kind": kind.name})
    context = {"form": form, "req": req, "kind": kind, "action": action}
    return render(request, "remediation/form.html", context, status=status)


def _picker(request, *, error="", status=200):
    context = {"kinds": pickable_kinds(request.user), "picker_error": error, "req": None, "kind": None}
    return render(request, "remediation/form.html", context, status=status)


def _requested_kind(request):
    """The kind a new request is for: ?kind=, else the remediation form (its own type field, or a
    remediation prefill from another page); None for the picker."""
    name = request.GET.get("kind") or ""
    if request.method == "POST":
        # ?kind=, else a posted kind field naming an item kind, else the remediation form (whose own
        # type field says what is wrong with an unknown kind).
        posted = request.POST.get("kind") or ""
        item_kind = posted in KINDS and not KINDS[posted].incident
        name = name or (posted if item_kind else RemediationRequest.Kind.REMEDIATE)
    elif not name and any(request.GET.get(p) for p in REMEDIATION_PREFILL):
        name = RemediationRequest.Kind.REMEDIATE
    return name


def _values(kind, form):
    if kind.incident:
        return form.cleaned_data
    return {**form.to_values(), "kind": kind.name}


@routes("new/", name="remediation-new", capability="response_actions", methods=["GET", "POST"])
def remediation_new(request):
    name = _requested_kind(request)
    if not name:
        return _picker(request)
    kind = KINDS.get(name)
    if kind is None:
        return _picker(request, error="There is no such kind of request; choose one below.", status=400)
    if not services.may_request(request.user, kind):
        raise PermissionDenied(f"You may not request this: {kind.label}.")
    form_class = _form_class(kind)
    if request.method == "GET":
        initial = _prefill(request.GET) if kind.incident else form_class.initial_from_query(request.GET)
        case = getattr(request, "investigation", None)
        if case is not None:
            # Inside an investigation the request starts with its reason and ticket.
            initial = {"reason": case.reason, "ticket_id": case.ticket_id, **{k: v for k, v in initial.items() if v}}
        return _form_page(request, kind, form_class(initial=initial))
    form = form_class(request.POST)
    if not form.is_valid():
        return _form_page(request, kind, form, status=400)
    values = _values(kind, form)
    if kind.incident and not services.may_request(request.user, KINDS[values.get("kind") or kind.name]):
        raise PermissionDenied("You may not request this.")
    try:
        req = services.remediation_request_create(actor=request.user, values=values)
    except services.RemediationError as error:
        form.add_error(None, str(error))
        return _form_page(request, kind, form, status=400)
    services.remediation_request_preview(actor=request.user, request_id=req.pk)
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


def _form_initial(req):
    fmt = "%Y-%m-%dT%H:%M"
    initial = {name: getattr(req, name) for name in services.EDITABLE_FIELDS if name not in ("restore_of", "params")}
    initial["restore_of"] = req.restore_of_id
    initial["start"] = timezone.localtime(req.start).strftime(fmt) if req.start else ""
    initial["end"] = timezone.localtime(req.end).strftime(fmt) if req.end else ""
    return initial


def _kind_initial(form_class, req):
    """A kind form's values for changing `req`: the form's own initial_from_request when it has one,
    else the stored params (a list shown one per line), with the reason and the ticket."""
    if hasattr(form_class, "initial_from_request"):
        return form_class.initial_from_request(req)
    initial = {
        key: "\n".join(str(v) for v in value) if isinstance(value, list) else value
        for key, value in (req.params or {}).items()
    }
    initial.update(reason=req.reason, ticket_id=req.ticket_id)
    return initial


@routes("<int:request_id>/edit/", name="remediation-edit", capability="response_actions", methods=["GET", "POST"])
def remediation_edit(request, request_id):
    req = _get_request(request_id)
    if req.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the requester can change a request.")
    kind = KINDS[req.kind]
    if not kind.incident and req.restore_of_id:
        messages.error(request, "An undo acts on what its request created; cancel it rather than change it.")
        return redirect("remediation-detail", request_id)
    if req.state not in (RemediationRequest.State.DRAFT, RemediationRequest.State.PENDING_APPROVAL):
        messages.error(request, "This request can no longer be changed.")
        return redirect("remediation-detail", request_id)
    form_class = _form_class(kind)
    if request.method == "GET":
        initial = _form_initial(req) if kind.incident else _kind_initial(form_class, req)
        return _form_page(request, kind, form_class(initial=initial), req=req)
    form = form_class(request.POST)
    if not form.is_valid():
        return _form_page(request, kind, form, req=req, status=400)
    try:
        services.remediation_request_edit(actor=request.user, request_id=req.pk, values=_values(kind, form))
        services.remediation_request_preview(actor=request.user, request_id=req.pk)
    except services.RemediationError as error:
        messages.error(request, str(error))
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


@routes("", name="remediation-list", capability="response_actions", methods=["GET"])
def remediation_list(request):
    form = RemediationFilterForm(request.GET)
    rows = selectors.remediation_requests(**form.cleaned_data) if form.is_valid() else []
    context = {"form": form, "rows": rows}
    status = 200 if form.is_valid() else 400
    return render_page(request, "remediation/list.html", context, partial={"remediation-rows": "rows"}, status=status)


def _undo_offer(user, req, kind):
    """Whether the request page offers an undo: the kind has one, its outcome can be undone, nobody has
    asked for one yet and the user may request it. Remediate keeps its own restore form."""
    if not kind.undo_kind or kind.incident or not services.remediation_undoable(req):
        return False
    return services.may_request(user, KINDS[kind.undo_kind]) and not services.remediation_undo_open(req).exists()


def _detail_context(request, req, *, break_glass_form=None):
    user = request.user
    kind = KINDS[req.kind]
    is_requester = req.requested_by_id == user.pk
    can_decide = services.may_decide(user, req) and not is_requester
    can_break_glass = (
        kind.break_glass
        and is_requester
        and user_can(user, "break_glass")
        and req.state == RemediationRequest.State.DRAFT
        and req.previewed_at is not None
    )
    return {
        "req": req,
        "kind": kind,
        "items": selectors.remediation_items(request=req),
        "steps": selectors.remediation_steps(request=req),
        "restores": selectors.remediation_restores(request=req),
        "is_requester": is_requester,
        "can_decide": can_decide,
        "is_first_approver": req.first_approved_by_id is not None and req.first_approved_by_id == user.pk,
        "can_undo": _undo_offer(user, req, kind),
        "undo_kind": KINDS.get(kind.undo_kind),
        "can_break_glass": can_break_glass,
        "break_glass_form": break_glass_form or BreakGlassForm(initial={"version": req.version}),
        # What the break-glass form asks for as proof (the decide page asks with its own next page).
        "step_up": stepup.step_up_context(request, next_url=reverse("remediation-detail", args=[req.pk]))
        if can_break_glass
        else None,
        "cancel_form": CancelForm(),
    }


@routes("<int:request_id>/", name="remediation-detail", capability="response_actions", methods=["GET"])
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


@routes("<int:request_id>/preview/", name="remediation-preview", capability="response_actions", methods=["POST"])
def remediation_preview(request, request_id):
    return _requester_action(request, request_id, services.remediation_request_preview)


@routes("<int:request_id>/submit/", name="remediation-submit", capability="response_actions", methods=["POST"])
def remediation_submit(request, request_id):
    return _requester_action(request, request_id, services.remediation_request_submit)


@routes("<int:request_id>/cancel/", name="remediation-cancel", capability="response_actions", methods=["POST"])
def remediation_cancel(request, request_id):
    form = CancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _requester_action(request, request_id, services.remediation_request_cancel, reason=reason)


@routes("<int:request_id>/undo/", name="remediation-undo", capability="response_actions", methods=["POST"])
def remediation_undo(request, request_id):
    """A draft that undoes this request (its kind's undo kind), previewed, for the user to submit."""
    req = _get_request(request_id)
    kind = KINDS[req.kind]
    if not kind.undo_kind or not services.may_request(request.user, KINDS[kind.undo_kind]):
        raise PermissionDenied("You may not undo this request.")
    try:
        undo = services.remediation_request_undo(actor=request.user, request_id=req.pk)
        services.remediation_request_preview(actor=request.user, request_id=undo.pk)
    except services.RemediationError as error:
        messages.error(request, str(error))
        return client_redirect(request, reverse("remediation-detail", args=[req.pk]))
    messages.success(request, f"Undo request #{undo.pk} drafted; check its preview and submit it.")
    return client_redirect(request, reverse("remediation-detail", args=[undo.pk]))


@routes("<int:request_id>/break-glass/", name="remediation-break-glass", capability="break_glass", methods=["POST"])
def remediation_break_glass(request, request_id):
    """An admin carries out their own previewed draft alone, with a reason and a fresh sign-in."""
    req = _get_request(request_id)
    if req.requested_by_id != request.user.pk:
        raise PermissionDenied("Only the admin who drafted it can carry it out alone.")
    form = BreakGlassForm(request.POST)
    if not form.is_valid() or not stepup.proof_confirmed(request, form):
        context = _detail_context(request, req, break_glass_form=form)
        # The form sits outside the live partial (which refreshes while the admin types): the whole page.
        return render(request, "remediation/detail.html", context, status=400)
    try:
        services.remediation_request_break_glass(
            actor=request.user,
            request_id=req.pk,
            reason=form.cleaned_data["reason"],
            authenticated_at=stepup.proof_at(request),
            proof=stepup.step_up_proof(request, with_time=False),
            version=form.cleaned_data["version"],
        )
        messages.success(request, f"Request #{req.pk} is being carried out; an approver will review it.")
    except services.RemediationError as error:
        messages.error(request, str(error))
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))


@routes("approvals/", name="remediation-approvals", capability="decide", methods=["GET"])
def remediation_approvals(request):
    now = timezone.now()
    admin_only = not user_can(request.user, "approve")
    queue = selectors.remediation_approval_queue(admin_only=admin_only)
    rows = [(req, now - (req.submitted_at or req.created_at)) for req in queue]
    return render_page(request, "remediation/approvals.html", {"rows": rows}, partial="queue")


def _decide_page(request, req, form, *, status=200):
    now = timezone.now()
    context = {
        **_detail_context(request, req),
        "form": form,
        "step_up": stepup.step_up_context(request, next_url=reverse("remediation-decide", args=[req.pk])),
        "age": now - (req.submitted_at or req.created_at),
    }
    # htmx swaps 200 answers only: its partial answers 200, and the form with its errors replaces itself.
    return render_page(request, "remediation/decide.html", context, partial="decision", status=status)


def _record_decision(request, req, data):
    # Approve and reject take the same checks, the page's version included: a decision on a request
    # that changed since the approver opened it is refused either way.
    decide = (
        services.remediation_request_approve if data["decision"] == "approve" else services.remediation_request_reject
    )
    try:
        before = req.first_approved_by_id
        req = decide(
            actor=request.user,
            request_id=req.pk,
            reason=data["reason"],
            authenticated_at=stepup.proof_at(request),
            proof=stepup.step_up_proof(request, with_time=False),
            version=data["version"],
        )
        if data["decision"] == "approve" and before is None and req.first_approved_by_id is not None:
            messages.success(request, f"First approval of request #{req.pk} given; a second approver must approve.")
        elif data["decision"] == "approve":
            messages.success(request, f"Request #{req.pk} approved; the worker will carry it out.")
        else:
            messages.success(request, f"Request #{req.pk} rejected.")
    except services.SelfApprovalError as error:
        raise PermissionDenied(str(error)) from None
    except services.RemediationError as error:
        messages.error(request, str(error))


@routes("<int:request_id>/decide/", name="remediation-decide", capability="decide", methods=["GET", "POST"])
def remediation_decide(request, request_id):
    req = _get_request(request_id)
    if req.requested_by_id == request.user.pk:
        if request.method == "POST":
            services.remediation_self_decision_refused(actor=request.user, request_id=req.pk)
        raise PermissionDenied("You requested this; another approver must decide it.")
    if not services.may_decide(request.user, req):
        raise PermissionDenied("An approver decides this request; the approval rules do not ask for an admin.")
    if request.method == "GET":
        return _decide_page(request, req, DecisionForm(initial={"version": req.version}))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _decide_page(request, req, form, status=400)
    if not stepup.proof_confirmed(request, form):
        return _decide_page(request, req, form, status=400)
    _record_decision(request, req, form.cleaned_data)
    return client_redirect(request, reverse("remediation-detail", args=[req.pk]))
