"""Single sign-on with a SAML 2.0 identity provider (Entra ID, Okta, ADFS, Keycloak, Shibboleth...).

pysaml2 is the service provider: it builds the AuthnRequest (HTTP-Redirect binding, or HTTP-POST when
the provider offers only that), and parses the response the provider posts back, verifying its XML
signature with xmlsec1 against the certificate in the provider's metadata, its InResponseTo against
the requests this browser sent, and its dates. What it only logs, or leaves to configuration, is
checked again here on the verified response: a signed assertion, the Destination and the subject
confirmation's Recipient this portal's ACS, the audience this portal's entity id, NotOnOrAfter not
passed. Every refusal is an `SsoRefused` whose text is what the user reads; the response itself is
never logged nor audited.

The requests a browser has outstanding travel in a signed cookie of their own, not in the session:
the provider's POST to the ACS comes from another site, and the session cookie (SameSite=Lax) is not
sent with it. That cookie (SameSite=None over HTTPS) is what ties a response to the browser that asked
for it, so a response captured elsewhere, or posted twice, answers no request here.

djangosaml2 is not used: its class-based views, its own session middleware and its user backend would
sit beside this portal's routes, session and SSO user rules rather than in them, and its ACS turns
every failure into one generic page.
"""

import threading
import time
from datetime import UTC, datetime
from importlib import import_module

import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core import signing
from django.urls import reverse

# pysaml2's client, configuration, response and signature modules are imported where they are used:
# together they add some 15 MB (XML schemas, xmlsec bindings) to a process, and every web and Celery
# process imports this module, whether SAML is configured or not. These few are light.
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.s_utils import UnsupportedBinding
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT
from saml2.validate import ResponseLifetimeExceed, ToEarly

from investigations.accounts.services import session_proof_record, user_event_record
from investigations.accounts.sso import USERNAME_PREFIX as OIDC_USERNAME_PREFIX
from investigations.accounts.sso import (
    ProviderDisplay,
    SsoRefused,
    sso_admitted,
    sso_apply_roles,
    sso_email_allowed,
    sso_roles_from_groups,
    sso_user_create,
    sso_username,
)
from investigations.models import AuditAction

SAML_BACKEND = "investigations.accounts.saml.SamlBackend"
SIGN_IN_METHOD = "saml"
USERNAME_PREFIX = "saml:"
# The session keys a SAML session keeps.
SESSION_NAME_ID = "saml_name_id"
SESSION_AUTHN_INSTANT = "saml_authn_instant"  # epoch seconds: when the user authenticated at the provider

STATE_COOKIE = "portal_saml_state"
_STATE_SALT = "investigations.accounts.saml.state"
# An AuthnRequest is answered within this long or not at all; at most this many wait at once per browser.
STATE_MAX_AGE_SECONDS = 600
_STATE_MAX_PENDING = 5
# Clock skew allowed between the provider and this server.
LEEWAY_SECONDS = 60
_HTTP_TIMEOUT = 10


def _refuse(reason, detail):
    return SsoRefused(f"SAML sign-in refused: {detail}", reason=reason)


def saml_enabled():
    return bool(getattr(settings, "SAML_IDP_METADATA_URL", "") or getattr(settings, "SAML_IDP_METADATA_FILE", ""))


def saml_session(session):
    """Whether this session was signed in at the SAML provider."""
    return saml_enabled() and bool(session.get(SESSION_NAME_ID))


# ---------------------------------------------------------------------------------- configuration

_cache = {}
_cache_lock = threading.Lock()


def saml_forget_provider():
    """Drop the cached provider metadata (another provider configured, or a test)."""
    with _cache_lock:
        _cache.clear()


