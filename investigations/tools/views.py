"""Threat tools (design §5 page 5): hash search, URL decode, remediation incidents, the TTP and
gateway logs, managed URLs and web security events.

Thin views: validate the form, call a service or selector, pick the page or its htmx partial.
Invalid input answers 200 with the errors next to the fields (htmx does not swap 4xx answers)."""

from urllib.parse import urlencode

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from investigations.core.links import portal_url
from investigations.core.roles import capability_required
from investigations.tools import forms
from investigations.tools import selectors as tool_selectors
from investigations.tools import services as tool_services
from investigations.tools.services import LOG_KINDS, cell_text
from investigations.tools.web_security import web_security_export as web_security_export_start
from investigations.tools.web_security import web_security_search

# ------------------------------------------------------------------------------- portal links


def message_detail_url(message_id):
    return portal_url("message-detail", message_id) if message_id else ""


def track_trace_url(**query):
    """Track & trace prefilled, e.g. to=<address> or message_id=<internet Message-ID>."""
    return portal_url("track-trace", **{k: v for k, v in query.items() if v})


def hash_search_url(*hashes):
    return reverse("tools-hash-search") + "?" + urlencode({"hashes": "\n".join(hashes)})


def message_link(value, kind):
    """A log row names its message by Mimecast id (opens the detail page) or by internet
    Message-ID (opens track & trace on it, which leads to the detail page)."""
    if not value:
        return ""
    if kind == "mimecast":
        return message_detail_url(value)
    return track_trace_url(message_id=value)


# ------------------------------------------------------------------------------------ helpers

_BAD = {"malicious", "block", "blocked", "hold", "held", "rejected", "unsafe", "bounce", "yes", "error", "failed"}
_GOOD = {"clean", "safe", "allow", "allowed", "released", "permit", "no", "none", "continue"}


def badge(text):
    value = (text or "").lower()
    if value in _BAD:
        return "failure"
    if value in _GOOD:
        return "success"
    return "warn" if value else ""


def render_page(request, template, partial, context):
    return render(request, f"{template}#{partial}" if request.htmx else template, context)


def query_with(request, **changes):
    params = request.GET.copy()
    for key, value in changes.items():
        if value:
            params[key] = value
        else:
            params.pop(key, None)
    return params.urlencode()


def _cells(kind, item):
    cells = []
    for col in kind.columns:
        value = col.get(item)
        text = cell_text(value)
        cell = {"kind": col.kind, "text": text, "value": value, "href": "", "badge": ""}
        if col.kind == "badge":
            cell["badge"] = badge(text)
        elif col.kind == "hash" and text:
            cell["href"] = hash_search_url(text)
        elif col.kind == "code" and kind.slug == "incidents" and col.header == "Code":
            cell["href"] = reverse("tools-incident") + "?" + urlencode({"id": item.id})
        cells.append(cell)
    return cells


def _rows(kind, result):
    if result is None:
        return []
    rows = []
    for item in result.items:
        message_id, id_kind = kind.message(item) if kind.message else ("", "")
        rows.append(
            {"cells": _cells(kind, item), "message_href": message_link(message_id, id_kind), "message_id": message_id}
        )
    return rows


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


# ---------------------------------------------------------------------------------- the pages


@capability_required("investigate")
@require_GET
def tools_index(request):
    pages = [{"url": reverse(name), "title": title, "help": text} for name, title, text in TOOL_PAGES]
    return render(request, "tools/index.html", {"pages": pages})


@capability_required("investigate")
@require_GET
def log_page(request, kind):
    spec = LOG_KINDS.get(kind)
    if spec is None:
        raise Http404("No such log.")
    form = LOG_FORMS[kind](request.GET)
    result = None
    if form.is_valid():
        criteria = form.cleaned_data
        result = tool_services.log_search(
            actor=request.user, kind=spec, criteria=criteria, page_token=criteria.get("page") or None
        )
    context = {
        "kind": spec,
        "form": form,
        "result": result,
        "rows": _rows(spec, result),
        "headers": [c.header for c in spec.columns],
        "has_message": spec.message is not None,
        "page_url": reverse(f"tools-{kind}"),
        "export_url": reverse(f"tools-{kind}-export") + "?" + query_with(request, page=""),
        "next_query": query_with(request, page=result.next_token) if result and result.next_token else "",
        "previous_query": (
            query_with(request, page=result.previous_token)
            if result and result.previous_token and not result.scanned_pages > 1
            else ""
        ),
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
    }
    return render_page(request, "tools/log.html", "results", context)


