"""Words for the codes the portal records: audit actions and outcomes, who acted, the states of
requests and their items, request kinds and the error codes Mimecast sends.

The database, the audit trail, exports and the API keep the codes (they are what a tool or a SIEM
rule matches on); pages show these words, with the code beside them where an auditor needs it. A
code this module does not know is shown as it is: a label is never a reason for a page to fail.
"""

from investigations.mimecast.errors import explain_code
from investigations.models import (
    AuditAction,
    AuditOutcome,
    RemediationItem,
    RemediationRequest,
    WebhookDelivery,
)

_ACTIONS = dict(AuditAction.choices)
_OUTCOMES = dict(AuditOutcome.choices)
_KINDS = dict(RemediationRequest.Kind.choices)
# Requests, their items and webhook deliveries share a few state names (pending, failed); the
# request's words win where they differ, as a request's state is the one most pages show.
_STATES = {
    **dict(WebhookDelivery.State.choices),
    **dict(RemediationItem.State.choices),
    **dict(RemediationRequest.State.choices),
}

# The Celery tasks that act on their own, as the people reading a timeline would name them.
TASK_NAMES = {
    "remediation_execute": "remediation runner",
    "remediation_poll": "remediation poller",
    "remediation_poll_due": "remediation poll scheduler",
    "remediation_sweep": "remediation sweeper",
    "remediation_expire_due": "approval expiry",
    "audit_write_checkpoint": "audit checkpoint writer",
    "audit_verification_execute": "audit chain verifier",
    "system_ping": "health check",
    "web_security_ingest": "web security event reader",
    "webhook_deliver": "webhook sender",
    "webhook_sweep": "webhook sweeper",
}
# Other system actors the portal names itself (core.context's default, the web middleware, the demo).
_SYSTEM_ACTORS = {
    "system": "System",
    "web": "System: web request",
    "demo-setup": "System: demo setup",
}
_TASK_PREFIX = "task:"
_TASK_MODULE = "investigations.tasks."
_OPERATOR_PREFIX = "operator:"
_INTEGRATION_PREFIX = "integration:"


def _words(code):
    return str(code).replace("_", " ").strip()


def action_label(action):
    """An audit action in words ("Remediation request drafted"); an unknown one as recorded."""
    action = "" if action is None else str(action)
    return _ACTIONS.get(action, action)


def outcome_label(outcome):
    outcome = "" if outcome is None else str(outcome)
    return _OUTCOMES.get(outcome, outcome)


def state_label(state):
    """A request's, an item's or a delivery's state in words; an unknown one as recorded."""
    state = "" if state is None else str(state)
    return _STATES.get(state, state)


def kind_label(kind):
    kind = "" if kind is None else str(kind)
    return _KINDS.get(kind, kind)


def task_label(name):
    """A Celery task's name ("investigations.tasks.remediation_poll") as "System: remediation poller"."""
    short = name.removeprefix(_TASK_MODULE)
    return f"System: {TASK_NAMES.get(short) or _words(short)}"


def actor_label(label, actor_type=""):
    """Who acted, in words: a person's username as it is; a task as "System: remediation poller"; an
    integration token's identity as "Integration: <name>"; a command run on the server as
    "Operator: <login>"; nobody signed in as "Anonymous"."""
    label = "" if label is None else str(label)
    if not label:
        return "Anonymous" if actor_type == "anonymous" else (_words(actor_type).capitalize() or "—")
    if label.startswith(_TASK_PREFIX):
        return task_label(label[len(_TASK_PREFIX) :])
    if label.startswith(_OPERATOR_PREFIX):
        return f"Operator: {label[len(_OPERATOR_PREFIX) :]}"
    if label.startswith(_INTEGRATION_PREFIX):
        return f"Integration: {label[len(_INTEGRATION_PREFIX) :]}"
    if actor_type in ("system", "task") or (not actor_type and label in _SYSTEM_ACTORS):
        return _SYSTEM_ACTORS.get(label) or f"System: {_words(label)}"
    return label


def actor_recorded(words):
    """The recorded label for an actor typed as the pages name it ("System: remediation poller",
    "Integration: soar"), so a filter finds what the list shows; anything else as typed."""
    words = (words or "").strip()
    by_words = {f"system: {name}": f"{_TASK_PREFIX}{_TASK_MODULE}{task}" for task, name in TASK_NAMES.items()}
    by_words.update({label.lower(): code for code, label in _SYSTEM_ACTORS.items()})
    if words.lower() in by_words:
        return by_words[words.lower()]
    for prefix, code in (("integration:", _INTEGRATION_PREFIX), ("operator:", _OPERATOR_PREFIX)):
        if words.lower().startswith(prefix) and words[len(prefix) :].strip():
            return f"{code}{words[len(prefix) :].strip()}"
    return words


def mimecast_code_label(code, message=""):
    """What a Mimecast error code means, in a sentence; the message Mimecast sent when the code is
    not one the client knows."""
    code = "" if code is None else str(code)
    if not code:
        return message or ""
    return explain_code(code, message or f"error {code}")


# What an audit event is about, by the model name the trail records.
_TARGETS = {
    "remediationrequest": "request",
    "investigation": "investigation",
    "integrationtoken": "integration token",
    "webhookendpoint": "webhook endpoint",
    "mimecastconnection": "Mimecast connection",
    "approvalrules": "approval rules",
}


def target_label(target_type):
    target_type = "" if target_type is None else str(target_type)
    return _TARGETS.get(target_type, _words(target_type))


# The values Mimecast gives a blocked-sender policy, as the policy page says them.
_POLICY_PARTIES = {
    "everyone": "everyone",
    "email_address": "address",
    "email_domain": "domain",
    "profile_group": "group",
    "internal_addresses": "internal addresses",
    "external_addresses": "external addresses",
    "free_mail_domains": "free mail domains",
    # Which "from" a policy reads.
    "both": "envelope and header",
    "envelope_from": "envelope from",
    "header_from": "header from",
}
_POLICY_OPTIONS = {"block_sender": "Block", "no_action": "No action (exception)"}


def policy_party_label(party_type):
    party_type = "" if party_type is None else str(party_type)
    return _POLICY_PARTIES.get(party_type, _words(party_type))


def policy_option_label(option):
    option = "" if option is None else str(option)
    return _POLICY_OPTIONS.get(option, _words(option))