def _idp_metadata():
    """The provider's metadata XML, read once per process (its certificate signs every response)."""
    source = settings.SAML_IDP_METADATA_URL or settings.SAML_IDP_METADATA_FILE
    with _cache_lock:
        cached = _cache.get(("metadata", source))
    if cached is not None:
        return cached
    try:
        if settings.SAML_IDP_METADATA_URL:
            response = requests.get(settings.SAML_IDP_METADATA_URL, timeout=_HTTP_TIMEOUT)
            response.raise_for_status()
            xml = response.text
        else:
            with open(settings.SAML_IDP_METADATA_FILE, encoding="utf-8") as file:
                xml = file.read()
    except (OSError, requests.RequestException):
        raise _refuse(
            "provider_unreachable", "the sign-in provider's metadata could not be read. Try again later."
        ) from None
    with _cache_lock:
        _cache[("metadata", source)] = xml
    return xml


def saml_acs_url(request):
    return request.build_absolute_uri(reverse("saml-acs"))


def _sp_config(request):
    sp = {
        "name": "Mimecast Investigation Portal",
        "endpoints": {"assertion_consumer_service": [(saml_acs_url(request), BINDING_HTTP_POST)]},
        # A response must answer a request this browser sent (InResponseTo); IdP-initiated ones are refused.
        "allow_unsolicited": False,
        "want_assertions_signed": True,
        "want_response_signed": False,
        "authn_requests_signed": bool(settings.SAML_SP_KEY_FILE),
        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
    }
    config = {
        "entityid": settings.SAML_SP_ENTITY_ID,
        "xmlsec_binary": settings.SAML_XMLSEC_BINARY,
        "metadata": {"inline": [_idp_metadata()]},
        "allow_unknown_attributes": True,
        "accepted_time_diff": LEEWAY_SECONDS,
        "service": {"sp": sp},
    }
    if settings.SAML_SP_KEY_FILE:
        config.update({"key_file": settings.SAML_SP_KEY_FILE, "cert_file": settings.SAML_SP_CERT_FILE})
    from saml2.config import SPConfig

    sp_config = SPConfig()
    try:
        sp_config.load(config)
    except Exception:
        raise _refuse(
            "bad_metadata", "the sign-in provider's metadata could not be used. Ask an administrator."
        ) from None
    return sp_config


def _client(request):
    from saml2.client import Saml2Client

    client = Saml2Client(config=_sp_config(request))
    providers = list(client.metadata.identity_providers())
    if len(providers) != 1:
        raise _refuse("bad_metadata", "the sign-in provider's metadata must describe exactly one provider.")
    return client, providers[0]


def saml_metadata(request):
    """This portal's service-provider metadata (entity id, ACS, certificate), for the provider's admin."""
    from saml2.metadata import create_metadata_string

    xml = create_metadata_string(None, config=_sp_config(request), valid=24 * 7, sign=False)
    return xml.decode() if isinstance(xml, bytes) else xml


# ----------------------------------------------------------------------------------- the request


