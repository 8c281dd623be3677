"""The message page in headless Chromium: the shell first, then its sections swapped into their places."""

from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory


def test_the_sections_arrive_in_their_places(page, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    story = mimecast_env.state.story
    message_id = story["phishing_message_ids"][0]
    sign_in(page, "alice")
    page.goto(f"/messages/{message_id}/")

    # The first round fills the head, the summary, delivery, attachments and headers; the second the
    # banner, the timeline and the related section: each where the shell keeps its place.
    page.wait_for_selector("#summary #verdicts")
    page.wait_for_selector("#verdict-banner.verdict-banner-danger")
    page.wait_for_selector("#who-else-table", state="attached")
    assert page.inner_text("#msg-subject") not in ("", "Message")
    assert "clicked" in page.inner_text("#timeline-events")
    # Every section was swapped in once: no placeholder and no element twice.
    for element in ("message-head", "verdict-banner", "message-detail", "delivery", "attachments", "urls", "timeline"):
        assert page.locator(f"#{element}").count() == 1, element
    assert page.locator("#headers").count() == 1 and page.locator("#related").count() == 1
    assert page.locator("[hx-trigger=load]").count() == 0
    assert page.locator("text=Open it on its own page").count() == 0
    # Above the tabs: head, then banner; the summary tab shows the summary and the timeline only.
    tops = [
        page.locator(f"#{e}").bounding_box()["y"] for e in ("message-head", "verdict-banner", "message-tabs", "summary")
    ]
    assert tops == sorted(tops)
    assert page.is_visible("#timeline") and not page.is_visible("#headers") and not page.is_visible("#who-else")
    assert page.get_attribute("#tab-summary", "aria-selected") == "true"

    # Each tab shows its panel alone; the counts came with the sections.
    page.click("#tab-headers")
    assert page.is_visible("#headers") and not page.is_visible("#summary")
    assert page.locator("#header-rows tr").count() > 3
    assert page.get_attribute("#tab-headers", "aria-selected") == "true"
    assert page.get_attribute("#tab-summary", "aria-selected") == "false"
    assert page.url.endswith("#panel-headers")
    page.click("#tab-related")
    assert "45 recipient copies" in page.inner_text("#who-else")
    assert "45 copies" in page.inner_text("#tab-related")
    # The arrow keys move between tabs.
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.id") == "tab-headers"
    assert page.is_visible("#headers") and not page.is_visible("#who-else")
    # A reload keeps the tab the address names.
    page.reload()
    page.wait_for_selector("#header-rows tr")
    assert page.get_attribute("#tab-headers", "aria-selected") == "true"
    assert page.console_errors == []
    screenshot(page, "message-page-sections")


def test_without_javascript_every_panel_shows_and_the_tabs_are_links(
    chromium, live_server, transactional_db, mimecast_env
):
    UserFactory(username="alice", roles=["analyst"])
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, "alice")
        message_id = mimecast_env.state.story["phishing_message_ids"][0]
        page.goto(f"/messages/{message_id}/detail/")
        for panel in ("summary", "delivery", "attachments", "headers", "related"):
            assert page.is_visible(f"#panel-{panel}"), panel
            assert page.get_attribute(f"#tab-{panel}", "href") == f"#panel-{panel}"
        page.click("#tab-headers")
        assert page.url.endswith("#panel-headers")
        assert page.locator("#header-rows tr").count() > 3
    finally:
        context.close()
