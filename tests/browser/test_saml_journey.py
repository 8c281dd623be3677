"""SAML sign-in in real Chromium: the portal's live server and the test SAML identity provider, two
processes on loopback; the person clicks the button, types at the provider, the provider's page posts
the signed response back, and they land signed in with the roles their groups map to.

The portal is opened as http://127.0.0.1 (the provider's host), not localhost: over plain HTTP the
state cookie is SameSite=Lax, which a cross-site POST would not carry (over HTTPS it is None)."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.sso import conftest as sso_fixtures


@pytest.fixture
def portal_url(live_server, saml_settings, saml_idp):
    url = f"http://127.0.0.1:{urlsplit(live_server.url).port}"
    saml_idp.register_sp(url)
    return url


def _sign_in_at_provider(page, portal_url, username, password=sso_fixtures.PASSWORD):
    page.goto(portal_url + "/accounts/login/")
    page.click("text=Sign in with Test SAML")
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def test_sign_in_at_the_saml_provider_lands_signed_in_with_the_mapped_roles(
    page, transactional_db, portal_url, saml_idp
):
    saml_idp.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors"], name="Ann")

    _sign_in_at_provider(page, portal_url, "ann")

    page.wait_for_selector("text=Welcome")
    assert page.url.startswith(portal_url)
    assert sorted(page.locator(".badge-role").all_inner_texts()) == ["approver", "auditor"]
    user = get_user_model().objects.get(email="ann@soc.example")
    assert set(user_roles(user)) == {"approver", "auditor"}
    assert UserSession.objects.get(user=user).method == "saml"
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN, actor_id=str(user.pk)).count() == 1
    page.console_errors.clear()
    page.reload()
    page.wait_for_selector("text=Welcome")
    assert page.console_errors == []


def test_a_tampered_response_in_the_browser_is_a_message_on_the_sign_in_page(
    page, transactional_db, portal_url, saml_idp
):
    saml_idp.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    saml_idp.next_fault("tampered")

    _sign_in_at_provider(page, portal_url, "ben")

    page.wait_for_selector(".msg-error")
    assert "signature does not verify" in page.inner_text(".msg-error")
    assert page.url.endswith("/accounts/login/")
    assert not get_user_model().objects.filter(email="ben@soc.example").exists()
