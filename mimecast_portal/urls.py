from django.urls import include, path

from investigations.core import views as core_views

# One include per feature; each feature's urls.py hands over the routes its views declare (@routes).
urlpatterns = [
    path("", include("investigations.dashboards.urls")),
    path("", include("investigations.workspace.urls")),
    path("", include("investigations.accounts.urls")),
    path("", include("investigations.directory.urls")),
    path("audit/", include("investigations.audit.urls")),
    path("remediation/", include("investigations.remediation.urls")),
    path("tools/", include("investigations.tools.urls")),
    path("settings/mimecast/", include("investigations.connection.urls")),
    path("oversight/", include("investigations.oversight.urls")),
    path("cases/", include("investigations.cases.urls")),
    path("entities/", include("investigations.entities.urls")),
    path("settings/integrations/", include("investigations.integrations.urls")),
    path("settings/webhooks/", include("investigations.webhooks.urls")),
    path("api/v1/", include("investigations.api.urls")),
    # What no feature owns: the theme switch and the style guide. core has no URLconf of its own
    # (nothing in core may import a views module), so its routes are handed over here.
    path("", include(core_views.routes.urlpatterns)),
]

handler403 = "investigations.core.views.permission_denied"
handler404 = "investigations.core.views.page_not_found"
# handler500 stays Django's default: it renders templates/500.html with no context, which is
# what we want when something is already broken.
