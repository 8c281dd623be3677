"""Real Chromium (Debian's, never Playwright's download) driven by Playwright, headless."""

import os

import pytest

# The single sign-on journeys run against the same test providers (OpenID Connect, SAML) as tests/sso/.
from tests.browser.pages import open_page
from tests.sso.conftest import oidc_provider, saml_idp, saml_settings, saml_sp_keys, sso_settings  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread while the browser is up; the tests' own
    ORM calls are still synchronous, so Django's async-safety guard is told so, for these tests only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


# Package scope: the browser, and with it Playwright's event loop, is gone before the other tests run.
@pytest.fixture(scope="package")
def chromium(_orm_beside_playwright):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does this)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    page = open_page(chromium, live_server.url, {"width": 1280, "height": 900})
    yield page
    page.context.close()
