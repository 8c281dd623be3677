"""Directory and policy: groups, their members and the blocked-sender policies, read-only. The message
detail page links to the policies with ?sender=<address> to answer "why was this delivered or blocked".

Every page here has one shape: a GET form, one service call when it is valid, the page or its htmx
partial (``form_page``)."""

from investigations.core.htmx import render_page
from investigations.core.links import pager_links, portal_url
from investigations.core.routes import Routes
from investigations.directory import services
from investigations.tools import forms
from investigations.tools.presenters import track_trace_url

routes = Routes()


def form_page(request, form_class, template, partial, read, present):
    """Validate the GET form; when valid, ``read(data)`` asks the service; ``present(form, result)``
    (result None when the form is not valid) gives the template its context."""
    form = form_class(request.GET)
    result = read(form.cleaned_data) if form.is_valid() else None
    return render_page(request, template, {"form": form, **present(form, result)}, partial=partial)


def _mailbox_links(address, internal):
    """Pivots from a directory address that is a mailbox of ours."""
    if not (address and internal):
        return {"awareness_url": "", "messages_url": ""}
    return {
        "awareness_url": portal_url("awareness-user", email=address),
        "messages_url": track_trace_url(recipient=address, to=address, window="30d"),
    }


def _paged(request, page, problem):
    return {"page": page, "problem": problem, **pager_links(request, page.next_token if page else "")}


@routes("directory/", name="directory-groups", capability="investigate", methods=["GET"])
def groups(request):
    def read(data):
        source = data["source"] or "cloud"
        return services.group_search(actor=request.user, query=data["query"], source=source, page_token=data["page"])

    def present(form, result):
        page, problem = result or (None, None)
        rows = [
            {"group": g, "members_url": portal_url("directory-group-members", id=g.id, name=g.name)}
            for g in (page.items if page else [])
        ]
        return {"rows": rows, **_paged(request, page, problem)}

    return form_page(request, forms.GroupSearchForm, "directory/groups.html", "results", read, present)


@routes("directory/members/", name="directory-group-members", capability="investigate", methods=["GET"])
def group_members(request):
    def read(data):
        return services.group_members(actor=request.user, group_id=data["id"], page_token=data["page"])

    def present(form, result):
        page, problem = result or (None, None)
        rows = [
            {
                "member": m,
                "policies_url": portal_url("directory-policies", sender=m.email_address or m.domain),
                **_mailbox_links(m.email_address, m.internal),
            }
            for m in (page.items if page else [])
        ]
        name = form.cleaned_data.get("name", "") if result is not None else ""
        return {"name": name, "rows": rows, **_paged(request, page, problem)}

    return form_page(request, forms.GroupMembersForm, "directory/members.html", "results", read, present)


def _policy_links(sender):
    if not sender:
        return {"sender_messages_url": "", "rejections_url": ""}
    return {
        "sender_messages_url": track_trace_url(sender=sender, window="30d"),
        "rejections_url": portal_url("tools-rejections", window="7d", search_field="from", value=sender),
    }


def _group_url(party, name):
    if party.type != "profile_group" or not party.value:
        return ""
    return portal_url("directory-group-members", id=party.value, name=name)


@routes("directory/policies/", name="directory-policies", capability="investigate", methods=["GET"])
def policies(request):
    def read(data):
        return data["sender"], *services.blocked_sender_policies(actor=request.user, sender=data["sender"])

    def present(form, result):
        sender, rows, problem, group_problem = result or ("", None, None, None)
        for row in rows or []:
            row.group_url = _group_url(row.policy.from_, row.group_name)
            row.to_group_url = _group_url(row.policy.to, row.to_group_name)
        applying = sum(1 for r in rows or [] if r.applies)
        # A verdict only from a lookup that worked: a failed read or an unread group leaves it open.
        undecided = sum(1 for r in rows or [] if r.undecided)
        context = {"sender": sender, "rows": rows, "problem": problem, "group_problem": group_problem}
        return {**context, "applying": applying, "undecided": undecided, **_policy_links(sender)}

    return form_page(request, forms.PolicyForm, "directory/policies.html", "results", read, present)
