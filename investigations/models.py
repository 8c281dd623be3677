import hashlib
from datetime import UTC

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Now

from investigations.core.bundle_verify import CHAIN_FIELDS, GENESIS_HASH, json_text  # noqa: F401 (the chain's definition, re-exported)


class Theme(models.TextChoices):
    SYSTEM = "system", "System"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class User(AbstractUser):
    # Empty means the portal's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True, default="")
    # A service identity behind an API token: it never signs in to the browser and never decides.
    is_integration = models.BooleanField(default=False)
    # The colour theme the pages use. Kept on the user row, which every request reads anyway, so the
    # header knows it without a query of its own.
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)


class AuditAction(models.TextChoices):
    LOGIN = "auth.login", "Signed in"
    LOGOUT = "auth.logout", "Signed out"
    LOGIN_FAILED = "auth.login_failed", "Failed sign-in"
    LOCKOUT = "auth.lockout", "Account locked out"
    REAUTHENTICATED = "auth.reauthenticated", "Password entered again to decide"
    REAUTH_FAILED = "auth.reauth_failed", "Wrong password entered to decide"
    DECISIONS_LOCKED = "auth.decisions_locked", "Decisions locked after wrong passwords"
    SESSION_REVOKED = "auth.session_revoked", "Signed-in session revoked"
    SSO_REFUSED = "auth.sso_refused", "Single sign-on refused"
    SSO_STEP_UP = "auth.sso_step_up", "Signed in again at the provider to decide"
    SSO_STEP_UP_REFUSED = "auth.sso_step_up_refused", "Sign-in again at the provider refused"
    SSO_SESSION_ENDED = "auth.sso_session_ended", "Single sign-on session ended by its periodic check"
    LOCAL_SIGN_IN_REFUSED = "auth.local_sign_in_refused", "Local sign-in refused (switched off)"
    BREAK_GLASS_SIGN_IN = "auth.break_glass_sign_in", "Break-glass account signed in"
    BREAK_GLASS_SIGN_IN_ACKNOWLEDGED = "auth.break_glass_sign_in_acknowledged", "Break-glass sign-in acknowledged"
    USER_CREATED = "user.created", "User created"
    USER_ROLES_CHANGED = "user.roles_changed", "User roles changed"
    USER_PASSWORD_SET = "user.password_set", "User password set"
    USER_DEACTIVATED = "user.deactivated", "User deactivated"
    USER_REACTIVATED = "user.reactivated", "User reactivated"
    USER_PASSWORD_RESET = "user.password_reset", "User password reset"
    USER_CHANGE_REFUSED = "user.change_refused", "User change refused"
    # Two-step sign-in for local accounts.
    MFA_DEVICE_ADDED = "auth.mfa_device_added", "Second sign-in factor added"
    MFA_DEVICE_REMOVED = "auth.mfa_device_removed", "Second sign-in factor removed"
    MFA_RECOVERY_CODES_CREATED = "auth.mfa_recovery_codes_created", "Recovery codes created"
    MFA_VERIFIED = "auth.mfa_verified", "Second sign-in step passed"
    MFA_FAILED = "auth.mfa_failed", "Second sign-in step failed"
    AUDIT_VIEWED = "audit.viewed", "Audit trail viewed"
    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
    SYSTEM_PING = "system.ping", "System round trip"
    AUDIT_EXPORTED = "audit.exported", "Audit trail exported"
    AUDIT_EVENT_VIEWED = "audit.event_viewed", "Audit event viewed"
    AUDIT_TIMELINE_VIEWED = "audit.timeline_viewed", "Audit timeline viewed"
    AUDIT_VERIFICATION_STARTED = "audit.verification_started", "Audit verification started"
    SETTINGS_CONNECTION_CHANGED = "settings.connection_changed", "Mimecast connection changed"
    SETTINGS_CONNECTION_TESTED = "settings.connection_tested", "Mimecast connection tested"
    SETTINGS_KEY_ROTATED = "settings.key_rotated", "Encryption key rotated"
    SEARCH_TRACK_TRACE = "search.track_trace", "Track & trace search"
    SEARCH_ARCHIVE = "search.archive", "Archive search"
    SEARCH_MAILBOX = "search.mailbox", "Mailbox view"
    SEARCH_ARCHIVE_DETAILS = "search.archive_details", "Archive hits detailed"
    MESSAGE_VIEWED = "message.viewed", "Message detail viewed"
    MESSAGE_BODY_VIEWED = "message.body_viewed", "Message body viewed"
    MESSAGE_DOWNLOADED = "message.downloaded", "Message .eml downloaded"
    ATTACHMENT_DOWNLOADED = "attachment.downloaded", "Attachment downloaded"
    # Threat tools, directory and awareness.
    SEARCH_HASH = "search.hash", "Hash search"
    SEARCH_URL_DECODE = "search.url_decode", "URL decode"
    SEARCH_INCIDENTS = "search.incidents", "Remediation incidents searched"
    SEARCH_INCIDENT = "search.incident", "Remediation incident looked up"
    SEARCH_URL_LOGS = "search.url_logs", "URL protect logs searched"
    SEARCH_ATTACHMENT_LOGS = "search.attachment_logs", "Attachment protect logs searched"
    SEARCH_IMPERSONATION_LOGS = "search.impersonation_logs", "Impersonation protect logs searched"
    SEARCH_HELD_MESSAGES = "search.held_messages", "Held messages searched"
    SEARCH_RELEASE_LOGS = "search.release_logs", "Held release logs searched"
    SEARCH_REJECTIONS = "search.rejections", "Rejection logs searched"
    SEARCH_MANAGED_URLS = "search.managed_urls", "Managed URLs searched"
    SEARCH_WEB_SECURITY = "search.web_security", "Web security events searched"
    SEARCH_GROUPS = "search.groups", "Directory groups searched"
    SEARCH_GROUP_MEMBERS = "search.group_members", "Group members listed"
    SEARCH_BLOCKED_SENDERS = "search.blocked_senders", "Blocked-sender policies read"
    SEARCH_AWARENESS = "search.awareness", "Awareness training read"
    SEARCH_AWARENESS_USER = "search.awareness_user", "Awareness training of one user read"
    TOOLS_EXPORTED = "tools.exported", "Threat tool results exported"
    # Remediation and restore with four-eyes approval.
    REMEDIATION_REQUESTED = "remediation.requested", "Remediation requested"
    REMEDIATION_DRAFTED = "remediation.drafted", "Remediation request drafted"
    REMEDIATION_EDITED = "remediation.edited", "Remediation request changed"
    REMEDIATION_PREVIEWED = "remediation.previewed", "Remediation dry run previewed"
    REMEDIATION_APPROVED = "remediation.approved", "Remediation approved"
    REMEDIATION_REJECTED = "remediation.rejected", "Remediation rejected"
    REMEDIATION_CANCELLED = "remediation.cancelled", "Remediation cancelled"
    REMEDIATION_EXPIRED = "remediation.expired", "Remediation approval expired"
    REMEDIATION_APPROVAL_REFUSED = "remediation.approval_refused", "Remediation approval refused"
    REMEDIATION_QUEUED = "remediation.queued", "Remediation queued"
    REMEDIATION_DISPATCHED = "remediation.dispatched", "Remediation task published"
    TASK_ATTEMPT = "task.attempt", "Task attempt"
    REMEDIATION_INCIDENT_CREATED = "remediation.incident_created", "Mimecast incident recorded"
    REMEDIATION_POLLED = "remediation.polled", "Mimecast incident counts read"
    REMEDIATION_SUCCEEDED = "remediation.succeeded", "Remediation succeeded"
    REMEDIATION_FAILED = "remediation.failed", "Remediation failed"
    # Every response action goes through the same engine; these are the steps the other kinds add.
    REMEDIATION_FIRST_APPROVAL = "remediation.first_approval", "First of two approvals given"
    REMEDIATION_BREAK_GLASS = "remediation.break_glass", "Carried out alone by an admin (break-glass)"
    REMEDIATION_REVIEWED = "remediation.reviewed", "Break-glass action reviewed"
    REMEDIATION_ITEM_DONE = "remediation.item_done", "Mimecast action done for one item"
    REMEDIATION_ITEM_FAILED = "remediation.item_failed", "Mimecast action failed for one item"
    REMEDIATION_CONFIRMED = "remediation.confirmed", "Outcome confirmed in Mimecast"
    APPROVAL_RULES_CHANGED = "settings.approval_rules_changed", "Approval rules changed"
    # Investigations (cases).
    CASE_CREATED = "case.created", "Investigation opened"
    CASE_UPDATED = "case.updated", "Investigation changed"
    CASE_VIEWED = "case.viewed", "Investigation viewed"
    CASE_ENTERED = "case.entered", "Working in an investigation"
    CASE_LEFT = "case.left", "Left an investigation"
    CASE_EVIDENCE_ADDED = "case.evidence_added", "Evidence added to an investigation"
    CASE_EVIDENCE_REMOVED = "case.evidence_removed", "Evidence removed from an investigation"
    CASE_EXPORTED = "case.exported", "Investigation exported"
    ENTITY_VIEWED = "entity.viewed", "Entity page viewed"
    # The REST API: integration tokens an admin manages, and every call made with one.
    INTEGRATION_TOKEN_CREATED = "integration.token_created", "Integration token created"
    INTEGRATION_TOKEN_REVOKED = "integration.token_revoked", "Integration token revoked"
    API_CALLED = "api.called", "REST API called"
    # Outbound webhooks (admin settings).
    WEBHOOK_ENDPOINT_CREATED = "webhook.endpoint_created", "Webhook endpoint created"
    WEBHOOK_ENDPOINT_CHANGED = "webhook.endpoint_changed", "Webhook endpoint changed"
    WEBHOOK_ENDPOINT_DELETED = "webhook.endpoint_deleted", "Webhook endpoint deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook signing secret rotated"
    WEBHOOK_TEST_SENT = "webhook.test_sent", "Webhook test event queued"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


