"""Authentication signals forwarded to the audit writer (Django and django-axes raise these), the
sign-in recorded as this session's proof of who is signed in, and the row each signed-in session
keeps for "my sessions" started at sign-in and ended at sign-out."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from investigations.accounts.services import (
    break_glass_sign_in_record,
    session_proof_record,
    user_session_end,
    user_session_start,
)
from investigations.audit.services import audit_record
from investigations.core.context import current_context
from investigations.models import AuditAction, AuditOutcome


def _claimed_username(credentials):
    return str((credentials or {}).get("username", ""))[:150]


@receiver(user_logged_in, dispatch_uid="audit_login")
def _audit_login(sender, request, user, **kwargs):
    data = {}
    if request is not None and hasattr(request, "session"):
        context = current_context()
        row = user_session_start(
            session=request.session,
            user=user,
            # The password form is the one way in today; another sign-in view names its own method.
            method=getattr(request, "sign_in_method", "password"),
            ip=context.client_ip,
            user_agent=context.user_agent,
        )
        data = {"session": row.pk, "method": row.method}
    audit_record(actor=user, action=AuditAction.LOGIN, target=("user", user.pk), data=data)
    if data.get("method") == "password":
        break_glass_sign_in_record(user=user, session_id=data["session"])


@receiver(user_logged_in, dispatch_uid="session_proof_at_login")
def _session_proof_at_login(sender, request, user, **kwargs):
    # The sign-in needed the password: it proves who holds this session (and only this one).
    if request is not None and hasattr(request, "session"):
        session_proof_record(session=request.session, at=timezone.now())


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        if request is not None and hasattr(request, "session"):
            user_session_end(session=request.session, user=user)
        audit_record(actor=user, action=AuditAction.LOGOUT, target=("user", user.pk))


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    username = _claimed_username(credentials)
    # The password never reaches the event: only the name that was tried.
    known = get_user_model().objects.filter(username=username).exists()
    audit_record(
        actor=AnonymousUser(),
        action=AuditAction.LOGIN_FAILED,
        target=("user", username),
        outcome=AuditOutcome.FAILURE,
        data={"username": username, "known_user": known},
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def _audit_lockout(sender, request, username, ip_address, **kwargs):
    audit_record(
        actor=AnonymousUser(),
        action=AuditAction.LOCKOUT,
        target=("user", str(username or "")[:150]),
        outcome=AuditOutcome.DENIED,
        data={"username": str(username or "")[:150], "ip_address": ip_address},
    )
