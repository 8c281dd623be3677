"""Single sign-on with an OpenID Connect provider (Entra ID, Okta, Google, Keycloak...).

mozilla-django-oidc supplies the pieces of the authorization-code flow: the state, nonce and PKCE
entries it keeps in the session, the token request and the user matching of its backend. Everything
it leaves unchecked about the ID token is checked here, by `sso_verify_id_token`: the signature
against the provider's published keys (never "none", never an algorithm the provider does not
announce), the audience and authorised party, the issuer, the dates and the nonce. Every refusal is
an `SsoRefused` whose text is what the user reads; the token itself is never logged nor audited.

The provider's endpoints come from its discovery document (`{OIDC_ISSUER}/.well-known/
openid-configuration`), fetched once per process.
"""

import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import get_random_string
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import add_state_and_verifier_and_nonce_to_session, generate_code_challenge

from investigations.accounts.services import FRESH_AUTH_SESSION_KEY, session_proof_record, user_set_roles
from investigations.audit.services import audit_record
from investigations.core.roles import ALL_ROLES
from investigations.models import AuditAction, AuditOutcome

# The session keys an SSO session keeps (the periodic check and the step-up read them).
SESSION_SUB = "sso_sub"
SESSION_AUTH_TIME = "sso_auth_time"  # epoch seconds: when the user last authenticated at the provider
SESSION_CHECKED_AT = "sso_checked_at"  # epoch seconds: when the groups were last read
SESSION_SIGNED_IN_AT = "sso_signed_in_at"  # epoch seconds: the sign-in, for the bounded lifetime
SESSION_REFRESH_TOKEN = "sso_refresh_token"  # noqa: S105 - a session key, not a secret; server-side session only; never logged nor audited
SESSION_STATES = "oidc_states"  # mozilla-django-oidc's: state -> nonce, PKCE verifier, and ours

SSO_BACKEND = "investigations.accounts.sso.SsoBackend"
# What the session row ("my sessions") and the sign-in audit event say of an SSO session.
SIGN_IN_METHOD = "oidc"

# An SSO user's username: the provider's subject, which never changes for that person at that
# provider, where the email can be renamed or handed to someone else. Linking by email would also
# let whoever controls an address at the provider take over the local account holding it.
USERNAME_PREFIX = "oidc:"
_USERNAME_MAX = 150

# Clock skew allowed between the provider and this server on exp, iat and auth_time.
LEEWAY_SECONDS = 60
# Public-key algorithms only: with a shared-secret algorithm anyone holding the client secret could
# mint ID tokens, and "none" is no signature at all.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HTTP_TIMEOUT = 10


class SsoRefused(Exception):
    """A refused single sign-on. Its str is the plain message the user reads; `reason` is the short
    code the audit event records."""

    def __init__(self, message, *, reason, who=""):
        super().__init__(message)
        self.reason = reason
        self.who = who


def _refuse(reason, detail):
    return SsoRefused(f"Single sign-on refused: {detail}", reason=reason)


def sso_enabled():
    return bool(getattr(settings, "OIDC_ISSUER", ""))


# ------------------------------------------------------------------------------------ the provider

_cache = {}
_cache_lock = threading.Lock()


def _get_json(url, *, what):
    try:
        response = requests.get(url, timeout=_HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError):
        raise _refuse(
            "provider_unreachable", f"the sign-in provider's {what} could not be read. Try again later."
        ) from None


def sso_discovery():
    """The provider's discovery document, fetched once per process and issuer. Its `issuer` must be
    the configured one exactly (OpenID Connect Discovery 4.3)."""
    issuer = settings.OIDC_ISSUER
    with _cache_lock:
        cached = _cache.get(("discovery", issuer))
    if cached is not None:
        return cached
    document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", what="configuration")
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise _refuse("discovery_issuer", "the sign-in provider's configuration names another issuer.")
    with _cache_lock:
        _cache[("discovery", issuer)] = document
    return document


def sso_forget_provider():
    """Drop the cached discovery document and keys (another issuer configured, or a test)."""
    with _cache_lock:
        _cache.clear()


def _jwks(*, refresh=False):
    issuer = settings.OIDC_ISSUER
    with _cache_lock:
        cached = None if refresh else _cache.get(("jwks", issuer))
    if cached is not None:
        return cached
    keys = _get_json(sso_discovery()["jwks_uri"], what="signing keys")
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise _refuse("provider_unreachable", "the sign-in provider's signing keys could not be read.")
    with _cache_lock:
        _cache[("jwks", issuer)] = keys
    return keys


