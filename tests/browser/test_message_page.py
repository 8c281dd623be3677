"""The message page in headless Chromium: the shell first, then its sections swapped into their places."""

from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory


def test_the_sections_arrive_in_their_places(page, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    story = mimecast_env.state.story
    message_id = story["phishing_message_ids"][0]
    sign_in(page, "alice")
    page.goto(f"/messages/{message_id}/")

    # The first round fills the head, the cards and the headers; the second the banner, the
    # timeline and the related section: each where the shell keeps its place.
    page.wait_for_selector("#summary #verdicts")
    page.wait_for_selector("#verdict-banner.verdict-banner-danger")
    page.wait_for_selector("#who-else-table")
    assert page.inner_text("#msg-subject") not in ("", "Message")
    assert "clicked" in page.inner_text("#timeline-events")
    assert page.locator("#header-rows tr").count() > 3
    assert "45 recipient copies" in page.inner_text("#who-else")
    # Every section was swapped in once: no placeholder and no element twice.
    for element in ("message-head", "verdict-banner", "message-detail", "timeline", "headers", "related"):
        assert page.locator(f"#{element}").count() == 1, element
    assert page.locator("[hx-trigger=load]").count() == 0
    assert page.locator("text=Open it on its own page").count() == 0
    # Top to bottom: head, banner, cards, timeline, headers, related.
    tops = [
        page.locator(f"#{e}").bounding_box()["y"]
        for e in ("message-head", "verdict-banner", "summary", "timeline", "headers", "related")
    ]
    assert tops == sorted(tops)
    assert page.console_errors == []
    screenshot(page, "message-page-sections")
