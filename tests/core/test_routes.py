"""Page routes are declared on their views (core.routes.Routes), so their order follows the views
modules rather than one hand-kept list: no route may hide another one declared after it."""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import resolve, reverse

from investigations.core.routes import Routes
from tests.routes import page_routes

# A value each path converter accepts; a route is reversed with one in every parameter.
SAMPLES = {"int": 7, "string": "sample", "path": "sample/part", "slug": "sample", "uuid": uuid.UUID(int=7)}


def _sample_kwargs(entry):
    converters = getattr(entry.pattern, "converters", {})
    return {
        key: SAMPLES[type(converter).__name__.removesuffix("Converter").lower()]
        for key, converter in converters.items()
    }


NAMED = [(name, entry) for name, entry in page_routes() if name]


def test_page_routes_are_found():
    names = {name for name, _entry in NAMED}
    assert {"home", "login", "audit-event", "tools-held", "tools-held-export", "case-report"} <= names


@pytest.mark.parametrize(("name", "entry"), NAMED, ids=[name for name, _entry in NAMED])
def test_no_route_is_shadowed_by_another(name, entry):
    kwargs = _sample_kwargs(entry)
    url = reverse(name, kwargs=kwargs)
    match = resolve(url)
    assert match.view_name == name, f"{url} resolves to {match.view_name}, not to {name}"
    assert match.func is entry.callback
    assert match.kwargs == {**kwargs, **entry.default_args}


def test_routes_register_the_view_unchanged_in_declaration_order():
    routes = Routes()

    @routes("second/<int:number>/", name="second")
    def second(request, number):
        return HttpResponse(str(number))

    def kind(request, kind):
        return HttpResponse(kind)

    declared = routes("first/", name="first", kwargs={"kind": "one"})(kind)

    assert declared is kind and second.__name__ == "second"
    assert [(str(p.pattern), p.name, p.callback, p.default_args) for p in routes.urlpatterns] == [
        ("second/<int:number>/", "second", second, {}),
        ("first/", "first", kind, {"kind": "one"}),
    ]
    routes.urlpatterns.clear()
    assert len(routes.urlpatterns) == 2, "urlpatterns is a copy: the registry is changed only by declaring"


def test_routes_check_the_capability_before_the_method_and_serve_the_checked_view(rf, analyst, auditor):
    routes = Routes()

    @routes("verify/", name="verify", capability="audit_verify", methods=["POST"])
    def verify(request):
        return HttpResponse("verified")

    assert routes.urlpatterns[0].callback is verify, "the module's name is the view the route serves"
    assert verify.capability == "audit_verify"

    anonymous = rf.get("/verify/")
    anonymous.user = AnonymousUser()
    response = verify(anonymous)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    without = rf.get("/verify/")
    without.user = analyst
    with pytest.raises(PermissionDenied):
        verify(without)

    wrong_method = rf.get("/verify/")
    wrong_method.user = auditor
    assert verify(wrong_method).status_code == 405

    allowed = rf.post("/verify/")
    allowed.user = auditor
    assert verify(allowed).content == b"verified"


def test_a_route_without_capability_or_methods_serves_the_view_itself():
    routes = Routes()

    def open_page(request):
        return HttpResponse("open")

    assert routes("open/", name="open")(open_page) is open_page
