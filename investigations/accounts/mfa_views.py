"""Two-step sign-in pages: the signed-in user's "Two-step sign-in" page (authenticator app with its QR
code, passkeys, recovery codes, removal), the second step of a password sign-in, the passkey
confirmation before a decision, and the passkey ceremonies' endpoints (django-otp-webauthn's views,
each behind a signed-in session and audited here).

The passkey script is django-otp-webauthn's own static file (a module script from this origin) and
its configuration a JSON data block, which the strict CSP allows as they are: nothing inline runs."""

import json
from functools import wraps

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.i18n import JavaScriptCatalog
from django_htmx.http import HttpResponseClientRedirect
from django_otp_webauthn import views as webauthn_views
from django_otp_webauthn.models import WebAuthnCredential

from investigations.accounts import mfa, stepup
from investigations.accounts.forms import MfaDeviceRemoveForm, SecondFactorForm, TotpConfirmForm
from investigations.accounts.services import session_proof_record
from investigations.accounts.sso_stepup import sso_session
from investigations.core.links import safe_next, with_query
from investigations.core.routes import Routes
from investigations.models import UserSession

routes = Routes()

# Set at a password sign-in of a user with two-step sign-in; until it goes, every page but the second
# step (and signing out) sends the user there.
PENDING_SESSION_KEY = "mfa_pending"
# The paths a session waiting for its second factor may still reach.
_PENDING_OPEN = (
    "/accounts/login/",
    "/accounts/logout/",
    "/account/security/passkey/verify/",
    "/account/security/jsi18n/",
)


def _home():
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def second_factor_pending(session):
    return bool(session.get(PENDING_SESSION_KEY))


def second_factor_begin(request, *, next_url):
    """After the password: the user with two-step sign-in gives the second factor before anything else."""
    request.session[PENDING_SESSION_KEY] = True
    return HttpResponseRedirect(with_query(reverse("login-second-factor"), {"next": next_url}))


def _second_factor_done(request, *, method):
    """The second factor given at sign-in: the session's proof is now it, and the session's row says how
    it signed in."""
    request.session.pop(PENDING_SESSION_KEY, None)
    session_proof_record(session=request.session, at=timezone.now(), method=method)
    state = request.session.get("user_session")
    if isinstance(state, dict) and isinstance(state.get("id"), int):
        UserSession.objects.filter(pk=state["id"], user=request.user).update(method=f"password+{method}")
    mfa.mfa_verification_record(user=request.user, method=method, ok=True, purpose="sign_in")


class SecondFactorMiddleware:
    """A session signed in with the password of a user who has two-step sign-in reaches nothing else
    until the second factor is given. Reads only the session: no query on any request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and second_factor_pending(session) and request.user.is_authenticated:
            path = request.path
            if not path.startswith(_PENDING_OPEN) and not path.startswith(settings.STATIC_URL):
                target = with_query(reverse("login-second-factor"), {"next": _home()})
                if getattr(request, "htmx", False) or request.headers.get("HX-Request"):
                    return HttpResponseClientRedirect(target)
                return HttpResponseRedirect(target)
        return self.get_response(request)


def passkey_config(request, *, next_url=""):
    """django-otp-webauthn's script configuration, pointing at this module's endpoints."""
    return {
        "autocompleteLoginFieldSelector": None,
        # The page's own `next`, not the header's: the theme form there carries one too (back to this page).
        "nextFieldSelector": "main input[name='next']",
        "csrfToken": get_token(request),
        "beginAuthenticationUrl": reverse("mfa-passkey-verify-begin"),
        "completeAuthenticationUrl": reverse("mfa-passkey-verify-complete"),
        "beginRegistrationUrl": reverse("mfa-passkey-register-begin"),
        "completeRegistrationUrl": reverse("mfa-passkey-register-complete"),
    }


# ----------------------------------------------------------------------------- the security page


def _security_page(request, *, status=200, confirm_form=None, recovery_codes=None):
    pending = mfa.totp_devices(request.user, confirmed=False).order_by("-id").first()
    context = {
        **mfa.mfa_summary(request.user),
        "sso": sso_session(request.session),
        "pending": pending,
        "pending_secret": mfa.totp_secret_base32(pending) if pending else "",
        "pending_qr": mfa.totp_qr_svg(pending) if pending else "",
        "confirm_form": confirm_form or TotpConfirmForm(initial={"device": pending.pk if pending else None}),
        "recovery_codes": recovery_codes,
        "passkey_config": passkey_config(request),
    }
    return render(request, "accounts/mfa.html", context, status=status)


SIGN_IN_AGAIN = "To change your two-step sign-in, sign in again: your last sign-in in this session is too old."


def _fresh_proof_required(view):
    """Adding or removing a factor needs this session's proof to be fresh (the same rule as a decision):
    otherwise a stolen session could enrol its own authenticator and then pass every step-up with it.
    A stale session is signed out and sent to sign in again, back to the security page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if stepup.is_fresh(request):
            return view(request, *args, **kwargs)
        auth.logout(request)
        messages.warning(request, SIGN_IN_AGAIN)
        return redirect(with_query(reverse("login"), {"next": reverse("account-security")}))

    return wrapped


@routes("account/security/", name="account-security")
@login_required
@require_GET
@never_cache
def security(request):
    return _security_page(request)


@routes("account/security/totp/start/", name="mfa-totp-start")
@login_required
@require_POST
@_fresh_proof_required
def totp_start(request):
    mfa.totp_device_start(user=request.user)
    return redirect("account-security")


