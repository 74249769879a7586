"""`refdesk createsuperuser` makes an audited administrator, not a role-less Django superuser."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "a long and unusual passphrase 71"


def test_the_first_administrator_has_the_role_and_an_audit_event(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--no-input", "--username", "ada", "--email", "ada@example.org")
    user = User.objects.get(username="ada")
    assert (user.role, user.is_superuser, user.is_staff) == (Role.ADMINISTRATOR, True, True)
    assert user.check_password(PASSWORD)
    event = AuditEvent.objects.get(action="user.created", subject_id=str(user.public_id))
    assert event.actor.startswith("cli:")


def test_a_weak_password_is_refused_and_nothing_is_created(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "password")
    with pytest.raises(CommandError, match="password refused"):
        call_command("createsuperuser", "--no-input", "--username", "ada", "--email", "a@b.org")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "a@b.org"], "a username is required"),
        (["--username", "ada", "--email", "not-an-email"], "a valid email address"),
        (["--username", "ada", "--email", "a@b.org"], "DJANGO_SUPERUSER_PASSWORD"),
    ],
)
def test_missing_or_bad_answers_are_named(monkeypatch, args, message):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match=message):
        call_command("createsuperuser", "--no-input", *args)


def test_a_taken_username_is_refused(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    User.objects.create(username="Ada")
    with pytest.raises(CommandError, match="taken"):
        call_command("createsuperuser", "--no-input", "--username", "ada", "--email", "a@b.org")
