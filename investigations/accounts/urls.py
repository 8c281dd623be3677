# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them at the root.
from investigations.accounts import sso_stepup, sso_views, views

urlpatterns = views.routes.urlpatterns + sso_views.routes.urlpatterns + sso_stepup.routes.urlpatterns
