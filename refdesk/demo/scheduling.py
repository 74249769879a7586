"""The demo's appointments: working hours, a week of bookings for the agenda, and one patient-
support referral whose whole scheduling story is on its timeline — booked by the lead through
the link, confirmed with an invite, reminded, rescheduled once, marked no-show, and left with
the reschedule offer sent and a manual check on the queue.

The story is a chain of steps on the demo's history (``demo.history``): each runs through the
same services the pages call at its own simulated moment, with the follow-up due before it run
at its due time, so the messages go out, and the audit events are stamped, when a running
system would have done it. It is played once, with the rest of the history.
"""

from __future__ import annotations

import datetime as dt
import random

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


def plan_story(history, referrer: Referrer) -> None:
    """Put the story's steps on the history: received a week before its end on a weekday
    morning; its lead prefers email, so every message of the story can go."""
    received = history.end - dt.timedelta(days=7)
    while received.weekday() >= 5:  # a weekday: the team is there to take it
        received -= dt.timedelta(days=1)
    received = received.replace(hour=14, minute=30, second=0, microsecond=0)  # 09:30 New York
    history.at(received, _story_receive, referrer)


def story_reference() -> str | None:
    """The story's reference, once its appointment exists."""
    referral = Referral.objects.filter(client_ref=STORY_CLIENT_REF).first()
    if referral is None or not referral.appointments.exists():
        return None
    return referral.reference


def _story_receive(history, referrer: Referrer) -> None:
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
        received_at=history.now,
    )
    history.at(history.now + dt.timedelta(hours=1), _story_intro, result.referral.pk)


def working_hours(*, today: dt.date) -> None:
    """The members' own hours, and a training day a week after ``today``."""
    for username, (zone, rows) in HOURS.items():
        user = User.objects.filter(username=username).first()
        if user is not None and not user.working_hours.exists():
            working_hours_set(owner_user=user, rows=rows, timezone=zone, actor=ACTOR)
    specialist = User.objects.filter(username="specialist").first()
    if specialist is not None and not specialist.time_off.exists():
        # A training day a week from now: the agenda and the slots show the gap.
        day = today + dt.timedelta(days=7)
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


def _story_intro(history, pk: int) -> None:
    """The agent claims it and sends the introduction with the booking link."""
    referral = Referral.objects.select_related("assigned_to").get(pk=pk)
    if referral.stage not in (Stage.QUEUED, Stage.IN_PROGRESS) or referral.assigned_to is None:
        return
    if referral.stage == Stage.QUEUED:
        referral = referral_claim(referral=referral, user=referral.assigned_to)
    message_send(
        referral=referral,
        template_key="support-callback-intro",
        channel="email",
        user=referral.assigned_to,
    )
    history.at(history.end - dt.timedelta(days=6), _story_book, pk)


def _story_book(history, pk: int) -> None:
    """The lead books through the link (6 days before the end)..."""
    referral = Referral.objects.get(pk=pk)
    first = _first_slot(referral, now=history.now, after=history.now + dt.timedelta(days=2))
    if first is None:
        return
    appointment = appointment_book(
        referral=referral, type_key="support-call", starts_at=first.starts_at, actor=LEAD
    )
    history.at(history.now + dt.timedelta(hours=1), _story_move, appointment.pk)


def _story_move(history, appointment_pk: int) -> None:
    """... moves it a day or more later an hour after, through the link ..."""
    appointment = Appointment.objects.select_related("referral", "member").get(pk=appointment_pk)
    second = _first_slot(
        appointment.referral,
        now=history.now,
        after=appointment.starts_at + dt.timedelta(days=1),
        before=history.end - dt.timedelta(hours=3),
        moving=appointment,
    )
    if second is None:
        return
    appointment = appointment_reschedule(
        appointment=appointment, starts_at=second.starts_at, actor=LEAD, reason="lead_request"
    )
    history.at(second.starts_at + dt.timedelta(minutes=20), _story_missed, appointment.pk)


def _story_missed(history, appointment_pk: int) -> None:
    """... and misses the call: no-show, the reschedule offer and the manual check follow."""
    appointment = Appointment.objects.select_related("referral", "member").get(pk=appointment_pk)
    appointment_record_attendance(
        appointment=appointment, outcome="no_show", actor=appointment.member
    )


def upcoming(rng: random.Random, count: int = 8) -> None:
    """Staff book the next days' calls for open referrals of scheduling programs, so the
    agenda and the team's slots have something in them (at the end of the history)."""
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
