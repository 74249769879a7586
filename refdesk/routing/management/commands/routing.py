"""``refdesk routing audit --month YYYY-MM [--program P] [--format table|json]``: read-only."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.errors import ApplicationError
from refdesk.routing.audit_report import RoutingAudit, routing_audit


class Command(BaseCommand):
    help = "Routing audits: re-routes, idle rules, default routes and unassigned queues."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        audit = sub.add_parser("audit", help="one month's routing audit (UTC)")
        audit.add_argument("--month", required=True, help="YYYY-MM")
        audit.add_argument("--program", help="one program's slug (default: all)")
        audit.add_argument("--format", choices=("table", "json"), default="table")

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _audit(self, month, program, format, **options):
        try:
            report = routing_audit(month=month, program=program)
        except ApplicationError as error:
            raise CommandError(error.message, returncode=1) from None
        if format == "json":
            self.stdout.write(json.dumps(report.to_dict(), indent=2))
        else:
            self.stdout.write(render_table(report), ending="")


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def render_table(report: RoutingAudit) -> str:
    data = report.to_dict()
    reroutes = data["reroutes"]
    share = data["default_route"]["share"]
    lines = [
        f"routing audit {report.month}" + (f" - {report.program}" if report.program else ""),
        f"initial decisions: {report.initial_decisions}",
        f"re-routes: {reroutes['count']} (time from initial decision: median "
        f"{_hours(reroutes['median_hours'])}, max {_hours(reroutes['max_hours'])})",
        f"default route: {report.default_route}"
        + (f" ({share:.1%} of initial decisions)" if share is not None else ""),
    ]
    for title, key, label in (
        ("RE-ROUTES BY QUEUE", "by_queue", lambda g: f"{g['from']} -> {g['to']}"),
        ("RE-ROUTES BY RULE", "by_rule", lambda g: g["from"]),
    ):
        if not reroutes[key]:
            continue
        lines += ["", f"{title:<44} {'COUNT':>5} {'MEDIAN':>9} {'MAX':>9}  REASONS"]
        for group in reroutes[key]:
            reasons = "; ".join(f"{r['reason']} ({r['count']})" for r in group["reasons"])
            lines.append(
                f"{label(group):<44} {group['count']:>5} {_hours(group['median_hours']):>9} "
                f"{_hours(group['max_hours']):>9}  {reasons}"
            )
    lines += ["", "RULES THAT NEVER MATCHED (active versions)"]
    lines += [
        f"{row['program']}: {row['rule']} (#{row['position']}"
        + (", the default route)" if row["default"] else ")")
        for row in report.never_matched
    ] or ["(none)"]
    lines += ["", f"{'QUEUES WITH UNASSIGNED OPEN REFERRALS (now)':<44} {'COUNT':>5}  OLDEST (UTC)"]
    lines += [
        f"{row['queue']:<44} {row['count']:>5}  {row['oldest']:%Y-%m-%d %H:%M}"
        for row in report.unassigned
    ] or ["(none)"]
    return "\n".join(lines) + "\n"
