# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /settings/integrations/.
from investigations.integrations.views import routes

urlpatterns = routes.urlpatterns
