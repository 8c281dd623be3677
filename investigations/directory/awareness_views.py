"""Awareness training (design §5 page 7): SAFE scores, phishing-simulation campaigns with their
per-user results, training status; one page per user, linking to the mail they received."""

from urllib.parse import urlencode

from django.urls import reverse
from django.views.decorators.http import require_GET

from investigations.core.roles import capability_required
from investigations.tools import forms
from investigations.tools import services as tool_services
from investigations.tools.views import query_with, render_page, track_trace_url


def _user_url(email):
    return reverse("awareness-user") + "?" + urlencode({"email": email}) if email else ""


@capability_required("investigate")
@require_GET
def overview(request):
    form = forms.SafeScoreForm(request.GET)
    data = None
    if form.is_valid():
        data = tool_services.awareness_overview(
            actor=request.user,
            q=form.cleaned_data["q"],
            risk=form.cleaned_data["risk"],
            page_token=form.cleaned_data["page"],
        )
    context = {
        "form": form,
        "data": data,
        "scores": [(s, _user_url(s.email_address)) for s in (data.scores if data else [])],
        "campaigns": [
            (c, reverse("awareness-campaign") + "?" + urlencode({"id": c.id})) for c in (data.campaigns if data else [])
        ],
        "grades": [(g, (data.summary.counts.get(g.lower(), 0) if data and data.summary else 0)) for g in "ABCDF"],
        "next_query": query_with(request, page=data.scores_next) if data and data.scores_next else "",
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
    }
    return render_page(request, "directory/awareness/overview.html", "scores", context)


@capability_required("investigate")
@require_GET
def campaign(request):
    form = forms.CampaignForm(request.GET)
    found = users = problem = next_token = None
    if form.is_valid():
        found, users, next_token, problem = tool_services.campaign_results(
            actor=request.user,
            campaign_id=form.cleaned_data["id"],
            result=form.cleaned_data["result"],
            page_token=form.cleaned_data["page"],
        )
    context = {
        "form": form,
        "campaign": found,
        "users": [(u, _user_url(u.email)) for u in users or []],
        "problem": problem,
        "next_query": query_with(request, page=next_token) if next_token else "",
        "first_query": query_with(request, page="") if request.GET.get("page") else "",
    }
    return render_page(request, "directory/awareness/campaign.html", "results", context)


@capability_required("investigate")
@require_GET
def user(request):
    form = forms.AwarenessUserForm(request.GET)
    data = None
    email = ""
    if form.is_valid():
        email = form.cleaned_data["email"]
        data = tool_services.awareness_user(actor=request.user, email=email)
    context = {
        "form": form,
        "email": email,
        "data": data,
        "messages_url": track_trace_url(recipient=email, to=email, window="30d") if email else "",
        "clicks_url": reverse("tools-url-logs") + "?" + urlencode({"window": "30d", "q": email}) if email else "",
        "web_url": reverse("tools-web-security") + "?" + urlencode({"window": "30d", "user": email}) if email else "",
    }
    return render_page(request, "directory/awareness/user.html", "user", context)
