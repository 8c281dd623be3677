"""Page routes declared on their views, the way the API's routers declare theirs.

A views module holds ``routes = Routes()`` and puts ``@routes("event/<int:seq>/", name="audit-event")``
above each routed view, as the outermost decorator, so the route serves the fully decorated view. The
feature's ``urls.py`` hands ``routes.urlpatterns`` to Django; the root URLconf gives the prefix.
"""

from django.urls import path


class Routes:
    """A views module's page routes, in the order they are declared."""

    def __init__(self):
        self._patterns = []

    def __call__(self, route, *, name, kwargs=None):
        """Register ``route`` for the view it decorates (``kwargs`` go to the view, as with ``path``);
        the view comes back unchanged, so it is still called and tested as it was."""

        def register(view):
            self._patterns.append(path(route, view, kwargs, name=name))
            return view

        return register

    @property
    def urlpatterns(self):
        return list(self._patterns)
