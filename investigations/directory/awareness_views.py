"""Awareness training: SAFE scores, phishing-simulation campaigns with their per-user results, training
status; one page per user, linking to the mail they received. Same shape as the directory pages."""

from investigations.core.links import page_url, portal_url
from investigations.core.routes import Routes
from investigations.directory import services
from investigations.directory.views import form_page
from investigations.tools import forms
from investigations.tools.presenters import track_trace_url

routes = Routes()

# Mimecast answers SAFE scores and campaign results up to 500 a page; a screen shows 50 of them.
ROWS_PER_SCREEN = 50


def screen(request, rows, number, next_token):
    """The rows of screen ``number`` (1 first) of the rows Mimecast answered as one page, and the pager's
    links: the next screen of this page, then Mimecast's next page. A number past the end shows no
    rows and says how many screens there are."""
    number = number or 1
    count = max(1, -(-len(rows) // ROWS_PER_SCREEN))
    shown = rows[(number - 1) * ROWS_PER_SCREEN : number * ROWS_PER_SCREEN]
    if number < count:
        next_url = page_url(request, n=number + 1)
    else:
        next_url = page_url(request, page=next_token, n="") if next_token else ""
    return shown, {
        "next_url": next_url,
        "previous_url": page_url(request, n=number - 1 if number > 2 else "") if 1 < number <= count else "",
        "first_url": page_url(request, page="", n="") if number > 1 or request.GET.get("page") else "",
        "screen": {
            "number": number,
            "count": count,
            "past_end": number > count,
            "first": (number - 1) * ROWS_PER_SCREEN + 1,
            "last": (number - 1) * ROWS_PER_SCREEN + len(shown),
            "total": len(rows),
        },
    }


def _user_url(email):
    return portal_url("awareness-user", email=email) if email else ""


@routes("awareness/", name="awareness", capability="investigate", methods=["GET"])
def overview(request):
    def read(data):
        return services.awareness_overview(
            actor=request.user, q=data["q"], risk=data["risk"], page_token=data["page"], later_screen=bool(data["n"])
        )

    def present(form, data):
        summary = data.summary if data else None
        scores, pager = screen(
            request, data.scores if data else [], form.cleaned_data.get("n"), data and data.scores_next
        )
        return {
            "data": data,
            "scores": [(s, _user_url(s.email_address)) for s in scores],
            "campaigns": [(c, portal_url("awareness-campaign", id=c.id)) for c in (data.campaigns if data else [])],
            "grades": [(g, summary.counts.get(g.lower(), 0) if summary else 0) for g in "ABCDF"],
            **(pager if data else {}),
        }

    return form_page(request, forms.SafeScoreForm, "directory/awareness/overview.html", "scores", read, present)


@routes("awareness/campaign/", name="awareness-campaign", capability="investigate", methods=["GET"])
def campaign(request):
    def read(data):
        return services.campaign_results(
            actor=request.user,
            campaign_id=data["id"],
            result=data["result"],
            page_token=data["page"],
            later_screen=bool(data["n"]),
        )

    def present(form, result):
        found, users, next_token, problem = result or (None, None, None, None)
        users, pager = screen(request, users or [], form.cleaned_data.get("n"), next_token)
        users = [(u, _user_url(u.email)) for u in users]
        return {"campaign": found, "users": users, "problem": problem, **(pager if result else {})}

    return form_page(request, forms.CampaignForm, "directory/awareness/campaign.html", "results", read, present)


def _user_links(email):
    if not email:
        return {"messages_url": "", "clicks_url": "", "web_url": ""}
    return {
        "messages_url": track_trace_url(recipient=email, to=email, window="30d"),
        "clicks_url": portal_url("tools-url-logs", window="30d", q=email),
        "web_url": portal_url("tools-web-security", window="30d", user=email),
    }


@routes("awareness/user/", name="awareness-user", capability="investigate", methods=["GET"])
def user(request):
    def read(data):
        return data["email"], services.awareness_user(actor=request.user, email=data["email"])

    def present(form, result):
        email, data = result or ("", None)
        return {"email": email, "data": data, **_user_links(email)}

    return form_page(request, forms.AwarenessUserForm, "directory/awareness/user.html", "user", read, present)
