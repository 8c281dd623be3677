from django.db.models import Exists, OuterRef, Q
from django.utils.functional import SimpleLazyObject

from investigations.core.roles import CAPABILITIES, user_roles
from investigations.models import Investigation, Theme

# How many of the user's other open cases the header offers to switch to.
_SWITCH_LIMIT = 10


def _cases_to_switch_to(request, current):
    """The user's other open or contained cases, newest change first; read only when the header
    renders its switch list (one query)."""
    user = request.user
    member = Exists(Investigation.members.through.objects.filter(investigation_id=OuterRef("pk"), user_id=user.pk))
    rows = Investigation.objects.filter(Q(owner=user) | member).exclude(status=Investigation.Status.CLOSED)
    if current is not None:
        rows = rows.exclude(pk=current.pk)
    return list(rows.only("pk", "title", "status", "updated_at")[:_SWITCH_LIMIT])


def roles(request):
    held = user_roles(request.user) if hasattr(request, "user") else frozenset()
    can = {capability: bool(held & allowed) for capability, allowed in CAPABILITIES.items()}
    # The current case was read once by CurrentCaseMiddleware; the switch list only when shown.
    current = getattr(request, "investigation", None)
    switch = SimpleLazyObject(lambda: _cases_to_switch_to(request, current)) if can["work_cases"] else []
    return {"user_roles": sorted(held), "can": can, "current_case": current, "case_switch": switch}


def theme(request):
    """The signed-in user's colour theme for <html data-theme>: read from the user row the request has
    already loaded, so it costs no query. Signed out, the browser's own preference decides."""
    user = getattr(request, "user", None)
    chosen = getattr(user, "theme", "") if user is not None and user.is_authenticated else ""
    return {"theme": chosen or Theme.SYSTEM.value, "theme_choices": Theme.choices}
