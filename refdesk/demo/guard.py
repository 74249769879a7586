"""The demo never writes into a production system.

It creates staff accounts whose passwords and second-factor secrets it prints, and writes
synthetic referrals into the audit trail. It refuses when ``REFDESK_ENV=production``, and when
the database has been migrated by a production deployment (the trail's ``system.migrated``
events) whatever this shell's environment says. No flag overrides either.
"""

from __future__ import annotations

from django.conf import settings

from refdesk.audit.deployment import served_in_production
from refdesk.core.errors import ApplicationError


class DemoRefused(ApplicationError):
    code = "demo_refused"
    status = 409


def demo_refuse_in_production() -> None:
    if settings.PRODUCTION:
        raise DemoRefused(
            "refdesk demo does not run in production (REFDESK_ENV=production): it creates staff "
            "accounts with printed passwords and writes synthetic referrals into the audit trail"
        )
    if served_in_production():
        raise DemoRefused(
            "refdesk demo does not run against this database: a production deployment migrated "
            "it (audit events system.migrated); use an empty development database"
        )
