"""``refdesk demo [--referrals N]``: load the demo programs and data (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.errors import ApplicationError
from refdesk.demo.builder import build_demo
from refdesk.programs.loader import ProgramInvalid


class Command(BaseCommand):
    help = "Apply the demo programs and create demo teams, users, referrers and referrals."

    def add_arguments(self, parser):
        parser.add_argument(
            "--referrals",
            type=int,
            default=300,
            help="synthetic referrals over the past 90 days, worked in time order (default 300)",
        )
        parser.add_argument("--programs-dir", type=Path, default=None)

    def handle(self, *args, referrals, programs_dir, **options):
        if referrals < 0:
            raise CommandError("--referrals must be 0 or more")
        try:
            summary = build_demo(referrals=referrals, programs_dir=programs_dir)
        except (ProgramInvalid, ApplicationError, FileNotFoundError) as error:
            raise CommandError(str(error)) from None
        write = self.stdout.write
        for line in summary.versions:
            write(line)
        write(
            f"referrals: {summary.referrals_created} created, "
            f"{summary.referrals_existing} already there"
        )
        history = summary.history
        if history is None:
            write("history: played by an earlier run; nothing added")
        else:
            write(
                f"history: {history.start:%Y-%m-%d} to {history.end:%Y-%m-%d %H:%M} UTC, "
                f"{history.steps} steps played in time order; rule change on "
                f"{history.rule_change:%Y-%m-%d}"
            )
            if history.refused:
                # A step whose referral had moved on (refused, nothing written): worth a look.
                write(f"  {history.refused} steps refused by the services")
        write("\nDemo staff logins (development only): password, then a code from an authenticator")
        write("app holding the TOTP secret (or `oathtool --totp -b SECRET`):")
        for username, role, password, totp_secret in summary.users:
            write(f"  {username:<12} {password:<18} {totp_secret:<34} {role}")
        write("\nIntake links (one per program):")
        for slug, link in summary.intake_links.items():
            write(f"  {slug:<20} {link}")
        if summary.scheduling_story:
            write(
                f"\nScheduling story: {summary.scheduling_story} (booked through the lead's link, "
                "rescheduled, missed; see its timeline and the agent's agenda)"
            )
        write("\nAdmin: /admin/ (log in as admin)")
