from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .. import selectors
from ..roles import capability_required


@login_required
def home(request):
    return render(request, "home.html", {"recent_activity": selectors.audit_events_for_user(user=request.user)})


@capability_required("admin_settings")
def user_list(request):
    return render(request, "users.html", {"rows": selectors.users_with_roles()})
