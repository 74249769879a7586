"""The demo's appointments: working hours, a week of bookings for the agenda, and one patient-
support referral whose whole scheduling story is on its timeline — booked by the lead through
the link, confirmed with an invite, reminded, rescheduled once, marked no-show, and left with
the reschedule offer sent and a manual check on the queue.

The story runs through the same services the pages call, each at its own moment in the past
(``now=``), with the follow-up replayed between the steps so the messages go out in the order
a running worker would have sent them. Audit events carry the time the demo ran (the one
thing a replay cannot back-date). Idempotent: a referral that already has appointments is
left alone.
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.scheduling.models import Appointment
from refdesk.scheduling.services import time_off_add, working_hours_set
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.attendance import appointment_record_attendance
from refdesk.workflow.booking import (
    LEAD,
    appointment_book,
    appointment_reschedule,
    next_free_slots,
)
from refdesk.workflow.messages import message_send
from refdesk.workflow.submission import referral_submit
from refdesk.workflow.sweep import followup_replay

ACTOR = "system:demo"
# The story's referral: a patient-support lead who prefers email (so every message can go).
STORY_CLIENT_REF = "demo-scheduling-story"
CALL_TYPES = {"patient-support": "support-call", "trial-prescreening": "prescreen-call"}
# username -> (time zone, weekday hours): members' own working hours; others work the team's.
HOURS = {
    "agent": ("America/New_York", [(d, dt.time(9, 0), dt.time(17, 0)) for d in range(5)]),
    "coordinator": (
        "America/Chicago",
        [(d, dt.time(8, 30), dt.time(16, 30)) for d in range(5)],
    ),
}


def build_scheduling_demo(*, referrer: Referrer, rng: random.Random) -> str | None:
    """Hours, time off, the story (returns its reference) and upcoming bookings."""
    _working_hours()
    story_referral = story_referral_of(referrer)
    reference = None
    if story_referral is not None and not story_referral.appointments.exists():
        reference = _story(story_referral)
    elif story_referral is not None:
        reference = story_referral.reference
    _upcoming(rng)
    return reference


def story_referral_of(referrer: Referrer) -> Referral:
    """The scheduling story's patient-support referral (demo.scheduling), received a week ago
    on a weekday morning; its lead prefers email, so every message of the story can go."""
    received = timezone.now() - dt.timedelta(days=7)
    while received.weekday() >= 5:  # a weekday: the team is there to take it
        received -= dt.timedelta(days=1)
    received = received.replace(hour=14, minute=30, second=0, microsecond=0)  # 09:30 New York
    definition = version_definition(referrer.source.program.active_version)
    text = max(definition.consent.texts, key=lambda t: t.published)
    submission = Submission(
        request_type="helpline_callback",
        lead_kind="patient",
        therapy_area="immunology",
        lead={
            "given_name": "Robin",
            "family_name": "Ashford",
            "email": "robin.ashford@example.org",
            "phone": "+13035550142",
            "preferred_contact": "email",
            "timezone": "America/Denver",
            "country": "US",
            "language": "en",
        },
        answers={"reason_for_contact": "Would like a call to set up a reminder routine."},
        consent={
            "granted": True,
            "purposes": list(text.purposes),
            "channels": ["email", "phone"],
            "method": definition.consent.methods[0],
            "text_version": text.version,
        },
    )
    result = referral_submit(
        referrer=referrer,
        submission=submission,
        method=definition.sources[referrer.source.slug].submission_methods[0],
        actor=referrer,
        client_ref=STORY_CLIENT_REF,
        received_at=received,
    )
    return result.referral


def _working_hours() -> None:
    for username, (zone, rows) in HOURS.items():
        user = User.objects.filter(username=username).first()
        if user is not None and not user.working_hours.exists():
            working_hours_set(owner_user=user, rows=rows, timezone=zone, actor=ACTOR)
    specialist = User.objects.filter(username="specialist").first()
    if specialist is not None and not specialist.time_off.exists():
        # A training day a week from now: the agenda and the slots show the gap.
        day = timezone.localdate() + dt.timedelta(days=7)
        start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
        time_off_add(
            owner_user=specialist,
            starts_at=start,
            ends_at=start + dt.timedelta(days=1),
            label="Training day",
            actor=ACTOR,
        )


def _first_slot(referral, *, now, after, before=None, moving=None):
    slots = next_free_slots(
        referral=referral, type_key="support-call", lead=True, moving=moving, now=now
    )
    for slot in slots:
        if slot.starts_at >= after and (before is None or slot.starts_at <= before):
            return slot
    return None


def _story(referral: Referral) -> str | None:
    """The agent claims it and sends the introduction with the booking link; the lead books
    (6 days ago) and moves it (an hour later) through the link; the call is missed: no-show."""
    now = timezone.now()
    written_at = referral.received_at + dt.timedelta(hours=1)
    followup_replay(until=written_at)
    referral.refresh_from_db()
    if referral.stage not in (Stage.QUEUED, Stage.IN_PROGRESS) or referral.assigned_to is None:
        return None
    if referral.stage == Stage.QUEUED:
        referral_claim(referral=referral, user=referral.assigned_to)
    message_send(
        referral=referral,
        template_key="support-callback-intro",
        channel="email",
        user=referral.assigned_to,
        now=written_at,
    )
    booked_at = now - dt.timedelta(days=6)
    followup_replay(until=booked_at)
    referral.refresh_from_db()
    first = _first_slot(referral, now=booked_at, after=booked_at + dt.timedelta(days=2))
    if first is None:
        return None
    appointment = appointment_book(
        referral=referral,
        type_key="support-call",
        starts_at=first.starts_at,
        actor=LEAD,
        now=booked_at,
    )
    moved_at = booked_at + dt.timedelta(hours=1)
    followup_replay(until=moved_at)
    second = _first_slot(
        referral,
        now=moved_at,
        after=first.starts_at + dt.timedelta(days=1),
        before=now - dt.timedelta(hours=3),
        moving=appointment,
    )
    if second is None:
        return referral.reference
    appointment = appointment_reschedule(
        appointment=appointment,
        starts_at=second.starts_at,
        actor=LEAD,
        reason="lead_request",
        now=moved_at,
    )
    missed_at = second.starts_at + dt.timedelta(minutes=20)
    followup_replay(until=missed_at)
    appointment_record_attendance(
        appointment=appointment,
        outcome="no_show",
        actor=appointment.member,
        now=missed_at,
    )
    return referral.reference


def _upcoming(rng: random.Random, count: int = 8) -> None:
    """Staff book the next days' calls for open referrals of scheduling programs, so the
    agenda and the team's slots have something in them (only on the first run)."""
    if Appointment.objects.exclude(referral__client_ref=STORY_CLIENT_REF).exists():
        return
    candidates = list(
        Referral.objects.filter(
            stage__in=(Stage.QUEUED, Stage.IN_PROGRESS),
            assigned_to__isnull=False,
            program__slug__in=tuple(CALL_TYPES),
        )
        .exclude(client_ref=STORY_CLIENT_REF)
        .select_related("assigned_to", "queue__team", "program_version")
        .order_by("received_at")[:40]
    )
    rng.shuffle(candidates)
    booked = 0
    for referral in candidates:
        if booked >= count:
            return
        type_key = (
            "support-call" if referral.program.slug == "patient-support" else "prescreen-call"
        )
        slots = next_free_slots(referral=referral, type_key=type_key, lead=False)
        mine = [s for s in slots if s.member_id == referral.assigned_to_id]
        if not mine:
            continue
        if referral.stage == Stage.QUEUED:
            referral_claim(referral=referral, user=referral.assigned_to)
        slot = mine[min(len(mine) - 1, rng.randrange(0, 40))]
        appointment_book(
            referral=referral,
            type_key=type_key,
            starts_at=slot.starts_at,
            actor=referral.assigned_to,
            member=referral.assigned_to,
        )
        booked += 1
