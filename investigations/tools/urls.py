# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /tools/.
from investigations.tools.views import routes

urlpatterns = routes.urlpatterns
