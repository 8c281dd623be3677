import hashlib
import json
from datetime import UTC

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # Empty means the portal's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True, default="")


class AuditAction(models.TextChoices):
    LOGIN = "auth.login", "Signed in"
    LOGOUT = "auth.logout", "Signed out"
    LOGIN_FAILED = "auth.login_failed", "Failed sign-in"
    LOCKOUT = "auth.lockout", "Account locked out"
    USER_CREATED = "user.created", "User created"
    USER_ROLES_CHANGED = "user.roles_changed", "User roles changed"
    USER_PASSWORD_SET = "user.password_set", "User password set"
    AUDIT_VIEWED = "audit.viewed", "Audit trail viewed"
    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
    SYSTEM_PING = "system.ping", "System round trip"
    SETTINGS_CONNECTION_CHANGED = "settings.connection_changed", "Mimecast connection changed"
    SETTINGS_CONNECTION_TESTED = "settings.connection_tested", "Mimecast connection tested"
    SETTINGS_KEY_ROTATED = "settings.key_rotated", "Encryption key rotated"


class AuditOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


GENESIS_HASH = "0" * 64

# The fields whose canonical JSON is hashed. Adding a field means a new chain version, never
# silently changing this list: verify_audit must be able to recompute every historic hash.
CHAIN_FIELDS = (
    "seq",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "reason",
    "request_id",
    "client_ip",
    "user_agent",
    "data",
    "prev_hash",
)


def canonical_bytes(values):
    """The exact bytes an event's hash covers. Timestamps as UTC ISO with microseconds, keys
    sorted, no whitespace, so the same row always gives the same bytes on every database."""
    doc = dict(values)
    doc["created_at"] = values["created_at"].astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(values):
    return hashlib.sha256(canonical_bytes(values)).hexdigest()


class AuditEvent(models.Model):
    """One row per audited action. Append-only: database triggers refuse UPDATE, DELETE and
    TRUNCATE (migration 0003), and each row chains to the previous one by hash."""

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16)  # user, system, task, anonymous
    actor_id = models.CharField(max_length=64, blank=True, db_index=True)
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=AuditOutcome.choices)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "seq"], name="audit_target_seq"),
            models.Index(fields=["actor_id", "seq"], name="audit_actor_seq"),
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