def _signing_key(header):
    """The provider's key named by the token's kid, for the token's algorithm. An unknown kid fetches
    the keys once more: the provider may have rotated them since they were cached."""
    kid, alg = header.get("kid"), header.get("alg")
    for refresh in (False, True):
        candidates = [
            jwk
            for jwk in _jwks(refresh=refresh)["keys"]
            if isinstance(jwk, dict)
            and (kid is None or jwk.get("kid") == kid)
            and jwk.get("alg", alg) == alg
            and jwk.get("use", "sig") == "sig"
        ]
        if len(candidates) == 1:
            try:
                return jwt.PyJWK(candidates[0], algorithm=alg).key
            except jwt.PyJWTError:
                break
        if len(candidates) > 1:
            break
    raise _refuse("unknown_key", "the token was signed with a key the provider does not publish.")


# ---------------------------------------------------------------------------------- the ID token

_DECODE_REFUSALS = (
    (jwt.ExpiredSignatureError, "expired", "the provider's token has expired. Sign in again."),
    (jwt.InvalidAudienceError, "wrong_aud", "the provider's token was issued for another application."),
    (jwt.InvalidIssuerError, "wrong_iss", "the provider's token comes from another issuer."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "the provider's token is dated in the future."),
    (jwt.InvalidSignatureError, "bad_signature", "the provider's token signature does not verify."),
    (jwt.MissingRequiredClaimError, "missing_claim", "the provider's token lacks a required claim."),
)


def sso_verify_id_token(raw, *, nonce, max_age=None):
    """The claims of an ID token, every check of OpenID Connect Core 3.1.3.7 done, or SsoRefused.
    `nonce` is the one sent with the authorization request (None only for a token from the refresh
    grant, which carries none to compare); with `max_age` (asked at the provider, prompt=login asks
    max_age=0) the token must say when the user authenticated, and recently enough."""
    if not isinstance(raw, str) or not raw:
        raise _refuse("no_token", "the provider returned no ID token.")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise _refuse("malformed", "the provider's token could not be read.") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        raise _refuse("alg_none", "the provider's token is not signed.")
    announced = sso_discovery().get("id_token_signing_alg_values_supported") or ["RS256"]
    if alg not in ALLOWED_ALGORITHMS or alg not in announced:
        raise _refuse("alg_not_allowed", f"the provider's token is signed with an algorithm not allowed ({alg}).")
    key = _signing_key(header)
    client_id = settings.OIDC_CLIENT_ID
    try:
        claims = jwt.decode(
            raw,
            key,
            algorithms=[alg],
            audience=client_id,
            issuer=settings.OIDC_ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "sub", "aud", "exp", "iat"], "strict_aud": False},
        )
    except jwt.PyJWTError as error:
        for kind, reason, detail in _DECODE_REFUSALS:
            if isinstance(error, kind):
                raise _refuse(reason, detail) from None
        raise _refuse("invalid", "the provider's token is not valid.") from None
    _check_claims(claims, client_id=client_id, nonce=nonce, max_age=max_age)
    return claims


def _check_claims(claims, *, client_id, nonce, max_age):
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _refuse("missing_claim", "the provider's token names no user.")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # Several audiences, or an azp at all: the party the token was issued to must be this portal.
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise _refuse("wrong_azp", "the provider's token was issued to another application.")
    if nonce is not None:
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str):
            raise _refuse("missing_nonce", "the provider's token does not answer this sign-in (no nonce).")
        if not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
            raise _refuse("wrong_nonce", "the provider's token answers another sign-in (nonce mismatch).")
    if max_age is not None:
        auth_time = claims.get("auth_time")
        if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
            raise _refuse("missing_auth_time", "the provider did not say when you signed in (no auth_time).")
        if time.time() - auth_time > max_age + LEEWAY_SECONDS:
            raise _refuse("stale_auth_time", "the provider did not ask you to sign in again.")


# ------------------------------------------------------------------------------- groups and roles


