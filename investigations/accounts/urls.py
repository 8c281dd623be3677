# The routes are declared on the views (`@routes(...)`); the root URLconf mounts them at the root.
from investigations.accounts import mfa_views, saml_views, sso_stepup, sso_views, views

urlpatterns = (
    views.routes.urlpatterns
    + sso_views.routes.urlpatterns
    + sso_stepup.routes.urlpatterns
    + saml_views.routes.urlpatterns
    + mfa_views.routes.urlpatterns
)
