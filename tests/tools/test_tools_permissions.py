"""Every threat tools, directory and awareness URL, for every persona, as a page and as an htmx
request. The matrix must name every URL these modules define: a new URL without a row fails."""

import pytest
from django.urls import URLPattern, reverse

from investigations.directory import urls as directory_urls
from investigations.tools import urls as tools_urls

ALLOWED = {"analyst": 200, "approver": 200, "auditor": 403, "admin": 403, "outsider": 403}
URL_NAMES = [
    "tools",
    "tools-hash-search",
    "tools-url-decode",
    "tools-incident",
    "tools-web-security",
    "tools-web-security-export",
    "tools-url-logs",
    "tools-url-logs-export",
    "tools-attachment-logs",
    "tools-attachment-logs-export",
    "tools-impersonation-logs",
    "tools-impersonation-logs-export",
    "tools-held",
    "tools-held-export",
    "tools-release-logs",
    "tools-release-logs-export",
    "tools-rejections",
    "tools-rejections-export",
    "tools-managed-urls",
    "tools-managed-urls-export",
    "tools-incidents",
    "tools-incidents-export",
    "directory-groups",
    "directory-group-members",
    "directory-policies",
    "awareness",
    "awareness-user",
    "awareness-campaign",
]
MATRIX = {name: ALLOWED for name in URL_NAMES}
CASES = [(name, persona, status) for name, row in MATRIX.items() for persona, status in row.items()]
POST_URLS = ["tools-hash-search", "tools-url-decode"]


def test_the_matrix_names_every_url_of_these_pages():
    defined = {
        p.name for module in (tools_urls, directory_urls) for p in module.urlpatterns if isinstance(p, URLPattern)
    }
    assert defined == set(MATRIX)


# These only read, and a status does not depend on what the simulator holds: sim_env, not a re-seed.
@pytest.mark.parametrize(("url_name", "persona", "expected"), CASES)
def test_each_role_gets_the_expected_status(persona_clients, db, sim_env, url_name, persona, expected):
    client = persona_clients[persona]
    assert client.get(reverse(url_name)).status_code == expected
    assert client.get(reverse(url_name), headers={"HX-Request": "true"}).status_code == expected


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url_name):
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(reverse(url_name), headers=headers)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url_name", POST_URLS)
@pytest.mark.parametrize(("persona", "expected"), list(ALLOWED.items()))
def test_posting_a_tool_form_hits_the_same_check(persona_clients, db, sim_env, url_name, persona, expected):
    response = persona_clients[persona].post(reverse(url_name), {}, headers={"HX-Request": "true"})
    assert response.status_code == expected


@pytest.mark.parametrize("url_name", [n for n in URL_NAMES if n not in POST_URLS])
def test_read_only_pages_refuse_post(client, analyst, url_name):
    client.force_login(analyst)
    assert client.post(reverse(url_name), {}).status_code == 405


def test_the_navigation_shows_the_tools_only_to_investigators(client, analyst, auditor):
    client.force_login(analyst)
    page = client.get(reverse("tools")).content.decode()
    assert reverse("tools") in page and reverse("awareness") in page
    client.force_login(auditor)
    page = client.get(reverse("audit-list")).content.decode()
    assert reverse("tools") not in page
