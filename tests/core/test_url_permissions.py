"""Every URL the portal serves, for every role, as a page and as an htmx partial.

The list of URLs comes from the URL resolver itself, so a new view that forgets its permission
check (or a URL nobody thought about) fails here rather than shipping."""

import uuid

import pytest
from django.urls import reverse

from investigations.core.roles import CAPABILITIES
from tests.routes import PUBLIC_ROUTES, SIGNED_IN_ROUTES, page_routes

# Views anyone may open (the sign-in flow; signing out too) and views any signed-in user may open.
PUBLIC = PUBLIC_ROUTES | {"logout"}
SIGNED_IN = SIGNED_IN_ROUTES
SAMPLES = {"int": 1, "string": "sample", "path": "sample/part", "slug": "sample", "uuid": uuid.UUID(int=1)}
PERSONAS = ["analyst", "approver", "auditor", "admin", "outsider"]
ROLE_OF = {"analyst": "analyst", "approver": "approver", "auditor": "auditor", "admin": "admin", "outsider": None}


def _routes():
    routes = []
    for name, entry in page_routes():
        if name is None or name in PUBLIC:
            continue
        converters = getattr(entry.pattern, "converters", {})
        kwargs = {}
        for key, converter in converters.items():
            kind = type(converter).__name__.removesuffix("Converter").lower()
            kwargs[key] = SAMPLES[kind]
        routes.append((name, reverse(name, kwargs=kwargs), entry.callback))
    return routes


ROUTES = _routes()


def test_every_view_declares_who_may_open_it():
    unchecked = [
        name for name, _url, view in ROUTES if name not in SIGNED_IN and getattr(view, "capability", None) is None
    ]
    assert unchecked == [], f"views without capability_required: {unchecked}"


@pytest.mark.parametrize(("name", "url", "view"), ROUTES, ids=[r[0] for r in ROUTES])
def test_anonymous_visitors_are_sent_to_sign_in_everywhere(client, db, name, url, view):
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(url, headers=headers)
        assert response.status_code == 302, (name, response.status_code)
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "url", "view"), ROUTES, ids=[r[0] for r in ROUTES])
def test_each_role_gets_exactly_what_its_capabilities_allow(persona_clients, db, sim_env, persona, name, url, view):
    capability = getattr(view, "capability", None)
    role = ROLE_OF[persona]
    allowed = name in SIGNED_IN or (role is not None and role in CAPABILITIES[capability])
    for headers in ({}, {"HX-Request": "true"}):
        status = persona_clients[persona].get(url, headers=headers).status_code
        if allowed:
            # Allowed: whatever the page says about a sample id, it is not a refusal and never a crash.
            assert status not in (403, 500), (name, persona, status)
        else:
            assert status == 403, (name, persona, status)
