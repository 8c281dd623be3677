"""The portal's page routes as the URL resolver holds them, for the tests that visit every one."""

from django.urls import URLPattern, URLResolver, get_resolver

# The REST API answers integration tokens, not browser sessions: its routes are checked against its
# own schema (tests/api/test_api_contract.py) and per token scope (tests/api/test_api_permissions.py).
TOKEN_NAMESPACES = {"api-v1"}

# Opened signed out: sign-in by either protocol, and the one-time link that sets a new user's password.
PUBLIC_ROUTES = frozenset(
    {"login", "sso-start", "sso-callback", "saml-start", "saml-acs", "saml-metadata", "user-password-set"}
)
# Any signed-in user may open these: their own sessions, signing in again at the provider, and their
# two-step sign-in (their own devices, the second step of their sign-in, the passkey endpoints).
SIGNED_IN_ROUTES = frozenset(
    {
        "home",
        "account-sessions",
        "account-session-revoke",
        "account-sessions-revoke-others",
        "account-theme",
        "sso-step-up",
        "sso-step-up-callback",
        "saml-step-up",
        "account-security",
        "mfa-totp-start",
        "mfa-totp-confirm",
        "mfa-recovery-create",
        "mfa-device-remove",
        "login-second-factor",
        "mfa-passkey-confirm",
        "mfa-passkey-register-begin",
        "mfa-passkey-register-complete",
        "mfa-passkey-verify-begin",
        "mfa-passkey-verify-complete",
        "mfa-jsi18n",
    }
)


def page_routes(patterns=None, namespace=""):
    """(name as reverse() takes it, or None for an unnamed route; pattern) for every page route:
    names inside a namespaced include get its prefix."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in TOKEN_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from page_routes(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield (namespace + entry.name if entry.name else None), entry
