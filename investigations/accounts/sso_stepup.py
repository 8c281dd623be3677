"""Step-up at the provider: before a decision (approve, reject, break-glass), a single sign-on user whose
proof of who holds this session is stale signs in again at the provider, not here (they have no local
password). The portal asks with prompt=login and max_age=0, and accepts only an ID token for the same
subject whose auth_time is not older than the moment the step-up started: a provider that skipped the
login (its own session still alive) proves nothing new. The accepted auth_time becomes this session's
proof, with the method "oidc", which the decision's audit event records."""

import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.views.decorators.http import require_GET

from investigations.accounts.services import session_proof_record, user_event_record
from investigations.accounts.sso import (
    SESSION_AUTH_TIME,
    SESSION_REFRESH_TOKEN,
    SESSION_SUB,
    SIGN_IN_METHOD,
    SsoRefused,
    sso_authorize_url,
    sso_enabled,
    sso_exchange,
)
from investigations.core.links import safe_next
from investigations.core.routes import Routes
from investigations.models import AuditAction, AuditOutcome

routes = Routes()

# The step-up under way in this session: when it started (epoch seconds) and the page to return to.
STEP_UP_SESSION_KEY = "sso_step_up"


def _home():
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def sso_session(session):
    """Whether this session was signed in at the provider (its proof is then given there, never here)."""
    return sso_enabled() and bool(session.get(SESSION_SUB))


def sso_step_up_offer(request, *, next_url):
    """What a decision page shows an SSO user instead of the password field, or None for a local user."""
    if not sso_session(request.session):
        return None
    return {"provider": settings.OIDC_PROVIDER_NAME, "next": next_url}


def sso_step_up_start(request, *, next_url):
    """The provider's URL that asks this user to sign in again, whatever session it holds."""
    request.session[STEP_UP_SESSION_KEY] = {"started": int(time.time()), "next": next_url}
    return sso_authorize_url(request, prompt="login", max_age=0, next_url=next_url, callback="sso-step-up-callback")


def _refuse(reason, detail):
    return SsoRefused(f"Confirmation at the provider refused: {detail}", reason=reason)


def sso_step_up_complete(request, *, code, state, error=""):
    """The provider's answer to a step-up: verified (nonce, audience, issuer, signature, dates: the
    sign-in's checks), the same subject, authenticated again since the step-up started. The new
    auth_time is this session's proof. Raises SsoRefused, audited by the caller."""
    pending = request.session.pop(STEP_UP_SESSION_KEY, None)
    if not isinstance(pending, dict) or not isinstance(pending.get("started"), int):
        raise _refuse("no_step_up", "no confirmation was started in this session. Start again.")
    if error:
        raise _refuse("provider_error", f"the provider answered {error[:100]}.")
    exchange = sso_exchange(request, code=code, state=state)
    claims = exchange["claims"]
    if claims["sub"] != request.session.get(SESSION_SUB):
        raise _refuse("other_user", "you signed in at the provider as somebody else.")
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, int) or auth_time < pending["started"]:
        raise _refuse("not_fresh", "the provider did not ask you to sign in again. Try again.")
    session = request.session
    session[SESSION_AUTH_TIME] = auth_time
    if exchange.get("refresh_token"):
        session[SESSION_REFRESH_TOKEN] = exchange["refresh_token"]
    session_proof_record(
        session=session, at=datetime.fromtimestamp(auth_time, tz=UTC), method=SIGN_IN_METHOD, auth_time=auth_time
    )
    user_event_record(
        user=request.user,
        action=AuditAction.SSO_STEP_UP,
        data={"method": SIGN_IN_METHOD, "auth_time": datetime.fromtimestamp(auth_time, tz=UTC).isoformat()},
    )
    return pending.get("next") or exchange.get("next_url")


def sso_step_up_refusal_record(*, user, refused):
    """The audit event of a refused step-up: the reason, never the token."""
    user_event_record(
        user=user, action=AuditAction.SSO_STEP_UP_REFUSED, outcome=AuditOutcome.DENIED, data={"reason": refused.reason}
    )


# ----------------------------------------------------------------------------------------- views


@routes("accounts/sso/step-up/", name="sso-step-up")
@login_required
@require_GET
def sso_step_up(request):
    """From a decision page's "Confirm at <provider>" link: off to the provider, back to the page named by
    `next`. A link, not a form: the CSP's form-action lets a form lead nowhere but this portal, and
    starting a step-up changes nothing a forged request could use (the answer must carry its state)."""
    next_url = safe_next(request, request.GET.get("next"), _home())
    if not sso_session(request.session):
        messages.info(request, "You signed in with a password: type it again on the decision form.")
        return HttpResponseRedirect(next_url)
    try:
        url = sso_step_up_start(request, next_url=next_url)
    except SsoRefused as refused:
        sso_step_up_refusal_record(user=request.user, refused=refused)
        messages.error(request, str(refused))
        return HttpResponseRedirect(next_url)
    return HttpResponseRedirect(url)


@routes("accounts/sso/step-up/callback/", name="sso-step-up-callback")
@login_required
@require_GET
def sso_step_up_callback(request):
    """The provider sends the browser back here after the sign-in again; back to the decision page,
    with this session's proof fresh, or with the reason it is not."""
    if not sso_session(request.session):
        return redirect("home")
    pending = request.session.get(STEP_UP_SESSION_KEY)
    back = safe_next(request, pending.get("next") if isinstance(pending, dict) else None, _home())
    try:
        next_url = sso_step_up_complete(
            request,
            code=request.GET.get("code"),
            state=request.GET.get("state"),
            error=request.GET.get("error", ""),
        )
    except SsoRefused as refused:
        sso_step_up_refusal_record(user=request.user, refused=refused)
        messages.error(request, str(refused))
        return HttpResponseRedirect(back)
    messages.success(request, "Confirmed at the provider: you may decide now.")
    return HttpResponseRedirect(safe_next(request, next_url, _home()))
