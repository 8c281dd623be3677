"""Roles are Django groups (created by a data migration). Capabilities map to roles in one table,
so a view asks "may this user do X" and never repeats role lists of its own."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

ANALYST = "analyst"
APPROVER = "approver"
AUDITOR = "auditor"
ADMIN = "admin"
ALL_ROLES = (ANALYST, APPROVER, AUDITOR, ADMIN)

# What each role may do: views ask capability_required, services ask user_can.
CAPABILITIES = {
    "investigate": {ANALYST, APPROVER},
    "view_content": {ANALYST, APPROVER},
    "request_remediation": {ANALYST, APPROVER},
    "approve": {APPROVER},
    # Response actions besides remediation: blocking senders and URLs, releasing or rejecting held mail.
    "request_block": {ANALYST, APPROVER},
    "request_held_action": {ANALYST, APPROVER},
    # A request the approval rules mark high-impact needs an admin to decide it.
    "approve_as_admin": {ADMIN},
    # An admin may carry out a block alone, with a reason; approvers review it afterwards.
    "break_glass": {ADMIN},
    "review_break_glass": {APPROVER},
    "audit_read": {AUDITOR, ADMIN},
    "audit_export": {AUDITOR},
    "audit_verify": {AUDITOR},
    "admin_settings": {ADMIN},
    # Investigations (cases): analysts open and work them; approvers read them to decide their
    # requests; auditors read everything.
    "work_cases": {ANALYST},
    "read_cases": {ANALYST, APPROVER, AUDITOR},
}
# The request pages open to whoever may request some kind of action, decide one or act alone;
# the approvals queue to whoever may decide. Derived, so they follow the capabilities above.
_REQUESTING = ("request_remediation", "request_block", "request_held_action")
CAPABILITIES["decide"] = CAPABILITIES["approve"] | CAPABILITIES["approve_as_admin"]
CAPABILITIES["response_actions"] = set().union(
    *(CAPABILITIES[c] for c in _REQUESTING), CAPABILITIES["decide"], CAPABILITIES["break_glass"]
)
# The summaries of requests (the remediation dashboard): whoever works with requests, and whoever audits them.
CAPABILITIES["read_requests"] = CAPABILITIES["response_actions"] | CAPABILITIES["audit_read"]


# An integration token's service identity has no role: its scopes grant these capabilities, and no
# scope grants a decision, a break-glass action, an audit export or any admin setting (people only).
SCOPE_CAPABILITIES = {
    "read": {"investigate", "view_content", "read_cases"},
    "request_actions": {"request_remediation", "request_block", "request_held_action", "work_cases"},
    "audit_read": {"audit_read"},
}
HUMAN_ONLY = frozenset(
    {"approve", "approve_as_admin", "decide", "break_glass", "review_break_glass", "admin_settings"}
    | {"audit_export", "audit_verify"}
)


def _integration_can(user, capability):
    if capability in HUMAN_ONLY:
        return False
    scopes = getattr(user, "_portal_scopes", None)
    if scopes is None:
        token = getattr(user, "integration_token", None)
        scopes = frozenset(token.scopes if token is not None else ())
        user._portal_scopes = scopes
    return any(capability in SCOPE_CAPABILITIES.get(scope, ()) for scope in scopes)


def user_roles(user):
    if not user.is_authenticated or not user.is_active or getattr(user, "is_integration", False):
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._portal_roles = cached
    return cached


def user_can(user, capability):
    if getattr(user, "is_integration", False):
        return user.is_active and _integration_can(user, capability)
    return bool(user_roles(user) & CAPABILITIES[capability])


def capability_required(capability):
    """Anonymous users go to the login page; signed-in users without the capability get a 403.
    htmx partial requests go through the same decorator as full pages."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_can(request.user, capability):
                raise PermissionDenied(f"This page needs the {capability.replace('_', ' ')} permission.")
            return view(request, *args, **kwargs)

        wrapper.capability = capability
        return wrapper

    return decorator