# The fields an event's hash covers, in order (CHAIN_FIELDS), the genesis link and the text of a value
# as PostgreSQL's jsonb writes it (json_text) are defined once, in a module that needs nothing but
# Python's standard library, so the offline bundle verifier an auditor runs without the portal hashes
# exactly as the chain does. Adding a field means a new chain version, never silently changing
# that list: verify_audit must be able to recompute every historic hash.
#
# Chain version 2. On PostgreSQL the database itself defines and computes the hash: the function
# investigations_audit_hash() (migration 0008) builds the canonical text with json_build_array()
# over CHAIN_FIELDS (the timestamp as UTC ISO text with microseconds, the payload as jsonb text)
# and hashes it with sha256(); a BEFORE INSERT trigger chains every new row, whoever inserts it,
# and verify_audit checks millions of rows a minute in SQL. What follows is the same definition
# in Python: the SQLite demo hashes with it, and tests hold the two to byte-for-byte agreement.
_json_text = json_text


def canonical_bytes(values):
    """The exact bytes an event's hash covers: json_build_array(CHAIN_FIELDS...)::text."""
    parts = []
    for name in CHAIN_FIELDS:
        value = values[name]
        if name == "created_at":
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        parts.append(_json_text(value))
    return ("[" + ", ".join(parts) + "]").encode()


