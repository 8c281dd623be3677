# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them under /cases/.
from investigations.cases import export_views, views

urlpatterns = views.routes.urlpatterns + export_views.routes.urlpatterns
