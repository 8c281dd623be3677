"""The one step-up gate in front of every decision (approve, reject, break-glass, role changes): a fresh
proof, in this session, of who holds it.

- A single sign-on user signs in again at the provider (`sso_stepup`); nothing typed here counts.
- A local user with two-step sign-in gives a second factor: a code from the authenticator app, a
  recovery code, or a passkey assertion made just before through the passkey endpoint (which records
  the proof in the session, see `mfa_views`). Their password alone proves nothing new: it is the
  factor an attacker most likely holds.
- A local user without two-step sign-in, whose roles do not require it, types the password again.
- A local user whose roles require two-step sign-in and who has none cannot decide at all, however
  fresh the session: they are sent to set it up.

The session's proof stays good for FRESH_AUTH_MAX_AGE_SECONDS. Wrong passwords and codes count together
per user and lock that user's decisions for the sign-in cool-off (`accounts.services`)."""

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from investigations.accounts import mfa
from investigations.accounts import services as accounts
from investigations.accounts.saml import saml_session
from investigations.accounts.sso_stepup import sso_step_up_offer

# What the step-up partial shows.
SHOW_NOTHING = ""  # the proof is fresh: nothing to type
SHOW_PASSWORD = "password"  # noqa: S105 - the name of what to show, not a password
SHOW_CODE = "code"  # authenticator-app or recovery code, and the passkey button when there is one
SHOW_SSO = "sso"
SHOW_ENROL = "enrol"  # two-step sign-in required and missing: no decision until it is set up

# The form fields the gate reads (forms that carry a decision declare them, see accounts.forms.StepUpForm);
# a form without them may still be posted with them by the partial, read raw and bounded.
PASSWORD_FIELD = "password"  # noqa: S105 - a field name
CODE_FIELD = "otp_code"


def _age_limit():
    return timedelta(seconds=settings.FRESH_AUTH_MAX_AGE_SECONDS)


def proof_at(request):
    """When this session last proved who holds it, or None."""
    return accounts.session_proof_at(request.session)


def _proof_method(request):
    return accounts.session_proof(request.session)["method"]


def is_fresh(request, now=None):
    """Whether this session's proof is young enough to decide, and of a kind that counts for this user:
    once a local user has two-step sign-in, a proof by password alone (a sign-in before the second
    factor, or from before they enrolled) no longer does."""
    now = now or timezone.now()
    at = proof_at(request)
    if at is None or now - at > _age_limit():
        return False
    return _proof_method(request) in mfa.SECOND_FACTORS or not mfa.user_has_mfa(request.user)


def enrol_message():
    url = reverse("account-security")
    return format_html(
        "Your role requires two-step sign-in, which you have not set up: you cannot decide until you do. "
        '<a href="{}">Set up two-step sign-in</a>.',
        url,
    )


def locked_message(until):
    return (
        "Too many wrong passwords or codes: your decisions are locked until "
        f"{timezone.localtime(until):%H:%M %Z} (other approvers are not affected)."
    )


def _provider_step_up(request):
    """For a session signed in at a provider (OpenID Connect or SAML): its name and the view that sends
    the user back there to sign in again; None for a local session."""
    if sso_step_up_offer(request, next_url="") is not None:
        return {"provider": settings.OIDC_PROVIDER_NAME, "url": reverse("sso-step-up")}
    if saml_session(request.session):
        return {"provider": settings.SAML_PROVIDER_NAME, "url": reverse("saml-step-up")}
    return None


def _what_to_show(request, now):
    if mfa.mfa_missing(request):
        return SHOW_ENROL
    if is_fresh(request, now):
        return SHOW_NOTHING
    if _provider_step_up(request) is not None:
        return SHOW_SSO
    if mfa.user_has_mfa(request.user):
        return SHOW_CODE
    return SHOW_PASSWORD


def step_up_context(request, *, next_url):
    """What `templates/accounts/_step_up.html` shows for this user and session: `show` is "" (fresh),
    "password", "code" (with `passkey` when they have one), "sso" (with `provider` and `next`) or
    "enrol" (with `enrol_url`); `locked` is the lock's message or ""."""
    now = timezone.now()
    show = _what_to_show(request, now)
    locked_until = accounts.decisions_locked_until(user=request.user, now=now)
    provider = _provider_step_up(request) or {"provider": settings.OIDC_PROVIDER_NAME, "url": ""}
    return {
        "show": show,
        "next": next_url,
        "provider": provider["provider"],
        "provider_url": provider["url"],
        "passkey": show == SHOW_CODE and mfa.user_has_passkey(request.user),
        "enrol_url": reverse("account-security"),
        "locked": locked_message(locked_until) if locked_until else "",
        "max_age_minutes": settings.FRESH_AUTH_MAX_AGE_SECONDS // 60,
    }


