from django.urls import path, re_path

from investigations.api.views import api, not_found

# The catch-all has no name: it is not a route of its own, only the API's way of saying "no such route".
urlpatterns = [path("", api.urls), re_path(r"^.*$", not_found)]