def saml_state_read(request):
    """The AuthnRequests this browser has outstanding: {request id: {"next", "force", "at"}}."""
    try:
        state = signing.loads(request.COOKIES.get(STATE_COOKIE, ""), salt=_STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return {}
    return state if isinstance(state, dict) else {}


def saml_state_write(response, state):
    """Set (or, when nothing is outstanding, delete) the state cookie on `response`. SameSite=None over
    HTTPS: the provider's POST to the ACS is cross-site and must carry it."""
    secure = bool(settings.SESSION_COOKIE_SECURE)
    samesite = "None" if secure else "Lax"
    path = reverse("saml-acs").rsplit("/", 2)[0] + "/"
    if not state:
        response.delete_cookie(STATE_COOKIE, path=path, samesite=samesite)
        return response
    response.set_cookie(
        STATE_COOKIE,
        signing.dumps(state, salt=_STATE_SALT, compress=True),
        max_age=STATE_MAX_AGE_SECONDS,
        path=path,
        secure=secure,
        httponly=True,
        samesite=samesite,
    )
    return response


def saml_authn_request(request, *, next_url, force_authn=False, step_up_session=""):
    """The AuthnRequest for this browser, ready to send, and the browser's new state (the request
    added). Returns {"redirect": url} or {"post": {"action", "fields"}}, and the state. A step-up names
    the session whose proof the answer renews (`step_up_session`, its key)."""
    client, idp = _client(request)
    bindings = {binding for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST) if _sso_service(client, idp, binding)}
    if not bindings:
        raise _refuse("bad_metadata", "the sign-in provider offers no binding this portal speaks.")
    binding = BINDING_HTTP_REDIRECT if BINDING_HTTP_REDIRECT in bindings else BINDING_HTTP_POST
    destination = _sso_service(client, idp, binding)[0]["location"]
    kwargs = {"force_authn": "true"} if force_authn else {}
    request_id, message = client.create_authn_request(
        destination,
        binding=BINDING_HTTP_POST,  # how the response comes back
        nameid_format=NAMEID_FORMAT_PERSISTENT,
        sign=bool(settings.SAML_SP_KEY_FILE) and binding == BINDING_HTTP_POST,
        **kwargs,
    )
    http = client.apply_binding(
        binding,
        str(message),
        destination,
        relay_state="",
        sign=bool(settings.SAML_SP_KEY_FILE) and binding == BINDING_HTTP_REDIRECT,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" if settings.SAML_SP_KEY_FILE else None,
    )
    state = saml_state_read(request)
    state = dict(sorted(state.items(), key=lambda item: item[1].get("at", 0))[-(_STATE_MAX_PENDING - 1) :])
    state[request_id] = {"next": next_url, "force": force_authn, "at": int(time.time())}
    if step_up_session:
        state[request_id]["step_up"] = step_up_session
    if binding == BINDING_HTTP_REDIRECT:
        location = dict(http["headers"])["Location"]
        return {"redirect": location}, state
    return {"post": {"action": destination, "fields": {"SAMLRequest": _post_field(http["data"])}}}, state


def _sso_service(client, idp, binding):
    try:
        return client.metadata.single_sign_on_service(idp, binding)
    except UnsupportedBinding:
        return []


def _post_field(form_html):
    marker = 'name="SAMLRequest" value="'
    start = form_html.index(marker) + len(marker)
    return form_html[start : form_html.index('"', start)]


# ---------------------------------------------------------------------------------- the response


def _parse_refusals():
    from saml2.response import StatusError, UnsolicitedResponse
    from saml2.sigver import SignatureError

    return (
        (
            UnsolicitedResponse,
            "unsolicited",
            "the provider's answer is for a sign-in not started in this browser, or already used. Start again.",
        ),
        (ResponseLifetimeExceed, "expired", "the provider's answer has expired. Sign in again."),
        (ToEarly, "not_yet_valid", "the provider's answer is dated in the future."),
        (SignatureError, "bad_signature", "the provider's signature does not verify."),
        (StatusError, "provider_error", "the provider did not sign you in."),
    )


def saml_consume(request, *, saml_response, state):
    """The identity in the provider's `saml_response` (base64, HTTP-POST binding) answering one of
    the `state`'s requests, every check done; or SsoRefused. Returns {"request_id", "name_id",
    "attributes", "authn_instant", "next", "force"}."""
    if not isinstance(saml_response, str) or not saml_response:
        raise _refuse("no_response", "the provider sent no answer. Start again.")
    outstanding = {request_id: entry.get("next") for request_id, entry in state.items()}
    client, idp = _client(request)
    try:
        response = client.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding=outstanding)
    except SsoRefused:
        raise
    except Exception as error:
        if "missing" in str(error).lower() and "signature" in str(error).lower():
            raise _refuse("unsigned", "the provider's answer is not signed.") from None
        for kind, reason, detail in _parse_refusals():
            if isinstance(error, kind):
                raise _refuse(reason, detail) from None
        if "audience" in str(error).lower():
            raise _refuse("wrong_audience", "the provider's answer was issued for another application.") from None
        if "signature" in type(error).__name__.lower() or "signed" in str(error).lower():
            raise _refuse("bad_signature", "the provider's answer is not signed as required.") from None
        raise _refuse("invalid", "the provider's answer could not be verified.") from None
    if response is None:
        # pysaml2 answers None (and logs) for a Destination that is not this portal's ACS.
        raise _refuse("wrong_destination", "the provider's answer was addressed to another application.")
    return _checked(request, response, state=state, idp=idp)


