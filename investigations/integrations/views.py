from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from investigations.core.routes import Routes
from investigations.integrations import selectors
from investigations.integrations.forms import TokenCreateForm
from investigations.integrations.services import token_create, token_revoke

routes = Routes()


@routes("", name="integration-tokens", capability="admin_settings")
def token_list(request):
    return render(request, "integrations/tokens.html", {"tokens": selectors.tokens_for_admin(), "now": timezone.now()})


@routes("new/", name="integration-token-new", capability="admin_settings")
@never_cache
def token_new(request):
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        token, secret = token_create(
            actor=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
            rate_limit_per_minute=data["rate_limit_per_minute"],
        )
        # The secret goes into this one answer (never stored, never cached: never_cache) and nowhere else.
        return render(request, "integrations/token_new.html", {"form": None, "token": token, "secret": secret})
    return render(request, "integrations/token_new.html", {"form": form})


@routes("<int:token_id>/revoke/", name="integration-token-revoke", capability="admin_settings", methods=["POST"])
def token_revoke_view(request, token_id):
    token = selectors.token_get(token_id)
    if token is None:
        raise Http404("No such token.")
    if token_revoke(actor=request.user, token=token):
        messages.success(request, f"Token “{token.name}” revoked: its next call is refused.")
    else:
        messages.info(request, f"Token “{token.name}” was already revoked.")
    return redirect("integration-tokens")
