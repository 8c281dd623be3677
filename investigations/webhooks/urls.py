# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /settings/webhooks/.
from investigations.webhooks.views import routes

urlpatterns = routes.urlpatterns
