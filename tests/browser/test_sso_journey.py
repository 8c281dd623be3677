"""Single sign-on in real Chromium: the portal's live server and the test OpenID Connect provider, two
processes on loopback; the person clicks the button, types at the provider and lands signed in with
the roles their groups map to."""

from tests.browser.journeys import assert_refused_on_sign_in_page, assert_signed_in_with_roles, sign_in_at_provider


def test_sign_in_at_the_provider_lands_signed_in_with_the_mapped_roles(
    page, transactional_db, sso_settings, oidc_provider
):
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors"], name="Ann")

    sign_in_at_provider(page, "Test provider", "ann")

    assert_signed_in_with_roles(page, "ann@soc.example", ["approver", "auditor"], method="oidc")


def test_a_bad_token_in_the_browser_is_a_message_on_the_sign_in_page(
    page, transactional_db, sso_settings, oidc_provider
):
    oidc_provider.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    oidc_provider.next_id_token_fault("wrong_aud")

    sign_in_at_provider(page, "Test provider", "ben")

    assert_refused_on_sign_in_page(page, "issued for another application", "ben@soc.example")
