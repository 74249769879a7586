"""What the schedule pages' tests share: a fixed Monday, and patient-support referrals with an
appointment booked with a chosen member (``workflow.booking.appointment_book``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from refdesk.accounts.models import User
from refdesk.intake.models import Referral
from refdesk.scheduling.models import Appointment
from refdesk.testing import submit, support_by_email
from refdesk.workflow.booking import appointment_book

# Monday 7 December 2026, 14:00 UTC = 09:00 in New York (the patient-services team's zone).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Tuesday 8 December, 10:00 in New York.
TUESDAY_10 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)


def support_referral(n: int) -> Referral:
    with time_machine.travel(MONDAY - timedelta(hours=1, minutes=n), tick=False):
        return submit("patient-support", support_by_email(n))


def booked(member: User, n: int = 1, starts_at: datetime = TUESDAY_10) -> Appointment:
    """A new patient-support referral (lead ``n``) with a support call booked with ``member``."""
    referral = support_referral(n)
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral,
            type_key="support-call",
            starts_at=starts_at,
            member=member,
            actor=member,
        )
