from django.http import Http404
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from investigations.core.links import portal_url
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.entities import services
from investigations.entities.forms import EntityReasonForm
from investigations.entities.selectors import ENTITY_KINDS, clean_entity

routes = Routes()


def _evidence_url():
    # The investigations feature may not be installed alongside; the page then offers no "add".
    try:
        return reverse("case-evidence-add")
    except NoReverseMatch:
        return ""


def _actions(request, kind, value, domain):
    """The actions that apply to this entity, each only for who may take it."""
    can_block = user_can(request.user, "request_block")
    actions = []
    if can_block and kind == "sender":
        actions.append(
            (
                "Block sender…",
                portal_url("remediation-new", kind="block_sender", value=value, target_type="email_address"),
            )
        )
    if can_block and domain and kind in ("sender", "domain"):
        actions.append(
            (
                "Block domain…",
                portal_url("remediation-new", kind="block_sender", value=domain, target_type="email_domain"),
            )
        )
    if can_block and kind == "url":
        actions.append(("Block URL…", portal_url("remediation-new", kind="manage_url", url=value, action="block")))
    if user_can(request.user, "request_remediation") and kind == "hash":
        actions.append(("Remediate by hash…", portal_url("remediation-new", file_hash=value)))
    return actions


@routes("<str:kind>/<path:value>/", name="entity", capability="investigate", methods=["GET"])
def entity(request, kind, value):
    cleaned = clean_entity(kind, value)
    if cleaned is None:
        raise Http404("No such entity." if kind in ENTITY_KINDS else "No such kind of entity.")
    case = getattr(request, "investigation", None)
    asked = case is not None or "reason" in request.GET
    form = EntityReasonForm(request.GET if asked else None, investigation=case)
    context = {"kind": kind, "value": cleaned, "form": form, "case": case, "page": None}
    if form.is_bound and form.is_valid():
        page = services.entity_view(actor=request.user, kind=kind, value=cleaned, reason=form.full_reason())
        context["page"] = page
        context["actions"] = _actions(request, kind, cleaned, page.domain)
        context["evidence_url"] = _evidence_url() if user_can(request.user, "work_cases") else ""
    return render(request, "entities/entity.html", context)
