from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from investigations.accounts import selectors
from investigations.accounts.forms import SignInForm
from investigations.accounts.services import (
    break_glass_sign_in_acknowledge,
    user_session_revoke,
    user_sessions_close_lapsed,
    user_sessions_revoke,
)
from investigations.core.htmx import render_page
from investigations.core.routes import Routes

routes = Routes()


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def get(self, request, *args, **kwargs):
        # An htmx request whose session ended (signed out, revoked, idle) is redirected here: the
        # sign-in page must replace the whole page, not land inside the fragment htmx asked for.
        if request.htmx and not request.user.is_authenticated:
            return HttpResponseClientRedirect(request.get_full_path())
        return super().get(request, *args, **kwargs)


# Class-based views are routed by the view function their as_view() makes.
routes("accounts/login/", name="login")(SignInView.as_view())
routes("accounts/logout/", name="logout")(auth_views.LogoutView.as_view())


@routes("settings/users/", name="user-list", capability="admin_settings")
def user_list(request):
    return render(request, "accounts/users.html", {"rows": selectors.users_with_roles()})


@routes(
    "settings/users/<int:user_id>/revoke-sessions/",
    name="user-sessions-revoke",
    capability="admin_settings",
    methods=["POST"],
)
def user_sessions_revoke_view(request, user_id):
    user = get_object_or_404(get_user_model(), pk=user_id)
    # An admin revoking their own sessions keeps this one: the page they act from stays signed in.
    keep = request.session.session_key if user == request.user else ""
    count = user_sessions_revoke(actor=request.user, user=user, by="admin", keep_key=keep)
    messages.success(
        request, f"{count} session(s) of {user.get_username()} revoked: each is signed out on its next request."
    )
    return redirect("user-list")


@routes("account/sessions/", name="account-sessions")
@login_required
def session_list(request):
    user_sessions_close_lapsed(user=request.user)
    rows = selectors.my_sessions(user=request.user, current_key=request.session.session_key)
    return render_page(request, "accounts/sessions.html", {"rows": rows}, partial="sessions")


@routes("account/sessions/<int:session_id>/revoke/", name="account-session-revoke")
@login_required
@require_POST
def session_revoke(request, session_id):
    row = selectors.open_session_get(user=request.user, session_id=session_id, exclude_key=request.session.session_key)
    if row is None:
        raise Http404("No such session.")
    user_session_revoke(actor=request.user, row=row, by="owner")
    messages.success(request, "Session revoked: it is signed out on its next request.")
    return redirect("account-sessions")


@routes("account/sessions/revoke-others/", name="account-sessions-revoke-others")
@login_required
@require_POST
def session_revoke_others(request):
    keep = request.session.session_key
    count = user_sessions_revoke(actor=request.user, user=request.user, by="owner", keep_key=keep)
    messages.success(request, f"{count} other session(s) signed out.")
    return redirect("account-sessions")


@routes(
    "settings/break-glass-sign-ins/<int:seq>/acknowledge/",
    name="break-glass-sign-in-acknowledge",
    capability="admin_settings",
    methods=["POST"],
)
def break_glass_sign_in_acknowledge_view(request, seq):
    """An admin has seen a break-glass sign-in flagged on the home page: the flag goes."""
    if not break_glass_sign_in_acknowledge(actor=request.user, seq=seq):
        raise Http404("No such break-glass sign-in.")
    messages.success(request, "Break-glass sign-in acknowledged.")
    return redirect("home")
