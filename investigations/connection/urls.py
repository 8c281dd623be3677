# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /settings/mimecast/.
from investigations.connection.views import routes

urlpatterns = routes.urlpatterns
