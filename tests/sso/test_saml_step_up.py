"""Step-up for SAML users: a ForceAuthn request at the provider before a decision, the new AuthnInstant
this session's proof. The provider's POST is cross-site in a deployment and carries no session cookie:
the session to renew is the one the signed state cookie names."""

import pytest
import requests
from django.test import Client

from investigations.accounts.saml import STATE_COOKIE
from investigations.accounts.services import session_proof
from investigations.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _signed_in(client, saml_idp, username):
    saml_idp.set_user(username, email=f"{username}@soc.example", groups=["soc-approvers"])
    location = client.get("/accounts/saml/start/")["Location"]
    browser = requests.Session()
    _, fields = saml_idp.sign_in(location, username, browser=browser)
    assert client.post("/accounts/saml/acs/", fields)["Location"] == "/"
    return browser


def test_step_up_asks_the_provider_to_authenticate_again_and_renews_the_proof(client, saml_settings, saml_idp):
    browser = _signed_in(client, saml_idp, "ann")
    before = client.session["saml_authn_instant"]

    step_up = client.get("/accounts/saml/step-up/?next=/audit/")
    assert step_up.status_code == 302 and step_up["Location"].startswith(saml_idp.base_url)
    # The provider's own session does not answer a ForceAuthn request: the form shows again.
    with pytest.raises(AssertionError, match="login form"):
        saml_idp.sign_in(step_up["Location"], browser=browser)
    _, fields = saml_idp.sign_in(step_up["Location"], "ann", browser=browser)

    # Posted as the provider's cross-site POST arrives: the state cookie, no session cookie.
    provider_post = Client()
    provider_post.cookies[STATE_COOKIE] = client.cookies[STATE_COOKIE].value
    response = provider_post.post("/accounts/saml/acs/", fields)

    assert response.status_code == 302 and response["Location"] == "/audit/"
    assert saml_idp.requests()[-1]["force_authn"] is True
    session = client.session
    assert session["saml_authn_instant"] >= before
    assert session_proof(session)["method"] == "saml"
    event = AuditEvent.objects.filter(action=AuditAction.SSO_STEP_UP).latest("seq")
    assert event.data["method"] == "saml" and event.actor_label == "saml:saml-ann"
    # The answer signed nobody else in: the provider's POST got no session of its own.
    assert "_auth_user_id" not in provider_post.session


def test_a_step_up_answered_for_somebody_else_is_refused(client, saml_settings, saml_idp):
    _signed_in(client, saml_idp, "ann")
    saml_idp.set_user("bob", email="bob@soc.example", groups=["soc-approvers"])
    proof_before = session_proof(client.session)

    step_up = client.get("/accounts/saml/step-up/?next=/audit/")
    _, fields = saml_idp.sign_in(step_up["Location"], "bob")
    response = client.post("/accounts/saml/acs/", fields)

    assert response["Location"] == "/audit/"
    assert session_proof(client.session) == proof_before
    refused = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("seq")
    assert refused.data["reason"] == "other_user"
    assert client.session["saml_name_id"] == "saml-ann"


def test_step_up_for_a_user_who_did_not_sign_in_with_saml_goes_back(client, saml_settings, analyst):
    client.force_login(analyst)
    response = client.get("/accounts/saml/step-up/?next=/audit/")
    assert response.status_code == 302 and response["Location"] == "/audit/"
