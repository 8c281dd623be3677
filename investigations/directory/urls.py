# The routes are declared on the views (`@routes(...)`). Mounted at the root: the directory and the
# awareness pages share this feature.
from investigations.directory import awareness_views, views

urlpatterns = views.routes.urlpatterns + awareness_views.routes.urlpatterns
