"""The SAML routes: the button's start, the assertion consumer service the provider posts back to,
and this portal's metadata for the provider's administrator. Every refusal comes back to the sign-in
page with its message, and is audited; none is a server error."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from investigations.accounts.saml import (
    saml_authn_request,
    saml_consume,
    saml_enabled,
    saml_metadata,
    saml_session,
    saml_sign_in,
    saml_state_read,
    saml_state_write,
    saml_step_up_complete,
)
from investigations.accounts.sso import SsoRefused, sso_refusal_record
from investigations.accounts.sso_views import after_sign_in_url, refused_at_sign_in
from investigations.core.routes import Routes

routes = Routes()


def _enabled_or_404():
    if not saml_enabled():
        raise Http404("SAML sign-in is not configured.")


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@routes("accounts/saml/start/", name="saml-start", methods=["GET"])
def saml_start(request):
    _enabled_or_404()
    next_url = after_sign_in_url(request, request.GET.get("next"))
    try:
        message, state = saml_authn_request(request, next_url=next_url)
    except SsoRefused as refused:
        return refused_at_sign_in(request, refused)
    if "redirect" in message:
        response = HttpResponseRedirect(message["redirect"])
    else:
        # HTTP-POST binding: a form the person sends (no inline script under this portal's CSP).
        response = render(request, "accounts/saml_post.html", {"post": message["post"]})
        # The strict policy's form-action is this site; this one form goes to the provider.
        response._csp_update = {"form-action": [_origin(message["post"]["action"])]}
    return saml_state_write(response, state)


# The provider posts here from its own site: no CSRF token can come with it. What binds the answer to
# this browser is the signed state cookie holding the request it answers (InResponseTo).
@routes("accounts/saml/acs/", name="saml-acs", methods=["POST"])
@csrf_exempt
def saml_acs(request):
    _enabled_or_404()
    state = saml_state_read(request)
    identity = None
    try:
        identity = saml_consume(request, saml_response=request.POST.get("SAMLResponse"), state=state)
        # Used once: the same answer posted again answers nothing.
        state.pop(identity["request_id"], None)
        if identity["step_up"]:
            saml_step_up_complete(request=request, identity=identity)
        else:
            saml_sign_in(request=request, identity=identity)
    except SsoRefused as refused:
        if identity is not None and identity["step_up"]:
            sso_refusal_record(refused=refused, who=refused.who)
            return saml_state_write(HttpResponseRedirect(after_sign_in_url(request, identity["next"])), state)
        return saml_state_write(refused_at_sign_in(request, refused), state)
    return saml_state_write(HttpResponseRedirect(after_sign_in_url(request, identity["next"])), state)


@routes("accounts/saml/step-up/", name="saml-step-up")
@login_required
@require_GET
def saml_step_up(request):
    """From a decision page's "Confirm at <provider>" link: a ForceAuthn request, then back to `next`
    with this session's proof renewed by the provider's new AuthnInstant. A link, not a form, as the
    OpenID Connect step-up: the CSP's form-action lets a form lead nowhere but this portal."""
    next_url = after_sign_in_url(request, request.GET.get("next"))
    if not saml_session(request.session):
        messages.info(request, "You did not sign in with SAML: confirm on the decision form.")
        return HttpResponseRedirect(next_url)
    try:
        message, state = saml_authn_request(
            request, next_url=next_url, force_authn=True, step_up_session=request.session.session_key
        )
    except SsoRefused as refused:
        messages.error(request, str(refused))
        return HttpResponseRedirect(next_url)
    if "post" in message:
        messages.error(request, "This provider takes requests by HTTP-POST only: sign out and in again.")
        return HttpResponseRedirect(next_url)
    return saml_state_write(HttpResponseRedirect(message["redirect"]), state)


@routes("accounts/saml/metadata/", name="saml-metadata", methods=["GET"])
def saml_sp_metadata(request):
    _enabled_or_404()
    try:
        xml = saml_metadata(request)
    except SsoRefused as refused:
        return HttpResponse(str(refused), status=503, content_type="text/plain; charset=utf-8")
    return HttpResponse(xml, content_type="application/samlmetadata+xml")
