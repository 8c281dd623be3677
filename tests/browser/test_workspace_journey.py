"""An analyst's journey through the workspace in headless Chromium, with a screenshot of each step."""

from investigations.models import AuditAction, AuditEvent
from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory

REASON = "User reported a credential phish, INC-7001"


def test_an_analyst_goes_from_the_quick_search_to_the_eml(page, transactional_db, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    story = mimecast_env.state.story
    sign_in(page, "alice")

    # The quick search is one keystroke away.
    page.locator("h1").click()  # away from the autofocused box, then "/" brings it back
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "id_q"
    page.keyboard.type(f"no-reply@{story['phishing_domain']}")
    page.fill("#id_reason", REASON)
    screenshot(page, "workspace-1-quick-search")
    page.click(".quick-search button[type=submit]")
    page.wait_for_selector("#tt-results")
    assert "/search/track/?" in page.url and "sender=no-reply" in page.url
    assert page.locator("#tt-results tbody tr").count() == 45
    screenshot(page, "workspace-2-track-and-trace")

    # Sorting happens in place and keeps the query in the URL.
    page.click("#tt-results th >> text=To")
    page.wait_for_url("**sort=to**")
    assert page.locator("#tt-results tbody tr").count() == 45

    page.locator("#tt-results a.msg-link").first.click()
    page.wait_for_selector("#verdicts")
    verdicts = page.inner_text("#verdicts")
    assert "SPF" in verdicts and "DKIM" in verdicts and "DMARC" in verdicts
    page.click("#tab-related")  # the message page's sections are tabs
    page.wait_for_selector("#who-else")
    assert "45 recipient copies" in page.inner_text("#who-else")
    screenshot(page, "workspace-3-message-detail")
    message_url = page.url

    # Decode the rewritten URL on the threat tools' page.
    page.click("#tab-attachments")
    page.locator("a.pivot-decode").first.click()
    page.wait_for_load_state()
    assert story["phishing_url"] in page.content()
    screenshot(page, "workspace-4-url-decode")
    page.goto(message_url)

    # Download the .eml, with a reason.
    page.click("#download-eml")
    page.fill("#id_reason", REASON)
    with page.expect_download() as download_info:
        page.click("#download-submit")
    download = download_info.value
    assert download.suggested_filename.endswith("-received.eml")
    screenshot(page, "workspace-5-download")

    # The macro attachment: its hash, and the pivot to the hash search.
    page.goto("/")
    page.fill("#id_q", "accounts@northwind-supp1ies.co")
    page.click(".quick-search button[type=submit]")
    page.wait_for_selector("#tt-results")
    page.locator("#tt-results a.msg-link").first.click()
    page.wait_for_selector("#attachments a.pivot-hash", state="attached")
    page.click("#tab-attachments")
    assert story["macro_sha256"] in page.inner_text("#attachments")
    screenshot(page, "workspace-6-attachment-hash")
    page.locator("a.pivot-hash").first.click()
    page.wait_for_load_state()
    assert story["macro_sha256"] in page.content()
    screenshot(page, "workspace-7-hash-search")

    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.SEARCH_TRACK_TRACE, AuditAction.MESSAGE_VIEWED, AuditAction.MESSAGE_DOWNLOADED} <= actions
    assert page.console_errors == []
