"""``refdesk restore PATH``: restore a backup into the configured database, then check it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.keys.backup import RestoreFailed, RestoreRefused, restore


class Command(BaseCommand):
    help = (
        "Restore a backup taken with `refdesk backup` into the configured database (DATABASE_URL), "
        "which must be empty; no refdesk server or worker may be running on it. Checks the "
        "file's SHA-256 and the keys' fingerprints first, then the audit chain, its head against "
        "the manifest and that the field keys decrypt the data. See docs/backup.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", metavar="PATH", help="the backup file (its manifest beside it)")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="restore even though the database already holds tables (they are replaced)",
        )
        parser.add_argument(
            "--allow-key-mismatch",
            action="store_true",
            help="restore even though the configured keys' fingerprints differ from the backup's",
        )
        parser.add_argument("--as", dest="actor", help="who restores (default: OS user)")

    def handle(self, *args, path, replace, allow_key_mismatch, actor, **options):
        try:
            result = restore(
                path,
                actor=cli_actor(actor),
                replace=replace,
                allow_key_mismatch=allow_key_mismatch,
                say=self.stdout.write,
            )
        except RestoreRefused as error:
            raise CommandError(f"restore refused: {error.message}", returncode=1) from None
        except RestoreFailed as error:
            raise CommandError(f"restore failed: {error.message}", returncode=1) from None
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(f"restore check FAILED: {problem}")
            raise CommandError("the restored database did not pass its checks", returncode=1)
        self.stdout.write(
            f"restored and checked; recorded as audit event #{result.restored_event_seq}. "
            "Now run `refdesk audit verify --anchor FILE` with an anchor kept off this host."
        )
