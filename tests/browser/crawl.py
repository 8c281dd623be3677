"""The crawl the accessibility test drives: every page a persona reaches, in light and in dark mode.

For one persona, a browser context in the light colour scheme signs in through the form, then opens
the start pages and follows every same-origin link it finds (GET only: links never submit a form,
and the routes below that are no pages, or that sign out, are never opened). A page is visited once
per route and distinguishing part (an entity's kind, the tab, the kind of request), whatever else its
query holds: a results table of 100 messages costs one message page, not 100, and a search page is
checked as the first URL the crawl gives it (the start URLs put a search with results first). A
second context in the dark colour scheme (Playwright's ``color_scheme``, which is what
``prefers-color-scheme`` answers) revisits the same pages with the same session. Each visit waits
for the network to go idle (the htmx sections that load after the page), runs axe-core, and keeps a
screenshot.

axe-core is loaded into every document of the crawl's contexts through the DevTools protocol
(``add_init_script``) and run with ``page.evaluate``, neither of which the portal's Content Security
Policy governs; a ``<script>`` tag would be refused by it (``add_script_tag`` inlines the file). So the
pages are checked under their real, strict policy: no ``bypass_csp`` anywhere."""

import html
import json
import re
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from django.urls import Resolver404, resolve

from tests.browser.pages import ARTIFACTS
from tests.factories import PASSWORD
from tests.routes import TOKEN_NAMESPACES

ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ARTIFACTS / "screenshots"
INDEX = ARTIFACTS / "index.html"
REPORT = ARTIFACTS / "accessibility.json"

VIEWPORT = {"width": 1440, "height": 900}
MODES = ("light", "dark")
SEVERE = ("serious", "critical")
# A page that keeps the network busy (a poll every second) is checked once this wait is over.
IDLE_TIMEOUT_MS = 3_000
# At most this many pages a persona: a bound, not a target (each persona reaches fewer today).
PAGE_LIMIT = 90
# Screenshots: the viewport only, as JPEG. A full-page PNG of every page in both modes for every
# persona weighs hundreds of megabytes; the top of the page at 1440x900 is what a person looks at.
SCREENSHOT_OPTIONS = {"type": "jpeg", "quality": 60}

# Routes never opened: signing out would end the crawl's session; downloads and exports, the JSON,
# XML and JavaScript endpoints and the message body's frame are no pages; single sign-on routes
# leave the portal for the provider.
NOT_PAGES = {"logout", "mfa-jsi18n", "message-body-frame", "saml-metadata"}
NOT_PAGE_PARTS = ("export", "download", "sso-", "saml-", "mfa-passkey-")
# Query fields whose value makes a different page (a tab), not just different rows.
PAGE_CHOOSING_FIELDS = {"tab", "view", "kind"}
# Path parameters whose value makes a different page (an entity's kind, an audit target's type).
PAGE_CHOOSING_KWARGS = {"kind", "target_type", "fmt"}


def _is_page(name):
    return bool(name) and name not in NOT_PAGES and not any(part in name for part in NOT_PAGE_PARTS)


def _portal_route(match):
    # The REST API's routes answer integration tokens; its reference page is django-ninja's Swagger UI,
    # not the portal's own markup (tests/routes.py leaves the same namespaces out).
    return not set(match.namespaces) & TOKEN_NAMESPACES


@dataclass
class Target:
    """A URL the crawl may open, with the key that says which page it is."""

    url: str
    name: str
    key: tuple
    slug: str


def target(url, origin):
    """The Target for a link, or None: another origin, no route, or a route that is no page."""
    parts = urlsplit(url)
    if parts.scheme and f"{parts.scheme}://{parts.netloc}" != origin:
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if not _is_page(match.url_name) or not _portal_route(match):
        return None
    query = parse_qsl(parts.query, keep_blank_values=True)
    # Only the route's own parameters: a route may also hand its view fixed keyword arguments.
    kwargs = tuple(
        str(match.kwargs[k]) for k in sorted(match.kwargs) if k in PAGE_CHOOSING_KWARGS and f":{k}>" in match.route
    )
    choices = tuple(f"{k}={v}" for k, v in sorted(query) if k in PAGE_CHOOSING_FIELDS and v)
    bits = [match.url_name, *kwargs, *choices]
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(bits).lower()).strip("-")[:120]
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return Target(path, match.url_name, (match.url_name, kwargs, choices), slug)


