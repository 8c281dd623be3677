"""The single sign-on routes: the button's start and the provider's callback. Every refusal comes
back to the sign-in page with its message, and is audited; none is a server error."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, resolve_url

from investigations.accounts.sso import (
    SsoRefused,
    sso_authorize_url,
    sso_enabled,
    sso_exchange,
    sso_refusal_record,
    sso_sign_in,
)
from investigations.core.links import safe_next
from investigations.core.routes import Routes

routes = Routes()


def after_sign_in_url(request, url):
    """Where a sign-in at a provider (OpenID Connect or SAML) lands: ``url`` if it is ours, else home."""
    return safe_next(request, url, resolve_url(settings.LOGIN_REDIRECT_URL))


def refused_at_sign_in(request, refused):
    """A provider's sign-in refused (either protocol): audited, and its message on the sign-in page."""
    sso_refusal_record(refused=refused, who=refused.who)
    messages.error(request, str(refused))
    return redirect("login")


@routes("accounts/sso/start/", name="sso-start", methods=["GET"])
def sso_start(request):
    if not sso_enabled():
        raise Http404("Single sign-on is not configured.")
    try:
        url = sso_authorize_url(request, next_url=after_sign_in_url(request, request.GET.get("next")))
    except SsoRefused as refused:
        return refused_at_sign_in(request, refused)
    return redirect(url)


@routes("accounts/sso/callback/", name="sso-callback", methods=["GET"])
def sso_callback(request):
    if not sso_enabled():
        raise Http404("Single sign-on is not configured.")
    try:
        if request.GET.get("error"):
            # The provider's own refusal (the user cancelled, or is not assigned to the application).
            raise SsoRefused(
                f"Single sign-on refused by the provider: {request.GET['error'][:100]}.", reason="provider_error"
            )
        exchange = sso_exchange(request, code=request.GET.get("code"), state=request.GET.get("state"))
        sso_sign_in(request=request, exchange=exchange)
    except SsoRefused as refused:
        return refused_at_sign_in(request, refused)
    return HttpResponseRedirect(after_sign_in_url(request, exchange["next_url"]))
