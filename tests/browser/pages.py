"""What the browser tests do alike on any page: sign in through the real form, keep a screenshot."""

from pathlib import Path

from tests.factories import PASSWORD

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def sign_in(page, username, password=PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text=Welcome, {username}")


def screenshot(page, name):
    """The whole page as tests/artifacts/<name>.png, for a person to look through after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
