# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /audit/.
from investigations.audit.views import routes

urlpatterns = routes.urlpatterns
