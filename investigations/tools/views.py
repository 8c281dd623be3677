"""Threat tools: hash search, URL decode, remediation incidents, the TTP and gateway logs, managed URLs
and web security events.

Thin views: validate the form, call a service or selector, render the page or its htmx partial.
Invalid input answers 200 with the errors next to the fields (htmx does not swap 4xx answers)."""

from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from investigations.core.csv import csv_response
from investigations.core.htmx import render_page
from investigations.core.links import page_url, pager_links, portal_url
from investigations.core.problems import problem_status
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.tools import forms
from investigations.tools import selectors as tool_selectors
from investigations.tools import services as tool_services
from investigations.tools.logs import LOG_KINDS
from investigations.tools.presenters import (
    hash_search_url,
    held_rows,
    log_rows,
    message_detail_url,
    track_trace_url,
)
from investigations.tools.web_security import web_security_export as web_security_export_start
from investigations.tools.web_security import web_security_search

routes = Routes()

LOG_FORMS = {
    "url-logs": forms.UrlLogForm,
    "attachment-logs": forms.AttachmentLogForm,
    "impersonation-logs": forms.ImpersonationLogForm,
    "held": forms.HeldForm,
    "release-logs": forms.ReleaseLogForm,
    "rejections": forms.RejectionForm,
    "managed-urls": forms.ManagedUrlForm,
    "incidents": forms.IncidentForm,
}

TOOL_PAGES = [
    ("tools-hash-search", "Hash search", "Were these files seen in the last year, and by whom?"),
    ("tools-url-decode", "URL decode", "What does a Mimecast-rewritten link really point to?"),
    *[(f"tools-{slug}", kind.title, kind.help) for slug, kind in LOG_KINDS.items()],
    ("tools-web-security", "Web security events", "Who browsed where, from the web security event stream."),
]


def _log_form(request, kind):
    spec = LOG_KINDS.get(kind)
    if spec is None:
        raise Http404("No such log.")
    return spec, LOG_FORMS[kind](request.GET)


@routes("", name="tools", capability="investigate", methods=["GET"])
def tools_index(request):
    pages = [{"url": reverse(name), "title": title, "help": text} for name, title, text in TOOL_PAGES]
    return render(request, "tools/index.html", {"pages": pages})


def log_page(request, kind):
    context = _log_context(request, kind)
    # Every row's selection value, for "Remediate all N" (and the lists that select URLs).
    context["every"] = [row["pick"]["value"] for row in context["rows"] if row["pick"]]
    acting = "request_block" if kind == "url-logs" else "request_remediation"
    context["selectable"] = bool(context["every"]) and (
        user_can(request.user, acting) or user_can(request.user, "work_cases")
    )
    return render_page(request, "tools/log.html", context, partial="results")


def held_queue(request, kind="held"):
    """The hold queue: the held-message log with a checkbox a row, whose selection opens a release or
    reject request. "Select all" is a link (select=all) rather than a script: the CSP allows none inline."""
    context = _log_context(request, "held")
    context["rows"] = held_rows(context["kind"], context["result"])
    context["select_all"] = request.GET.get("select") == "all"
    context["select_all_url"] = page_url(request, select="all")
    context["select_none_url"] = page_url(request, select="")
    context["title"] = "Hold queue"
    return render_page(request, "tools/held.html", context, partial="results")


def _log_context(request, kind):
    spec, form = _log_form(request, kind)
    result = None
    if form.is_valid():
        criteria = form.cleaned_data
        result = tool_services.log_search(
            actor=request.user, kind=spec, criteria=criteria, page_token=criteria.get("page") or None
        )
    # A filtered scan may have read several pages: "previous" would go back one Mimecast page only.
    previous = result.previous_token if result and not result.scanned_pages > 1 else ""
    context = {
        "kind": spec,
        "title": spec.title,
        "form": form,
        "result": result,
        "rows": log_rows(spec, result),
        "headers": [c.header for c in spec.columns],
        "has_message": spec.message is not None,
        "page_url": reverse(f"tools-{kind}"),
        "export_url": page_url(request, path=reverse(f"tools-{kind}-export"), page=""),
        **pager_links(request, result.next_token if result else "", previous),
    }
    return context


