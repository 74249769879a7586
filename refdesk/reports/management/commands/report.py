"""``refdesk report monthly|referrer|rollup``: the review pack of a month, a referrer's report,
and the rollups behind the all-time dashboard."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.core.errors import ApplicationError
from refdesk.reports.monthly import monthly_report
from refdesk.reports.referrers import referrer_report
from refdesk.reports.rollups import rollup_refresh
from refdesk.reports.scope import parse_month

FORMATS = ("html", "pdf", "csv", "xlsx")


def _formats(text: str) -> list[str]:
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise CommandError(
            f"--format takes some of {', '.join(FORMATS)}, comma-separated (got {text!r})",
            returncode=2,
        )
    return chosen


class Command(BaseCommand):
    help = "Write a program's monthly review pack, or refresh the reports' rollups."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        monthly = sub.add_parser(
            "monthly", help="write the review pack of a month: HTML, PDF, CSV and XLSX"
        )
        monthly.add_argument("--program", required=True, help="the program's id (slug)")
        monthly.add_argument("--month", required=True, metavar="YYYY-MM", help="in its zone")
        monthly.add_argument("--out", required=True, metavar="DIR", help="where to write it")
        monthly.add_argument(
            "--format",
            default=",".join(FORMATS),
            help=f"some of {', '.join(FORMATS)} (default: all)",
        )
        monthly.add_argument(
            "--threshold",
            type=int,
            default=None,
            help="hide counts below this (default: REFDESK_REPORT_SUPPRESSION, 5)",
        )
        monthly.add_argument("--as", dest="actor_name", help="who exports (default: OS user)")
        referrer = sub.add_parser(
            "referrer",
            help="write a referrer's report: counts sent and, where its agreement allows, outcomes",
        )
        referrer.add_argument("--code", required=True, help="the referrer's code")
        referrer.add_argument("--from", dest="first", required=True, metavar="YYYY-MM")
        referrer.add_argument("--to", dest="last", metavar="YYYY-MM", help="default: --from")
        referrer.add_argument("--out", required=True, metavar="DIR")
        referrer.add_argument("--format", default="pdf,csv", help="default: pdf,csv")
        referrer.add_argument("--threshold", type=int, default=None)
        referrer.add_argument("--as", dest="actor_name", help="who exports (default: OS user)")
        rollup = sub.add_parser("rollup", help="bring the dashboard's rollups up to date")
        rollup.add_argument("--full", action="store_true", help="rebuild them from scratch")

    def handle(self, *args, action, **options):
        if action == "rollup":
            self.stdout.write(str(rollup_refresh(full=options["full"])))
            return
        self._export(action, options)

    def _report(self, action, options):
        if action == "monthly":
            return monthly_report(program=options["program"], month=options["month"])
        first, _ = parse_month(options["first"])
        _, last = parse_month(options["last"] or options["first"])
        if last < first:
            raise ApplicationError("--to is before --from", code="invalid_period")
        return referrer_report(code=options["code"], start=first, end=last)

    def _export(self, action, options):
        from refdesk.reports.exports import report_export

        formats = _formats(options["format"])
        if options["threshold"] is not None and options["threshold"] < 1:
            raise CommandError("--threshold is a count of at least 1", returncode=2)
        try:
            report = self._report(action, options)
            written = report_export(
                report,
                out_dir=Path(options["out"]),
                formats=formats,
                actor=cli_actor(options["actor_name"]),
                threshold=options["threshold"],
            )
        except ApplicationError as error:
            raise CommandError(error.message, returncode=2) from None
        for path in written:
            self.stdout.write(str(path))
