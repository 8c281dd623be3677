"""SAML sign-in end to end: Django's test client as the portal's side of the browser, the test identity
provider (a second process, pysaml2's IdP signing with xmlsec1) as the other; each bad response the
provider can issue is refused with a clear message, never a 500."""

import logging
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from investigations.accounts.services import FRESH_AUTH_METHOD_KEY, FRESH_AUTH_PROVIDER_TIME_KEY
from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.sso.conftest import SAML_FAULTS

pytestmark = pytest.mark.django_db


def _start(client, next_url=""):
    response = client.get("/accounts/saml/start/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def _sign_in(client, saml_idp, username, **kwargs):
    action, fields = saml_idp.sign_in(_start(client), username, **kwargs)
    assert action == "http://testserver/accounts/saml/acs/"
    return client.post("/accounts/saml/acs/", fields), fields


def _error_message(client):
    page = client.get("/accounts/login/")
    return page.content.decode()


def test_sign_in_at_the_provider_signs_in_with_the_mapped_roles(client, saml_settings, saml_idp):
    saml_idp.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors", "other"], name="Ann")

    response, _ = _sign_in(client, saml_idp, "ann")

    assert response.status_code == 302 and response["Location"] == "/"
    user = get_user_model().objects.get(username="saml:saml-ann")
    assert user.email == "ann@soc.example" and not user.has_usable_password()
    assert set(user_roles(user)) == {"approver", "auditor"}
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[FRESH_AUTH_METHOD_KEY] == "saml"
    assert isinstance(client.session[FRESH_AUTH_PROVIDER_TIME_KEY], int)
    assert UserSession.objects.get(user=user).method == "saml"
    login = AuditEvent.objects.get(action=AuditAction.LOGIN, actor_id=str(user.pk))
    assert login.data["method"] == "saml"
    change = AuditEvent.objects.get(action=AuditAction.USER_ROLES_CHANGED, target_id=str(user.pk))
    assert change.data["source"] == "saml" and change.data["after"] == ["approver", "auditor"]
    request = saml_idp.requests()[-1]
    assert request["binding"].endswith("HTTP-Redirect") and request["force_authn"] is False


def test_roles_follow_the_groups_at_every_sign_in(client, saml_settings, saml_idp):
    saml_idp.set_user("bob", email="bob@soc.example", groups=["soc-approvers"])
    _sign_in(client, saml_idp, "bob")
    client.logout()
    saml_idp.set_groups("bob", ["soc-analysts"])
    saml_idp.end_sessions()

    _sign_in(client, saml_idp, "bob")

    user = get_user_model().objects.get(username="saml:saml-bob")
    assert set(user_roles(user)) == {"analyst"}
    changes = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED, target_id=str(user.pk)).order_by("seq")
    assert [event.data["after"] for event in changes] == [["approver"], ["analyst"]]


def test_the_next_url_is_kept_across_the_provider(client, saml_settings, saml_idp):
    saml_idp.set_user("cat", email="cat@soc.example", groups=["soc-analysts"])
    _, fields = saml_idp.sign_in(_start(client, "/audit/"), "cat")
    response = client.post("/accounts/saml/acs/", fields)
    assert response["Location"] == "/audit/"


def test_a_replayed_response_is_refused(client, saml_settings, saml_idp):
    saml_idp.set_user("dan", email="dan@soc.example", groups=["soc-analysts"])
    _, fields = _sign_in(client, saml_idp, "dan")
    client.logout()

    response = client.post("/accounts/saml/acs/", fields)

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
    assert "not started in this browser" in _error_message(client)
    refused = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("seq")
    assert refused.data["reason"] == "unsolicited"


def test_a_response_posted_in_another_browser_is_refused(client, saml_settings, saml_idp, django_user_model):
    from django.test import Client

    saml_idp.set_user("eve", email="eve@soc.example", groups=["soc-admins"])
    _, fields = saml_idp.sign_in(_start(client), "eve")

    other = Client()
    response = other.post("/accounts/saml/acs/", fields)

    assert response.status_code == 302 and "_auth_user_id" not in other.session
    assert not django_user_model.objects.filter(username="saml:saml-eve").exists()


FAULT_MESSAGES = {
    "wrong_audience": "issued for another application",
    "wrong_destination": "addressed to another application",
    "expired": "has expired",
    "unsigned": "not signed",
    "tampered": "signature does not verify",
    "wrong_key": "signature does not verify",
    "unsolicited": "not started in this browser",
}


def test_every_fault_of_a_single_response_is_covered():
    # ignore_force_authn is about a second sign-in: test_saml_step_up.py.
    assert set(FAULT_MESSAGES) == set(SAML_FAULTS) - {"ignore_force_authn"}


@pytest.mark.parametrize("fault", sorted(FAULT_MESSAGES))
def test_each_bad_response_is_refused_with_a_clear_message(client, saml_settings, saml_idp, fault, caplog):
    saml_idp.set_user("fay", email="fay@soc.example", groups=["soc-admins"])
    saml_idp.next_fault(fault)

    with caplog.at_level(logging.DEBUG):
        response, fields = _sign_in(client, saml_idp, "fay")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session
    assert not get_user_model().objects.filter(username="saml:saml-fay").exists()
    assert FAULT_MESSAGES[fault] in _error_message(client)
    refused = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("seq")
    assert refused.outcome == "denied" and "SAMLResponse" not in str(refused.data)
    # Nothing the provider sent (the response, its assertion, the person in it) reached the logs.
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert fields["SAMLResponse"][:40] not in logged
    assert "AttributeValue" not in logged and "SignatureValue" not in logged
    assert "fay@soc.example" not in logged and "saml-fay" not in logged


