"""The design system in Chromium at 1440x900: the header's theme switch repaints the page and is kept,
a copy button copies and says so (visibly and to screen readers), a toast goes when dismissed, the arrow
keys move between tabs, and the style guide fits the window in both themes."""

from playwright.sync_api import expect

from investigations.models import Theme, User
from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _background(page, selector="body"):
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def _fits(page):
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_theme_switch_copy_buttons_and_toasts(chromium, live_server, transactional_db):
    UserFactory(username="erin", roles=["admin"])
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, color_scheme="light"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    try:
        sign_in(page, "erin")
        page.goto("/styleguide/")
        light = _background(page)
        assert page.get_attribute("html", "data-theme") == "system" and _fits(page)
        # Both panes draw their own theme whatever the page's.
        assert _background(page, ".sg-pane[data-theme=light]") != _background(page, ".sg-pane[data-theme=dark]")

        page.click("#theme-form button[value=dark]")
        page.wait_for_url("**/styleguide/")
        assert page.get_attribute("html", "data-theme") == "dark"
        assert page.get_attribute("#theme-form button[value=dark]", "aria-pressed") == "true"
        assert _background(page) != light and _fits(page)
        assert User.objects.get(username="erin").theme == Theme.DARK
        screenshot(page, "styleguide-dark")

        copy = page.locator(f".sg-pane[data-theme=light] button.copy[data-copy='{HASH}']")
        copy.click()
        page.wait_for_selector(".sg-pane[data-theme=light] button.copy.copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == HASH
        # The live region is cleared, then filled a moment later (so a repeat is announced again).
        expect(page.locator("#live-status")).to_have_text("Copied to the clipboard")
        assert "Copied" in page.eval_on_selector(
            ".sg-pane[data-theme=light] button.copy.copied", "e => getComputedStyle(e, '::before').content"
        )

        tabs = page.locator(".sg-pane[data-theme=light] [role=tab]")
        tabs.first.focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("() => document.activeElement.textContent") == "Headers"
        page.keyboard.press("End")
        assert page.evaluate("() => document.activeElement.textContent") == "Activity"
        page.keyboard.press("ArrowRight")
        assert page.evaluate("() => document.activeElement.textContent") == "Summary"

        toast = page.locator(".sg-pane[data-theme=dark] .toast-error")
        toast.locator(".toast-close").click()
        assert toast.is_hidden()

        # A refused choice comes back as a toast, and the page keeps the theme it had.
        page.evaluate("() => { document.querySelector('#theme-form button[value=light]').value = 'purple'; }")
        page.click("#theme-form button[value=purple]")
        page.wait_for_selector("#toasts .toast-error")
        assert "Choose a theme" in page.inner_text("#toasts .toast-error")
        assert page.get_attribute("html", "data-theme") == "dark"
        page.click("#toasts .toast-error .toast-close")
        assert page.locator("#toasts .toast-error").is_hidden()

        page.click("#theme-form button[value=system]")
        page.wait_for_url("**/styleguide/")
        assert _background(page) == light, "system follows the browser, which prefers light here"
    finally:
        context.close()
