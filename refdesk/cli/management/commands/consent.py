"""``refdesk consent expire``: record every consent past its validity period as expired."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from refdesk.workflow.consent import consent_expire_due


class Command(BaseCommand):
    help = (
        "Record consents past the program's validity period as expired (an event in the "
        "consent history and the audit trail). Expired consent already gates contact when it "
        "is read; run this daily (cron) so the history says when it lapsed. Safe to re-run."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("expire", help="record lapsed consents as expired")

    def handle(self, *args, action, **options):
        total = 0
        while expired := consent_expire_due():
            total += expired
        self.stdout.write(f"{total} consent(s) expired")
