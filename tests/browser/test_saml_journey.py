"""SAML sign-in in real Chromium: the portal's live server and the test SAML identity provider, two
processes on loopback; the person clicks the button, types at the provider, the provider's page posts
the signed response back, and they land signed in with the roles their groups map to.

The portal is opened as http://127.0.0.1 (the provider's host), not localhost: over plain HTTP the
state cookie is SameSite=Lax, which a cross-site POST would not carry (over HTTPS it is None)."""

from urllib.parse import urlsplit

import pytest

from tests.browser.journeys import assert_refused_on_sign_in_page, assert_signed_in_with_roles, sign_in_at_provider


@pytest.fixture
def portal_url(live_server, saml_settings, saml_idp):
    url = f"http://127.0.0.1:{urlsplit(live_server.url).port}"
    saml_idp.register_sp(url)
    return url


def test_sign_in_at_the_saml_provider_lands_signed_in_with_the_mapped_roles(
    page, transactional_db, portal_url, saml_idp
):
    saml_idp.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors"], name="Ann")

    sign_in_at_provider(page, "Test SAML", "ann", portal_url=portal_url)

    assert_signed_in_with_roles(page, "ann@soc.example", ["approver", "auditor"], method="saml")
    assert page.url.startswith(portal_url)


def test_a_tampered_response_in_the_browser_is_a_message_on_the_sign_in_page(
    page, transactional_db, portal_url, saml_idp
):
    saml_idp.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    saml_idp.next_fault("tampered")

    sign_in_at_provider(page, "Test SAML", "ben", portal_url=portal_url)

    assert_refused_on_sign_in_page(page, "signature does not verify", "ben@soc.example")
