"""``refdesk createsuperuser``: the first administrator, created like every staff account.

Replaces Django's command of the same name (``refdesk.cli`` comes first in INSTALLED_APPS), which
would make a user without a role — one the console refuses everything — and leave no audit
event. This one goes through ``user_create``: the administrator role (the admin site, where the
other staff accounts are made), the password validators, and ``user.created`` in the trail. At
the first sign-in refdesk asks for an authenticator app before anything else (MFA enrolment).

Interactive by default; ``--no-input`` takes the password from DJANGO_SUPERUSER_PASSWORD (as
Django's does), for scripted installs.
"""

from __future__ import annotations

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.accounts.services import user_create
from refdesk.core.cli_support import cli_actor


class Command(BaseCommand):
    help = "Create an administrator (the first staff account), audited; MFA at first sign-in."

    def add_arguments(self, parser):
        parser.add_argument("--username", help="login name")
        parser.add_argument("--email", help="email address")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="take the password from DJANGO_SUPERUSER_PASSWORD; ask nothing",
        )
        parser.add_argument("--as", dest="actor", help="who runs this, for the audit trail")

    def handle(self, *args, username, email, interactive, actor, **options):
        username = (username or (self._ask("Username: ") if interactive else "")).strip()
        email = (email or (self._ask("Email address: ") if interactive else "")).strip()
        if not username:
            raise CommandError("a username is required (--username)")
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"the username {username!r} is taken")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError("a valid email address is required (--email)") from None
        password = self._password(interactive, User(username=username, email=email))
        user = user_create(
            username=username,
            email=email,
            role=Role.ADMINISTRATOR,
            password=password,
            actor=cli_actor(actor),
        )
        self.stdout.write(
            f"administrator {user.username} created; at the first sign-in refdesk asks them to "
            "add an authenticator app (second factor) before anything else"
        )

    def _ask(self, prompt: str) -> str:
        try:
            return input(prompt)
        except EOFError:
            raise CommandError("no answer (use --no-input with --username and --email)") from None

    def _password(self, interactive: bool, user: User) -> str:
        if not interactive:
            password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
            if not password:
                raise CommandError("--no-input needs the password in DJANGO_SUPERUSER_PASSWORD")
            self._validate(password, user)
            return password
        while True:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                self.stderr.write("The two passwords differ; try again.")
                continue
            try:
                self._validate(password, user)
            except CommandError as error:
                self.stderr.write(str(error))
                continue
            return password

    def _validate(self, password: str, user: User) -> None:
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("password refused: " + " ".join(error.messages)) from None
