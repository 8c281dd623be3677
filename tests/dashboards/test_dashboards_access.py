"""Who may open which dashboard URL: every URL (pages and partials) for every persona, plain and htmx."""

import pytest
from django.urls import reverse

from investigations.dashboards import urls as dashboard_urls

PERSONAS = ["anonymous", "analyst", "approver", "auditor", "admin", "outsider"]

# name -> the personas that get 200 (the others signed in get 403, anonymous visitors sign in first).
ALLOWED = {
    "home": {"analyst", "approver", "auditor", "admin", "outsider"},
    "dashboard-threats": {"analyst", "approver"},
    "remediation-dashboard": {"analyst", "approver", "auditor", "admin"},
}


def test_every_dashboard_url_is_in_the_permission_matrix():
    names = {p.name for p in dashboard_urls.urlpatterns}
    assert names == set(ALLOWED), f"add {names - set(ALLOWED)} to ALLOWED"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(ALLOWED))
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_dashboard_permissions(client, personas, sim_env, persona, name, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    if persona != "anonymous":
        client.force_login(personas[persona])
    response = client.get(reverse(name), headers=headers)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif persona in ALLOWED[name]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