@routes("account/security/totp/confirm/", name="mfa-totp-confirm")
@login_required
@require_POST
@never_cache
@_fresh_proof_required
def totp_confirm(request):
    form = TotpConfirmForm(request.POST)
    if not form.is_valid():
        return _security_page(request, status=400, confirm_form=form)
    try:
        mfa.totp_device_confirm(
            actor=request.user, device_id=form.cleaned_data["device"], code=form.cleaned_data["otp_code"]
        )
    except mfa.MfaRefused as refused:
        form.add_error("otp_code", str(refused))
        return _security_page(request, status=400, confirm_form=form)
    # Not a proof of who is signed in: whoever holds the session chose this app.
    messages.success(request, "Authenticator app added: sign-ins and decisions now ask for its code.")
    return redirect("account-security")


@routes("account/security/recovery-codes/", name="mfa-recovery-create")
@login_required
@require_POST
@never_cache
@_fresh_proof_required
def recovery_create(request):
    """New recovery codes, shown on this answer only: only their digests are kept, so the page says to
    keep them now (any earlier set stops working)."""
    return _security_page(request, recovery_codes=mfa.recovery_codes_create(actor=request.user))


@routes("account/security/remove/", name="mfa-device-remove")
@login_required
@require_POST
@_fresh_proof_required
def device_remove(request):
    form = MfaDeviceRemoveForm(request.POST)
    if form.is_valid() and mfa.mfa_device_remove(
        actor=request.user, kind=form.cleaned_data["kind"], device_id=form.cleaned_data["device"]
    ):
        messages.success(request, "Removed.")
    else:
        messages.error(request, "There is no such device of yours.")
    return redirect("account-security")


# ------------------------------------------------------------------------ the second sign-in step


@routes("accounts/login/second-factor/", name="login-second-factor")
@login_required
@never_cache
def second_factor(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"), _home())
    if not second_factor_pending(request.session):
        return HttpResponseRedirect(next_url)
    form = SecondFactorForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        method = mfa.mfa_code_verify(user=request.user, code=form.cleaned_data["otp_code"])
        if method is not None:
            _second_factor_done(request, method=method)
            if method == mfa.RECOVERY_METHOD:
                left = mfa.recovery_codes_left(request.user)
                messages.warning(
                    request, f"Recovery code used: {left} left. Make new ones on the two-step sign-in page."
                )
            return HttpResponseRedirect(next_url)
        mfa.mfa_verification_record(user=request.user, method="code", ok=False, purpose="sign_in")
        form.add_error("otp_code", "That code is not correct (or was already used). Try again.")
    context = {
        "form": form,
        "next": next_url,
        "passkey": mfa.user_has_passkey(request.user),
        "passkey_config": passkey_config(request),
    }
    return render(request, "registration/second_factor.html", context, status=400 if form.errors else 200)


@routes("account/security/passkey/confirm/", name="mfa-passkey-confirm")
@login_required
@require_GET
@never_cache
def passkey_confirm(request):
    """Before a decision: confirm with a passkey, then back to the decision page (the script follows the
    `next` field)."""
    next_url = safe_next(request, request.GET.get("next"), _home())
    context = {
        "next": next_url,
        "passkey": mfa.user_has_passkey(request.user),
        "passkey_config": passkey_config(request),
    }
    return render(request, "accounts/mfa_passkey.html", context)


# --------------------------------------------------------------------- passkey ceremony endpoints
# Each answers JSON, but only to a signed-in session: anyone else is sent to sign in.


class _RegistrationBegin(webauthn_views.BeginCredentialRegistrationView):
    def post(self, *args, **kwargs):
        if not stepup.is_fresh(self.request):
            return JsonResponse({"detail": SIGN_IN_AGAIN}, status=403)
        return super().post(*args, **kwargs)

    def _check_user_verified(self, user):
        # The library asks django-otp's middleware whether this session gave its second factor; the
        # portal's own middleware already keeps a session that has not out of every page but the
        # second step, so any session here has.
        return None


class _RegistrationComplete(webauthn_views.CompleteCredentialRegistrationView):
    def _check_user_verified(self, user):
        return None

    def post(self, *args, **kwargs):
        # is_verified() is django-otp middleware's; see _RegistrationBegin.
        self.request.user.is_verified = lambda: True
        response = super().post(*args, **kwargs)
        credential = WebAuthnCredential.objects.filter(user=self.request.user, pk=_json_id(response)).first()
        if credential is not None:
            mfa.passkey_added_record(actor=self.request.user, credential=credential)
        return response


class _AuthenticationComplete(webauthn_views.CompleteCredentialAuthenticationView):
    """A passkey assertion from the signed-in user: the second step of their sign-in, or the proof before
    a decision. Either way this session's proof is now the passkey, at this moment."""

    def complete_auth(self, device):
        request = self.request
        if second_factor_pending(request.session):
            _second_factor_done(request, method=mfa.PASSKEY_METHOD)
        else:
            session_proof_record(session=request.session, at=timezone.now(), method=mfa.PASSKEY_METHOD)
            mfa.mfa_verification_record(user=request.user, method=mfa.PASSKEY_METHOD, ok=True, purpose="step_up")


def _json_id(response):
    try:
        value = json.loads(response.content).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


routes("account/security/passkey/register/begin/", name="mfa-passkey-register-begin")(
    login_required(_RegistrationBegin.as_view())
)
routes("account/security/passkey/register/complete/", name="mfa-passkey-register-complete")(
    login_required(_RegistrationComplete.as_view())
)
routes("account/security/passkey/verify/begin/", name="mfa-passkey-verify-begin")(
    login_required(webauthn_views.BeginCredentialAuthenticationView.as_view())
)
routes("account/security/passkey/verify/complete/", name="mfa-passkey-verify-complete")(
    login_required(_AuthenticationComplete.as_view())
)
# The passkey script's messages (it calls gettext); Django's catalog view, for the library's domain.
routes("account/security/jsi18n/", name="mfa-jsi18n")(
    login_required(JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]))
)
