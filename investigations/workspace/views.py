"""The investigation workspace: home with quick search, track & trace, archive search, mailbox view,
the message page, its body preview and downloads. Thin views: check, call a service, pick a
template or an htmx partial."""

import re
import time

import nh3
from csp.decorators import csp_exempt
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_sameorigin

from investigations.cases.services import CaseError, evidence_add
from investigations.core.context import CURRENT_CASE_SESSION_KEY, case_reason
from investigations.core.htmx import render_page
from investigations.core.links import page_url, pager_links, portal_url, safe_next
from investigations.core.problems import problem_status
from investigations.core.roles import user_can
from investigations.core.routes import Routes
from investigations.mimecast.types import parse_datetime
from investigations.models import Investigation
from investigations.workspace import services as investigate
from investigations.workspace.forms import (
    PERIOD_LABELS,
    TRACK_PAGE_SIZE,
    TRACK_SORTS,
    ArchiveSearchForm,
    ContentReasonForm,
    KeptWindowForm,
    MailboxForm,
    QuickSearchForm,
    TrackTraceForm,
    classify_quick_search,
)
from investigations.workspace.pivots import Pivots
from investigations.workspace.rows import track_trace_rows
from investigations.workspace.selectors import recent_searches

routes = Routes()

_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_\-=+.:]{1,2000}$")
CONTENT_GRANT_SECONDS = 600
_SESSION_REASON = "workspace_last_reason"
_SESSION_GRANTS = "workspace_content_grants"


def _clean_query(request, drop=()):
    query = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        if key not in drop:
            query.setlist(key, [v[:2000] for v in values[:20]])
    return query.urlencode()


def _case(request):
    """The investigation the user works in (set by CurrentCaseMiddleware), or None."""
    return getattr(request, "investigation", None)


def _posted(request):
    """The posted data, even when empty: inside a case a body view or a download posts no field."""
    return request.POST if request.method == "POST" else None


def _remember_reason(request, form):
    if form.investigation is not None:
        # The case's reason is not one the user typed: the next search outside it asks afresh.
        return
    remembered = {"reason": form.cleaned_data.get("reason", ""), "ticket": form.cleaned_data.get("ticket", "")}
    # Set only when it changes: a session left unchanged is not written back to the database.
    if request.session.get(_SESSION_REASON) != remembered:
        request.session[_SESSION_REASON] = remembered


def _last_reason(request):
    remembered = request.session.get(_SESSION_REASON) or {}
    return {"reason": remembered.get("reason", ""), "ticket": remembered.get("ticket", "")}


def _reason_form(request, form_class, data, **initial):
    """A form that asks why, filled in with the reason and ticket given last, for the case the user works in."""
    return form_class(data, initial={**initial, **_last_reason(request)}, investigation=_case(request))


@routes("search/quick/", name="quick-search", capability="investigate", methods=["GET"])
def quick_search(request):
    form = QuickSearchForm(request.GET)
    if not form.is_valid():
        context = {"quick_form": form, "recent_searches": recent_searches(user=request.user)}
        return render(request, "dashboards/home.html", context)
    target = classify_quick_search(form.cleaned_data["q"])
    reason = {"reason": form.cleaned_data.get("reason", ""), "ticket": form.cleaned_data.get("ticket", "")}
    # Inside a case the pages it leads to use the case's reason, so none is carried along.
    reason = {k: v for k, v in reason.items() if v and _case(request) is None}
    kind, value = target.kind, target.value
    if kind == "mimecast_id":
        return redirect("message-detail", message_id=value)
    if kind in ("md5", "sha1", "sha256"):
        return redirect(portal_url("tools-hash-search", hashes=value))
    if kind == "rewritten_url":
        return redirect(portal_url("tools-url-decode", urls=value))
    if kind == "url":
        return redirect(portal_url("tools-url-logs", q=value))
    if kind == "text":
        return redirect(portal_url("archive-search", text=value, **reason))
    field = {"email": "sender", "domain": "sender", "ip": "sender_ip", "message_id": "message_id"}[kind]
    window = "30d" if kind == "message_id" else "7d"
    return redirect(portal_url("track-trace", **{field: value, "window": window, **reason}))


