"""``refdesk audit verify [--anchor FILE ...]|anchor [--output FILE]|tail|export|check-export``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.extract import ExtractFilter, audit_extract, audit_extract_check
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import (
    AuditAnchorInvalid,
    audit_anchor,
    audit_anchor_check,
    audit_anchor_load,
    audit_verify,
)
from refdesk.core.cli_support import cli_actor
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
        export = sub.add_parser(
            "export", help="write the matching events as CSV and its signature (FILE.sig)"
        )
        export.add_argument("--out", "-o", required=True, metavar="FILE")
        export.add_argument("--since", metavar="YYYY-MM-DD", help="from this day (UTC)")
        export.add_argument("--until", metavar="YYYY-MM-DD", help="before this day (UTC)")
        export.add_argument(
            "--action",
            dest="event_action",  # not "action": that names the subcommand
            default="",
            help='an action, or a prefix ending in "."',
        )
        export.add_argument("--actor", default="", help="an actor label, e.g. user:auditor")
        export.add_argument("--subject", default="", help="a subject id, e.g. a referral's id")
        export.add_argument("--as", dest="actor_name", help="who exports (default: OS user)")
        check = sub.add_parser("check-export", help="check an export against FILE.sig")
        check.add_argument("file", metavar="FILE")

    def handle(self, *args, action, **options):
        if action == "verify":
            self._verify(options["anchors"])
        elif action == "anchor":
            self._anchor(options["output"])
        elif action == "export":
            self._export(options)
        elif action == "check-export":
            self._check_export(options["file"])
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

    def _export(self, options):
        filters = ExtractFilter(
            since=_day(options["since"], "--since"),
            until=_day(options["until"], "--until"),
            action=options["event_action"],
            actor=options["actor"],
            subject_id=options["subject"],
        )
        out = options["out"]
        try:
            with open(out, "wb") as file:
                extract = audit_extract(
                    filters=filters, out=file, actor=cli_actor(options["actor_name"])
                )
            with open(f"{out}.sig", "w", encoding="utf-8") as file:
                file.write(extract.signature + "\n")
        except OSError as error:
            raise CommandError(f"{out}: cannot write it ({error.strerror})", returncode=1) from None
        self.stdout.write(
            f"{extract.events} event(s) written to {out}, signature in {out}.sig "
            f"(sha256 {extract.sha256}); the export is recorded in the trail"
        )

    def _check_export(self, path):
        try:
            with open(path, "rb") as file:
                data = file.read()
            with open(f"{path}.sig", encoding="utf-8") as file:
                signature = file.read()
        except OSError as error:
            raise CommandError(
                f"{error.filename}: cannot read it ({error.strerror})", returncode=2
            ) from None
        if not audit_extract_check(data, signature):
            raise CommandError(
                f"{path}: the signature does not match: changed, or not from this installation",
                returncode=1,
            )
        self.stdout.write(f"{path}: signature valid, unchanged since it was exported")


def _day(value: str | None, flag: str):
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise CommandError(f"{flag}: give a date as YYYY-MM-DD, not {value!r}") from None