def step_up_needed(request):
    """Whether a decision form must ask for a proof now (anything but a fresh session)."""
    return _what_to_show(request, timezone.now()) != SHOW_NOTHING


def _posted(form, name):
    """A field of the form: its cleaned value when the form declares it, else the raw posted value,
    bounded (a form built before two-step sign-in may not declare the code field)."""
    if name in form.fields:
        return (getattr(form, "cleaned_data", {}) or {}).get(name) or ""
    value = form.data.get(name, "") if hasattr(form.data, "get") else ""
    return value[: mfa.CODE_MAX_LENGTH * 8] if isinstance(value, str) else ""


def _error(form, field, message):
    form.add_error(field if field in form.fields else None, message)


def proof_confirmed(request, form):
    """True when this session may decide now: its proof is fresh, or the form carries a new one (the
    code, or the password where that is the user's proof), which then becomes the session's proof.
    Otherwise puts the reason on the form and returns False. Call it after `form.is_valid()`."""
    now = timezone.now()
    user = request.user
    if mfa.mfa_missing(request):
        form.add_error(None, enrol_message())
        return False
    locked_until = accounts.decisions_locked_until(user=user, now=now)
    if locked_until is not None:
        form.add_error(None, locked_message(locked_until))
        return False
    if is_fresh(request, now):
        return True
    minutes = settings.FRESH_AUTH_MAX_AGE_SECONDS // 60
    step_up = _provider_step_up(request)
    if step_up is not None:
        form.add_error(
            None, f"Confirm who you are at {step_up['provider']} first: your sign-in there is too old to decide."
        )
        return False
    if mfa.user_has_mfa(user):
        return _code_confirmed(request, form, now, minutes)
    return _password_confirmed(request, form, now, minutes)


def _code_confirmed(request, form, now, minutes):
    code = _posted(form, CODE_FIELD)
    if not code:
        message = (
            f"Confirm it is you to decide (your last confirmation is more than {minutes} minutes old): "
            "type the code from your authenticator app or a recovery code, or use your passkey."
        )
        _error(form, CODE_FIELD, message)
        return False
    outcome = accounts.user_reauthenticate_with(
        actor=request.user, check=lambda: mfa.mfa_code_verify(user=request.user, code=code), method="code", now=now
    )
    return _proof_recorded(request, form, outcome, now, CODE_FIELD, "That code is not correct (or was already used).")


def _password_confirmed(request, form, now, minutes):
    password = _posted(form, PASSWORD_FIELD)
    if not password:
        _error(
            form,
            PASSWORD_FIELD,
            f"Enter your password again to decide: your sign-in is more than {minutes} minutes old.",
        )
        return False
    # Checked against this user only, not through the sign-in backends: their lockout counts by
    # address too, and would lock out every colleague behind the same proxy.
    outcome = accounts.user_reauthenticate(actor=request.user, password=password, now=now)
    return _proof_recorded(request, form, outcome, now, PASSWORD_FIELD, "That password is not correct.")


def _proof_recorded(request, form, outcome, now, field, wrong):
    """The session's new proof when `outcome` (a code or password typed again) is good; else the lockout,
    or `wrong` on `field`, on the form and False."""
    if outcome.locked:
        form.add_error(None, locked_message(outcome.locked_until))
        return False
    if not outcome.ok:
        _error(form, field, wrong)
        return False
    accounts.session_proof_record(session=request.session, at=now, method=outcome.method)
    return True


def step_up_proof(request, *, with_time=True):
    """What a decision's audit event records of the proof: its method ("password", "totp", "recovery",
    "passkey" or "oidc"), its time `at` (ISO) and, for the provider, the auth_time it stated (ISO).
    `with_time=False` leaves `at` out, for an event that records the time beside it (remediation's
    `fresh_authentication_at`)."""
    proof = accounts.session_proof(request.session)
    at = proof_at(request)
    if with_time and at is not None:
        proof["at"] = at.isoformat()
    return proof
