"""``refdesk audit verify [--anchor FILE ...]|anchor [--output FILE]|tail``."""

from __future__ import annotations

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import (
    AuditAnchorInvalid,
    audit_anchor,
    audit_anchor_check,
    audit_anchor_load,
    audit_verify,
)
from refdesk.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Check the audit trail's hash chain, sign a checkpoint of it, or show its newest events."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = sub.add_parser("verify", help="walk the whole chain; exit 1 at the first break")
        verify.add_argument(
            "--anchor",
            dest="anchors",
            action="extend",
            nargs="+",
            default=[],
            metavar="FILE",
            help="also check anchors taken with `audit anchor` (exit 2 if a file is not one)",
        )
        anchor = sub.add_parser(
            "anchor", help="print a signed checkpoint of the newest event, to keep elsewhere"
        )
        anchor.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead")
        tail = sub.add_parser("tail", help="show the newest events")
        tail.add_argument("-n", type=int, default=20)

    def handle(self, *args, action, **options):
        if action == "verify":
            self._verify(options["anchors"])
        elif action == "anchor":
            self._anchor(options["output"])
        else:
            events = list(AuditEvent.objects.order_by("-seq")[: options["n"]])
            for event in reversed(events):
                self.stdout.write(
                    f"#{event.seq} {event.occurred_at:%Y-%m-%d %H:%M:%S} "
                    f"{event.actor} {event.action} "
                    f"{event.subject_type}:{event.subject_id} {event.reason}"
                )

    def _verify(self, anchor_files):
        # Read every anchor before the (long) walk: a file that is not one stops at once.
        try:
            anchors = [(path, audit_anchor_load(path)) for path in anchor_files]
        except AuditAnchorInvalid as error:
            raise CommandError(error.message, returncode=2) from None
        broken = False
        result = audit_verify()
        if result.ok:
            self.stdout.write(f"audit chain intact: {result.checked} event(s) checked")
        else:
            broken = True
            self.stderr.write(
                f"audit chain BROKEN after {result.checked} good event(s): {result.problem}"
            )
        for path, anchor in anchors:
            problem = audit_anchor_check(anchor)
            if problem:
                broken = True
                self.stderr.write(f"audit anchor {path} FAILED: {problem}")
            else:
                self.stdout.write(
                    f"audit anchor {path} holds: event #{anchor.seq} unchanged since "
                    f"{anchor.anchored_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
                )
        if broken:
            raise CommandError("audit verification failed", returncode=1)

    def _anchor(self, output):
        try:
            anchor = audit_anchor()
        except ApplicationError as error:
            raise CommandError(error.message, returncode=1) from None
        if output is None:
            self.stdout.write(anchor.to_json(), ending="")
            return
        try:
            with open(output, "w", encoding="utf-8") as file:
                file.write(anchor.to_json())
        except OSError as error:
            raise CommandError(
                f"{output}: cannot write it ({error.strerror})", returncode=1
            ) from None
        self.stdout.write(f"audit anchor for event #{anchor.seq} written to {output}")
