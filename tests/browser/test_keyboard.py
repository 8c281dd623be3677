"""The keyboard shortcuts in Chromium: "/" to the search, "?" for the list, "g" and a letter to a page,
j/k and Enter through a result table; the approval queue worked with the keyboard alone, where Reject
asks first and a dismissed question decides nothing."""

from playwright.sync_api import expect

from investigations.models import RemediationRequest
from tests.browser.pages import screenshot, sign_in
from tests.factories import PASSWORD, UserFactory
from tests.remediation.support import pending_request


def _focused_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_slash_focuses_the_search_and_never_steals_a_field_that_has_focus(page, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    sign_in(page, "alice")
    # Home's quick search has focus already: "/" is typed into it, and no hint sits beside it. (The
    # browser runs autofocus at its next rendering step, a moment after the load.)
    expect(page.locator("#id_q")).to_be_focused()
    assert "press /" not in page.inner_text("main")
    page.keyboard.type("a/b")
    assert page.input_value("#id_q") == "a/b"
    # On a page where nothing has focus, "/" goes to the page's search field and is not typed.
    page.goto("/remediation/")
    assert _focused_id(page) in ("", None)
    page.keyboard.press("/")
    assert _focused_id(page) == "id_requester"
    assert page.input_value("#id_requester") == ""
    # A shortcut is never a shortcut while typing: "g t" in a field is text.
    page.keyboard.type("gt")
    assert page.input_value("#id_requester") == "gt"
    assert page.url.endswith("/remediation/")
    assert page.console_errors == []


def test_question_mark_lists_the_shortcuts_this_user_has_and_escape_closes_them(page, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    sign_in(page, "alice")
    page.goto("/remediation/")
    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts-dialog")
    assert dialog.is_visible()
    assert page.evaluate("document.querySelector('dialog#shortcuts-dialog').open") is True
    listed = dialog.inner_text()
    assert "Keyboard shortcuts" in listed and "Track & trace" in listed and "j / k" in listed
    assert "Approvals" not in listed  # an analyst's navigation has no approval queue, nor has the list
    screenshot(page, "keyboard-shortcuts")
    page.keyboard.press("Escape")
    # The dialog's close event (it removes the dialog) is dispatched after the key, not during it.
    expect(page.locator("dialog#shortcuts-dialog")).to_have_count(0)
    assert page.console_errors == []


def test_g_then_a_letter_opens_that_page_from_the_navigation(page, transactional_db):
    UserFactory(username="alice", roles=["analyst"])
    sign_in(page, "alice")
    page.goto("/remediation/")
    with page.expect_navigation():
        page.keyboard.press("g")
        page.keyboard.press("t")
    assert page.url.endswith("/search/track/")
    # A page the navigation does not offer this user is not reached: g p (approvals) does nothing.
    page.goto("/remediation/")
    page.keyboard.press("g")
    page.keyboard.press("p")
    page.wait_for_load_state()
    assert page.url.endswith("/remediation/")
    assert page.console_errors == []


def test_j_and_k_move_through_the_rows_and_enter_opens_one(page, transactional_db):
    analyst = UserFactory(username="alice", roles=["analyst"])
    requests = [pending_request(analyst) for _ in range(3)]
    sign_in(page, "alice")
    page.goto("/remediation/")
    rows = page.locator("main table.table tbody tr")
    assert rows.count() == 3
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    highlighted = page.locator("tr.kb-current")
    assert highlighted.count() == 1
    assert rows.nth(1).get_attribute("class") and "kb-current" in rows.nth(1).get_attribute("class")
    target = rows.nth(1).locator("a").first.get_attribute("href")
    assert target in {f"/remediation/{r.pk}/" for r in requests}
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(target)
    assert page.console_errors == []


def test_the_approval_queue_by_keyboard_and_a_dismissed_reject_decides_nothing(page, transactional_db):
    analyst = UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])
    req = pending_request(analyst)
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, "carol")
    page.goto("/remediation/approvals/")
    # j reaches the request's row and its Decide link; Enter opens the decision.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Decide"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/remediation/{req.pk}/decide/")
    page.focus("#id_reason")
    page.keyboard.type("Not malicious after all")
    # Tab moves on through the form to Approve, then Reject: real buttons, with a visible focus ring.
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(_focused_id(page))
        if order[-1] == "reject":
            break
    assert order[-2:] == ["approve", "reject"]
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"

    questions, posts = [], []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))

    def dismiss(dialog):
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert questions == [f"Reject request #{req.pk}? The requester will have to start a new request."]
    assert posts == []
    assert page.url.endswith(f"/remediation/{req.pk}/decide/")
    assert RemediationRequest.objects.get(pk=req.pk).state == RemediationRequest.State.PENDING_APPROVAL
    assert page.console_errors == []


def test_without_script_reject_still_needs_its_reason(chromium, live_server, transactional_db):
    """No script, no question: the form itself still refuses a rejection without a reason."""
    analyst = UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])
    req = pending_request(analyst)
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "carol")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"/remediation/{req.pk}/decide/")
        with page.expect_navigation():
            page.click("#reject")
        assert page.locator(".field-error").count() >= 1
        assert RemediationRequest.objects.get(pk=req.pk).state == RemediationRequest.State.PENDING_APPROVAL
    finally:
        context.close()


def test_slash_unfolds_the_search_panel_after_a_search(page, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    sign_in(page, "alice")
    page.goto("/search/track/?route=inbound&window=7d&reason=Keyboard+check+of+the+folded+panel")
    page.wait_for_selector("#tt-results")
    assert page.evaluate("document.querySelector('details.search-panel').open") is False
    page.keyboard.press("/")
    # The folded form opens and its field takes the focus: "/" is not typed into it.
    assert page.evaluate("document.querySelector('details.search-panel').open") is True
    assert page.evaluate("document.activeElement.closest('details.search-panel') !== null") is True
    assert page.evaluate("document.activeElement.value") == ""
    assert page.console_errors == []