@dataclass
class Visit:
    role: str
    mode: str
    url: str
    slug: str
    status: int = 0
    title: str = ""
    violations: list = field(default_factory=list)
    screenshot: str = ""  # relative to ARTIFACTS
    note: str = ""
    seconds: dict = field(default_factory=dict)  # where the visit's time went

    def severe(self):
        return [v for v in self.violations if v["impact"] in SEVERE]


# Rows after the 25th of a table are the same markup as the first 25: axe skips them (its colour
# contrast check is most of its time, and a log page shows hundreds of rows). The message body's
# frame is the message's own markup, sandboxed, not the portal's.
_AXE_RUN = """async () => {
  const context = {exclude: [["tbody > tr:nth-child(n+26)"]]};
  const result = await axe.run(context, {resultTypes: ["violations"], iframes: false});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 200), summary: n.failureSummary})),
  }));
}"""


def axe_violations(page):
    """axe-core's violations on the page as it stands (the context loads axe into every document)."""
    return page.evaluate(_AXE_RUN)


def _context(browser, base_url, mode, session=None):
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, color_scheme=mode, storage_state=session)
    context.add_init_script(path=str(AXE_SCRIPT))
    return context


def sign_in(page, username, password=PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def _fresh_page(page):
    """A new tab in the same context (same session) after a load failed: Chromium's error page keeps
    interrupting the next navigation of the tab it is in."""
    context = page.context
    page.close()
    return context.new_page()


def _goto(page, visit):
    """Open the page and wait for its lazy sections; False when it is no page to check (it failed,
    it is not HTML, or the persona may not open it)."""
    started = time.monotonic()
    try:
        response = page.goto(visit.url, wait_until="load")
    except Exception as error:  # a route that takes no GET answers 405 with no body: no page
        visit.note = f"did not load: {str(error).splitlines()[0]}"
        return False
    visit.status = response.status if response else 0
    content_type = (response.headers.get("content-type", "") if response else "") or ""
    if not content_type.startswith("text/html"):
        visit.note = f"not a page ({content_type})"
        return False
    if visit.status != 200:
        visit.note = f"answered {visit.status}"
        return False
    visit.seconds["load"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    try:
        page.wait_for_load_state("networkidle", timeout=IDLE_TIMEOUT_MS)
    except Exception:
        visit.note = "network never idle (polling); checked as it stood"
    visit.title = page.title()
    visit.seconds["idle"] = round(time.monotonic() - started, 2)
    return True


def _check(page, visit):
    """axe-core on the page, and its screenshot."""
    started = time.monotonic()
    visit.violations = axe_violations(page)
    visit.seconds["axe"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    shot = SCREENSHOTS / visit.role / f"{visit.slug}-{visit.mode}.{SCREENSHOT_OPTIONS['type'].replace('jpeg', 'jpg')}"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), **SCREENSHOT_OPTIONS)
    visit.screenshot = str(shot.relative_to(ARTIFACTS))
    visit.seconds["screenshot"] = round(time.monotonic() - started, 2)


def crawl(browser, base_url, role, username, start_urls):
    """Every page `username` reaches from `start_urls`, in light then in dark mode: a list of Visits.
    `username` None crawls signed out."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    light = _context(browser, base_url, "light")
    page = light.new_page()
    if username:
        sign_in(page, username)
    session = light.storage_state()
    queue = deque(start_urls)
    seen = set()
    visits = []
    while queue and len(visits) < PAGE_LIMIT:
        found = target(queue.popleft(), origin)
        if found is None or found.key in seen:
            continue
        seen.add(found.key)
        visit = Visit(role, "light", found.url, found.slug)
        is_page = _goto(page, visit)
        if visit.note.startswith("did not load"):
            page = _fresh_page(page)
        landed = target(page.url, origin)
        if landed and landed.key != found.key:
            # Redirected (a page that moved, a step that is not due): the page it landed on counts once.
            if landed.key in seen:
                continue
            seen.add(landed.key)
            visit.url, visit.slug = landed.url, landed.slug
        visits.append(visit)
        if is_page:
            _check(page, visit)
            queue.extend(page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"))
    light.close()

    dark = _context(browser, base_url, "dark", session)
    page = dark.new_page()
    for seen_light in [v for v in visits if v.screenshot]:
        visit = Visit(role, "dark", seen_light.url, seen_light.slug)
        if _goto(page, visit):
            _check(page, visit)
        elif visit.note.startswith("did not load"):
            page = _fresh_page(page)
        visits.append(visit)
    dark.close()
    return visits


def clear_screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)


def severe_report(visits):
    """One line per serious or critical violation: role, mode, page, rule, how many elements, which."""
    lines = []
    for visit in visits:
        for v in visit.severe():
            targets = "; ".join(n["target"] for n in v["nodes"][:3])
            more = f" (+{len(v['nodes']) - 3} more)" if len(v["nodes"]) > 3 else ""
            lines.append(
                f"{visit.role} {visit.mode} {visit.url} — {v['id']} ({v['impact']}, {len(v['nodes'])}): "
                f"{v['help']} — {targets}{more}"
            )
    return lines


def write_report(visits):
    ARTIFACTS.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps([vars(v) for v in visits], indent=1, ensure_ascii=False))


def write_index(visits):
    """tests/artifacts/index.html: each persona's pages, light and dark side by side, with axe's count."""
    e = html.escape
    rows = {}
    for visit in visits:
        rows.setdefault((visit.role, visit.slug), {})[visit.mode] = visit
    by_role = {}
    for (role, _slug), modes in rows.items():
        by_role.setdefault(role, []).append(modes)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Screenshots of every page</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}"
        "img{width:360px;height:auto;display:block}.bad{color:#a00;font-weight:600}code{word-break:break-all}</style>",
        "</head><body><h1>Screenshots of every page the crawl reached, light and dark</h1>",
        "<p>Viewport 1440 x 900. Generated by tests/browser/test_accessibility.py; serious and critical axe-core "
        "violations are counted per page (details in accessibility.json).</p>",
    ]
    parts.append("<nav><ul>" + "".join(f"<li><a href='#{e(r)}'>{e(r)}</a></li>" for r in by_role) + "</ul></nav>")
    for role, pages in by_role.items():
        parts.append(f"<h2 id='{e(role)}'>{e(role)}</h2><table><thead><tr><th>Page</th>")
        parts.append("".join(f"<th>{e(mode)}</th>" for mode in MODES) + "</tr></thead><tbody>")
        for modes in pages:
            first = modes.get("light") or next(iter(modes.values()))
            cell = [f"<td><strong>{e(first.title)}</strong><br><code>{e(first.url)}</code>"]
            if first.note:
                cell.append(f"<br><em>{e(first.note)}</em>")
            parts.append("<tr>" + "".join(cell) + "</td>")
            for mode in MODES:
                visit = modes.get(mode)
                if visit is None or not visit.screenshot:
                    parts.append("<td>—</td>")
                    continue
                severe = visit.severe()
                count = f"<span class='bad'>{len(severe)} serious/critical</span>" if severe else "0 serious/critical"
                ids = ", ".join(sorted({v["id"] for v in severe}))
                src = e(visit.screenshot)
                parts.append(
                    f"<td><a href='{src}'><img src='{src}' loading='lazy' alt='{e(first.title)}, {e(mode)}'></a>"
                    f"{count}{(': ' + e(ids)) if ids else ''}</td>"
                )
            parts.append("</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    INDEX.write_text("\n".join(parts))
