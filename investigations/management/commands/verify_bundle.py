import json

from django.core.management.base import BaseCommand, CommandError

from investigations.core.bundle_verify import BundleError, verify_bundle_bytes
from investigations.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Check an exported case bundle: every event's hash, the links between consecutive events, the chain "
        "head and the digest. Exit 0 with 'OK: N events, head seq S', or 1 naming the first bad event. "
        "The same check runs without the portal: python scripts/verify_bundle.py FILE."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The bundle (.json) exported from an investigation.")
        parser.add_argument(
            "--live",
            action="store_true",
            help="Also compare the bundle's events with this portal's audit trail (same seq, same hash).",
        )

    def handle(self, *args, file, live=False, **options):
        try:
            with open(file, "rb") as handle:
                raw = handle.read()
        except OSError as error:
            raise CommandError(f"FAILED: cannot read {file}: {error.strerror}") from None
        try:
            count, head_seq = verify_bundle_bytes(raw)
        except BundleError as error:
            raise CommandError(f"FAILED: {error}") from None
        if live:
            self._compare_with_trail(raw)
        self.stdout.write(f"OK: {count} events, head seq {head_seq}")

    def _compare_with_trail(self, raw):
        """Offline the head only pins the bundle; here each event must be in the trail as exported."""
        events = json.loads(raw)["events"]
        stored = dict(AuditEvent.objects.filter(seq__in=[e["seq"] for e in events]).values_list("seq", "hash"))
        for event in events:
            if stored.get(event["seq"]) != event["hash"]:
                what = "missing from" if event["seq"] not in stored else "different in"
                raise CommandError(f"FAILED: event seq={event['seq']} is {what} this portal's audit trail")
