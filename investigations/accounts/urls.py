from django.contrib.auth import views as auth_views
from django.urls import path

from investigations.accounts import views

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/sessions/", views.session_list, name="account-sessions"),
    path("account/sessions/<int:session_id>/revoke/", views.session_revoke, name="account-session-revoke"),
    path("account/sessions/revoke-others/", views.session_revoke_others, name="account-sessions-revoke-others"),
    path("settings/users/", views.user_list, name="user-list"),
    path("settings/users/<int:user_id>/revoke-sessions/", views.user_sessions_revoke_view, name="user-sessions-revoke"),
]
