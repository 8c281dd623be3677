# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them at the root.
from investigations.dashboards.views import routes

urlpatterns = routes.urlpatterns
