from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.timesince import timesince

from investigations.audit.chain import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit hash chain, its times and the signed checkpoints; exit 1 naming the first bad "
        "event, or when events exist without any checkpoint (unless AUDIT_CHECKPOINTS_KEPT=false)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint-dir", help="Checkpoint directory (default: AUDIT_CHECKPOINT_DIR).")

    def handle(self, *args, checkpoint_dir=None, **options):
        result = audit_verify(directory=checkpoint_dir)
        self.stdout.write(
            f"checked {result.checked} events; head seq {result.head_seq} {result.head_hash[:16]}…; "
            f"{result.checkpoints_checked} signed checkpoints"
        )
        newest = result.newest_checkpoint
        if newest is not None:
            # What a rewrite could still hide: the events after the newest checkpoint, and its age.
            self.stdout.write(
                f"newest checkpoint: seq {newest.seq}, written {newest.created_at} "
                f"({timesince(datetime.fromisoformat(newest.created_at))} ago); "
                f"{max(result.head_seq - newest.seq, 0)} events since"
            )
        if result.unanchored:
            self.stdout.write(
                self.style.WARNING(
                    "no checkpoints (AUDIT_CHECKPOINTS_KEPT=false): nothing outside the database vouches for the chain"
                )
            )
        if result.ok:
            self.stdout.write(self.style.SUCCESS("audit chain OK"))
            return
        if result.problem:
            self.stderr.write(f"FIRST BAD EVENT: {result.problem.message}")
        for problem in result.checkpoint_problems:
            self.stderr.write(f"CHECKPOINT: {problem.message}")
        raise CommandError("audit chain verification FAILED", returncode=1)
