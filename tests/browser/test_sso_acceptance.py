"""Single sign-on's acceptance in real Chromium against the test OpenID Connect provider (a second process on
loopback), for what the Django-client tests in tests/sso/ check without a browser: every bad ID token the
provider can issue is refused with a clear message on the sign-in page (never a server error), and a group
removed at the provider removes its role at the next periodic check. Signing in with the roles the groups
map to is test_sso_journey.py; an approval sent back to the provider, with the new auth_time in its audit
event, is test_sso_step_up.py; an admin's role change sent back to the provider is here."""

import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, UserSession
from tests.browser.journeys import at_the_provider, sign_in_at_provider
from tests.browser.pages import age_sign_in, screenshot
from tests.sso.test_sso_tokens import REFUSALS


def _server_errors(page):
    errors = []
    page.on("response", lambda response: response.status >= 500 and errors.append(response.url))
    return errors


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_a_bad_id_token_is_refused_in_the_browser_with_a_clear_message(
    page, transactional_db, sso_settings, oidc_provider, fault
):
    errors = _server_errors(page)
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-admins"])
    oidc_provider.next_id_token_fault(fault)

    sign_in_at_provider(page, "Test provider", "ann")

    page.wait_for_selector(".msg-error")
    message = page.inner_text(".msg-error")
    assert message.startswith("Single sign-on refused:") and REFUSALS[fault] in message
    assert page.url.endswith("/accounts/login/")
    assert page.locator("text=Sign in with Test provider").count() == 1
    assert errors == []
    assert not get_user_model().objects.filter(email="ann@soc.example").exists()
    assert AuditEvent.objects.get(action=AuditAction.SSO_REFUSED).data["reason"] == fault
    # The next sign-in, with a good token, goes through (the provider's own session is still alive: no form).
    page.click("text=Sign in with Test provider")
    page.wait_for_selector("text=Welcome, oidc:")


def test_a_group_removed_at_the_provider_removes_the_role_at_the_next_check(
    page, transactional_db, sso_settings, oidc_provider
):
    errors = _server_errors(page)
    # Checked again every second instead of every 15 minutes, so the test waits for it.
    sso_settings.OIDC_SESSION_CHECK_SECONDS = 1
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-analysts", "soc-approvers"])
    sign_in_at_provider(page, "Test provider", "ann")
    page.wait_for_selector("text=Welcome, oidc:")
    ann = get_user_model().objects.get(email="ann@soc.example")
    assert page.goto("/remediation/approvals/").status == 200

    oidc_provider.set_groups("ann", ["soc-analysts"])
    page.wait_for_timeout(1100)  # the check interval passes

    assert page.goto("/remediation/approvals/").status == 403
    page.goto("/")
    assert sorted(page.locator(".badge-role").all_inner_texts()) == ["analyst"]
    assert set(user_roles(get_user_model().objects.get(pk=ann.pk))) == {"analyst"}
    change = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED).latest("seq")
    assert (change.data["source"], change.data["before"], change.data["after"]) == (
        "sso-session-check",
        ["analyst", "approver"],
        ["analyst"],
    )
    # Still signed in, in the same session: only the role went.
    assert UserSession.objects.filter(user=ann, ended_at__isnull=True).count() == 1
    assert errors == []


def test_an_admin_signed_in_at_the_provider_confirms_there_before_changing_roles(
    page, transactional_db, sso_settings, oidc_provider, analyst
):
    errors = _server_errors(page)
    oidc_provider.set_user("ada", email="ada@soc.example", groups=["soc-admins"])
    sign_in_at_provider(page, "Test provider", "ada")
    page.wait_for_selector("text=Welcome, oidc:")
    age_sign_in(page, minutes=60)
    started = int(time.time())

    page.goto(f"/settings/users/{analyst.pk}/")
    page.wait_for_selector("#sso-step-up")
    assert page.locator("#fresh-auth").count() == 0
    page.click("#sso-step-up-button")
    at_the_provider(page, "ada")  # prompt=login: asked again although signed in there
    page.wait_for_selector("text=Confirmed at the provider")
    assert page.url.endswith(f"/settings/users/{analyst.pk}/")
    page.check("input[name=roles][value=auditor]")
    page.click("#roles-save")
    page.wait_for_selector("text=Roles of alice set.")
    screenshot(page, "user_admin_sso_step_up")

    assert set(user_roles(get_user_model().objects.get(pk=analyst.pk))) == {"analyst", "auditor"}
    change = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED, target_id=str(analyst.pk)).latest("seq")
    step_up = AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP)
    assert change.data["source"] == "admin" and change.data["proof"]["method"] == "oidc"
    assert change.data["proof"]["auth_time"] == step_up.data["auth_time"]
    assert oidc_provider.authorize_requests()[-1]["prompt"] == "login"
    assert datetime.fromisoformat(change.data["proof"]["auth_time"]) >= datetime.fromtimestamp(started, tz=UTC)
    assert errors == []
