"""ForceAuthn: a SAML request that asks the provider to authenticate the person again, and the
portal's check that it did (the AuthnInstant no older than the request), against the real provider."""

import pytest
import requests
from django.test import RequestFactory

from investigations.accounts.saml import saml_authn_request, saml_consume
from investigations.accounts.sso import SsoRefused

pytestmark = pytest.mark.django_db


def _request():
    return RequestFactory().get("/accounts/saml/start/", HTTP_HOST="testserver")


def _answer(saml_idp, location, browser, username=None):
    _, fields = saml_idp.sign_in(location, username, browser=browser)
    return fields["SAMLResponse"]


def test_a_provider_session_answers_without_the_form_unless_force_authn(saml_settings, saml_idp):
    saml_idp.set_user("ann", email="ann@soc.example", groups=["soc-analysts"])
    browser = requests.Session()
    message, state = saml_authn_request(_request(), next_url="/")
    first = saml_consume(_request(), saml_response=_answer(saml_idp, message["redirect"], browser, "ann"), state=state)

    # The provider's session answers the next plain request without the form (no username given)...
    message, state = saml_authn_request(_request(), next_url="/")
    again = saml_consume(_request(), saml_response=_answer(saml_idp, message["redirect"], browser), state=state)
    assert again["authn_instant"] == first["authn_instant"]

    # ...but a ForceAuthn request shows the form again, and the new AuthnInstant is accepted.
    message, state = saml_authn_request(_request(), next_url="/", force_authn=True)
    with pytest.raises(AssertionError, match="login form"):
        _answer(saml_idp, message["redirect"], browser)
    forced = saml_consume(_request(), saml_response=_answer(saml_idp, message["redirect"], browser, "ann"), state=state)
    assert forced["force"] is True and forced["authn_instant"] >= first["authn_instant"]
    assert saml_idp.requests()[-1]["force_authn"] is True


def test_a_provider_that_ignores_force_authn_is_refused(saml_settings, saml_idp):
    saml_idp.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    browser = requests.Session()
    message, state = saml_authn_request(_request(), next_url="/")
    saml_consume(_request(), saml_response=_answer(saml_idp, message["redirect"], browser, "ben"), state=state)
    message, state = saml_authn_request(_request(), next_url="/", force_authn=True)
    # As if the ForceAuthn request were made two minutes after the provider's sign-in (past the leeway).
    for entry in state.values():
        entry["at"] += 120
    saml_idp.next_fault("ignore_force_authn")

    with pytest.raises(SsoRefused, match="did not ask you to sign in again") as refused:
        saml_consume(_request(), saml_response=_answer(saml_idp, message["redirect"], browser), state=state)
    assert refused.value.reason == "stale_authn_instant"
