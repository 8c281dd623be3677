"""Directory and policy (design §5 page 6): groups, their members and the blocked-sender policies,
read-only. The message detail page links to the policies with ?sender=<address> to answer "why
was this delivered or blocked"."""

from urllib.parse import urlencode

from django.urls import reverse
from django.views.decorators.http import require_GET

from investigations.core.roles import capability_required
from investigations.tools import forms
from investigations.tools import services as tool_services
from investigations.tools.views import query_with, render_page, track_trace_url


@capability_required("investigate")
@require_GET
def groups(request):
    form = forms.GroupSearchForm(request.GET)
    page = problem = None
    if form.is_valid():
        data = form.cleaned_data
        page, problem = tool_services.group_search(
            actor=request.user, query=data["query"], source=data["source"] or "cloud", page_token=data["page"]
        )
    rows = []
    for group in page.items if page else []:
        rows.append(
            {
                "group": group,
                "members_url": reverse("directory-group-members")
                + "?"
                + urlencode({"id": group.id, "name": group.name}),
            }
        )
    context = {
        "form": form,
        "rows": rows,
        "page": page,
        "problem": problem,
        "next_query": query_with(request, page=page.next_token) if page and page.next_token else "",
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
    }
    return render_page(request, "directory/groups.html", "results", context)


@capability_required("investigate")
@require_GET
def group_members(request):
    form = forms.GroupMembersForm(request.GET)
    page = problem = None
    if form.is_valid():
        page, problem = tool_services.group_members(
            actor=request.user, group_id=form.cleaned_data["id"], page_token=form.cleaned_data["page"]
        )
    rows = [
        {
            "member": m,
            "policies_url": reverse("directory-policies") + "?" + urlencode({"sender": m.email_address or m.domain}),
            "awareness_url": (
                reverse("awareness-user") + "?" + urlencode({"email": m.email_address})
                if m.email_address and m.internal
                else ""
            ),
            "messages_url": track_trace_url(recipient=m.email_address, to=m.email_address, window="30d")
            if m.email_address and m.internal
            else "",
        }
        for m in (page.items if page else [])
    ]
    context = {
        "form": form,
        "name": form.cleaned_data.get("name", "") if form.is_valid() else "",
        "rows": rows,
        "page": page,
        "problem": problem,
        "next_query": query_with(request, page=page.next_token) if page and page.next_token else "",
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
    }
    return render_page(request, "directory/members.html", "results", context)


@capability_required("investigate")
@require_GET
def policies(request):
    form = forms.PolicyForm(request.GET)
    rows = problem = group_problem = None
    sender = ""
    if form.is_valid():
        sender = form.cleaned_data["sender"]
        rows, problem, group_problem = tool_services.blocked_sender_policies(actor=request.user, sender=sender)
        for row in rows:
            party = row.policy.from_
            row.group_url = (
                reverse("directory-group-members") + "?" + urlencode({"id": party.value, "name": row.group_name})
                if party.type == "profile_group" and party.value
                else ""
            )
    context = {
        "form": form,
        "sender": sender,
        "rows": rows,
        "problem": problem,
        "group_problem": group_problem,
        "applying": sum(1 for r in rows or [] if r.applies),
        "sender_messages_url": track_trace_url(sender=sender, window="30d") if sender else "",
        "rejections_url": reverse("tools-rejections")
        + "?"
        + urlencode({"window": "7d", "search_field": "from", "value": sender})
        if sender
        else "",
    }
    return render_page(request, "directory/policies.html", "results", context)
