from django.core.management.base import BaseCommand
from django.db import transaction

from investigations.audit.services import audit_record
from investigations.core.context import audit_context
from investigations.core.crypto import rotate
from investigations.models import AuditAction, MimecastConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt stored credentials with the first key in FIELD_ENCRYPTION_KEYS. Rotate by putting a new "
        "key first (keeping the old one after it), running this, then removing the old key."
    )

    def handle(self, *args, **options):
        with audit_context(system_actor="operator:rotate_encryption_key"), transaction.atomic():
            rows = list(MimecastConnection.objects.select_for_update())
            for row in rows:
                row.secrets_encrypted = rotate(row.secrets_encrypted)
                row.save(update_fields=["secrets_encrypted"])
            audit_record(
                actor=None,
                action=AuditAction.SETTINGS_KEY_ROTATED,
                target=("settings", "encryption-key"),
                data={"rows": len(rows)},
            )
        self.stdout.write(f"re-encrypted {len(rows)} stored connection(s) with the current key")