def test_an_email_domain_not_allowed_is_refused(client, saml_settings, saml_idp):
    saml_settings.SAML_ALLOWED_EMAIL_DOMAINS = ["soc.example"]
    saml_idp.set_user("gus", email="gus@elsewhere.example", groups=["soc-analysts"])

    response, _ = _sign_in(client, saml_idp, "gus")

    assert response["Location"] == "/accounts/login/"
    assert "elsewhere.example is not allowed" in _error_message(client)
    refused = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("seq")
    assert refused.data == {"reason": "email_domain", "who": "saml:saml-gus"}


def test_groups_that_map_to_no_role_are_refused(client, saml_settings, saml_idp):
    saml_idp.set_user("hal", email="hal@soc.example", groups=["marketing"])

    response, _ = _sign_in(client, saml_idp, "hal")

    assert response["Location"] == "/accounts/login/"
    assert "none of your groups" in _error_message(client)
    assert not get_user_model().objects.filter(username="saml:saml-hal").exists()


def test_a_local_account_under_the_saml_name_is_never_taken_over(client, saml_settings, saml_idp, django_user_model):
    local = django_user_model.objects.create_user(username="saml:saml-ivy", password="a-local-password-123")
    saml_idp.set_user("ivy", email="ivy@soc.example", groups=["soc-admins"])

    response, _ = _sign_in(client, saml_idp, "ivy")

    assert response["Location"] == "/accounts/login/"
    assert "a local account holds" in _error_message(client)
    local.refresh_from_db()
    assert local.has_usable_password() and not user_roles(local)


def test_the_sign_in_page_shows_the_button_only_when_configured(client, saml_settings):
    assert "Sign in with Test SAML" in client.get("/accounts/login/").content.decode()
    saml_settings.SAML_IDP_METADATA_URL = ""
    assert "Sign in with Test SAML" not in client.get("/accounts/login/").content.decode()
    assert client.get("/accounts/saml/start/").status_code == 404
    assert client.post("/accounts/saml/acs/", {"SAMLResponse": "x"}).status_code == 404


def test_garbage_posted_to_the_acs_is_a_message_not_a_500(client, saml_settings):
    for posted in ({}, {"SAMLResponse": "not base64 at all"}, {"SAMLResponse": "PHhtbD48L3htbD4="}):
        response = client.post("/accounts/saml/acs/", posted)
        assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "SAML sign-in refused" in _error_message(client)


def test_an_unreachable_provider_is_a_message_not_a_500(client, saml_settings):
    from investigations.accounts.saml import saml_forget_provider

    saml_settings.SAML_IDP_METADATA_URL = "http://127.0.0.1:9/metadata"
    saml_forget_provider()

    response = client.get("/accounts/saml/start/")

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert "metadata could not be read" in _error_message(client)


def test_the_portal_publishes_its_metadata(client, saml_settings):
    response = client.get("/accounts/saml/metadata/")

    assert response.status_code == 200 and response["Content-Type"] == "application/samlmetadata+xml"
    body = response.content.decode()
    assert 'entityID="https://portal.tests.example/saml/metadata"' in body
    assert "http://testserver/accounts/saml/acs/" in body and "X509Certificate" in body
    assert "PRIVATE KEY" not in body


def test_a_provider_offering_only_the_post_binding_gets_a_form_and_answers(client, saml_settings, saml_idp, tmp_path):
    """Metadata from a file, without the HTTP-Redirect endpoint: the request goes by HTTP-POST, through
    a page whose form the person sends (no inline script under the portal's CSP)."""
    import re

    import requests

    from investigations.accounts.saml import saml_forget_provider

    metadata = requests.get(saml_idp.metadata_url, timeout=10).text
    metadata = re.sub(r"<ns0:SingleSignOnService[^>]*HTTP-Redirect[^>]*/>", "", metadata)
    assert "HTTP-Redirect" not in metadata
    path = tmp_path / "idp.xml"
    path.write_text(metadata)
    saml_settings.SAML_IDP_METADATA_URL = ""
    saml_settings.SAML_IDP_METADATA_FILE = str(path)
    saml_forget_provider()
    saml_idp.set_user("jan", email="jan@soc.example", groups=["soc-analysts"])

    page = client.get("/accounts/saml/start/")

    assert page.status_code == 200
    assert f"form-action 'self' {saml_idp.base_url}" in page["Content-Security-Policy"]
    html = page.content.decode()
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    request = re.search(r'name="SAMLRequest" value="([^"]+)"', html).group(1)
    assert action == saml_idp.base_url + "/sso/post"
    browser = requests.Session()
    form = browser.post(action, data={"SAMLRequest": request}, timeout=10)
    request_key = re.search(r'name="request_id" value="([^"]+)"', form.text).group(1)
    answer = browser.post(
        saml_idp.base_url + "/sso/login",
        data={"username": "jan", "password": "pw", "request_id": request_key},
        timeout=10,
    )
    saml_response = re.search(r'name="SAMLResponse" value="([^"]+)"', answer.text).group(1)
    response = client.post("/accounts/saml/acs/", {"SAMLResponse": saml_response})
    assert response.status_code == 302 and response["Location"] == "/"
    assert saml_idp.requests()[-1]["binding"].endswith("HTTP-POST")


def test_a_process_that_serves_pages_loads_pysaml2s_heavy_modules_only_when_saml_is_used():
    # Every web and Celery process imports the URLconf; pysaml2's signing and configuration modules
    # (some 15 MB) are for the SAML routes alone.
    heavy = ("saml2.sigver", "saml2.config", "saml2.client", "saml2.response")
    probe = (
        "import sys, django; django.setup(); from django.urls import get_resolver; get_resolver().url_patterns; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
