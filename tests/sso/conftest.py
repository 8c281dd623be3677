"""The test OpenID Connect provider (``python -m oidc_simulator``) as a second process on loopback, and
the portal pointed at it.

    oidc_provider.issuer / .client_id / .client_secret
    oidc_provider.set_user("ann", email="ann@example.com", groups=["soc-analysts"])   # password "pw"
    oidc_provider.set_groups("ann", ["soc-approvers"])      # next sign-in, refresh or /userinfo sees these
    oidc_provider.remove_user("ann")                         # refresh and /userinfo refused from now on
    oidc_provider.next_id_token_fault("wrong_aud")           # the next ID token issued is bad that way
    oidc_provider.end_sessions()                             # every browser must type its password again
    oidc_provider.authorize_requests()                       # the query of each /authorize seen, oldest first
    oidc_provider.sign_in(authorize_url, "ann")              # a browser at the provider, without Chromium
    oidc_provider.reset()                                    # no users, faults, codes, tokens or sessions

Faults (``FAULTS``): wrong_aud, wrong_iss, wrong_nonce, missing_nonce, bad_signature, alg_none, expired,
missing_auth_time. ``oidc_provider.revoke(username)`` revokes a user's tokens; ``.age_sessions(seconds)``
moves every provider session's sign-in back in time (for max_age).
"""

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from oidc_simulator import FAULTS
from saml_simulator import FAULTS as SAML_FAULTS
from saml_simulator import key_pair

CLIENT_ID = "mimecast-portal-tests"
CLIENT_SECRET = "test-only-oidc-client-secret-4f1c9a"
PASSWORD = "pw"
REPOSITORY = Path(__file__).resolve().parents[2]  # oidc_simulator is a checkout package, not installed
SSO_BACKEND = "investigations.accounts.sso.SsoBackend"
GROUP_ROLES = {
    "soc-analysts": "analyst",
    "soc-approvers": "approver",
    "soc-auditors": "auditor",
    "soc-admins": "admin",
}


class _TestProvider:
    """A test provider's process and the control API both simulators answer (``POST /_control/...``,
    loopback only), at ``base_url``."""

    module = ""  # the simulator's package, run as ``python -m``

    def __init__(self, process: subprocess.Popen, base_url: str):
        self.process = process
        self.base_url = base_url

    def _control(self, action: str, **payload):
        response = requests.post(f"{self.base_url}/_control/{action}", json=payload, timeout=10)
        if not response.ok:
            raise ValueError(f"{self.module} refused {action}: {response.status_code} {response.text}")
        return response.json()

    def set_user(self, username: str, *, email: str, groups=(), password: str = PASSWORD, name: str = ""):
        self._control("user", username=username, email=email, groups=list(groups), password=password, name=name)

    def set_groups(self, username: str, groups):
        self._control("groups", username=username, groups=list(groups))

    def end_sessions(self):
        self._control("end-sessions")

    def reset(self):
        self._control("reset")


@contextlib.contextmanager
def _running(provider_class: type[_TestProvider], *options: str):
    """``python -m <provider_class.module> --port 0 *options`` until the block ends, as ``provider_class``
    at the base URL it prints."""
    command = [sys.executable, "-m", provider_class.module, "--port", "0", *options]
    # stderr to a file, not a pipe nobody reads (a pipe that fills up would stall the provider).
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            line = process.stdout.readline()
            if not line.startswith("listening on "):
                process.wait(timeout=10)
                errors.seek(0)
                raise RuntimeError(f"{provider_class.module} did not start: {line!r} {errors.read()[-2000:]}")
            yield provider_class(process, line.removeprefix("listening on ").strip())
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


class OidcProvider(_TestProvider):
    """The running OpenID Connect provider; its issuer is its base URL."""

    module = "oidc_simulator"
    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    @property
    def issuer(self) -> str:
        return self.base_url

    def url(self, path: str) -> str:
        return self.issuer + path

    def remove_user(self, username: str):
        """The user is gone: their refresh tokens and /userinfo are refused from now on."""
        self._control("remove-user", username=username)

    def revoke(self, username: str):
        """The user's access and refresh tokens revoked (the user stays and may sign in again)."""
        self._control("revoke", username=username)

    def next_id_token_fault(self, fault: str | None):
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        self._control("fault", fault=fault)

    def age_sessions(self, seconds: int):
        """Every browser session at the provider signed in ``seconds`` earlier than it was (for max_age)."""
        self._control("age-sessions", seconds=seconds)

    def authorize_requests(self) -> list[dict]:
        return self._control("authorize-requests")

    def sign_in(self, authorize_url: str, username: str | None = None, password: str = PASSWORD, *, browser=None):
        """What a browser does at the provider: open ``authorize_url`` (the portal's redirect to the
        provider), type the password if the login form shows, and return where the provider sends the
        browser back (the portal's callback URL with ``code`` and ``state``, or with ``error``).
        ``browser`` (a ``requests.Session``) keeps the provider's session cookie across calls, as a
        browser would; without one every call is a new browser."""
        browser = browser or requests.Session()
        response = browser.get(authorize_url, allow_redirects=False, timeout=10)
        if response.is_redirect:
            return response.headers["Location"]
        if username is None:
            raise AssertionError("the provider showed its login form and no username was given")
        form = {"username": username, "password": password, "request_id": _hidden_request_id(response.text)}
        response = browser.post(urljoin(authorize_url, "authorize"), data=form, allow_redirects=False, timeout=10)
        if not response.is_redirect:
            raise AssertionError(f"the provider refused the sign-in ({response.status_code}): {response.text[:300]}")
        return response.headers["Location"]