def _checked(request, response, *, state, idp):
    """The checks made here on pysaml2's verified response, whatever it was configured to do."""
    acs = saml_acs_url(request)
    entity_id = settings.SAML_SP_ENTITY_ID
    request_id = response.in_response_to
    if request_id not in state:
        raise _refuse("unsolicited", "the provider's answer is for a sign-in not started in this browser. Start again.")
    if response.response.destination != acs:
        raise _refuse("wrong_destination", "the provider's answer was addressed to another application.")
    assertion = response.assertion
    if assertion is None or (assertion.signature is None and response.response.signature is None):
        raise _refuse("unsigned", "the provider's answer is not signed.")
    if assertion.issuer is None or assertion.issuer.text != idp:
        raise _refuse("wrong_issuer", "the provider's answer comes from another provider.")
    conditions = assertion.conditions
    audiences = [
        audience.text.strip()
        for restriction in (conditions.audience_restriction if conditions else [])
        for audience in restriction.audience
        if audience.text
    ]
    if entity_id not in audiences:
        raise _refuse("wrong_audience", "the provider's answer was issued for another application.")
    now = time.time()
    confirmations = [
        sc.subject_confirmation_data for sc in assertion.subject.subject_confirmation if sc.subject_confirmation_data
    ]
    if not confirmations or any(data.recipient != acs for data in confirmations):
        raise _refuse("wrong_destination", "the provider's answer was addressed to another application.")
    for not_after in [conditions.not_on_or_after if conditions else None] + [
        data.not_on_or_after for data in confirmations
    ]:
        if not not_after or _epoch(not_after) + LEEWAY_SECONDS < now:
            raise _refuse("expired", "the provider's answer has expired. Sign in again.")
    if len(assertion.authn_statement) != 1:
        raise _refuse("invalid", "the provider's answer does not say how you signed in.")
    authn_instant = int(_epoch(assertion.authn_statement[0].authn_instant))
    entry = state[request_id]
    if entry.get("force") and authn_instant < entry.get("at", 0) - LEEWAY_SECONDS:
        raise _refuse("stale_authn_instant", "the provider did not ask you to sign in again.")
    name_id = response.name_id
    if name_id is None or not name_id.text or name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise _refuse("no_name_id", "the provider's answer names no lasting user (persistent NameID).")
    return {
        "request_id": request_id,
        "name_id": name_id.text.strip(),
        "attributes": {name: list(values) for name, values in (response.ava or {}).items()},
        "authn_instant": authn_instant,
        "next": entry.get("next"),
        "force": bool(entry.get("force")),
        "step_up": entry.get("step_up") or "",
    }