def log_export(request, kind):
    spec, form = _log_form(request, kind)
    if not form.is_valid():
        return log_page(request, kind=kind)
    export, problem = tool_services.log_export(actor=request.user, kind=spec, criteria=form.cleaned_data)
    if problem:
        context = {"title": f"Export of {spec.title}", "problem": problem, "back": reverse(f"tools-{kind}")}
        return render(request, "tools/export_failed.html", context, status=problem_status(problem))
    return csv_response(export)


# Incident ids go in the query string: they are opaque tokens Mimecast may spell with any character.
@routes("incident/", name="tools-incident", capability="investigate", methods=["GET"])
def incident_detail(request):
    form = forms.IncidentLookupForm(request.GET)
    incident = problem = None
    if form.is_valid():
        incident, problem = tool_services.incident_get(actor=request.user, incident_id=form.cleaned_data["id"])
    context = {"title": "Remediation incident", "form": form, "incident": incident, "problem": problem}
    if incident is not None:
        criteria = incident.search_criteria
        context["hash_url"] = hash_search_url(criteria.file_hash) if criteria.file_hash else ""
        context["message_links"] = [(m, message_detail_url(m)) for m in criteria.message_ids]
        context["message_id_url"] = track_trace_url(message_id=criteria.message_id) if criteria.message_id else ""
    return render_page(request, "tools/incident.html", context, partial="incident")


def _submitted(request, field):
    """A tool form is posted, or linked to with its field in the query string (a pivot)."""
    return request.POST if request.method == "POST" else (request.GET if field in request.GET else None)


@routes("hash/", name="tools-hash-search", capability="investigate", methods=["GET", "POST"])
def hash_search(request):
    data = _submitted(request, "hashes")
    form = forms.HashSearchForm(data)
    search = None
    if data is not None and form.is_valid():
        parsed = form.cleaned_data["hashes"]
        search = tool_services.hash_search(actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"])
        for row in search.rows:
            detected = row.status == "detected" and row.kind == "SHA-256"
            row.attachment_logs_url = portal_url("tools-attachment-logs", window="30d", q=row.hash) if detected else ""
    context = {"title": "Hash search", "form": form, "search": search}
    return render_page(request, "tools/hash_search.html", context, partial="results")


@routes("decode/", name="tools-url-decode", capability="investigate", methods=["GET", "POST"])
def url_decode(request):
    data = _submitted(request, "urls")
    form = forms.UrlDecodeForm(data)
    rows = problem = None
    if data is not None and form.is_valid():
        parsed = form.cleaned_data["urls"]
        rows, problem = tool_services.url_decode(actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"])
        for row in rows:
            row.url_logs_url = portal_url("tools-url-logs", window="30d", q=row.decoded) if row.decoded else ""
    context = {"title": "URL decode", "form": form, "rows": rows, "problem": problem}
    if rows is not None:
        context["decoded_count"] = sum(1 for r in rows if r.decoded)
    return render_page(request, "tools/url_decode.html", context, partial="results")


@routes("web-security/", name="tools-web-security", capability="investigate", methods=["GET"])
def web_security(request):
    form = forms.WebSecurityForm(request.GET)
    events, cursor = None, ""
    if form.is_valid():
        events, cursor = web_security_search(
            actor=request.user, criteria=form.cleaned_data, after=form.cleaned_data.get("page") or ""
        )
    context = {
        "title": "Web security events",
        "form": form,
        "events": events,
        "status": tool_selectors.web_security_status(),
        "export_url": page_url(request, path=reverse("tools-web-security-export"), page=""),
        **pager_links(request, cursor),
    }
    return render_page(request, "tools/web_security.html", context, partial="results")


@routes("web-security/export.csv", name="tools-web-security-export", capability="investigate", methods=["GET"])
def web_security_export(request):
    form = forms.WebSecurityForm(request.GET)
    if not form.is_valid():
        return web_security(request)
    return csv_response(web_security_export_start(actor=request.user, criteria=form.cleaned_data))


# Each log kind has its page and its CSV export, the kind passed to the view. The held-message log is
# the hold queue, where held messages are picked for release or reject.
for _slug in LOG_KINDS:
    _read = {"capability": "investigate", "methods": ["GET"], "kwargs": {"kind": _slug}}
    routes(f"{_slug}/", name=f"tools-{_slug}", **_read)(held_queue if _slug == "held" else log_page)
    routes(f"{_slug}/export.csv", name=f"tools-{_slug}-export", **_read)(log_export)
