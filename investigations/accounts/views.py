from django.shortcuts import render

from investigations.accounts import selectors
from investigations.core.roles import capability_required


@capability_required("admin_settings")
def user_list(request):
    return render(request, "accounts/users.html", {"rows": selectors.users_with_roles()})
