"""The design system: its style sheet keeps every colour in a variable with a dark value for each light
one, the admins' style guide shows the components, and each user's theme choice is kept and drawn."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from investigations.models import Theme

CSS = (Path(settings.BASE_DIR) / "static" / "css" / "portal.css").read_text()
DECLARATION = re.compile(r"(--[a-z0-9-]+)\s*:\s*([^;]+);")
COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(")
# Drawn on white whatever the theme: the sender's HTML as the recipient saw it, and a QR code a phone
# must read.
ALWAYS_WHITE = (".body-frame", ".qr")


def _block(opening):
    start = CSS.index(opening)
    return CSS[start : CSS.index("}", start)]


def _variables(block):
    return dict(DECLARATION.findall(block))


def _light_and_dark(value):
    """The two arguments of the light-dark() in a value, split at its own comma (not one inside rgb())."""
    start = value.index("light-dark(") + len("light-dark(")
    depth, comma = 0, None
    for at, char in enumerate(value[start:], start):
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == ")":
            return value[start:comma].strip(), value[comma + 1 : at].strip()
        elif char == "," and depth == 0:
            comma = at
    raise AssertionError(f"unclosed light-dark() in {value}")


def test_every_colour_lives_in_a_variable():
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", re.sub(r"/\*.*?\*/", "", CSS, flags=re.S))
    stray = []
    for selector, body in rules:
        for declaration in body.split(";"):
            if declaration.strip().startswith("--") or not COLOUR.search(declaration):
                continue
            if not selector.strip().startswith(ALWAYS_WHITE):
                stray.append(f"{selector.strip()} {{ {declaration.strip()} }}")
    assert stray == [], "colours outside the variables:\n" + "\n".join(stray)


def test_every_colour_has_a_dark_value_and_each_theme_choice_only_pins_the_scheme():
    root = _variables(_block(":root {"))
    colours = {name: value for name, value in root.items() if COLOUR.search(value)}
    assert {"--bg", "--fg", "--muted", "--line", "--card", "--accent", "--ok-bg", "--surface-2"} <= set(colours)
    pairs = {name: _light_and_dark(value) for name, value in colours.items() if "light-dark(" in value}
    assert set(pairs) == set(colours), "a colour without a dark value"
    assert all(pairs[name][0] != pairs[name][1] for name in ("--bg", "--fg", "--card", "--accent"))
    # One set of values: "system" leaves the scheme to the browser, a choice pins it and sets nothing else,
    # so following the system and choosing dark must look the same.
    assert "color-scheme: light dark;" in _block(":root {")
    for theme in ("light", "dark"):
        pinned = _block(f':root[data-theme="{theme}"]')
        assert f"color-scheme: {theme};" in pinned and _variables(pinned) == {}
    assert "prefers-color-scheme" not in CSS


def test_every_table_column_header_has_a_name():
    # A screen reader announces a column by its header: a button or link column gets a visually
    # hidden name rather than an empty <th>.
    empty = re.compile(r"<th\b[^>]*>\s*</th>")
    templates = sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html"))
    assert templates
    unnamed = [f"{path.relative_to(settings.BASE_DIR)}" for path in templates if empty.search(path.read_text())]
    assert unnamed == []


def test_an_admin_sees_the_style_guide_in_both_themes(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("styleguide"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="sg-pane" data-theme="light"' in page and 'class="sg-pane" data-theme="dark"' in page
    for component in ('class="primary"', 'class="danger"', 'class="link"', "badge-success", "table dense",
                      'class="copy"', 'role="tablist"', "search-panel", "toast-error", "empty-state"):  # fmt: skip
        assert page.count(component) >= 2, component


def test_an_analyst_may_not_open_the_style_guide(client, analyst):
    client.force_login(analyst)
    assert client.get(reverse("styleguide")).status_code == 403


def test_a_chosen_theme_is_kept_and_drawn_on_every_page(client, analyst):
    client.force_login(analyst)
    assert 'data-theme="system"' in client.get(reverse("account-sessions")).content.decode()

    response = client.post(reverse("account-theme"), {"theme": "dark", "next": reverse("account-sessions")})

    assert response.status_code == 302 and response["Location"] == reverse("account-sessions")
    analyst.refresh_from_db()
    assert analyst.theme == Theme.DARK
    page = client.get(reverse("account-sessions")).content.decode()
    assert '<html lang="en" data-theme="dark">' in page
    assert 'value="dark" aria-pressed="true"' in page and 'value="light" aria-pressed="false"' in page

    client.post(reverse("account-theme"), {"theme": "light"})
    analyst.refresh_from_db()
    assert analyst.theme == Theme.LIGHT


def test_a_bad_theme_is_refused_with_a_message_and_nothing_changes(client, analyst):
    client.force_login(analyst)
    response = client.post(
        reverse("account-theme"), {"theme": "purple", "next": reverse("account-sessions")}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose a theme: system, light or dark." in page
    assert 'class="toast toast-error msg msg-error"><span class="toast-text" role="status">' in page
    analyst.refresh_from_db()
    assert analyst.theme == Theme.SYSTEM


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_the_theme_switch_only_sends_back_to_this_site(client, analyst, target):
    client.force_login(analyst)
    response = client.post(reverse("account-theme"), {"theme": "dark", "next": target})
    assert response["Location"] == reverse("home")


def test_signed_out_visitors_cannot_set_a_theme(client, db):
    response = client.post(reverse("account-theme"), {"theme": "dark"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    page = client.get(reverse("login")).content.decode()
    assert 'data-theme="system"' in page and 'id="theme-form"' not in page


def test_the_theme_switch_takes_only_a_post_with_its_csrf_token(analyst):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(analyst)
    assert browser.get(reverse("account-theme")).status_code == 405
    assert browser.post(reverse("account-theme"), {"theme": "dark"}).status_code == 403
    analyst.refresh_from_db()
    assert analyst.theme == Theme.SYSTEM
