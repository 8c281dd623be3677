"""Headless Chromium against the test OpenID Connect provider: an approver signs in at the provider, their
proof ages, and the approval sends them back to the provider to sign in again; the approval's audit event
records the provider's new auth_time."""

import time
from datetime import UTC, datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model

from investigations.accounts.sso import SESSION_AUTH_TIME
from investigations.models import AuditAction, AuditEvent
from tests.browser.journeys import approve_on_decision_page, at_the_provider, sign_in_at_provider
from tests.browser.pages import screenshot
from tests.remediation.support import browser_session_key, pending_request, stale_session


def _aged(session_key):
    """The browser's proof and its sign-in at the provider both an hour old (a controlled clock)."""
    stale_session(session_key, minutes=60)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    session[SESSION_AUTH_TIME] = int(time.time()) - 3600
    session.save()
    return session[SESSION_AUTH_TIME]


def test_an_approval_sends_the_approver_back_to_the_provider_and_records_the_new_auth_time(
    page, live_server, transactional_db, sso_settings, oidc_provider, second_analyst
):
    failed = []
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    oidc_provider.set_user("ann", email="ann@soc.example", groups=["soc-approvers"])
    req = pending_request(second_analyst)

    sign_in_at_provider(page, "Test provider", "ann")
    page.wait_for_selector("text=Welcome, oidc:")
    ann = get_user_model().objects.get(email="ann@soc.example")

    page.wait_for_load_state("networkidle")  # nothing in flight to save the session back (pages.age_sign_in)
    old_auth_time = _aged(browser_session_key(page.context))
    page.goto(f"/remediation/{req.pk}/decide/")
    page.wait_for_selector("#sso-step-up")
    assert page.locator("#fresh-auth").count() == 0
    screenshot(page, "sso_step_up_offered")
    started = int(time.time())
    page.click("#sso-step-up-button")

    # prompt=login: the provider asks for the password although its own session is alive.
    at_the_provider(page, "ann")
    page.wait_for_selector("text=Confirmed at the provider")
    assert page.url.endswith(f"/remediation/{req.pk}/decide/")
    assert page.locator("#sso-step-up").count() == 0
    approved = approve_on_decision_page(
        page, req, ann, "Phishing confirmed with the user", confirmation="approved; the worker will carry it out"
    )

    step_up = AuditEvent.objects.get(action=AuditAction.SSO_STEP_UP)
    assert approved.data["proof"]["method"] == "oidc"
    assert approved.data["proof"]["auth_time"] == step_up.data["auth_time"]
    new_auth_time = datetime.fromisoformat(approved.data["proof"]["auth_time"])
    assert new_auth_time >= datetime.fromtimestamp(started, tz=UTC) > datetime.fromtimestamp(old_auth_time, tz=UTC)
    asked = oidc_provider.authorize_requests()[-1]
    assert (asked["prompt"], asked["max_age"]) == ("login", "0")
    # Every page and request answered; the console's only complaint may be the provider's missing favicon,
    # which Chromium fetches outside the page (Playwright reports no response for it).
    assert failed == []
    assert all("404 (Not Found)" in error for error in page.console_errors)
