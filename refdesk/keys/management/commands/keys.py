"""``refdesk keys generate|rotate|status``: field-encryption key management."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.core.crypto import DecryptionFailed
from refdesk.devsecrets import keys_generate
from refdesk.keys.keyring import field_keys_rotate, field_keys_status


class Command(BaseCommand):
    help = "Generate field-encryption keys, re-encrypt stored data under the newest, show status."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        generate = sub.add_parser(
            "generate",
            help="print a new Fernet key (put it first in REFDESK_FIELD_KEYS); "
            "--all: the four secrets of a new installation",
        )
        generate.add_argument("--all", action="store_true")
        generate.add_argument("--out")
        rotate = sub.add_parser("rotate", help="re-encrypt every stored value under the first key")
        rotate.add_argument("--as", dest="actor")
        sub.add_parser("status", help="how many stored values each key protects")

    def handle(self, *args, action, **options):
        if action == "generate":
            # The same code as `refdesk keys generate`, which runs before Django is set up.
            argv = (["--all"] if options["all"] else []) + (
                ["--out", options["out"]] if options["out"] else []
            )
            if keys_generate(argv, out=self.stdout, err=self.stderr):
                raise CommandError("nothing written")
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
