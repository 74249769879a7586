"""Stopping a referral's pending follow-up when it closes: its timers are cancelled and its
lead messages not yet sent are refused, in the closing transaction, so a closed referral's
lead hears nothing more. A leaf module: the transition function calls it."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from refdesk.outreach.choices import Audience, MessageStatus, TimerKind, TimerState
from refdesk.outreach.models import Message, Timer
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment


def followup_stop(*, referral_id: int, reason: str, now: datetime) -> tuple[int, int]:
    """Cancel pending timers, booked appointments (reason ``referral_closed``) and refuse
    unsent lead messages; (timers, messages) changed."""
    timers = _cancel(Timer.objects.filter(referral_id=referral_id), reason=reason, now=now)
    messages = Message.objects.filter(
        referral_id=referral_id,
        audience=Audience.LEAD,
        status__in=(MessageStatus.SCHEDULED, MessageStatus.CLAIMED),
    ).update(
        status=MessageStatus.REFUSED,
        reason=reason,
        next_action_at=None,
        lease_until=None,
        updated_at=now,
    )
    Appointment.objects.filter(referral_id=referral_id, status=AppointmentStatus.BOOKED).update(
        status=AppointmentStatus.CANCELLED,
        reason="referral_closed",
        sequence=F("sequence") + 1,
        ended_at=now,
        ended_by="system:workflow",
        updated_at=now,
    )
    return timers, messages


def attempts_stop(*, referral_id: int, reason: str, now: datetime) -> int:
    """The lead is engaged (an appointment is booked): the retry cadence and its closing as
    unreachable are cancelled; SLA timers keep running. Returns how many timers."""
    timers = Timer.objects.filter(
        referral_id=referral_id, kind__in=(TimerKind.ATTEMPT, TimerKind.CLOSE_UNREACHABLE)
    )
    return _cancel(timers, reason=reason, now=now)


def _cancel(timers, *, reason: str, now: datetime) -> int:
    """Cancel those of ``timers`` not yet done (pending, or running under a lease)."""
    return timers.filter(state__in=(TimerState.PENDING, TimerState.RUNNING)).update(
        state=TimerState.CANCELLED,
        result=reason,
        next_action_at=None,
        lease_until=None,
        done_at=now,
    )


def followup_release(*, referral_id: int, reason: str, now: datetime) -> int:
    """Follow-up that waited for an event (a review decided, information supplied) becomes due
    now: timers parked with ``reason`` and messages held for it. Returns how many."""
    timers = Timer.objects.filter(
        referral_id=referral_id,
        state=TimerState.PENDING,
        result=reason,
        next_action_at__isnull=True,
    ).update(next_action_at=now)
    messages = Message.objects.filter(
        referral_id=referral_id,
        status=MessageStatus.SCHEDULED,
        reason=reason,
        next_action_at__isnull=True,
    ).update(next_action_at=now, updated_at=now)
    return timers + messages
