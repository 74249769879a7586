"""``refdesk login_failures NAME``: the failed sign-ins and lockouts recorded for a login name.

The audit trail keeps login names only as keyed fingerprints (``accounts.auth_audit``); an
inspector who knows the name to look for gets its fingerprint and its events here.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from refdesk.accounts.auth_audit import login_fingerprint
from refdesk.audit.models import AuditEvent


class Command(BaseCommand):
    help = "Show the failed sign-ins and lockouts recorded for a username or email address."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the username or email address, as a person would type it")
        parser.add_argument("-n", type=int, default=50, help="at most this many, newest last")

    def handle(self, *args, name, n, **options):
        digest = login_fingerprint(name)
        self.stdout.write(f"fingerprint: {digest}")
        events = AuditEvent.objects.filter(subject_type="login", subject_id=digest).order_by("-seq")
        for event in reversed(list(events[:n])):
            step = (event.changes.get("step") or {}).get("new", "")
            client = (event.changes.get("client") or {}).get("new", "")
            self.stdout.write(
                f"#{event.seq} {event.occurred_at:%Y-%m-%d %H:%M:%S} {event.action} "
                f"step={step} client={client} request={event.request_id}"
            )
