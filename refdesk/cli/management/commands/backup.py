"""``refdesk backup --out PATH``: a consistent backup of the database, with its manifest."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.core.cli_support import cli_actor
from refdesk.keys.backup import BackupFailed, backup_create


class Command(BaseCommand):
    help = (
        "Back the database up while refdesk keeps serving (SQLite: the online backup API and an "
        "integrity check; PostgreSQL: pg_dump --format=custom), with a manifest beside the file: "
        "the audit chain head, migrations, SHA-256 and the fingerprints of the keys it needs. "
        "The backup is audited (backup.created). See docs/backup.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out",
            "-o",
            required=True,
            metavar="PATH",
            help="the backup file to write, or a directory to name it in (never overwritten)",
        )
        parser.add_argument("--as", dest="actor", help="who takes it (default: OS user)")

    def handle(self, *args, out, actor, **options):
        try:
            result = backup_create(out, actor=cli_actor(actor))
        except BackupFailed as error:
            raise CommandError(error.message, returncode=1) from None
        manifest = result.manifest
        keys = manifest["keys"]
        self.stdout.write(f"backup written: {result.path}")
        self.stdout.write(f"manifest: {result.manifest_path}")
        self.stdout.write(
            f"sha256 {manifest['sha256']}; audit chain head #{manifest['audit_head']['seq']}"
        )
        self.stdout.write(
            "keep with it the keys with these fingerprints: field key(s) "
            f"{', '.join(keys['field_keys'])}; index key {keys['index_key']}; "
            f"audit key {keys['audit_key']}"
        )