def event_hash(values):
    return hashlib.sha256(canonical_bytes(values)).hexdigest()


class AuditEvent(models.Model):
    """One row per audited action. Append-only: database triggers refuse UPDATE, DELETE and
    TRUNCATE (migration 0003), and each row chains to the previous one by hash."""

    # seq, prev_hash and hash are set by the chaining trigger on PostgreSQL (the defaults only let
    # the INSERT leave them to it, and make Django read the trigger's values back with RETURNING).
    seq = models.BigIntegerField(unique=True, db_default=0)
    # Set by the chaining trigger from the database clock on PostgreSQL, whatever the INSERT says
    # (migration 0010); the default makes Django read that time back with RETURNING.
    created_at = models.DateTimeField(db_index=True, db_default=Now())
    actor_type = models.CharField(max_length=16)  # user, system, task, anonymous
    # No single-column indexes on actor_id and action: the (field, seq) indexes below serve every
    # query, and each index an append maintains lengthens the time the chain lock is held.
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=AuditOutcome.choices)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, db_default="")
    # Not unique: seq is, and the hash covers seq and prev_hash, so two equal hashes cannot occur
    # without a SHA-256 collision; an index on random 64-character keys would only slow appends.
    hash = models.CharField(max_length=64, db_default="")

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "seq"], name="audit_target_seq"),
            models.Index(fields=["actor_id", "seq"], name="audit_actor_seq"),
            # Audit review: each equality filter paired with seq, so "newest 50 matching"
            # walks one index range in keyset order instead of sorting every match.
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            # An investigation's timeline: the events made while working in it (data.case).
            models.Index(
                KeyTextTransform("case", "data"),
                "seq",
                name="audit_case_seq",
                condition=models.Q(data__has_key="case"),
            ),
            models.Index(fields=["outcome", "seq"], name="audit_outcome_seq"),
            models.Index(fields=["actor_label", "seq"], name="audit_actor_label_seq"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} by {self.actor_label or self.actor_type}"

    def chain_values(self):
        return {name: getattr(self, name) for name in CHAIN_FIELDS}

    def computed_hash(self):
        return event_hash(self.chain_values())


