from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from investigations.core.links import safe_next
from investigations.core.preferences import ThemeForm, user_theme_set
from investigations.core.routes import Routes
from investigations.models import Theme

routes = Routes()


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)


def permission_denied(request, exception=None):
    return render(request, "403.html", {"detail": str(exception or "")}, status=403)


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


@routes("account/theme/", name="account-theme")
@login_required
@require_POST
def theme_set(request):
    """The header's theme switch: a plain form, so it works without JavaScript, then back to the page."""
    form = ThemeForm(request.POST)
    back = safe_next(request, request.POST.get("next"), reverse("home"))
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("theme", ["The theme was not changed."])))
        return redirect(back)
    user_theme_set(user=request.user, theme=form.cleaned_data["theme"])
    return redirect(back)


@routes("styleguide/", name="styleguide", capability="admin_settings", methods=["GET"])
def styleguide(request):
    """Every component of the design system, in the light and the dark theme side by side."""
    return render(request, "core/styleguide.html", {"themes": [Theme.LIGHT, Theme.DARK]})
