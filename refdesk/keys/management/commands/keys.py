"""``refdesk keys generate|rotate|status``: field-encryption key management."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.core.crypto import DecryptionFailed
from refdesk.keys.keyring import field_keys_rotate, field_keys_status


class Command(BaseCommand):
    help = "Generate field-encryption keys, re-encrypt stored data under the newest, show status."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser(
            "generate", help="print a new Fernet key (put it first in REFDESK_FIELD_KEYS)"
        )
        rotate = sub.add_parser("rotate", help="re-encrypt every stored value under the first key")
        rotate.add_argument("--as", dest="actor")
        sub.add_parser("status", help="how many stored values each key protects")

    def handle(self, *args, action, **options):
        if action == "generate":
            self.stdout.write(Fernet.generate_key().decode("ascii"))
            return
        try:
            if action == "rotate":
                totals = field_keys_rotate(actor=cli_actor(options["actor"]))
                for label, count in totals.items():
                    self.stdout.write(f"{label}: {count} value(s) re-encrypted")
                return
            for label, (current, older) in field_keys_status().items():
                self.stdout.write(f"{label}: {current} under the newest key, {older} older")
        except DecryptionFailed as error:
            raise CommandError(str(error)) from None