class MimecastConnection(models.Model):
    """The admin's Mimecast connection, used instead of the MIMECAST_* environment when active.
    One row. Credentials are one Fernet-encrypted JSON document, never stored in plain text."""

    SECRET_FIELDS = ("app_key", "access_key", "secret_key", "password", "client_secret")

    active = models.BooleanField(default=True)
    api_version = models.PositiveSmallIntegerField(choices=[(1, "API 1.0 (HMAC keys)"), (2, "API 2.0 (OAuth2)")])
    base_url = models.CharField(max_length=255, blank=True)
    auth_type = models.CharField(max_length=16, blank=True)
    app_id = models.CharField(max_length=255, blank=True)
    username = models.CharField(max_length=255, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    verify_ssl = models.BooleanField(default=True)
    secrets_encrypted = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    def __str__(self):
        return f"Mimecast API {self.api_version} at {self.base_url or 'discovered region'}"


# Audit review. The action groups auditors filter by, as patterns over action names:
# "auth.*" is a prefix, "*.downloaded" a suffix, anything else one exact action. Actions added by
# later issues fall into a group by their name alone, so this table rarely needs to change.
AUDIT_ACTION_GROUPS = {
    "authentication": ("auth.*",),
    "search": ("search.*",),
    "view": ("*.viewed", "*_viewed"),
    "download": ("*.downloaded",),
    "request": ("*.requested", "*.cancelled", "*.drafted", "*.edited", "*.previewed"),
    "approval": (
        "*.approved",
        "*.rejected",
        "*.expired",
        "*.approval_refused",
        "remediation.first_approval",
        "remediation.break_glass",
        "remediation.reviewed",
    ),
    "execution": (
        "task.*",
        "remediation.queued",
        "remediation.dispatched",
        "remediation.executed",
        "remediation.incident_*",
        "remediation.polled",
        "remediation.succeeded",
        "remediation.failed",
        "remediation.item_*",
        "remediation.confirmed",
    ),
    "investigation": ("case.created", "case.updated", "case.entered", "case.left", "case.evidence_*"),
    "settings": ("settings.*", "user.*", "integration.*", "webhook.*"),
    "export": ("*.exported",),
    "verification": ("audit.verif*",),
    "system": ("system.*",),
    "api": ("api.*",),
}


def audit_action_group(action):
    """The first group whose patterns match the action, or "" (shown as "other")."""
    for group, patterns in AUDIT_ACTION_GROUPS.items():
        for pattern in patterns:
            if pattern.startswith("*") and action.endswith(pattern[1:]):
                return group
            if pattern.endswith("*") and action.startswith(pattern[:-1]):
                return group
            if action == pattern:
                return group
    return ""


class AuditVerificationRun(models.Model):
    """One verification of the audit chain, started by an auditor and run by a Celery task. The
    row carries progress while it runs and the result after, so the page can show both."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Could not finish"

    # The task's hard time limit, and with it how long a silent queued or running row is trusted:
    # past that its worker is gone (acks_late brings the task back) and the run may be claimed again.
    TIME_LIMIT = 3600

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    started_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed with every progress report, so a run whose worker died can be told from a slow one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    total = models.BigIntegerField(default=0)
    checked = models.BigIntegerField(default=0)
    head_seq = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    problem = models.TextField(blank=True)
    problem_seq = models.BigIntegerField(null=True, blank=True)
    checkpoint_problems = models.JSONField(default=list, blank=True)
    checkpoints_checked = models.IntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"verification #{self.pk} {self.status}"

    @property
    def done(self):
        return self.status in {self.Status.PASSED, self.Status.FAILED, self.Status.ERROR}

    @property
    def percent(self):
        return min(100, int(self.checked * 100 / self.total)) if self.total else (100 if self.done else 0)


class WebSecurityEvent(models.Model):
    """One web security (SWG) event from Mimecast's SIEM batch stream, kept locally so analysts can
    search it by user, domain, URL, category and action. Ingestion is an upsert on event_id, so
    reading the same batch twice changes nothing."""

    # Mimecast's own id when the event carries one, else the SHA-256 of the event's canonical JSON.
    event_id = models.CharField(max_length=128, unique=True)
    occurred_at = models.DateTimeField()
    user = models.CharField(max_length=320, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    url = models.TextField(blank=True)
    category = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64, blank=True)
    subtype = models.CharField(max_length=64, blank=True)
    policy = models.CharField(max_length=255, blank=True)
    local_ip = models.CharField(max_length=45, blank=True)
    public_ip = models.CharField(max_length=45, blank=True)
    resolved_ip = models.CharField(max_length=45, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    ingested_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # Keyset paging walks (occurred_at, id) newest first, with or without one equality filter.
            models.Index(fields=["occurred_at", "id"], name="websec_time_id"),
            models.Index(fields=["user", "occurred_at"], name="websec_user_time"),
            models.Index(fields=["domain", "occurred_at"], name="websec_domain_time"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.domain}"


class WebSecurityIngestStatus(models.Model):
    """How the web security ingestion last went (one row, written by the periodic task): a failed run
    otherwise leaves no trace but a log line, and the page would guess why nothing new arrives."""

    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # The event types the last run asked the stream for (the WEB_SECURITY_EVENT_TYPES of that run).
    event_types = models.JSONField(default=list, blank=True)
    # The last run's failure ("" after a run that worked), when it happened, and whether Mimecast
    # refused the request itself (an event type or a permission) rather than failing to answer.
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=128, blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    refused = models.BooleanField(default=False)

    def __str__(self):
        return f"web security ingestion: {self.error or 'ok'}"


# ------------------------------------------------------------------------------------------------
# Remediation and restore with four-eyes approval.


class RemediationRequest(models.Model):
    """One request to pull messages from every mailbox (remediate) or put them back (restore).

    State changes only through investigations/services/remediation.py, each a compare-and-set
    UPDATE in the transaction that writes its audit event. The requester can never be the approver:
    the view, the service and the CHECK constraint below all refuse it."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        # Each kind's form, preview, Mimecast calls, undo and capabilities are declared in
        # investigations/remediation/kinds/.
        REMEDIATE = "remediate", "Remediate (remove from mailboxes)"
        RESTORE = "restore", "Restore (put back)"
        BLOCK_SENDER = "block_sender", "Block a sender or domain"
        UNBLOCK_SENDER = "unblock_sender", "Remove a sender block"
        MANAGE_URL = "manage_url", "Block or permit a URL"
        REMOVE_MANAGED_URL = "remove_managed_url", "Remove a managed URL"
        RELEASE_HELD = "release_held", "Release held messages"
        REJECT_HELD = "reject_held", "Reject held messages"
        REMEDIATE_MESSAGES = "remediate_messages", "Remove selected messages, mailbox by mailbox"
        RESTORE_MESSAGES = "restore_messages", "Put back selected messages, mailbox by mailbox"

    class SearchBy(models.TextChoices):
        FILE_HASH = "hash", "File hash"
        MESSAGE_ID = "message_id", "Message-ID"
        URL = "url", "URL"

    FINAL_STATES = ("succeeded", "failed", "rejected", "expired", "cancelled")

    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.REMEDIATE)
    state = models.CharField(max_length=24, choices=State.choices, default=State.DRAFT, db_index=True)
    search_by = models.CharField(max_length=16, choices=SearchBy.choices, blank=True)
    search_value = models.CharField(max_length=2048, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    recipient = models.CharField(max_length=320, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    # A restore (or any undo) names the request it undoes; a restore also that incident's codes.
    restore_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="restores")
    restore_code = models.CharField(max_length=128, blank=True)
    unremediate_code = models.CharField(max_length=128, blank=True)
    # The investigation (case) it was requested in, if any.
    investigation = models.ForeignKey(
        "Investigation", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    # Set when an integration asked for it through the API; the approval queue names it.
    integration = models.ForeignKey(
        "IntegrationToken", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    # What a kind other than remediate/restore acts on (the sender, the URLs, the held ids, ...), as
    # its form cleaned it; the kind's module reads it.
    params = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    ticket_id = models.CharField(max_length=64, blank=True)
    # Random, so two portals (or a rebuilt database) sharing one Mimecast account never mistake
    # each other's incidents for their own when looking them up by reason.
    nonce = models.CharField(max_length=16)

    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="remediation_requests")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every edit; an approval names the version it approved.
    version = models.PositiveIntegerField(default=1)

    preview = models.JSONField(default=dict, blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)

    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rejected_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    approver_authenticated_at = models.DateTimeField(null=True, blank=True)
    # Set at submission from the approval rules: how many distinct approvers (1 or 2), whether one
    # must be an admin, and why, in words the approver reads.
    approvals_required = models.PositiveSmallIntegerField(default=1)
    admin_approval_required = models.BooleanField(default=False)
    approval_rule_reasons = models.JSONField(default=list, blank=True)
    # The first of two approvals; the second sets approved_by and moves the request on.
    first_approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    first_approved_at = models.DateTimeField(null=True, blank=True)
    # Break-glass: an admin carried it out alone; an approver reviews it afterwards.
    break_glass = models.BooleanField(default=False)
    reviewed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    # Execution. attempts counts claims, so a task that keeps killing its worker is cut off.
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    incident_id = models.CharField(max_length=128, blank=True)
    incident_code = models.CharField(max_length=128, blank=True)
    incident_type = models.CharField(max_length=32, blank=True)
    incident_restore_code = models.CharField(max_length=128, blank=True)
    incident_unremediate_code = models.CharField(max_length=128, blank=True)
    identified = models.IntegerField(null=True, blank=True)
    successful = models.IntegerField(null=True, blank=True)
    failed_count = models.IntegerField(null=True, blank=True)
    restored = models.IntegerField(null=True, blank=True)
    counts_final = models.BooleanField(default=False)
    polls = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by")),
                name="remediation_no_self_approval",
                violation_error_message="The requester of a remediation can never approve it.",
            ),
            models.CheckConstraint(
                condition=models.Q(rejected_by__isnull=True) | ~models.Q(rejected_by=models.F("requested_by")),
                name="remediation_no_self_rejection",
            ),
            models.CheckConstraint(
                condition=models.Q(first_approved_by__isnull=True)
                | (
                    ~models.Q(first_approved_by=models.F("requested_by"))
                    & (models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("first_approved_by")))
                ),
                name="remediation_two_distinct_approvers",
                violation_error_message="Two approvals need two people, neither of them the requester.",
            ),
            models.CheckConstraint(
                condition=models.Q(reviewed_by__isnull=True) | ~models.Q(reviewed_by=models.F("requested_by")),
                name="remediation_no_self_review",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="remediation_state_expiry"),
            models.Index(fields=["requested_by", "created_at"], name="remediation_requester_time"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} request #{self.pk} ({self.state})"

    @property
    def marker(self):
        """Put inside the Mimecast incident reason, so find-incidents can tell us whether an earlier
        attempt already created the incident for this request."""
        return f"[MIP-REQ-{self.pk}-{self.nonce}]"

    @property
    def is_final(self):
        return self.state in self.FINAL_STATES


