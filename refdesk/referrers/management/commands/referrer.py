"""``refdesk referrer add|deactivate|list``: referrers, their codes and intake links."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from email_validator import EmailNotValidError, validate_email

from refdesk.audit.services import Actor
from refdesk.core.cli_support import cli_actor
from refdesk.core.errors import ApplicationError
from refdesk.programs.models import Program
from refdesk.referrers.choices import ReferrerKind
from refdesk.referrers.models import Referrer, Source
from refdesk.referrers.services import referrer_create, referrer_deactivate, referrer_get_by_code


def intake_link(code: str) -> str:
    return f"{settings.REFDESK_BASE_URL}/r/{code}"


class Command(BaseCommand):
    help = "Add, deactivate and list referrers (who may refer through a program's source)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="create a referrer; prints its code and intake link")
        add.add_argument("--program", required=True, metavar="P")
        add.add_argument("--source", required=True, metavar="S")
        add.add_argument("--name", required=True)
        add.add_argument("--email", default="", help="the referrer's work email")
        add.add_argument("--kind", choices=ReferrerKind.values, default=ReferrerKind.PERSON)
        add.add_argument("--organization", default="")
        add.add_argument("--as", dest="actor", help="who is adding (default: OS user)")
        deactivate = sub.add_parser("deactivate", help="the code stops working; kept on referrals")
        deactivate.add_argument("code", metavar="CODE")
        deactivate.add_argument("--reason", default="")
        deactivate.add_argument("--as", dest="actor", help="who is deactivating")
        listing = sub.add_parser("list", help="code, name, source and whether active")
        listing.add_argument("--program", metavar="P")

    def handle(self, *args, action, **options):
        try:
            return getattr(self, f"_{action}")(**options)
        except ApplicationError as problem:
            raise CommandError(problem.message, returncode=1) from None

    def _add(self, program, source, name, email, kind, organization, actor: Actor, **options):
        source_record = _source(program, source)
        if email:
            try:
                email = validate_email(email, check_deliverability=False).normalized
            except EmailNotValidError:
                raise CommandError("--email is not a valid email address", returncode=1) from None
        referrer = referrer_create(
            source=source_record,
            name=name,
            kind=kind,
            email=email,
            organization=organization.strip(),
            actor=cli_actor(actor),
        )
        self.stdout.write(f"code: {referrer.code}")
        self.stdout.write(f"link: {intake_link(referrer.code)}")

    def _deactivate(self, code, reason, actor: Actor, **options):
        referrer = referrer_get_by_code(code=code)
        if not referrer.active:
            self.stdout.write(f"{referrer.code} was already inactive")
            return
        referrer_deactivate(referrer=referrer, actor=cli_actor(actor), reason=reason)
        self.stdout.write(f"{referrer.code} deactivated; its link no longer accepts referrals")

    def _list(self, program, **options):
        referrers = Referrer.objects.select_related("source__program").order_by(
            "source__program__slug", "source__slug", "code"
        )
        if program:
            _program(program)
            referrers = referrers.filter(source__program__slug=program)
        rows = [(r.code, r.name, str(r.source), "yes" if r.active else "no") for r in referrers]
        if not rows:
            self.stdout.write("no referrers")
            return
        header = ("code", "name", "source", "active")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(line.rstrip())


def _program(slug: str) -> Program:
    program = Program.objects.filter(slug=slug).first()
    if program is None:
        known = ", ".join(Program.objects.order_by("slug").values_list("slug", flat=True))
        raise CommandError(f"no program {slug!r} (programs: {known or 'none'})", returncode=1)
    return program


def _source(program_slug: str, slug: str) -> Source:
    program = _program(program_slug)
    source = Source.objects.select_related("program").filter(program=program, slug=slug).first()
    if source is None:
        known = ", ".join(program.sources.filter(active=True).values_list("slug", flat=True))
        raise CommandError(
            f"program {program_slug} has no source {slug!r} (sources: {known or 'none'})",
            returncode=1,
        )
    return source
