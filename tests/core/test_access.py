import pytest
from django.urls import reverse

from tests.factories import UserFactory

# Which persona may open which page: 200 allowed, 403 refused.
MATRIX = {
    "home": {"analyst": 200, "approver": 200, "auditor": 200, "admin": 200, "outsider": 200},
    "audit-list": {"analyst": 403, "approver": 403, "auditor": 200, "admin": 200, "outsider": 403},
    "user-list": {"analyst": 403, "approver": 403, "auditor": 403, "admin": 200, "outsider": 403},
    "mimecast-connection": {"analyst": 403, "approver": 403, "auditor": 403, "admin": 200, "outsider": 403},
}
CASES = [(name, persona, status) for name, row in MATRIX.items() for persona, status in row.items()]


@pytest.mark.parametrize(("url_name", "persona", "expected"), CASES)
def test_each_role_opens_only_its_pages(client, personas, url_name, persona, expected):
    client.force_login(personas[persona])
    response = client.get(reverse(url_name))
    assert response.status_code == expected


@pytest.mark.parametrize(("url_name", "persona", "expected"), CASES)
def test_an_htmx_partial_request_hits_the_same_check(client, personas, url_name, persona, expected):
    client.force_login(personas[persona])
    response = client.get(reverse(url_name), headers={"HX-Request": "true"})
    assert response.status_code == expected


@pytest.mark.parametrize("url_name", list(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_refused_page_is_friendly_and_says_why(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("user-list"))
    assert response.status_code == 403
    assert b"You may not open this page" in response.content
    assert b"admin settings" in response.content


def test_an_unknown_page_is_a_friendly_404(client, analyst):
    client.force_login(analyst)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Not found" in response.content


def test_navigation_shows_only_what_the_role_may_open(client, auditor, admin_user):
    client.force_login(auditor)
    page = client.get(reverse("home")).content.decode()
    assert reverse("audit-list") in page
    assert reverse("user-list") not in page
    client.force_login(admin_user)
    page = client.get(reverse("home")).content.decode()
    assert reverse("user-list") in page


def test_a_user_with_several_roles_gets_the_union(client, db):
    both = UserFactory(username="frank", roles=["auditor", "admin"])
    client.force_login(both)
    assert client.get(reverse("audit-list")).status_code == 200
    assert client.get(reverse("user-list")).status_code == 200


def test_an_inactive_user_holds_no_role(db):
    from investigations.core.roles import user_can

    user = UserFactory(username="gone", roles=["admin"], is_active=False)
    assert not user_can(user, "admin_settings")


def test_pages_carry_a_strict_csp_and_the_csrf_header_for_htmx(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("home"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    body = response.content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "<script>" not in body  # no inline script anywhere in the layout
    assert "/static/django_htmx/" in body or "htmx" in body