def _hidden_request_id(html: str) -> str:
    marker = 'name="request_id" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture(scope="session")
def oidc_provider():
    """One provider process for the whole session (reset it, or use your own usernames, per test)."""
    with _running(OidcProvider, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture
def sso_settings(settings, oidc_provider):
    """The portal with single sign-on on, pointed at the test provider (freshly reset), as an operator
    would configure it; the groups soc-analysts, soc-approvers, soc-auditors and soc-admins map to the
    four roles. Yields the settings: a test may change more of them."""
    from investigations.accounts.sso import sso_forget_provider

    oidc_provider.reset()
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_CLIENT_ID = oidc_provider.client_id
    settings.OIDC_CLIENT_SECRET = oidc_provider.client_secret
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = []
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_ROLES = ",".join(f"{group}={role}" for group, role in GROUP_ROLES.items())
    settings.OIDC_PROVIDER_NAME = "Test provider"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, SSO_BACKEND]
    sso_forget_provider()  # discovery and keys cached per process: this provider's, read afresh
    yield settings
    sso_forget_provider()
    oidc_provider.reset()


# ------------------------------------------------------------------------------------------ SAML
# The test SAML identity provider (``python -m saml_simulator``, pysaml2's IdP signing with xmlsec1)
# as a second process on loopback, and the portal pointed at it as a SAML service provider.
#
#     saml_idp.set_user("ann", email="ann@example.com", groups=["soc-analysts"])   # password "pw"
#     saml_idp.next_fault("wrong_audience")          # the next response is bad that way (SAML_FAULTS)
#     saml_idp.register_sp(base_url)                  # the portal's metadata at that base URL, registered
#     saml_idp.sign_in(location, "ann")               # a browser at the provider: the form it posts back
#     saml_idp.requests()                             # each AuthnRequest seen (id, force_authn, binding)

SAML_SP_ENTITY_ID = "https://portal.tests.example/saml/metadata"


class SamlIdp(_TestProvider):
    module = "saml_simulator"

    @property
    def metadata_url(self) -> str:
        return self.base_url + "/metadata"

    def next_fault(self, fault: str | None):
        if fault is not None and fault not in SAML_FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {SAML_FAULTS}")
        self._control("fault", fault=fault)

    def requests(self) -> list[dict]:
        return self._control("requests")

    def register_sp(self, base_url: str):
        """Register the portal as it is reached at ``base_url`` (its ACS is there), as a provider's
        administrator does with the portal's metadata."""
        from django.test import RequestFactory

        from investigations.accounts.saml import saml_metadata

        parts = urlsplit(base_url)
        request = RequestFactory().get("/", HTTP_HOST=parts.netloc, secure=parts.scheme == "https")
        self._control("sp", metadata=saml_metadata(request))

    def sign_in(self, location: str, username: str | None = None, password: str = PASSWORD, *, browser=None):
        """What a browser does at the provider: open ``location`` (the portal's redirect), type the
        password if the login form shows, and return the form the provider posts back:
        ``(action, fields)`` with SAMLResponse and RelayState."""
        browser = browser or requests.Session()
        response = browser.get(location, timeout=10)
        if 'name="SAMLResponse"' not in response.text:
            if username is None:
                raise AssertionError("the provider showed its login form and no username was given")
            form = {"username": username, "password": password, "request_id": _hidden_request_id(response.text)}
            response = browser.post(urljoin(location, "login"), data=form, timeout=10)
        if 'name="SAMLResponse"' not in response.text:
            raise AssertionError(f"the provider did not answer ({response.status_code}): {response.text[:300]}")
        return _posted_form(response.text)


def _posted_form(page: str):
    import html as html_lib
    import re

    action = html_lib.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = {
        html_lib.unescape(name): html_lib.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"', page)
    }
    return action, fields


@pytest.fixture(scope="session")
def saml_sp_keys(tmp_path_factory):
    """The portal's SAML key and certificate, made for this run (never committed)."""
    return key_pair(tmp_path_factory.mktemp("saml-sp"), "sp", "portal-tests")


@pytest.fixture(scope="session")
def saml_idp():
    """One SAML identity provider process for the whole session."""
    with _running(SamlIdp) as idp:
        yield idp


@pytest.fixture
def saml_settings(settings, saml_idp, saml_sp_keys):
    """The portal with SAML sign-in on, pointed at the test provider (freshly reset), registered there
    as reached by Django's test client (http://testserver); the same four groups map to the roles."""
    from investigations.accounts.saml import SAML_BACKEND, saml_forget_provider

    saml_idp.reset()
    settings.SAML_IDP_METADATA_URL = saml_idp.metadata_url
    settings.SAML_IDP_METADATA_FILE = ""
    settings.SAML_SP_ENTITY_ID = SAML_SP_ENTITY_ID
    settings.SAML_SP_KEY_FILE, settings.SAML_SP_CERT_FILE = saml_sp_keys
    settings.SAML_ALLOWED_EMAIL_DOMAINS = []
    settings.SAML_GROUPS_ATTRIBUTE = "groups"
    settings.SAML_GROUP_ROLES = ",".join(f"{group}={role}" for group, role in GROUP_ROLES.items())
    settings.SAML_PROVIDER_NAME = "Test SAML"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, SAML_BACKEND]
    saml_forget_provider()
    saml_idp.register_sp("http://testserver")
    yield settings
    saml_forget_provider()
    saml_idp.reset()
