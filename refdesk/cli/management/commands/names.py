"""``refdesk names reindex``: rebuild the name-search blind index (``intake.NameToken``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.core.crypto import DecryptionFailed
from refdesk.intake.name_tokens import name_tokens_reindex


class Command(BaseCommand):
    help = (
        "Rebuild the name-search index from every referral's lead. Run it after changing "
        "REFDESK_INDEX_KEY (every digest changes with the key; until it has run, name search "
        "finds nothing). Each batch commits with its own audit event; safe to re-run."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        reindex = sub.add_parser("reindex", help="rebuild every referral's name tokens")
        reindex.add_argument("--as", dest="actor")
        reindex.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, action, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more")
        try:
            total = name_tokens_reindex(
                actor=cli_actor(options["actor"]), batch_size=options["batch_size"]
            )
        except DecryptionFailed as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{total} referral(s) indexed for name search")