class RemediationOutbox(models.Model):
    """A task message that must reach the broker, written in the approval's transaction. A row
    still unpublished after a while (a crash between commit and publish, a broker outage) is
    published again by the sweeper; the task itself is idempotent, so twice is harmless."""

    request = models.ForeignKey(RemediationRequest, on_delete=models.CASCADE, related_name="outbox")
    created_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)
    publish_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["published_at", "created_at"], name="remediation_outbox_pending")]

    def __str__(self):
        return f"outbox #{self.pk} for request {self.request_id}"


class RemediationItem(models.Model):
    """One thing a request acts on in Mimecast (a sender, a URL, a held message, a policy to delete),
    with its own outcome, so a bulk request shows which items failed and why. A kind that works
    through a remediation incident (remediate, restore) has no items.

    `calling` means a call may have reached Mimecast: a later attempt asks Mimecast whether the
    effect is there before it calls again, so each item has its effect exactly once."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CALLING = "calling", "Calling Mimecast"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    request = models.ForeignKey(RemediationRequest, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    key = models.CharField(max_length=2048)
    label = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # What Mimecast created for it (a policy id, a managed-URL id), which the undo needs.
    mimecast_id = models.CharField(max_length=128, blank=True)
    adopted = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["request_id", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "position"], name="remediation_item_position")]

    def __str__(self):
        return f"item {self.position} of request {self.request_id} ({self.state})"


class ApprovalRules(models.Model):
    """The admin's approval rules; one row. Changes are audited."""

    # Releasing a message TTP flagged needs this many distinct approvers (1 or 2).
    flagged_release_approvers = models.PositiveSmallIntegerField(default=2)
    # Blocking a domain that sent more than this many delivered messages in 30 days needs an admin.
    domain_block_admin_threshold = models.PositiveIntegerField(default=50)
    # A break-glass action not reviewed within this many hours is flagged on the home pages.
    break_glass_review_hours = models.PositiveIntegerField(default=24)
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self):
        return "approval rules"


