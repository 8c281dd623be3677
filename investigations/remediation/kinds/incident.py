"""Remediate and restore: one Mimecast remediation incident each, whose counts the engine polls."""

from investigations.models import RemediationRequest
from investigations.remediation.kinds import ActionKind, register

Kind = RemediationRequest.Kind

register(
    ActionKind(
        name=Kind.REMEDIATE,
        label="Remove a message from every mailbox",
        form="investigations.remediation.forms.RemediationRequestForm",
        request_capability="request_remediation",
        preview_template="remediation/kinds/incident.html",
        undo_kind=Kind.RESTORE,
        incident=True,
    ),
    ActionKind(
        name=Kind.RESTORE,
        label="Put back what a remediation removed",
        form="investigations.remediation.forms.RemediationRequestForm",
        request_capability="request_remediation",
        preview_template="remediation/kinds/incident.html",
        incident=True,
    ),
)
