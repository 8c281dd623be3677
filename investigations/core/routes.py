"""Page routes declared on their views, the way the API's routers declare theirs.

A views module holds ``routes = Routes()`` and puts one line above each routed view, as its outermost
decorator: ``@routes("event/<int:seq>/", name="audit-event", capability="audit_read", methods=["GET"])``.
The line says who may open the page and how; the feature's ``urls.py`` hands ``routes.urlpatterns`` to
Django, and the root URLconf gives the prefix.
"""

from django.urls import path
from django.views.decorators.http import require_http_methods

from investigations.core.roles import capability_required


class Routes:
    """A views module's page routes, in the order they are declared."""

    def __init__(self):
        self._patterns = []

    def __call__(self, route, *, name, capability=None, methods=None, kwargs=None):
        """Register ``route`` for the view it decorates (``kwargs`` go to the view, as with ``path``) and
        return the view the route serves, so the module's name and the URL are the same protected callable.

        The capability check wraps the method check: an anonymous visitor is sent to sign in and a
        signed-in user without the capability gets 403 whatever the method, so a 405 never tells an
        outsider which methods a page takes."""

        def register(view):
            if methods is not None:
                view = require_http_methods(methods)(view)
            if capability is not None:
                view = capability_required(capability)(view)
            self._patterns.append(path(route, view, kwargs, name=name))
            return view

        return register

    @property
    def urlpatterns(self):
        return list(self._patterns)
