from django.shortcuts import render

from .. import selectors
from ..roles import capability_required


@capability_required("admin_settings")
def user_list(request):
    return render(request, "users.html", {"rows": selectors.users_with_roles()})