def _csv_response(export):
    response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


@capability_required("investigate")
@require_GET
def log_export(request, kind):
    spec = LOG_KINDS.get(kind)
    if spec is None:
        raise Http404("No such log.")
    form = LOG_FORMS[kind](request.GET)
    if not form.is_valid():
        return log_page(request, kind=kind)
    export, problem = tool_services.log_export(actor=request.user, kind=spec, criteria=form.cleaned_data)
    if problem:
        context = {"title": f"Export of {spec.title}", "problem": problem, "back": reverse(f"tools-{kind}")}
        return render(request, "tools/export_failed.html", context, status=502)
    return _csv_response(export)


@capability_required("investigate")
@require_GET
def incident_detail(request):
    form = forms.IncidentLookupForm(request.GET)
    incident = problem = None
    if form.is_valid():
        incident, problem = tool_services.incident_get(actor=request.user, incident_id=form.cleaned_data["id"])
    context = {"form": form, "incident": incident, "problem": problem}
    if incident is not None:
        criteria = incident.search_criteria
        context["hash_url"] = hash_search_url(criteria.file_hash) if criteria.file_hash else ""
        context["message_links"] = [(m, message_detail_url(m)) for m in criteria.message_ids]
        context["message_id_url"] = track_trace_url(message_id=criteria.message_id) if criteria.message_id else ""
    return render_page(request, "tools/incident.html", "incident", context)


@capability_required("investigate")
@require_http_methods(["GET", "POST"])
def hash_search(request):
    data = request.POST if request.method == "POST" else (request.GET if "hashes" in request.GET else None)
    form = forms.HashSearchForm(data)
    search = None
    if data is not None and form.is_valid():
        parsed = form.cleaned_data["hashes"]
        search = tool_services.hash_search(actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"])
        for row in search.rows:
            row.attachment_logs_url = (
                reverse("tools-attachment-logs") + "?" + urlencode({"window": "30d", "q": row.hash})
                if row.status == "detected" and row.kind == "SHA-256"
                else ""
            )
    return render_page(request, "tools/hash_search.html", "results", {"form": form, "search": search})


@capability_required("investigate")
@require_http_methods(["GET", "POST"])
def url_decode(request):
    data = request.POST if request.method == "POST" else (request.GET if "urls" in request.GET else None)
    form = forms.UrlDecodeForm(data)
    rows = problem = None
    if data is not None and form.is_valid():
        parsed = form.cleaned_data["urls"]
        rows, problem = tool_services.url_decode(actor=request.user, valid=parsed["valid"], invalid=parsed["invalid"])
        for row in rows:
            row.url_logs_url = (
                reverse("tools-url-logs") + "?" + urlencode({"window": "30d", "q": row.decoded}) if row.decoded else ""
            )
    context = {"form": form, "rows": rows, "problem": problem}
    if rows is not None:
        context["decoded_count"] = sum(1 for r in rows if r.decoded)
    return render_page(request, "tools/url_decode.html", "results", context)


# ------------------------------------------------------------------------------- web security


@capability_required("investigate")
@require_GET
def web_security(request):
    form = forms.WebSecurityForm(request.GET)
    events = None
    next_query = ""
    if form.is_valid():
        events, cursor = web_security_search(
            actor=request.user, criteria=form.cleaned_data, after=form.cleaned_data.get("page") or ""
        )
        next_query = query_with(request, page=cursor) if cursor else ""
    context = {
        "form": form,
        "events": events,
        "status": tool_selectors.web_security_status(),
        "next_query": next_query,
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
        "export_url": reverse("tools-web-security-export") + "?" + query_with(request, page=""),
    }
    return render_page(request, "tools/web_security.html", "results", context)


@capability_required("investigate")
@require_GET
def web_security_export(request):
    form = forms.WebSecurityForm(request.GET)
    if not form.is_valid():
        return web_security(request)
    return _csv_response(web_security_export_start(actor=request.user, criteria=form.cleaned_data))
