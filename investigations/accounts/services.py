from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from investigations.audit.services import audit_record
from investigations.core.roles import ALL_ROLES
from investigations.models import AuditAction


class UnknownRole(ValueError):
    pass


def _role_groups(roles):
    unknown = sorted(set(roles) - set(ALL_ROLES))
    if unknown:
        raise UnknownRole(f"Unknown role(s): {', '.join(unknown)}. Roles are: {', '.join(ALL_ROLES)}.")
    return list(Group.objects.filter(name__in=roles))


def user_create(*, actor, username, roles, password, email="", time_zone="", validate=True):
    """Create a user holding the given roles. Validation of the password is skipped only for the
    demo's fixed logins."""
    User = get_user_model()
    groups = _role_groups(roles)
    user = User(username=username, email=email, time_zone=time_zone)
    if validate:
        validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
        user.groups.set(groups)
        audit_record(
            actor=actor,
            action=AuditAction.USER_CREATED,
            target=("user", user.pk),
            data={"username": username, "roles": sorted(roles)},
        )
    return user


def user_set_roles(*, actor, user, roles):
    groups = _role_groups(roles)
    with transaction.atomic():
        before = sorted(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user.groups.remove(*Group.objects.filter(name__in=ALL_ROLES))
        user.groups.add(*groups)
        audit_record(
            actor=actor,
            action=AuditAction.USER_ROLES_CHANGED,
            target=("user", user.pk),
            data={"username": user.username, "before": before, "after": sorted(roles)},
        )
    user.__dict__.pop("_portal_roles", None)
    return user


def user_set_password(*, actor, user, password, validate=True):
    if validate:
        validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action=AuditAction.USER_PASSWORD_SET, target=("user", user.pk))
    return user
