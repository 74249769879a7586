"""The demo never writes into a production system, whatever flag or shell runs it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.accounts.models import User
from refdesk.audit.deployment import MIGRATED, deployment_record_migrate, served_in_production
from refdesk.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_demo_refuses_in_production_and_writes_nothing(settings):
    settings.PRODUCTION = True
    events = AuditEvent.objects.count()
    with pytest.raises(CommandError, match="does not run in production"):
        call_command("demo", "--referrals", "0")
    assert User.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_a_production_migrate_is_recorded_and_marks_the_database(settings):
    settings.PRODUCTION = False
    deployment_record_migrate(applied=3)
    assert not served_in_production()  # development records nothing
    settings.PRODUCTION = True
    deployment_record_migrate(applied=3)
    event = AuditEvent.objects.get(action=MIGRATED)
    assert event.changes["environment"]["new"] == "production"
    assert event.changes["migrations_applied"]["new"] == 3
    assert event.actor.startswith("cli:")
    assert served_in_production()


def test_demo_refuses_a_database_migrated_in_production_from_a_development_shell(settings):
    settings.PRODUCTION = True
    deployment_record_migrate(applied=0)
    settings.PRODUCTION = False  # e.g. DATABASE_URL of production in a developer's shell
    with pytest.raises(CommandError, match="a production deployment migrated it"):
        call_command("demo", "--referrals", "0")
    assert User.objects.count() == 0


def test_migrate_in_production_writes_the_event(settings):
    settings.PRODUCTION = True
    call_command("migrate", verbosity=0)
    assert AuditEvent.objects.filter(action=MIGRATED).count() == 1
