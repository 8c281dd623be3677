from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from investigations.accounts import mfa, mfa_views, selectors
from investigations.accounts.forms import SignInForm, UserCreateForm, UserRolesForm
from investigations.accounts.services import (
    UserChangeRefused,
    break_glass_sign_in_acknowledge,
    user_create,
    user_deactivate,
    user_is_sso,
    user_password_link,
    user_password_reset,
    user_reactivate,
    user_session_revoke,
    user_sessions_close_lapsed,
    user_sessions_revoke,
    user_set_password,
    user_set_roles,
)
from investigations.accounts.stepup import proof_confirmed, step_up_context, step_up_proof
from investigations.core.htmx import render_page
from investigations.core.roles import ALL_ROLES
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

    def form_valid(self, form):
        response = super().form_valid(form)
        # The password was the first step: a user with two-step sign-in gives the second before any page.
        if mfa.user_has_mfa(form.get_user()):
            return mfa_views.second_factor_begin(self.request, next_url=self.get_success_url())
        return response


# Class-based views are routed by the view function their as_view() makes.
routes("accounts/login/", name="login")(SignInView.as_view())
routes("accounts/logout/", name="logout")(auth_views.LogoutView.as_view())


@routes("settings/users/", name="user-list", capability="admin_settings")
def user_list(request):
    return render(request, "accounts/users.html", {"rows": selectors.users_with_roles()})


def _person(user_id):
    # Integration tokens' service identities are not people: managed on the integrations page.
    return get_object_or_404(get_user_model(), pk=user_id, is_integration=False)


def _password_link_page(request, user, link, *, created):
    """The one-time link, shown once to the admin who made it (never stored, logged nor audited)."""
    url = request.build_absolute_uri(reverse("user-password-set", args=link))
    context = {"person": user, "link": url, "created": created, "hours": settings.PASSWORD_RESET_TIMEOUT // 3600}
    return render(request, "accounts/user_link.html", context)


@routes("settings/users/new/", name="user-create", capability="admin_settings", methods=["GET", "POST"])
@never_cache
@sensitive_post_parameters("password", "otp_code")
def user_create_view(request):
    """A local user with roles; their password is theirs to set through a one-time link. Granting roles
    takes the same fresh proof as a decision."""
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and proof_confirmed(request, form):
        data = form.cleaned_data
        try:
            user = user_create(
                actor=request.user,
                username=data["username"],
                email=data["email"],
                roles=data["roles"],
                proof=step_up_proof(request),
            )
        except UserChangeRefused as refused:
            form.add_error("username", str(refused))
        else:
            messages.success(request, f"User {user.get_username()} created.")
            return _password_link_page(request, user, user_password_link(user), created=True)
    context = {"form": form, "step_up": step_up_context(request, next_url=reverse("user-create"))}
    return render(request, "accounts/user_new.html", context, status=400 if form.errors else 200)


def _user_page(request, user, *, roles_form=None, status=200):
    url = reverse("user-detail", args=[user.pk])
    context = {
        "person": user,
        "roles": sorted(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True)),
        "sso_user": user_is_sso(user),
        "is_self": user == request.user,
        "sessions": len(selectors.open_sessions(user=user)),
        "roles_form": roles_form or UserRolesForm(initial={"roles": list(user.groups.values_list("name", flat=True))}),
        "step_up": step_up_context(request, next_url=url),
    }
    return render(request, "accounts/user_detail.html", context, status=status)


@routes("settings/users/<int:user_id>/", name="user-detail", capability="admin_settings", methods=["GET"])
def user_detail(request, user_id):
    return _user_page(request, _person(user_id))


@routes("settings/users/<int:user_id>/roles/", name="user-roles", capability="admin_settings", methods=["POST"])
@sensitive_post_parameters("password", "otp_code")
def user_roles_view(request, user_id):
    user = _person(user_id)
    form = UserRolesForm(request.POST)
    if not form.is_valid() or not proof_confirmed(request, form):
        return _user_page(request, user, roles_form=form, status=400)
    context = {"source": "admin", "proof": step_up_proof(request)}
    try:
        user_set_roles(actor=request.user, user=user, roles=form.cleaned_data["roles"], context=context)
    except UserChangeRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Roles of {user.get_username()} set.")
    return redirect("user-detail", user.pk)


@routes("settings/users/<int:user_id>/active/", name="user-active", capability="admin_settings", methods=["POST"])
def user_active_view(request, user_id):
    """Deactivate (every session revoked with it) or reactivate, as the posted `active` says."""
    user = _person(user_id)
    try:
        if request.POST.get("active") == "1":
            user_reactivate(actor=request.user, user=user)
            messages.success(request, f"{user.get_username()} may sign in again.")
        else:
            revoked = user_deactivate(actor=request.user, user=user)
            messages.success(request, f"{user.get_username()} deactivated; {revoked} session(s) revoked.")
    except UserChangeRefused as refused:
        messages.error(request, str(refused))
    return redirect("user-detail", user.pk)


@routes(
    "settings/users/<int:user_id>/password-reset/",
    name="user-password-reset",
    capability="admin_settings",
    methods=["POST"],
)
@never_cache
def user_password_reset_view(request, user_id):
    user = _person(user_id)
    try:
        link = user_password_reset(actor=request.user, user=user)
    except UserChangeRefused as refused:
        messages.error(request, str(refused))
        return redirect("user-detail", user.pk)
    return _password_link_page(request, user, link, created=False)


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The one-time link's page: Django's reset confirmation (the token moved out of the URL into the
    session at once, checked again on the POST), the password set through our audited service."""

    template_name = "accounts/user_password_set.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        user = form.user
        user_set_password(actor=user, user=user, password=form.cleaned_data["new_password1"], validate=False)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        messages.success(self.request, "Your password is set: sign in with it.")
        return HttpResponseRedirect(self.get_success_url())


routes("accounts/password/<uidb64>/<token>/", name="user-password-set")(PasswordSetView.as_view())


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