def _epoch(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ----------------------------------------------------------------------------------- the backend


def _attribute(identity, setting, default):
    values = identity["attributes"].get(getattr(settings, setting, "") or default) or []
    return [value for value in values if isinstance(value, str)]


def saml_groups(identity):
    return sorted(set(_attribute(identity, "SAML_GROUPS_ATTRIBUTE", "groups")))


def saml_username(name_id):
    """As `sso_username` (a long name hashed to fit), under the SAML prefix."""
    return USERNAME_PREFIX + sso_username(name_id).removeprefix(OIDC_USERNAME_PREFIX)


class SamlBackend(ModelBackend):
    """Users found by the provider's persistent NameID (never by email, as for OpenID Connect). Only
    `saml_sign_in` authenticates through it; a password sign-in passes through it untouched."""

    def authenticate(self, request, saml_identity=None, **kwargs):
        if saml_identity is None or request is None:
            return None
        try:
            return self._user_for(saml_identity)
        except SsoRefused as refused:
            refused.who = refused.who or saml_username(saml_identity["name_id"])
            raise

    def _user_for(self, identity):
        emails = _attribute(identity, "SAML_EMAIL_ATTRIBUTE", "mail")
        email = emails[0] if emails else ""
        if "@" not in email:
            raise _refuse("no_email", "the provider did not send your email address.")
        if not sso_email_allowed(email, setting="SAML_ALLOWED_EMAIL_DOMAINS"):
            raise _refuse("email_domain", f"the email domain of {email} is not allowed to sign in to this portal.")
        groups = saml_groups(identity)
        roles = sso_roles_from_groups(groups, setting="SAML_GROUP_ROLES")
        username = saml_username(identity["name_id"])
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        names = _attribute(identity, "SAML_NAME_ATTRIBUTE", "displayName")

        def account():
            user = existing or sso_user_create(
                username=username, email=email, first_name=names[0] if names else "", actor="saml", source="saml"
            )
            if existing is not None and (existing.email != email):
                existing.email = email
                existing.save(update_fields=["email"])
            sso_apply_roles(user=user, roles=roles, source="saml", groups=groups)
            return user

        return sso_admitted(existing=existing, roles=roles, account=account, refuse=_refuse)


# ----------------------------------------------------------------------------------- the sign-in


def saml_sign_in(*, request, identity):
    """Sign in the person the verified `identity` names (SsoRefused when they may not). The session's
    proof of who holds it is the provider's AuthnInstant, not now: a browser still signed in at the
    provider comes back without typing anything, which proves nothing new."""
    user = SamlBackend().authenticate(request, saml_identity=identity)
    request.sign_in_method = SIGN_IN_METHOD
    auth.login(request, user, backend=SAML_BACKEND)
    instant = identity["authn_instant"]
    request.session[SESSION_NAME_ID] = identity["name_id"]
    request.session[SESSION_AUTHN_INSTANT] = instant
    session_proof_record(
        session=request.session, at=datetime.fromtimestamp(instant, tz=UTC), method=SIGN_IN_METHOD, auth_time=instant
    )
    return user


def saml_step_up_complete(*, request, identity):
    """Renew the proof of the session the step-up named (`identity` is a verified ForceAuthn answer):
    the same person, authenticated at the provider since the step-up started. The provider's POST is
    cross-site and comes without the session cookie, so the session is found by the key the signed
    state cookie kept, and must still be signed in as this NameID. Returns the user; SsoRefused."""
    session = request.session
    if session.session_key != identity["step_up"]:
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=identity["step_up"])
    user_id = session.get(auth.SESSION_KEY)
    if not user_id or session.get(SESSION_NAME_ID) != identity["name_id"]:
        raise SsoRefused(
            "Confirmation at the provider refused: you signed in at the provider as somebody else, "
            "or your session here has ended.",
            reason="other_user",
        )
    user = get_user_model().objects.get(pk=user_id)
    instant = identity["authn_instant"]
    session[SESSION_AUTHN_INSTANT] = instant
    at = datetime.fromtimestamp(instant, tz=UTC)
    session_proof_record(session=session, at=at, method=SIGN_IN_METHOD, auth_time=instant)
    session.save()
    user_event_record(
        user=user, action=AuditAction.SSO_STEP_UP, data={"method": SIGN_IN_METHOD, "auth_time": at.isoformat()}
    )
    return user


_SAML_DISPLAY = ProviderDisplay(
    enabled=saml_enabled, name_setting="SAML_PROVIDER_NAME", roles_setting="SAML_GROUP_ROLES"
)


def saml_context(request):
    """Template context processor: `saml` on every page."""
    return {"saml": _SAML_DISPLAY}
