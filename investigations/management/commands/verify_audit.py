from django.core.management.base import BaseCommand, CommandError

from investigations.audit.chain import audit_verify


class Command(BaseCommand):
    help = "Verify the audit hash chain and the signed checkpoints; exit 1 naming the first bad event."

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint-dir", help="Checkpoint directory (default: AUDIT_CHECKPOINT_DIR).")

    def handle(self, *args, checkpoint_dir=None, **options):
        result = audit_verify(directory=checkpoint_dir)
        self.stdout.write(
            f"checked {result.checked} events; head seq {result.head_seq} {result.head_hash[:16]}…; "
            f"{result.checkpoints_checked} signed checkpoints"
        )
        if result.ok:
            self.stdout.write(self.style.SUCCESS("audit chain OK"))
            return
        if result.problem:
            self.stderr.write(f"FIRST BAD EVENT: {result.problem.message}")
        for problem in result.checkpoint_problems:
            self.stderr.write(f"CHECKPOINT: {problem.message}")
        raise CommandError("audit chain verification FAILED", returncode=1)