class RemediationStep(models.Model):
    """The request page's timeline: one row per step (who, when, what, Mimecast ids, errors). The
    audit trail holds the same facts hash-chained; this copy is shaped for display."""

    request = models.ForeignKey(RemediationRequest, on_delete=models.CASCADE, related_name="steps")
    created_at = models.DateTimeField()
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, default="success")
    attempt = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.action} on request {self.request_id}"


class Investigation(models.Model):
    """A case: the searches, evidence and requests of one incident, under one reason and ticket.

    While a user works inside one (kept in their session), searches, views, pivots and downloads
    send its reason and ticket to Mimecast and to the audit trail, whose events carry its id."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CONTAINED = "contained", "Contained"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    reason = models.TextField()
    ticket_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="owned_investigations")
    members = models.ManyToManyField(User, blank=True, related_name="investigations")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self):
        return f"investigation #{self.pk} {self.title}"


class Evidence(models.Model):
    """One thing an investigation holds: a message, a sender, a domain, a URL, a hash or an IP."""

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        SENDER = "sender", "Sender"
        DOMAIN = "domain", "Domain"
        URL = "url", "URL"
        HASH = "hash", "File hash"
        IP = "ip", "IP address"
        RECIPIENT = "recipient", "Recipient"

    investigation = models.ForeignKey(Investigation, on_delete=models.CASCADE, related_name="evidence")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The Mimecast id (a message), the address, domain, URL, hash or IP, normalised.
    value = models.CharField(max_length=2048)
    # What a person reads (a message's subject and sender, ...), captured when it was added.
    label = models.CharField(max_length=300, blank=True)
    # Facts captured when it was added (a message's Message-ID, sender, recipients, received time).
    details = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        ordering = ["investigation_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["investigation", "kind", "value"], name="evidence_once_per_case")
        ]

    def __str__(self):
        return f"{self.kind} {self.value[:60]} in investigation {self.investigation_id}"


class IntegrationToken(models.Model):
    """An API token for a SOAR or SIEM integration. Each token is its own service identity (a User
    with is_integration set, which can never sign in to the browser nor decide anything); the
    secret is shown once and only its SHA-256 is kept: it is 256 random bits, so a slow password
    hash would add nothing but latency to every call."""

    class Scope(models.TextChoices):
        READ = "read", "Read: searches, messages, investigations, requests"
        REQUEST_ACTIONS = "request_actions", "Request actions and manage investigations"
        AUDIT_READ = "audit_read", "Read the audit trail"

    name = models.CharField(max_length=100, unique=True)
    # The token's first characters, stored in clear to find the row and to name the token on pages.
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    service_user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="integration_token")
    rate_limit_per_minute = models.PositiveIntegerField(default=120)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.CharField(max_length=45, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"integration {self.name}"


class ApiIdempotencyKey(models.Model):
    """A POST's Idempotency-Key and the answer it got, so that a retried create returns the same
    thing instead of creating again. Keys belong to one token; the same key with another body is
    refused."""

    token = models.ForeignKey(IntegrationToken, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    body_sha256 = models.CharField(max_length=64)
    # Null while the first request with this key is still being answered.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")]

    def __str__(self):
        return f"idempotency key {self.key[:40]} of token {self.token_id}"


class WebhookEndpoint(models.Model):
    """Where the portal posts request state changes. The signing secret is encrypted at rest
    (core.crypto) and shown once, when the endpoint is created."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=2048)
    secret_encrypted = models.TextField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"webhook {self.name}"


class WebhookDelivery(models.Model):
    """One event for one endpoint, with its attempts; the admins' delivery log."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    # The receiver's dedup key: the same across every retry of this delivery.
    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    request = models.ForeignKey(
        RemediationRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self):
        return f"delivery {self.event_id} to {self.endpoint_id}"


class UserSession(models.Model):
    """One signed-in browser session, for "my sessions" and for revoking them. The session itself
    lives in Django's session store; revoking deletes it there, so the next request with its cookie
    is anonymous. This row keeps what a person needs to recognise it, and how it ended."""

    class End(models.TextChoices):
        SIGNED_OUT = "signed_out", "Signed out"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    # How the person proved who they are at sign-in (password, and later single sign-on or a passkey).
    method = models.CharField(max_length=32, default="password")
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end = models.CharField(max_length=16, choices=End.choices, blank=True)
    ended_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["user", "ended_at"], name="user_session_open")]

    def __str__(self):
        return f"session {self.pk} of {self.user_id}"
