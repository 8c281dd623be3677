"""Three browsers signed in as the same analyst: one revokes another from "My sessions", then signs out
all the others; each revoked browser's next request, an htmx partial or a full page, lands on sign-in."""

from investigations.models import AuditAction, AuditEvent, UserSession
from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory


def _browser(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    return context, context.new_page()


def test_a_revoked_session_lands_on_sign_in_with_its_next_request(page, chromium, live_server, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    page.on("dialog", lambda dialog: dialog.accept())
    laptop, laptop_page = _browser(chromium, live_server)
    phone, phone_page = _browser(chromium, live_server)
    try:
        for each in (page, laptop_page, phone_page):
            sign_in(each, "alice")
        laptop_page.click("#my-sessions")
        laptop_page.wait_for_selector("#sessions-refresh")
        laptop_row = UserSession.objects.order_by("id")[1]

        page.click("#my-sessions")
        page.wait_for_selector("#session-rows")
        assert page.locator("#session-rows tbody tr").count() == 3
        assert page.locator(".current-session").inner_text().count("this session") == 1
        page.click(f"#session-{laptop_row.pk} button:has-text('Revoke')")
        page.wait_for_selector("text=Session revoked")
        assert page.locator("#session-rows tbody tr").count() == 2

        # The laptop's next request is htmx's refresh of the list: the whole page goes to sign-in.
        laptop_page.click("#sessions-refresh")
        laptop_page.wait_for_url("**/accounts/login/**")
        laptop_page.wait_for_selector("h1:has-text('Sign in')")
        assert laptop_page.locator("#sessions").count() == 0

        page.click("#revoke-others")
        page.wait_for_selector("text=1 other session(s) signed out.")
        assert page.locator("#session-rows tbody tr").count() == 1
        screenshot(page, "my_sessions")
        # The phone's next request is a full page.
        phone_page.reload()
        phone_page.wait_for_url("**/accounts/login/**")

        page.reload()
        page.wait_for_selector(".current-session")
        ends = sorted(UserSession.objects.exclude(end="").values_list("end", flat=True))
        assert ends == ["revoked", "revoked"]
        assert AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED).count() == 2
        assert page.console_errors == []
    finally:
        laptop.close()
        phone.close()
