# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /oversight/.
from investigations.oversight.views import routes

urlpatterns = routes.urlpatterns
