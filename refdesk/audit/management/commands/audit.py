"""``refdesk audit verify|tail``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain, or show its newest events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("verify", help="walk the whole chain; exit 1 at the first break")
        tail = sub.add_parser("tail", help="show the newest events")
        tail.add_argument("-n", type=int, default=20)

    def handle(self, *args, action, **options):
        if action == "verify":
            result = audit_verify()
            if not result.ok:
                self.stderr.write(
                    f"audit chain BROKEN after {result.checked} good event(s): {result.problem}"
                )
                raise CommandError("audit verification failed", returncode=1)
            self.stdout.write(f"audit chain intact: {result.checked} event(s) checked")
        else:
            events = list(AuditEvent.objects.order_by("-seq")[: options["n"]])
            for event in reversed(events):
                self.stdout.write(
                    f"#{event.seq} {event.occurred_at:%Y-%m-%d %H:%M:%S} "
                    f"{event.actor} {event.action} "
                    f"{event.subject_type}:{event.subject_id} {event.reason}"
                )
