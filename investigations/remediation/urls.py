# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /remediation/.
from investigations.remediation.views import routes

urlpatterns = routes.urlpatterns
