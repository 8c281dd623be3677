"""An admin manages users in real Chromium: creates one with roles, the new user sets their password through
the one-time link and signs in, and a role change on an aged session asks for the password again first;
deactivating signs the user out."""

from django.contrib.auth import get_user_model

from investigations.core.roles import user_roles
from investigations.models import AuditAction, AuditEvent
from tests.browser.pages import screenshot, sign_in
from tests.remediation.support import browser_session_key, stale_session

NEW_PASSWORD = "zoe-sets-her-own-passphrase-42"


def test_an_admin_creates_a_user_and_sets_roles_behind_the_step_up(page, chromium, live_server, admin_user):
    failed = []
    page.on("response", lambda response: response.status >= 500 and failed.append(response.url))
    sign_in(page, "erin")

    page.goto("/settings/users/")
    page.click("#user-new")
    page.fill("#id_username", "zoe")
    page.fill("#id_email", "zoe@example.test")
    page.check("input[name=roles][value=analyst]")
    page.click("#user-create")
    link = page.inner_text("#link")
    screenshot(page, "user_admin_link")
    zoe = get_user_model().objects.get(username="zoe")
    assert set(user_roles(zoe)) == {"analyst"}

    # Zoe, in her own browser, sets her password with the link and signs in with it.
    other = chromium.new_context(base_url=live_server.url)
    zoe_page = other.new_page()
    zoe_page.goto(link)
    zoe_page.fill("#id_new_password1", NEW_PASSWORD)
    zoe_page.fill("#id_new_password2", NEW_PASSWORD)
    zoe_page.click("#password-set")
    zoe_page.wait_for_selector("text=Your password is set")
    sign_in(zoe_page, "zoe", NEW_PASSWORD)

    # The admin's sign-in is 11 minutes old: granting a role asks for the password again.
    stale_session(browser_session_key(page.context))
    page.goto(f"/settings/users/{zoe.pk}/")
    page.check("input[name=roles][value=approver]")
    page.click("#roles-save")
    page.wait_for_selector("text=Enter your password again")
    assert set(user_roles(zoe)) == {"analyst"}
    page.check("input[name=roles][value=approver]")
    page.fill("#id_password", "correct-horse-battery-staple")
    page.click("#roles-save")
    page.wait_for_selector("text=Roles of zoe set.")
    assert set(user_roles(get_user_model().objects.get(pk=zoe.pk))) == {"analyst", "approver"}
    change = AuditEvent.objects.filter(action=AuditAction.USER_ROLES_CHANGED).latest("seq")
    assert (change.actor_label, change.data["source"], change.data["proof"]["method"]) == ("erin", "admin", "password")

    # Deactivated: Zoe's open browser is signed out on its next request.
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#user-deactivate")
    page.wait_for_selector("text=zoe deactivated; 1 session(s) revoked.")
    zoe_page.goto("/")
    assert "/accounts/login/" in zoe_page.url
    other.close()
    assert failed == []
    # The page holds to the strict CSP: the only complaint is the form answered 400 while it asked again.
    assert page.console_errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
