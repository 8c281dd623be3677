"""Changes to the approval rules, each audited with what they were and what they became."""

from django.db import transaction
from django.utils import timezone

from investigations.audit.services import audit_record
from investigations.models import ApprovalRules, AuditAction
from investigations.oversight.selectors import RULES_PK, approval_rules_current

RULES_TARGET = ("settings", "approval-rules")


def approval_rules_update(*, actor, values, reason="", now=None):
    """Write the rules an admin set and the audit event, in one transaction. Returns the rules and
    the names of the rules that changed (empty: nothing was written or audited)."""
    approval_rules_current()  # the row exists before it is locked
    with transaction.atomic():
        # Locked, so two admins saving at once each record the "before" the other really left.
        rules = ApprovalRules.objects.select_for_update().get(pk=RULES_PK)
        before = {name: getattr(rules, name) for name in values}
        changed = sorted(name for name, value in values.items() if before[name] != value)
        if not changed:
            return rules, []
        for name, value in values.items():
            setattr(rules, name, value)
        rules.updated_at = now or timezone.now()
        rules.updated_by = actor
        rules.save()
        audit_record(
            actor=actor,
            action=AuditAction.APPROVAL_RULES_CHANGED,
            target=RULES_TARGET,
            reason=reason,
            data={"changed": changed, "before": before, "after": dict(values)},
        )
    return rules, changed
