"""Attendance: staff record whether an appointment took place, and a no-show runs the
program's policy (``scheduling.no_show``):

1. the appointment is ``attended`` or ``no_show`` (only once it has started), the referral
   goes back to ``in_progress`` (the work goes on: qualify, or book again);
2. a no-show, when the program offers it, schedules the reschedule offer to the lead (an
   approved template with the booking link, consent-checked like every message);
3. a no-show opens a manual check on the referral's queue when the program asks for one —
   for every referral, or for those matching ``manual_check_when`` — and always for a
   high-value lead (``followup.high_value``) if the program checks no-shows at all: a person
   follows up where others get automation only.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, actor_label
from refdesk.core.errors import ApplicationError, Conflict, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.outreach.choices import MessagePurpose
from refdesk.programs.conditions import evaluate
from refdesk.programs.engine.facts import fact_mapping
from refdesk.programs.schema import ProgramDefinition
from refdesk.routing.facts import referral_facts
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.workflow.appointment_messages import appointment_message
from refdesk.workflow.booking import _described, _lock, _locked_appointment, scheduling_for
from refdesk.workflow.checks import manual_check_open
from refdesk.workflow.followup import is_high_value
from refdesk.workflow.models import ManualCheck
from refdesk.workflow.transitions import referral_transition

OUTCOMES = (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)


def _needs_check(referral, definition: ProgramDefinition) -> bool:
    policy = definition.scheduling.no_show
    if not policy.manual_check:
        return False
    if policy.manual_check_when is None or is_high_value(referral, definition):
        return True
    mapping = fact_mapping(
        definition,
        referral_facts(referral, definition=definition),
        prescreen_outcome=referral.prescreen_outcome or None,
    )
    return evaluate(
        policy.manual_check_when,
        mapping,
        term_lists={"adverse_event_terms": definition.adverse_event_terms},
    )


def appointment_record_attendance(
    *, appointment: Appointment, outcome: str, actor: Actor, now: datetime | None = None
) -> Appointment:
    """Record ``attended`` or ``no_show`` (module doc); a booked appointment only, once it
    has started. Audited with the referral's move back to ``in_progress``."""
    now = now or timezone.now()
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            [{"field": "outcome", "code": "invalid", "message": "Choose attended or no-show."}]
        )
    with transaction.atomic():
        referral = _lock(appointment.referral)
        appointment = _locked_appointment(appointment)
        definition, rules, _team = scheduling_for(referral)
        if appointment.status != AppointmentStatus.BOOKED:
            raise Conflict(
                "Attendance for this appointment is already recorded.", code="not_booked"
            )
        if appointment.starts_at > now:
            raise ApplicationError(
                "Attendance can be recorded once the appointment has started.",
                code="not_started",
            )
        appointment.status = outcome
        appointment.ended_at = now
        appointment.ended_by = actor_label(actor)
        appointment.save(update_fields=["status", "ended_at", "ended_by", "updated_at"])
        referral_transition(
            referral,
            action="record_attendance",
            actor=actor,
            to=Stage.IN_PROGRESS,
            changes={
                **_described(appointment),
                "appointment_status": (AppointmentStatus.BOOKED, outcome),
            },
            now=now,
        )
        if outcome == AppointmentStatus.NO_SHOW:
            _no_show_policy(appointment, referral, definition, actor, now)
    return appointment


def _no_show_policy(appointment, referral, definition, actor, now) -> None:
    policy = definition.scheduling.no_show
    if policy.offer_reschedule:
        appointment_message(
            appointment=appointment,
            purpose=MessagePurpose.RESCHEDULE_OFFER,
            template_key=policy.reschedule_template,
            actor=actor,
            due_at=now,
        )
    if _needs_check(referral, definition):
        high_value = is_high_value(referral, definition)
        manual_check_open(
            referral=referral,
            reason=ManualCheck.Reason.NO_SHOW,
            subject=("High-value lead: " if high_value else "") + "missed appointment",
            actor=actor,
            now=now,
            changes={"appointment": (None, str(appointment.public_id))},
            why="the program asks a person to follow up a missed appointment",
        )
