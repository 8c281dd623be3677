from django.contrib.auth import views as auth_views
from django.urls import path

from investigations.accounts import sso_stepup, sso_views, views

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/start/", sso_views.sso_start, name="sso-start"),
    path("accounts/sso/callback/", sso_views.sso_callback, name="sso-callback"),
    path("accounts/sso/step-up/", sso_stepup.sso_step_up, name="sso-step-up"),
    path("accounts/sso/step-up/callback/", sso_stepup.sso_step_up_callback, name="sso-step-up-callback"),
    path("account/sessions/", views.session_list, name="account-sessions"),
    path("account/sessions/<int:session_id>/revoke/", views.session_revoke, name="account-session-revoke"),
    path("account/sessions/revoke-others/", views.session_revoke_others, name="account-sessions-revoke-others"),
    path("settings/users/", views.user_list, name="user-list"),
    path("settings/users/<int:user_id>/revoke-sessions/", views.user_sessions_revoke_view, name="user-sessions-revoke"),
    path(
        "settings/break-glass-sign-ins/<int:seq>/acknowledge/",
        views.break_glass_sign_in_acknowledge_view,
        name="break-glass-sign-in-acknowledge",
    ),
]
