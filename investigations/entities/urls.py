# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /entities/.
from investigations.entities.views import routes

urlpatterns = routes.urlpatterns
