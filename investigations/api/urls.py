from functools import wraps

from django.urls import URLPattern, include, path, re_path

from investigations.api.views import api, method_not_allowed, not_found


def _problem_for_405(view):
    """Ninja answers a method its route does not take before any of our code runs; turn that answer
    into the API's problem document."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/problem"):
            return method_not_allowed(request, response.get("Allow", ""))
        return response

    return wrapped


def _api_routes():
    """The API's routes, then a catch-all so that any other path under /api/v1/ answers a problem
    document. The catch-all has no name: it is not a route of its own, and inside the API's namespace
    the session-based route checks leave it to the API's own matrix like every other API route."""
    routes, app, namespace = api.urls
    for route in routes:
        if isinstance(route, URLPattern):
            route.callback = _problem_for_405(route.callback)
    return include(([*routes, re_path(r"^.*$", not_found)], app), namespace=namespace)


urlpatterns = [path("", _api_routes())]
