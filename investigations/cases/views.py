"""Investigation (case) pages: the list, a new case, the case with its evidence, requests and
timeline, its edit form, entering and leaving it, and adding or removing evidence from any page."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from investigations.cases import selectors
from investigations.cases.forms import (
    CaseEditForm,
    CaseFilterForm,
    CaseForm,
    EvidenceAddForm,
    EvidenceRemoveForm,
    TimelineForm,
)
from investigations.cases.services import (
    CaseError,
    case_create,
    case_enter,
    case_leave,
    case_update,
    case_view_record,
    evidence_add,
    evidence_remove,
)
from investigations.core.context import CURRENT_CASE_SESSION_KEY
from investigations.core.htmx import client_redirect, render_page
from investigations.core.links import portal_url, safe_next
from investigations.core.routes import Routes
from investigations.models import Evidence, Investigation

routes = Routes()


def case_or_404(case_id):
    """The case the address names (any page of a case, its exports included), or a 404."""
    case = selectors.case_get(case_id=case_id)
    if case is None:
        raise Http404("No investigation with that number.")
    return case


@routes("", name="case-list", capability="read_cases", methods=["GET"])
def case_list(request):
    form = CaseFilterForm(request.GET)
    cleaned = form.cleaned_data if form.is_valid() else {}
    scope = cleaned.get("scope") or selectors.default_scope(request.user)
    cases = selectors.cases_for_user(user=request.user, status=cleaned.get("status", ""), scope=scope)
    context = {"form": form, "cases": cases, "scope": scope, "status": cleaned.get("status", "")}
    return render_page(request, "cases/list.html", context, partial="cases")


@routes("new/", name="case-new", capability="work_cases", methods=["GET", "POST"])
def case_new(request):
    if request.method == "POST":
        form = CaseForm(request.POST)
        if form.is_valid():
            case = case_create(actor=request.user, values=form.cleaned_data)
            messages.success(request, f"Investigation “{case.title}” opened.")
            return client_redirect(request, reverse("case-detail", args=[case.pk]))
    else:
        form = CaseForm(initial=CaseForm.initial_from_query(request.GET))
    return render_page(request, "cases/form.html", {"form": form, "case": None}, partial="case-form")


@routes("<int:case_id>/", name="case-detail", capability="read_cases", methods=["GET"])
def case_detail(request, case_id):
    case = case_or_404(case_id)
    form = TimelineForm(request.GET)
    before = form.cleaned_data.get("before") if form.is_valid() else None
    events, older = selectors.case_timeline(case=case, before=before)
    context = {
        "case": case,
        "events": events,
        "older_url": portal_url("case-detail", case.pk, before=older) + "#timeline" if older else "",
    }
    if request.htmx and request.htmx.target == "timeline":
        return render_page(request, "cases/detail.html", context, partial="timeline")
    case_view_record(actor=request.user, case=case)
    context.update(
        may_change=selectors.case_may_change(user=request.user, case=case),
        evidence=selectors.evidence_with_state(case=case),
        requests=selectors.case_requests(case=case),
        current=request.session.get(CURRENT_CASE_SESSION_KEY) == case.pk,
        kinds=Evidence.Kind.choices,
    )
    return render_page(request, "cases/detail.html", context, partial={"evidence": "evidence"})


@routes("<int:case_id>/edit/", name="case-edit", capability="work_cases", methods=["GET", "POST"])
def case_edit(request, case_id):
    case = case_or_404(case_id)
    if not selectors.case_may_change(user=request.user, case=case):
        raise PermissionDenied("Only the owner and the members of this investigation may change it.")
    if request.method == "POST":
        form = CaseEditForm(request.POST)
        if form.is_valid():
            _, changed = case_update(actor=request.user, case_id=case.pk, values=form.values())
            messages.success(request, "Investigation saved." if changed else "Nothing changed.")
            return client_redirect(request, reverse("case-detail", args=[case.pk]))
    else:
        initial = {name: getattr(case, name) for name in ("title", "reason", "ticket_id", "status")}
        form = CaseEditForm(initial={**initial, "members": list(case.members.all())})
    return render_page(request, "cases/form.html", {"form": form, "case": case}, partial="case-form")


@routes("<int:case_id>/enter/", name="case-enter", capability="work_cases", methods=["POST"])
def case_enter_view(request, case_id):
    try:
        case = case_enter(actor=request.user, case_id=case_id, session=request.session)
    except Investigation.DoesNotExist:
        raise Http404("No investigation with that number.") from None
    except CaseError as error:
        messages.error(request, str(error))
        return client_redirect(request, reverse("case-detail", args=[case_id]))
    messages.success(request, f"You are working in “{case.title}”: searches use its reason and ticket.")
    default = reverse("case-detail", args=[case.pk])
    return client_redirect(request, safe_next(request, request.POST.get("next", ""), default))


@routes("leave/", name="case-leave", capability="work_cases", methods=["POST"])
def case_leave_view(request):
    case = case_leave(actor=request.user, session=request.session)
    if case is not None:
        messages.info(request, f"You left “{case.title}”: searches ask for a reason again.")
    return client_redirect(request, safe_next(request, request.POST.get("next", ""), reverse("case-list")))


@routes("evidence/add/", name="case-evidence-add", capability="work_cases", methods=["POST"])
def evidence_add_view(request):
    form = EvidenceAddForm(request.POST)
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        return _evidence_answer(request, form, error=" ".join(errors))
    case_id = form.cleaned_data["case"] or request.session.get(CURRENT_CASE_SESSION_KEY)
    if not case_id:
        return _evidence_answer(request, form, error="Open or choose an investigation first, then add evidence to it.")
    data = form.cleaned_data
    try:
        result = evidence_add(
            actor=request.user,
            case_id=case_id,
            kind=data["kind"],
            values=data["values"],
            labels=data["labels"],
            message_ids=data["message_ids"],
            note=data["note"],
        )
    except Investigation.DoesNotExist:
        return _evidence_answer(request, form, error="That investigation does not exist.")
    except CaseError as error:
        return _evidence_answer(request, form, error=str(error), case_id=case_id)
    return _evidence_answer(request, form, result=result, case_id=case_id)


def _evidence_answer(request, form, *, result=None, error="", case_id=None):
    """An htmx request gets the small "added N" partial in place; a plain post goes back where it
    came from (next=) with the same words as a message."""
    text = error or _added_text(result)
    if request.htmx:
        context = {"error": error, "text": text, "case_id": case_id, "result": result}
        return render_page(request, "cases/detail.html", context, partial="evidence-added")
    (messages.error if error or (result and not result.added and result.invalid) else messages.success)(request, text)
    default = reverse("case-detail", args=[case_id]) if case_id else reverse("case-list")
    return client_redirect(request, safe_next(request, form.data.get("next", ""), default))


def _added_text(result):
    parts = [f"Added {result.added} item{'' if result.added == 1 else 's'} to the investigation."]
    if result.duplicates:
        parts.append(f"{result.duplicates} already there.")
    if result.invalid:
        shown = ", ".join(repr(v[:60]) for v in result.invalid[:5])
        more = f" and {len(result.invalid) - 5} more" if len(result.invalid) > 5 else ""
        parts.append(f"Not valid, left out: {shown}{more}.")
    return " ".join(parts)


@routes("evidence/remove/", name="case-evidence-remove", capability="work_cases", methods=["POST"])
def evidence_remove_view(request):
    form = EvidenceRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an item to remove.")
        return client_redirect(request, reverse("case-list"))
    try:
        case = evidence_remove(actor=request.user, evidence_id=form.cleaned_data["evidence"])
    except Evidence.DoesNotExist:
        messages.error(request, "That item is no longer in the investigation.")
        return client_redirect(request, reverse("case-list"))
    messages.success(request, "Item removed from the investigation.")
    return client_redirect(request, reverse("case-detail", args=[case.pk]))
