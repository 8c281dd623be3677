"""Steps the sign-in and approval journeys share: signing in at a test provider (OpenID Connect or SAML),
what a person sees once signed in or refused, and approving a pending request on its decision page."""

from django.contrib.auth import get_user_model

from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent, RemediationRequest, UserSession
from tests.sso.conftest import PASSWORD


def at_the_provider(page, username, password=PASSWORD):
    """Type at the provider's login form (both simulators show the same one)."""
    page.wait_for_selector("#sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in")


def sign_in_at_provider(page, provider_name, username, password=PASSWORD, *, portal_url=""):
    """From the portal's sign-in page, the provider's button, then the provider's form."""
    page.goto(portal_url + "/accounts/login/")
    page.click(f"text=Sign in with {provider_name}")
    at_the_provider(page, username, password)


def assert_signed_in_with_roles(page, email, roles, method):
    """Welcomed with the roles the groups map to, one session by ``method`` and one login audited; the
    portal's page then holds to the strict CSP (the provider's own page, without a favicon, is not ours)."""
    page.wait_for_selector("text=Welcome")
    assert sorted(page.locator(".badge-role").all_inner_texts()) == sorted(roles)
    user = get_user_model().objects.get(email=email)
    assert set(user_roles(user)) == set(roles)
    assert UserSession.objects.get(user=user).method == method
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN, actor_id=str(user.pk)).count() == 1
    page.console_errors.clear()
    page.reload()
    page.wait_for_selector("text=Welcome")
    assert page.console_errors == []


def assert_refused_on_sign_in_page(page, message, email):
    """Back on the sign-in page with ``message``, and no account made for ``email``."""
    page.wait_for_selector(".msg-error")
    assert message in page.inner_text(".msg-error")
    assert page.url.endswith("/accounts/login/")
    assert not get_user_model().objects.filter(email=email).exists()


def approve_on_decision_page(page, request, approver, reason, confirmation="approved"):
    """Approve ``request`` from its open decision page; returns the approval's audit event."""
    page.fill("#id_reason", reason)
    page.click("#approve")
    page.wait_for_selector(f"text={confirmation}")
    assert RemediationRequest.objects.get(pk=request.pk).approved_by == approver
    return AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
