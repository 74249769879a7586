"""``refdesk partner key|revoke|keys``: API keys for partner referrers."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.services import Actor
from refdesk.core.cli_support import cli_actor
from refdesk.core.errors import ApplicationError
from refdesk.referrers.models import PartnerKey
from refdesk.referrers.services import (
    partner_key_create,
    partner_key_revoke,
    referrer_get_by_code,
)


class Command(BaseCommand):
    help = "Make, revoke and list partner API keys (each scoped to one referrer)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        key = sub.add_parser("key", help="make a key; it is printed once and stored hashed")
        key.add_argument("--referrer", required=True, metavar="CODE")
        key.add_argument("--as", dest="actor", help="who is making it (default: OS user)")
        revoke = sub.add_parser("revoke", help="the key stops working at once")
        revoke.add_argument("prefix", metavar="PREFIX")
        revoke.add_argument("--reason", default="")
        revoke.add_argument("--as", dest="actor", help="who is revoking")
        keys = sub.add_parser("keys", help="a referrer's keys: prefix, created, last used, revoked")
        keys.add_argument("--referrer", required=True, metavar="CODE")

    def handle(self, *args, action, **options):
        try:
            return getattr(self, f"_{action}")(**options)
        except ApplicationError as problem:
            raise CommandError(problem.message, returncode=1) from None

    def _key(self, referrer, actor: Actor, **options):
        referrer_record = referrer_get_by_code(code=referrer)
        record, key = partner_key_create(referrer=referrer_record, actor=cli_actor(actor))
        source = referrer_record.source
        self.stdout.write(f"key: {key}")
        self.stdout.write(f"prefix: {record.prefix}")
        self.stdout.write(
            f"scope: referrer {referrer_record.code}, program {source.program.slug}, "
            f"source {source.slug}"
        )
        self.stdout.write("The key is shown only now; refdesk keeps only its hash.")

    def _revoke(self, prefix, reason, actor: Actor, **options):
        matches = list(PartnerKey.objects.filter(prefix=prefix.strip())[:2])
        if not matches:
            raise CommandError(f"no API key has the prefix {prefix!r}", returncode=1)
        if len(matches) > 1:  # pragma: no cover - 48 random bits per prefix
            raise CommandError(f"more than one key has the prefix {prefix!r}", returncode=1)
        key = matches[0]
        if key.revoked_at is not None:
            self.stdout.write(f"{key.prefix} was already revoked on {key.revoked_at:%Y-%m-%d}")
            return
        partner_key_revoke(key=key, actor=cli_actor(actor), reason=reason)
        self.stdout.write(f"{key.prefix} revoked")

    def _keys(self, referrer, **options):
        referrer_record = referrer_get_by_code(code=referrer)
        keys = list(PartnerKey.objects.filter(referrer=referrer_record).order_by("created_at"))
        if not keys:
            self.stdout.write(f"{referrer_record.code} has no API keys")
            return
        self.stdout.write(f"{'prefix':<14}{'created (UTC)':<18}{'last used':<18}revoked")
        for key in keys:
            self.stdout.write(
                f"{key.prefix:<14}{_when(key.created_at):<18}{_when(key.last_used_at):<18}"
                f"{_when(key.revoked_at)}"
            )


def _when(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"
