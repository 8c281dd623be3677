from investigations.models import AuditAction, AuditEvent
from tests.browser.pages import sign_in
from tests.factories import PASSWORD, UserFactory


def test_an_analyst_signs_in_sees_their_roles_and_signs_out(page, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    page.goto("/")
    assert page.url.endswith("/accounts/login/?next=/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Welcome, alice")
    assert page.locator(".badge-role").all_inner_texts() == ["analyst"]
    # An analyst's navigation offers no audit or admin pages.
    assert page.locator("nav >> text=Audit trail").count() == 0
    # The recent-activity table shows the sign-in that just happened, in local time with UTC on hover.
    assert "Signed in" in page.locator("#recent-activity table").inner_text()
    assert page.locator("#recent-activity table time").first.get_attribute("title").endswith("UTC")
    page.click("text=Sign out")
    page.wait_for_selector("text=Sign in")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [AuditAction.LOGIN, AuditAction.LOGOUT]
    # The strict CSP holds: htmx and our script load without a single violation.
    assert page.console_errors == []


def test_a_wrong_password_says_so_and_keeps_the_username(page, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    page.goto("/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert "correct username and password" in page.inner_text("[role=alert]")
    assert page.input_value("#id_username") == "alice"
    assert page.evaluate("typeof htmx") == "object"


def test_an_auditor_pages_back_through_the_audit_trail_in_place(page, transactional_db):
    from investigations.audit.services import audit_record

    UserFactory(username="dave", roles=["auditor"])
    for n in range(120):
        audit_record(actor=None, action="test.event", target=("thing", n))
    sign_in(page, "dave")
    page.click("nav >> text=Audit trail")
    page.wait_for_selector("#audit-rows")
    first_page_rows = page.locator("#audit-rows tr").count()
    page.click("text=Older events")
    # (Waiting through a locator: our CSP forbids the string evaluation wait_for_function uses.)
    page.locator("#audit-rows tr").nth(first_page_rows + 40).wait_for()
    # htmx appended the older rows in place: still one page, no navigation.
    assert page.url.endswith("/audit/")
    assert page.console_errors == []
