from django.urls import include, path, re_path

from investigations.api.views import api, not_found


def _api_routes():
    """The API's routes, then a catch-all so that any other path under /api/v1/ answers a problem
    document. The catch-all has no name: it is not a route of its own, and inside the API's namespace
    the session-based route checks leave it to the API's own matrix like every other API route."""
    routes, app, namespace = api.urls
    return include(([*routes, re_path(r"^.*$", not_found)], app), namespace=namespace)


urlpatterns = [path("", _api_routes())]
