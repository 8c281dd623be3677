"""What the browser tests do alike on any page: open one in a window of a given size, sign in through
the real form, keep a screenshot; and the 100-row search the density checks run."""

from datetime import timedelta
from pathlib import Path

from tests.factories import PASSWORD
from tests.remediation.support import browser_session_key, stale_session

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
ROWS = 100


def open_page(chromium, base_url, viewport):
    """A page in a context of its own, collecting the console's errors (a CSP refusal shows there)."""
    context = chromium.new_context(base_url=base_url, viewport=viewport)
    page = context.new_page()
    console_errors = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.console_errors = console_errors
    return page


def hundred_row_search(server):
    """A route and a custom window (whole minutes, up to a minute after the newest message) in which
    the simulator holds exactly 100 messages: the results page of the bench."""
    for route in ("inbound", "outbound", "internal"):
        found = sorted((m for m in server.state.messages if m.route == route), key=lambda m: m.received, reverse=True)
        if len(found) <= ROWS:
            continue
        start = found[ROWS - 1].received.replace(second=0, microsecond=0)
        if found[ROWS].received < start:
            end = found[0].received.replace(second=0, microsecond=0) + timedelta(minutes=1)
            return {"route": route, "window": "custom", "start": start.isoformat(), "end": end.isoformat()}
    raise AssertionError("no route has exactly 100 messages in a whole-minute window")


def sign_in(page, username, password=PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector(f"text=Welcome, {username}")


def age_sign_in(page, minutes=11):
    """Age the proof of sign-in the browser's session holds (stale_session), once the page has no
    request in flight. A page loads parts of itself after it paints (home's dashboards, its requests
    panel); such a request read the session before and saves it after (every request saves it), so
    made meanwhile the ageing would be overwritten and no step-up asked for."""
    page.wait_for_load_state("networkidle")
    stale_session(browser_session_key(page.context), minutes=minutes)


def screenshot(page, name):
    """The whole page as tests/artifacts/<name>.png, for a person to look through after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
