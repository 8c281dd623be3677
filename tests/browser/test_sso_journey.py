"""Single sign-on in real Chromium: the portal's live server and the test OpenID Connect provider, two
processes on loopback; the person clicks the button, types at the provider and lands signed in with
the roles their groups map to."""

from django.contrib.auth import get_user_model

from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.sso import conftest as sso_fixtures


def _sign_in_at_provider(page, username, password=sso_fixtures.PASSWORD):
    page.goto("/accounts/login/")
    page.click("text=Sign in with Test provider")
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def test_sign_in_at_the_provider_lands_signed_in_with_the_mapped_roles(
    page, transactional_db, sso_settings, oidc_provider
):
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-approvers", "soc-auditors"], name="Ann")

    _sign_in_at_provider(page, "ann")

    page.wait_for_selector("text=Welcome")
    assert sorted(page.locator(".badge-role").all_inner_texts()) == ["approver", "auditor"]
    user = get_user_model().objects.get(email="ann@soc.example")
    assert set(user_roles(user)) == {"approver", "auditor"}
    assert UserSession.objects.get(user=user).method == "oidc"
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN, actor_id=str(user.pk)).count() == 1
    # The portal's page holds to the strict CSP (the provider's own page, without a favicon, is not ours).
    page.console_errors.clear()
    page.reload()
    page.wait_for_selector("text=Welcome")
    assert page.console_errors == []


def test_a_bad_token_in_the_browser_is_a_message_on_the_sign_in_page(
    page, transactional_db, sso_settings, oidc_provider
):
    oidc_provider.set_user("ben", email="ben@soc.example", groups=["soc-analysts"])
    oidc_provider.next_id_token_fault("wrong_aud")

    _sign_in_at_provider(page, "ben")

    page.wait_for_selector(".msg-error")
    assert "issued for another application" in page.inner_text(".msg-error")
    assert page.url.endswith("/accounts/login/")
    assert not get_user_model().objects.filter(email="ben@soc.example").exists()
