from django.contrib.auth import views as auth_views
from django.urls import include, path

from investigations.views import pages, settings

urlpatterns = [
    path("", include("investigations.workspace_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", include("investigations.audit_urls")),
    path("remediation/", include("investigations.remediation_urls")),
    path("tools/", include("investigations.tools_urls")),
    path("directory/", include("investigations.directory_urls")),
    path("awareness/", include("investigations.awareness_urls")),
    path("settings/users/", pages.user_list, name="user-list"),
    path("settings/mimecast/", settings.mimecast_connection, name="mimecast-connection"),
    path("settings/mimecast/test/", settings.mimecast_connection_check, name="mimecast-connection-test"),
]

handler403 = "investigations.views.errors.permission_denied"
handler404 = "investigations.views.errors.page_not_found"
# handler500 stays Django's default: it renders templates/500.html with no context, which is
# what we want when something is already broken.