# ---------------------------------------------------------------------------------- searches


def _sort_links(request, form):
    valid = form.is_bound and form.is_valid()
    current = form.cleaned_data.get("sort", "received") if valid else "received"
    direction = form.cleaned_data.get("dir", "desc") if valid else "desc"
    links = {}
    for key in TRACK_SORTS:
        new_dir = "asc" if key == current and direction == "desc" else "desc"
        links[key] = {
            "url": page_url(request, sort=key, dir=new_dir, drop=("p",)),  # a new order starts on its first page
            "active": key == current,
            "dir": direction if key == current else "",
        }
    return links


def _as_recipient_url(request, criteria):
    """The quick search takes an address as the sender; one click searches it as the recipient."""
    if not criteria["sender"] or criteria["recipient"]:
        return ""
    return page_url(request, sender="", recipient=request.GET["sender"])


def _pivots(request, window):
    """The pivot links of a page: the time window kept, and the reason given last (none inside a
    case: the next search uses the case's own)."""
    return Pivots(window, {} if _case(request) is not None else _last_reason(request))


def _track_page(request, rows, number):
    """One page of a sorted track & trace result, and its pager's links."""
    pages = max(1, -(-len(rows) // TRACK_PAGE_SIZE))
    number = min(number, pages)
    first = (number - 1) * TRACK_PAGE_SIZE
    links = {
        "next_url": page_url(request, p=number + 1) if number < pages else "",
        "previous_url": page_url(request, p=number - 1 if number > 2 else "") if number > 1 else "",
        "first_url": "",
        "page_range": (first + 1, min(first + TRACK_PAGE_SIZE, len(rows))) if pages > 1 else None,
    }
    return rows[first : first + TRACK_PAGE_SIZE], links


def _windowed(data, default):
    """A search's data, or None when nothing was asked. A search that names no window covers the
    default one, and its form says so (rather than showing the first choice of the list)."""
    if not data:
        return None
    if any(data.get(key) for key in ("window", "start", "end")):
        return data
    data = data.copy()
    data["window"] = default
    return data


def _search(request, form, service, *, drop=(), **kwargs):
    """Run a workspace search from a valid form: remember the reason, audit the query that reruns it."""
    _remember_reason(request, form)
    return service(actor=request.user, reason=form.full_reason(), query=_clean_query(request, drop=drop), **kwargs)


@routes("search/track/", name="track-trace", capability="investigate", methods=["GET"])
def track_trace(request):
    form = _reason_form(request, TrackTraceForm, _windowed(request.GET, "24h"), window="24h")
    # Sorting is done from the result's column heads, not from the form.
    fields = [field for field in form.visible_fields() if field.name not in ("sort", "dir")]
    context = {"form": form, "fields": fields, "searched": False}
    if form.is_bound and form.is_valid():
        criteria = form.criteria()
        criteria["start_dt"], criteria["end_dt"] = form.cleaned_data["range"]
        sort = {"sort": form.cleaned_data["sort"], "direction": form.cleaned_data["dir"]}
        outcome = _search(
            request, form, investigate.search_track_trace, criteria=criteria, drop=("sort", "dir", "p"), **sort
        )
        picks = _picks(
            {r.id: _copies(criteria["message_id"] or r.id, [t.email_address for t in r.to]) for r in outcome.rows}
        )
        selectable = user_can(request.user, "request_remediation") or user_can(request.user, "work_cases")
        shown, pager = _track_page(request, outcome.rows, form.cleaned_data["p"])
        pivots = _pivots(request, form.kept_window())
        context.update(
            searched=True,
            rows=outcome.rows,
            row_html=track_trace_rows(shown, picks["picks"], selectable=selectable, pivots=pivots),
            chips=form.chips(),
            problem=outcome.problem,
            sort_links=_sort_links(request, form),
            range=form.cleaned_data["range"],
            swap_url=_as_recipient_url(request, criteria),
            **picks,
            **pager,
        )
    return render_page(request, "workspace/track_trace.html", context, partial="search")


@routes("search/archive/", name="archive-search", capability="investigate", methods=["GET"])
def archive_search(request):
    form = _reason_form(request, ArchiveSearchForm, request.GET or None, scope="admin", period="last_month")
    context = {"form": form, "searched": False, "period_labels": PERIOD_LABELS}
    if form.is_bound and form.is_valid():
        page = form.cleaned_data["page"]
        outcome = _search(request, form, investigate.search_archive, criteria=form.criteria(), page_token=page)
        context.update(
            searched=True,
            rows=outcome.rows,
            chips=form.chips(),
            problem=outcome.problem,
            details_url=portal_url("archive-details", id=[r.id for r in outcome.rows]),
            **_picks({r.id: _copies(r.id, [t.email_address for t in r.display_to_addresses]) for r in outcome.rows}),
            **pager_links(request, outcome.next_token, outcome.previous_token),
        )
    return render_page(request, "workspace/archive_search.html", context, partial="search")


@routes("search/archive/details/", name="archive-details", capability="investigate", methods=["GET"])
def archive_details(request):
    ids = [i for i in request.GET.getlist("id")[:100] if _MESSAGE_ID.match(i)]
    details = investigate.archive_more_details(actor=request.user, message_ids=ids)
    rows = [{"id": mid, "section": details[mid]} for mid in ids]
    form = ArchiveSearchForm(initial={"scope": "admin", "period": "last_month"}, investigation=_case(request))
    context = {"details": rows, "form": form}
    return render_page(request, "workspace/archive_search.html", context, partial="details")


@routes("search/mailbox/", name="mailbox-view", capability="investigate", methods=["GET"])
def mailbox_view(request):
    form = _reason_form(request, MailboxForm, _windowed(request.GET, "yesterday"), view="INBOX", window="yesterday")
    context = {"form": form, "searched": False}
    if form.is_bound and form.is_valid():
        criteria = form.criteria()
        criteria["start_dt"], criteria["end_dt"] = form.cleaned_data["range"]
        page = form.cleaned_data["page"]
        outcome = _search(request, form, investigate.search_mailbox, criteria=criteria, page_token=page)
        context.update(
            searched=True,
            rows=outcome.rows,
            chips=form.chips(),
            window_query=_pivots(request, form.kept_window()).window_query,
            problem=outcome.problem,
            range=form.cleaned_data["range"],
            **_picks({r.id: _copies(r.id, _mailbox_copies(criteria, r)) for r in outcome.rows}),
            **pager_links(request, outcome.next_token, outcome.previous_token),
        )
    return render_page(request, "workspace/mailbox.html", context, partial="search")


# ------------------------------------------------------------------------------- selections


def _copies(message, mailboxes):
    """A message row's checkbox values, one per recipient copy: "<mailbox>|<message>", where the
    message is its Message-ID header when the list knows it, else its Mimecast id."""
    unique = dict.fromkeys(m.lower() for m in mailboxes if m)
    return [{"mailbox": m, "value": f"{m}|{message}"} for m in list(unique)[:50]] if message else []


def _picks(picks):
    """The selection of a result list: each row's copies, and every copy ("Remediate all N")."""
    return {"picks": picks, "every": [c["value"] for copies in picks.values() for c in copies]}


def _mailbox_copies(criteria, row):
    """A received message's copy is in the mailbox searched; a sent one's in its recipients'."""
    return [criteria["mailbox"]] if criteria["view"] == "INBOX" else [t.email_address for t in row.to]


@routes("search/selection/", name="selection", capability="investigate", methods=["POST"])
def selection(request):
    """Act on the rows ticked on a result list: "Remediate selected / all N" opens a bulk remediation
    request naming each copy by mailbox and Message-ID; "Block selected URLs" a managed-URL block. A
    POST (the selection form carries the CSRF token for "Add to investigation") answered by a redirect."""
    act, back = request.POST.get("act", ""), safe_next(request, request.POST.get("next"), reverse("home"))
    if act == "evidence" and user_can(request.user, "work_cases"):
        return _selection_evidence(request, back)
    if act == "block_urls" and user_can(request.user, "request_block"):
        urls = [u.strip()[:4096] for u in request.POST.getlist("value")[: investigate.SELECTION_MAX]]
        return redirect(portal_url("remediation-new", kind="manage_url", action="block", url=[u for u in urls if u]))
    if act not in ("remediate", "remediate_all") or not user_can(request.user, "request_remediation"):
        raise PermissionDenied("You may not do this with a selection.")
    values = request.POST.getlist("every" if act == "remediate_all" else "value")
    targets, skipped = investigate.selection_targets(actor=request.user, values=values)
    if skipped:
        left_out = f"{skipped} selected row{pluralize(skipped)} could not be named by mailbox and Message-ID"
        messages.warning(request, f"{left_out}: left out of the request.")
    if not targets:
        messages.error(request, "Tick at least one message to remediate.")
        return redirect(back)
    return redirect(portal_url("remediation-new", kind="remediate_messages", target=targets))


def _selection_evidence(request, back):
    """Ticked message rows into the current investigation, one item per message with the mailboxes
    ticked as its label (the case keeps messages, the remediation their copies)."""
    case_id = request.session.get(CURRENT_CASE_SESSION_KEY)
    values, labels, message_ids = investigate.selection_messages(request.POST.getlist("value"), actor=request.user)
    if not case_id or not values:
        messages.error(request, "Open an investigation and tick at least one message first.")
        return redirect(back)
    note = request.POST.get("note", "")[:2000]
    try:
        result = evidence_add(
            actor=request.user,
            case_id=case_id,
            kind="message",
            values=values,
            labels=labels,
            message_ids=message_ids,
            note=note,
        )
    except Investigation.DoesNotExist:
        messages.error(request, "That investigation does not exist.")
        return redirect(back)
    except CaseError as error:
        messages.error(request, str(error))
        return redirect(back)
    added = f"Added {result.added} message{pluralize(result.added)} to the investigation"
    messages.success(request, f"{added}; {result.duplicates} already there." if result.duplicates else f"{added}.")
    return redirect(back)


# ----------------------------------------------------------------------------- message page


def _checked_id(message_id):
    if not _MESSAGE_ID.match(message_id):
        raise Http404("No such message.")
    return message_id


def _hash_links(detail):
    return {
        a.sha256: {
            "search": portal_url("tools-hash-search", hashes=a.sha256),
            "remediate": portal_url("remediation-new", file_hash=a.sha256),
        }
        for a in detail.attachments
        if a.sha256
    }


def _url_rows(detail):
    return [
        {
            "original": u.original,
            "rewritten": u.rewritten,
            "logs": portal_url("tools-url-logs", q=u.original) if u.original else "",
            "decode": portal_url("tools-url-decode", urls=u.rewritten) if u.rewritten else "",
        }
        for u in detail.urls
    ]


def _section_urls(message_id, header_filter="", window=None):
    header = {"h": header_filter} if header_filter else {}
    return {
        "detail_url": portal_url("message-detail-section", message_id, **header, **(window or {})),
        "activity_url": portal_url("message-activity", message_id, **(window or {})),
    }


def _shell_context(request, message_id):
    header_filter = request.GET.get("h", "")[:100]
    # The window of the search the page was opened from: its sections' pivots keep it.
    window = KeptWindowForm(request.GET).kept()
    pivots = _pivots(request, window)
    return {
        "message_id": message_id,
        "header_filter": header_filter,
        "window": window,
        "window_query": pivots.window_query,
        "pivots": pivots,
        "can_remediate": user_can(request.user, "request_remediation"),
        "can_view_content": user_can(request.user, "view_content"),
        **_section_urls(message_id, header_filter, window),
    }


def _summary_pivots(pivots, detail, info, archive):
    """The searches the summary's addresses pivot to: {"from", "envelope", "domain", "ip": url,
    "to", "cc": {address: url}}."""
    if info is not None:
        mi, meta = info.recipient_info.message_info, info.recipient_info.meta
        sender, envelope, to, cc, ip = mi.from_header, mi.from_envelope, mi.to, mi.cc, meta.remote_ip
    else:
        sender = archive.from_.email_address if archive is not None and archive.from_ else ""
        to = [t.email_address for t in archive.to] if archive is not None else []
        envelope, cc, ip = "", [], ""
    domain = detail.sender.rpartition("@")[2].lower() if "@" in detail.sender else ""
    return {
        "from": pivots.url("sender", sender),
        "envelope": pivots.url("sender", envelope),
        "domain": pivots.url("domain", domain),
        "ip": pivots.url("ip", ip),
        "to": pivots.urls("recipient", to),
        "cc": pivots.urls("recipient", cc),
    }


@routes("messages/<str:message_id>/", name="message-detail", capability="investigate", methods=["GET"])
def message_detail(request, message_id):
    """The page's shell, at once and without a call to Mimecast: its sections load in as they arrive."""
    _checked_id(message_id)
    return render(request, "workspace/message_detail.html", _shell_context(request, message_id))


def _detail_context(detail):
    info = detail.info.value if detail.info.ok else None
    return {
        "detail": detail,
        "auth": investigate.auth_results(detail.headers, info),
        "sender_domain": detail.sender.rpartition("@")[2].lower() if "@" in detail.sender else "",
        "info": info,
        "archive": detail.archive.value if detail.archive.ok else None,
        "remediate_url": portal_url("remediation-new", message_id=detail.mime_id) if detail.mime_id else "",
    }


@routes("messages/<str:message_id>/detail/", name="message-detail-section", capability="investigate", methods=["GET"])
def message_detail_section(request, message_id):
    """The first round (what Mimecast knows of the message): the head, the cards and the headers."""
    _checked_id(message_id)
    detail = investigate.message_detail(actor=request.user, message_id=message_id)
    shell, details = _shell_context(request, message_id), _detail_context(detail)
    context = {
        **shell,
        **details,
        "summary_pivots": _summary_pivots(shell["pivots"], detail, details["info"], details["archive"]),
        "hash_links": _hash_links(detail),
        "urls": _url_rows(detail),
        "policies_url": portal_url("directory-policies", sender=detail.sender) if detail.sender else "",
        "detail_section": True,
    }
    status = 404 if not detail.found and detail.not_found else 200
    return render_page(request, "workspace/message_detail.html", context, partial="detail", status=status)


@routes("messages/<str:message_id>/activity/", name="message-activity", capability="investigate", methods=["GET"])
def message_activity(request, message_id):
    """The second round, which needs the first: the banner, the timeline and the related section."""
    _checked_id(message_id)
    case = _case(request)
    detail, activity, related = investigate.message_surroundings(
        message_id=message_id, reason=case_reason(case) if case else ""
    )
    context = {**_shell_context(request, message_id), **_detail_context(detail), "surroundings": True}
    if activity is not None:
        context["verdict"] = investigate.message_verdict(detail=detail, auth=context["auth"], activity=activity)
        context["timeline"] = investigate.message_timeline(detail=detail, activity=activity)
        context["activity_problems"] = activity.problems
        context.update(_related_context(investigate.related_query_of(detail), related))
    return render_page(request, "workspace/message_detail.html", context, partial="activity")


def _related_query(request, message_id):
    get = request.GET
    return investigate.RelatedQuery(
        message_id=message_id,
        mime_id=get.get("mid", "")[:998],
        sender=get.get("from", "")[:254],
        subject=get.get("subject", "")[:255],
        received=parse_datetime(get.get("t", "")[:40]),
        hashes=[h for h in get.getlist("hash")[:20] if re.fullmatch(r"[0-9a-fA-F]{32,64}", h)],
        recipients=[r[:254] for r in get.getlist("rcpt")[:100]],
    )


def _same_copies(sections):
    """One row per recipient copy found by either "who else" search, each copy once."""
    same, seen = [], set()
    for name in ("same_id", "same_sender_subject"):
        section = sections.get(name)
        for row in section.value if section and section.ok else []:
            for rcpt in row.to or [None]:
                key = (row.id, rcpt.email_address if rcpt else "")
                if key not in seen:
                    seen.add(key)
                    same.append({"row": row, "recipient": rcpt, "match": name})
    return same


def _same_ref(copy, query):
    """A copy found by the Message-ID search has that Message-ID; one found by sender and subject is
    another message, named by its Mimecast id (its Message-ID is looked up when acted upon)."""
    return query.mime_id if copy["match"] == "same_id" and query.mime_id else copy["row"].id


def _safe_rows(scores):
    names = ("email_address", "name", "department", "risk", "human_error", "engagement", "knowledge")
    return [
        {**{n: getattr(s, n) for n in names}, "awareness_url": portal_url("awareness-user", email=s.email_address)}
        for s in scores or []
    ]


@routes("messages/<str:message_id>/related/", name="message-related", capability="investigate", methods=["GET"])
def message_related(request, message_id):
    _checked_id(message_id)
    query = _related_query(request, message_id)
    case = _case(request)
    related = investigate.message_related(query=query, reason=case_reason(case) if case else "")
    context = {"message_id": message_id, "window_query": "", **_related_context(query, related)}
    return render_page(request, "workspace/message_related.html", context, partial="related")


def _related_context(query, related):
    same = _same_copies(related["sections"])
    return {
        "query": query,
        "related": related,
        "problems": {name: section.problem for name, section in related["sections"].items()},
        "safe_problem": related["safe"].problem,
        "safe_rows": _safe_rows(related["safe"].value),
        "same": same,
        **_picks(
            {
                i: _copies(_same_ref(s, query), [s["recipient"].email_address if s["recipient"] else ""])
                for i, s in enumerate(same)
            }
        ),
        "same_hash": related["same_hash"],
    }


# ------------------------------------------------------------------------------------ content


def _grant(request, message_id):
    grants = {k: v for k, v in (request.session.get(_SESSION_GRANTS) or {}).items() if v > time.time()}
    grants[message_id] = time.time() + CONTENT_GRANT_SECONDS
    request.session[_SESSION_GRANTS] = dict(list(grants.items())[-50:])


def _granted(request, message_id):
    return (request.session.get(_SESSION_GRANTS) or {}).get(message_id, 0) > time.time()


@routes("messages/<str:message_id>/body/", name="message-body", capability="view_content", methods=["GET", "POST"])
def message_body(request, message_id):
    """Ask for a reason, then show the body in a sandboxed frame."""
    _checked_id(message_id)
    form = _reason_form(request, ContentReasonForm, _posted(request))
    context = {"message_id": message_id, "form": form, "shown": False}
    if request.method == "POST" and form.is_valid():
        investigate.record_body_view(actor=request.user, message_id=message_id, reason=form.full_reason())
        _remember_reason(request, form)
        _grant(request, message_id)
        context["shown"] = True
    return render_page(request, "workspace/message_body.html", context, partial="body")


BODY_FRAME_CSP = "sandbox; default-src 'none'; img-src data:; frame-ancestors 'self'"


def _body_attribute(tag, attribute, value):
    """Remote images are dropped here (and refused by the frame's CSP anyway): a tracking pixel must
    not learn that an analyst opened the message. Only inline data: images stay, and data: only there."""
    if attribute in ("src", "srcset"):
        return value if tag == "img" and value.lower().startswith("data:image/") else None
    if attribute == "href" and value.lower().startswith("data:"):
        return None
    return value


def _body_document(message_id, kind):
    body, problem = investigate.message_body(message_id=message_id, kind=kind)
    if problem is not None:
        return f"<p>{escape(problem.message)}</p>"
    if kind == "text":
        return f"<pre>{escape(body)}</pre>"
    return nh3.clean(
        body,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_body_attribute,
    )


def _private(response, csp):
    response["Content-Security-Policy"] = csp
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    return response


@routes("messages/<str:message_id>/body/frame/", name="message-body-frame", capability="view_content", methods=["GET"])
@xframe_options_sameorigin
@csp_exempt()
def message_body_frame(request, message_id):
    """The body itself, cleaned, served alone under `Content-Security-Policy: sandbox` (no scripts,
    no forms, no top navigation, an opaque origin) and only after a reason was given."""
    _checked_id(message_id)
    if not _granted(request, message_id):
        # 428, not 403: the user may see bodies, but has not yet said why they want this one.
        response = HttpResponse(
            "Give a reason on the message page before viewing the body.",
            content_type="text/plain; charset=utf-8",
            status=428,
        )
    else:
        document = _body_document(message_id, "text" if request.GET.get("format") == "text" else "html")
        page = (
            '<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f"</head><body>{document}</body></html>"
        )
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
    response["Referrer-Policy"] = "no-referrer"
    return _private(response, BODY_FRAME_CSP)


def _file_response(content, filename):
    response = HttpResponse(content.content, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _private(response, "sandbox; default-src 'none'")


def _download_page(request, message_id, form, download, *, what, filename, attachment=False):
    """Ask for a reason, then send the file; a Mimecast failure shows on the same form."""
    context = {"message_id": message_id, "form": form, "what": what, "attachment": attachment, "problem": None}
    if request.method == "POST" and form.is_valid():
        _remember_reason(request, form)
        content, context["problem"] = download(form)
        if content is not None:
            return _file_response(content, filename(content))
    status = problem_status(context["problem"]) if context["problem"] else 200
    return render(request, "workspace/download.html", context, status=status)


@routes(
    "messages/<str:message_id>/download/", name="message-download", capability="view_content", methods=["GET", "POST"]
)
def message_download(request, message_id):
    _checked_id(message_id)
    form = _reason_form(request, ContentReasonForm, _posted(request), context="RECEIVED")

    def download(form):
        context = form.cleaned_data["context"]
        return investigate.download_message(
            actor=request.user, message_id=message_id, context=context, reason=form.full_reason()
        )

    def filename(content):
        name = f"message-{message_id[-16:]}-{form.cleaned_data['context'].lower()}.eml"
        return investigate.safe_filename(name, "message.eml")

    return _download_page(request, message_id, form, download, what="the original message (.eml)", filename=filename)


@routes(
    "messages/<str:message_id>/attachments/<str:attachment_id>/download/",
    name="attachment-download",
    capability="view_content",
    methods=["GET", "POST"],
)
def attachment_download(request, message_id, attachment_id):
    _checked_id(message_id)
    _checked_id(attachment_id)
    form = _reason_form(request, ContentReasonForm, _posted(request))
    name_hint = request.GET.get("name", "")[:200]

    def download(form):
        return investigate.download_attachment(
            actor=request.user, message_id=message_id, attachment_id=attachment_id, reason=form.full_reason()
        )

    return _download_page(
        request,
        message_id,
        form,
        download,
        what=f"the attachment {name_hint}".strip(),
        filename=lambda content: investigate.safe_filename(content.filename or name_hint, "attachment.bin"),
        attachment=True,
    )