def sso_group_roles(setting="OIDC_GROUP_ROLES"):
    """The group -> role mapping (the `setting`: OIDC_GROUP_ROLES, or SAML_GROUP_ROLES for SAML;
    "group=role,group=role"; a dict is accepted too). A role the portal does not know is a
    configuration error, not something to ignore."""
    configured = getattr(settings, setting, "") or {}
    if isinstance(configured, str):
        pairs = [item.split("=", 1) for item in configured.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ImproperlyConfigured(f"{setting} must read group=role,group=role.")
        configured = {group.strip(): role.strip() for group, role in pairs}
    unknown = sorted(set(configured.values()) - set(ALL_ROLES))
    if unknown:
        raise ImproperlyConfigured(f"{setting} names unknown role(s): {', '.join(unknown)}.")
    return dict(configured)


def sso_groups(claims):
    """The groups claim as a list of names (a provider may send one group as a plain string)."""
    groups = claims.get(getattr(settings, "OIDC_GROUPS_CLAIM", "groups") or "groups")
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return []
    return sorted({group for group in groups if isinstance(group, str)})


def sso_roles_from_groups(groups, *, setting="OIDC_GROUP_ROLES"):
    mapping = sso_group_roles(setting)
    return {mapping[group] for group in groups if group in mapping}


def sso_roles_from_claims(claims):
    return sso_roles_from_groups(sso_groups(claims))


def sso_apply_roles(*, user, roles, source, groups):
    """Give `user` exactly `roles` (what the provider's groups map to); audited as a role change
    with its source ("sso-sign-in", "sso-session-check") and the groups seen. Returns whether the
    roles changed."""
    current = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    if current == set(roles):
        return False
    with transaction.atomic():
        user_set_roles(
            actor="sso",
            user=user,
            roles=sorted(roles),
            context={"source": source, "groups": sorted(groups)[:100]},
        )
    return True


# --------------------------------------------------------------------------------- the code flow


def _redirect_uri(request, callback):
    return request.build_absolute_uri(reverse(callback))


def sso_authorize_url(request, *, prompt=None, max_age=None, next_url, callback="sso-callback"):
    """The provider's authorization URL for this browser: a fresh state, nonce and PKCE verifier kept
    in the session under the state (with max_age and where to go next), as mozilla-django-oidc keeps
    them. `callback` names the portal route the provider sends the browser back to."""
    state = get_random_string(32)
    verifier = get_random_string(64)
    params = {
        "response_type": "code",
        "scope": settings.OIDC_SCOPES,
        "client_id": settings.OIDC_CLIENT_ID,
        "redirect_uri": _redirect_uri(request, callback),
        "state": state,
        "nonce": get_random_string(32),
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if prompt:
        params["prompt"] = prompt
    if max_age is not None:
        params["max_age"] = str(int(max_age))
    add_state_and_verifier_and_nonce_to_session(request, state, params, verifier)
    entry = request.session[SESSION_STATES][state]
    entry.update({"max_age": max_age, "next": next_url, "callback": callback})
    request.session.modified = True
    return f"{sso_discovery()['authorization_endpoint']}?{urlencode(params)}"


def sso_exchange(request, *, code, state):
    """The provider's answer to an authorization request: its state consumed (once), the code
    exchanged for tokens, the ID token verified against the nonce and max_age sent. Returns
    {"claims", "id_token", "access_token", "refresh_token", "next_url"}; raises SsoRefused."""
    states = request.session.get(SESSION_STATES)
    entry = states.pop(state, None) if isinstance(states, dict) and isinstance(state, str) else None
    if entry is None:
        raise _refuse("unknown_state", "this sign-in was not started here, or was already used. Start again.")
    request.session.modified = True
    if not code:
        raise _refuse("no_code", "the provider sent no authorization code. Start again.")
    backend = SsoBackend()
    backend.request = request
    tokens = backend.get_token(
        {
            "client_id": settings.OIDC_CLIENT_ID,
            "client_secret": settings.OIDC_CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _redirect_uri(request, entry.get("callback") or "sso-callback"),
            "code_verifier": entry.get("code_verifier"),
        }
    )
    claims = sso_verify_id_token(tokens.get("id_token"), nonce=entry.get("nonce"), max_age=entry.get("max_age"))
    return {
        "claims": claims,
        "id_token": tokens.get("id_token"),
        "access_token": tokens.get("access_token"),
        "refresh_token": tokens.get("refresh_token"),
        "next_url": entry.get("next"),
    }


# ---------------------------------------------------------------------------------- the backend


def sso_user_create(*, username, email, first_name="", last_name="", actor, source):
    """The account of a person at their first sign-in at a provider (OpenID Connect or SAML), audited
    as ``actor`` with its ``source``."""
    user = get_user_model()(username=username, email=email, first_name=first_name[:150], last_name=last_name[:150])
    # Never a local password: this user signs in at the provider or not at all.
    user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action=AuditAction.USER_CREATED,
        target=("user", user.pk),
        data={"username": user.username, "email": user.email, "source": source},
    )
    return user


def sso_username(sub):
    username = USERNAME_PREFIX + sub
    if len(username) <= _USERNAME_MAX:
        return username
    return USERNAME_PREFIX + "sha256:" + hashlib.sha256(sub.encode()).hexdigest()


def sso_email_allowed(email, *, setting="OIDC_ALLOWED_EMAIL_DOMAINS"):
    domains = [domain.lower().lstrip("@") for domain in getattr(settings, setting, [])]
    if not domains:
        return True
    return email.rpartition("@")[2].lower() in domains


class SsoBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with its endpoints from discovery, its token check replaced by
    ours, and users found by the provider's subject. Only `sso_exchange` and the SSO callback call
    it (with `sso_tokens`); a password sign-in passes through it untouched."""

    def __init__(self, *args, **kwargs):
        # No settings read here: Django builds every backend for every sign-in, local ones included.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = getattr(settings, "OIDC_CLIENT_ID", "")
        self.OIDC_RP_CLIENT_SECRET = getattr(settings, "OIDC_CLIENT_SECRET", "")

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):
        return sso_discovery()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self):
        return sso_discovery().get("userinfo_endpoint")

    def get_settings(self, attr, *args):
        """The library's options, where it reads them: how the client authenticates at the token
        endpoint follows what the provider announces (HTTP Basic only when it takes nothing else)."""
        if attr == "OIDC_TIMEOUT":
            return _HTTP_TIMEOUT
        if attr == "OIDC_TOKEN_USE_BASIC_AUTH":
            methods = sso_discovery().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            return "client_secret_post" not in methods
        return super().get_settings(attr, *args)

    def get_token(self, payload):
        payload = {name: value for name, value in payload.items() if value is not None}
        try:
            return super().get_token(payload)
        except requests.HTTPError:
            raise _refuse("token_refused", "the provider refused to complete the sign-in. Start again.") from None
        except (requests.RequestException, ValueError):
            raise _refuse(
                "provider_unreachable", "the sign-in provider could not be reached. Try again later."
            ) from None

    def verify_token(self, token, **kwargs):
        return sso_verify_id_token(token, nonce=kwargs.get("nonce"), max_age=kwargs.get("max_age"))

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, with the userinfo endpoint's answer on top when the provider has one
        (some send groups only there). Userinfo about another subject is refused (Core 5.3.2)."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT and access_token:
            try:
                info = super().get_userinfo(access_token, id_token, payload)
            except (requests.RequestException, ValueError, SuspiciousOperation):
                raise _refuse("userinfo_failed", "the provider's user information could not be read.") from None
            if not isinstance(info, dict) or info.get("sub") != payload["sub"]:
                raise _refuse("userinfo_sub", "the provider's user information is about another user.")
            claims.update({name: value for name, value in info.items() if name not in {"iss", "aud"}})
        return claims

    def verify_claims(self, claims):
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise _refuse("no_email", "the provider did not send your email address (scope email).")
        if claims.get("email_verified") is False:
            raise _refuse("email_unverified", "the provider has not verified your email address.")
        if not sso_email_allowed(email):
            raise _refuse("email_domain", f"the email domain of {email} is not allowed to sign in to this portal.")
        return True

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=sso_username(claims["sub"]))

    def create_user(self, claims):
        return sso_user_create(
            username=sso_username(claims["sub"]),
            email=claims["email"],
            # Some providers send only "name": it is still a name to show.
            first_name=str(claims.get("given_name") or claims.get("name") or ""),
            last_name=str(claims.get("family_name") or ""),
            actor="sso",
            source="sso-sign-in",
        )

    def update_user(self, user, claims):
        fields = {
            "email": claims["email"],
            "first_name": str(claims.get("given_name") or claims.get("name") or user.first_name)[:150],
            "last_name": str(claims.get("family_name") or user.last_name)[:150],
        }
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)
        return user

    def authenticate(self, request, sso_tokens=None, **kwargs):
        """The user the verified `sso_tokens` (from `sso_exchange`) name, created at the first sign-in,
        with the roles their groups map to; SsoRefused when they may not sign in."""
        if sso_tokens is None or request is None:
            return None
        self.request = request
        claims = sso_tokens["claims"]
        try:
            return self._user_for(claims, sso_tokens)
        except SsoRefused as refused:
            refused.who = refused.who or sso_username(claims["sub"])
            raise

    def _user_for(self, claims, sso_tokens):
        user_claims = self.get_userinfo(sso_tokens.get("access_token"), sso_tokens.get("id_token"), claims)
        self.verify_claims(user_claims)
        roles = sso_roles_from_claims(user_claims)
        existing = self.filter_users_by_claims(user_claims).first()

        def account():
            user = self.update_user(existing, user_claims) if existing else self.create_user(user_claims)
            sso_apply_roles(user=user, roles=roles, source="sso-sign-in", groups=sso_groups(user_claims))
            return user

        return sso_admitted(existing=existing, roles=roles, account=account, refuse=_refuse)


def sso_admitted(*, existing, roles, account, refuse):
    """The account a provider's sign-in (OpenID Connect or SAML) names, under the rules both share:
    never a local account (one with a password, or an integration's) under the provider's name; a new
    account only with a role; `account()`, in a transaction, creates it or brings it up to date with
    its roles; then it must have a role and be active. `refuse(reason, detail)` words the protocol's
    SsoRefused."""
    no_role = ("no_role", "none of your groups at the provider gives a role in this portal. Ask an administrator.")
    if existing is not None and (existing.is_integration or existing.has_usable_password()):
        # A local account under the provider's prefix is not this person's: never merge into it.
        raise refuse("account_conflict", "a local account holds this sign-in's name. Ask an administrator.")
    if existing is None and not roles:
        raise refuse(*no_role)
    with transaction.atomic():
        user = account()
    if not roles:
        raise refuse(*no_role)
    if not user.is_active:
        raise refuse("inactive", "your portal account is disabled. Ask an administrator.")
    return user


# ------------------------------------------------------------------------------------ the sign-in


def sso_sign_in(*, request, exchange):
    """Sign in the person the verified `exchange` names (SsoRefused when they may not). The session
    keeps the subject, when they authenticated at the provider and when their groups were read (the
    periodic check starts from there); the refresh token stays server-side in the session. The
    session's proof of who holds it is the provider's auth_time, not now: a browser still signed in
    at the provider comes back without typing anything, which proves nothing new."""
    user = SsoBackend().authenticate(request, sso_tokens=exchange)
    request.sign_in_method = SIGN_IN_METHOD
    auth.login(request, user, backend=SSO_BACKEND)
    claims, now = exchange["claims"], int(time.time())
    auth_time = claims.get("auth_time")
    session = request.session
    session[SESSION_SUB] = claims["sub"]
    session[SESSION_AUTH_TIME] = auth_time
    session[SESSION_CHECKED_AT] = now
    session[SESSION_SIGNED_IN_AT] = now
    session.pop(SESSION_REFRESH_TOKEN, None)
    if exchange.get("refresh_token"):
        session[SESSION_REFRESH_TOKEN] = exchange["refresh_token"]
    if isinstance(auth_time, int):
        at = datetime.fromtimestamp(auth_time, tz=UTC)
        session_proof_record(session=session, at=at, method=SIGN_IN_METHOD, auth_time=auth_time)
    else:
        session.pop(FRESH_AUTH_SESSION_KEY, None)
    return user


def sso_refusal_record(*, refused, who=""):
    """The audit event of a refused single sign-on: the reason and who it was (when known), never
    the token."""
    with transaction.atomic():
        audit_record(
            actor=AnonymousUser(),
            action=AuditAction.SSO_REFUSED,
            target=("user", who[:150]),
            outcome=AuditOutcome.DENIED,
            data={"reason": refused.reason, "who": who[:150]},
        )


class ProviderDisplay:
    """What pages show of a provider's sign-in (OpenID Connect or SAML: its button, the users page's
    group mapping), read from the settings when a template asks, so a page that never mentions it pays
    nothing."""

    def __init__(self, *, enabled, name_setting, roles_setting):
        self._enabled, self._name_setting, self._roles_setting = enabled, name_setting, roles_setting

    @property
    def enabled(self):
        return self._enabled()

    @property
    def name(self):
        return getattr(settings, self._name_setting)

    @property
    def group_roles(self):
        return sorted(sso_group_roles(self._roles_setting).items())


_SSO_DISPLAY = ProviderDisplay(enabled=sso_enabled, name_setting="OIDC_PROVIDER_NAME", roles_setting="OIDC_GROUP_ROLES")


def sso_context(request):
    """Template context processor: `sso` on every page."""
    return {"sso": _SSO_DISPLAY}
