"""Awareness training: SAFE scores, phishing-simulation campaigns with their per-user results, training
status; one page per user, linking to the mail they received. Same shape as the directory pages."""

from investigations.core.links import pager_links, portal_url
from investigations.core.routes import Routes
from investigations.directory import services
from investigations.directory.views import form_page
from investigations.tools import forms
from investigations.tools.presenters import track_trace_url

routes = Routes()


def _user_url(email):
    return portal_url("awareness-user", email=email) if email else ""


@routes("awareness/", name="awareness", capability="investigate", methods=["GET"])
def overview(request):
    def read(data):
        return services.awareness_overview(actor=request.user, q=data["q"], risk=data["risk"], page_token=data["page"])

    def present(form, data):
        summary = data.summary if data else None
        return {
            "data": data,
            "scores": [(s, _user_url(s.email_address)) for s in (data.scores if data else [])],
            "campaigns": [(c, portal_url("awareness-campaign", id=c.id)) for c in (data.campaigns if data else [])],
            "grades": [(g, summary.counts.get(g.lower(), 0) if summary else 0) for g in "ABCDF"],
            **pager_links(request, data.scores_next if data else ""),
        }

    return form_page(request, forms.SafeScoreForm, "directory/awareness/overview.html", "scores", read, present)


@routes("awareness/campaign/", name="awareness-campaign", capability="investigate", methods=["GET"])
def campaign(request):
    def read(data):
        return services.campaign_results(
            actor=request.user, campaign_id=data["id"], result=data["result"], page_token=data["page"]
        )

    def present(form, result):
        found, users, next_token, problem = result or (None, None, None, None)
        users = [(u, _user_url(u.email)) for u in users or []]
        return {"campaign": found, "users": users, "problem": problem, **pager_links(request, next_token)}

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
