"""``refdesk intake import FILE.csv --referrer CODE [--dry-run]``: bulk import with a row report."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.services import Actor
from refdesk.core.cli_support import cli_actor
from refdesk.core.errors import ApplicationError
from refdesk.portal.importer import ImportFileError, import_definition, import_row, read_csv
from refdesk.referrers.services import referrer_get_by_code


class Command(BaseCommand):
    help = "Import referrals from a CSV file (columns: docs/bulk-import.md)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        importer = sub.add_parser(
            "import", help="one referral per row; exit 1 when any row was rejected"
        )
        importer.add_argument("file", metavar="FILE.csv")
        importer.add_argument("--referrer", required=True, metavar="CODE", help="who referred")
        importer.add_argument(
            "--dry-run", action="store_true", help="check every row, write nothing"
        )
        importer.add_argument("--as", dest="actor", help="who is importing (default: OS user)")

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _import(self, file, referrer, dry_run, actor: Actor, **options):
        try:
            referrer_record = referrer_get_by_code(code=referrer)
            definition = import_definition(referrer_record)
            csv_file = read_csv(file, definition)
        except ApplicationError as problem:
            raise CommandError(problem.message, returncode=1) from None
        except ImportFileError as problem:
            raise CommandError(problem.message, returncode=1) from None
        counts = {"accepted": 0, "already_imported": 0, "rejected": 0}
        who = cli_actor(actor)
        for row in csv_file.rows:
            outcome = import_row(
                referrer=referrer_record,
                definition=definition,
                row=row,
                actor=who,
                dry_run=dry_run,
            )
            counts[outcome.status] += 1
            self.stdout.write(_describe(outcome, dry_run))
            for problem in outcome.errors:
                self.stdout.write(f"    {problem['field']} {problem['code']}: {problem['message']}")
        total = sum(counts.values())
        accepted = "would be accepted" if dry_run else "accepted"
        summary = (
            f"{total} row(s): {counts['accepted']} {accepted}, "
            f"{counts['already_imported']} already imported, {counts['rejected']} rejected"
        )
        self.stdout.write(summary + (" (dry run: nothing written)" if dry_run else ""))
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']} row(s) rejected", returncode=1)


def _describe(outcome, dry_run: bool) -> str:
    prefix = f"row {outcome.number}:"
    if outcome.status == "rejected":
        return f"{prefix} rejected"
    if outcome.status == "already_imported":
        return f"{prefix} already imported as {outcome.reference}"
    text = f"{prefix} would be accepted" if dry_run else f"{prefix} accepted {outcome.reference}"
    if outcome.duplicate_of:
        text += f", duplicate of {outcome.duplicate_of}"
    elif outcome.missing:
        text += f", needs info: {', '.join(outcome.missing)}"
    return text
