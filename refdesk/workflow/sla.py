"""The first-response clock: paused while the referrer owes information, resumed with the
business time it had left.

Entering ``needs_info`` stops the clock (``sla_paused_at``; no due time while it stands).
Leaving it adds the business time it stood still to ``sla_paused_seconds``; every later
decision is due that much later than the SLA counted from receipt (``decide(sla_paused=...)``),
which is exactly "the remaining business time, from when the information arrived".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from refdesk.intake.models import Referral
from refdesk.programs import engine
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition


def sla_pause(now: datetime) -> dict[str, Any]:
    """Values that stop the clock (merged into the transition into ``needs_info``)."""
    return {"sla_paused_at": now, "first_response_due_at": None}


def sla_resume(referral: Referral, definition: ProgramDefinition, now: datetime) -> dict[str, Any]:
    """Values that restart a stopped clock, counting the business time it stood still."""
    if referral.sla_paused_at is None:
        return {}
    stood = engine.business_time_elapsed(definition, referral.sla_paused_at, now)
    return {
        "sla_paused_at": None,
        "sla_paused_seconds": referral.sla_paused_seconds + int(stood.total_seconds()),
    }


def sla_paused(referral: Referral) -> timedelta:
    """Business time the clock has stood still in finished pauses."""
    return timedelta(seconds=referral.sla_paused_seconds or 0)


def first_response(referral: Referral, now: datetime) -> dict[str, Any]:
    """Values that stop the clock for good: the first response to the lead, and the business
    time it took from receipt less the time the clock stood still — the figure reports take
    medians of (``refdesk.reports``), fixed now so no report recomputes a calendar per row.
    Empty when the referral already had its first response."""
    if referral.first_responded_at is not None:
        return {}
    definition = version_definition(referral.program_version)
    taken = engine.business_time_elapsed(definition, referral.received_at, now)
    taken -= sla_paused(referral)
    return {
        "first_responded_at": now,
        "first_response_seconds": max(0, int(taken.total_seconds())),
    }
