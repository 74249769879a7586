"""The trail's record of deployments: each ``refdesk migrate`` in production is an event.

``system.migrated`` (actor: the operating-system user, ``cli:<name>``) carries the environment,
refdesk's version and how many migrations the run applied: the change record an inspector asks
for ("which version ran when, and who put it there"), and the mark by which ``refdesk demo``
knows a production database even when it is pointed at one from a development shell.
"""

from __future__ import annotations

from importlib import metadata

from django.conf import settings
from django.db import transaction

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_record
from refdesk.core.cli_support import cli_actor

MIGRATED = "system.migrated"
PRODUCTION = "production"


def refdesk_version() -> str:
    try:
        return metadata.version("refdesk")
    except metadata.PackageNotFoundError:
        return "unknown"


def deployment_record_migrate(*, applied: int) -> None:
    """Record a production ``migrate`` run (other environments record nothing)."""
    if not settings.PRODUCTION:
        return
    with transaction.atomic():
        audit_record(
            actor=cli_actor(None),
            action=MIGRATED,
            changes={
                "environment": PRODUCTION,
                "version": refdesk_version(),
                "migrations_applied": applied,
            },
        )


def served_in_production() -> bool:
    """Whether this database has ever been migrated by a production deployment."""
    return AuditEvent.objects.filter(action=MIGRATED, changes__environment__new=PRODUCTION).exists()
