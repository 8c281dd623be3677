from django.core.management.base import BaseCommand

from investigations.audit.chain import audit_checkpoint_write


class Command(BaseCommand):
    help = "Write a signed checkpoint of the audit chain head (beat does this periodically)."

    def handle(self, *args, **options):
        checkpoint = audit_checkpoint_write()
        if checkpoint is None:
            self.stdout.write("audit trail is empty; no checkpoint written")
        else:
            self.stdout.write(f"checkpoint at seq {checkpoint.seq}: {checkpoint.path}")
