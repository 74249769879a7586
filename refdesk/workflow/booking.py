"""Booking, rescheduling and cancelling appointments: the only writers of ``Appointment``.

``appointment_book`` (staff in the console, or the lead through the signed link):

1. the program schedules, the appointment type is offered for the request type, and the time
   is in the future (for a lead: at least the program's notice ahead) and within the booking
   window;
2. in one transaction (on SQLite the serialised writer: ``BEGIN IMMEDIATE``) the referral row
   is locked, the workflow table allows ``schedule`` from its stage, and it has no booked
   appointment;
3. the members who could take it (the one chosen; else the assignee; else the team's
   bookable members, least loaded first) are checked against their availability and booked
   time at that moment, and the appointment is inserted for the first that is free, inside a
   savepoint: on PostgreSQL the exclusion constraint refuses an overlap that a concurrent
   booking committed meanwhile, and the next member is tried;
4. nobody free: ``SlotTaken`` ("that time was just taken", 409) when the time was available
   but is booked now, ``SlotUnavailable`` (422) when it is outside availability — both leave
   nothing written, and the pages answer with fresh slots;
5. the referral moves to ``scheduled`` through ``referral_transition`` (assigned to the
   member when it had nobody), the retry cadence stops (the lead is engaged), and the
   confirmation (with the calendar invite) and the reminders are scheduled — all in the same
   transaction, audited.

``appointment_reschedule`` moves the same row (same calendar UID, ``sequence`` + 1) under the
same checks; ``appointment_cancel`` ends it. A lead may not change it within the program's
``change_cutoff_hours`` of the start, nor move it more than ``max_reschedules`` times; staff
may, with a reason. Attendance is ``workflow.attendance``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from refdesk.accounts.models import Team, User
from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import ApplicationError, Conflict, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.outreach.choices import MessagePurpose
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_outreach import AppointmentType, Scheduling
from refdesk.programs.selectors import version_definition
from refdesk.scheduling import selectors
from refdesk.scheduling.availability import Slot
from refdesk.scheduling.choices import (
    CANCEL_REASONS,
    LEAD_CANCEL_REASONS,
    RESCHEDULE_REASONS,
    AppointmentStatus,
    BookedVia,
)
from refdesk.scheduling.models import Appointment
from refdesk.workflow.appointment_messages import (
    appointment_message,
    appointment_messages_withdraw,
    reminders_schedule,
)
from refdesk.workflow.notifications import notify_assigned
from refdesk.workflow.pending import attempts_stop
from refdesk.workflow.sla import first_response
from refdesk.workflow.transitions import action_guard, referral_transition

LEAD = "lead:booking-link"  # the actor when the lead acts through the link


class SlotTaken(Conflict):
    """The time was free when offered, and another booking took it first."""

    code = "slot_taken"

    def __init__(self):
        super().__init__("That time was just taken. Please choose another time.")


class SlotUnavailable(ApplicationError):
    """The time is not one that can be booked (outside working hours, past, too soon)."""

    code = "slot_unavailable"
    status = 422


def _is_lead(actor: Actor) -> bool:
    return actor_label(actor) == LEAD


def scheduling_for(referral: Referral) -> tuple[ProgramDefinition, Scheduling, Team]:
    """The referral's program rules for scheduling and the team that holds its appointments;
    ``ApplicationError`` when its program does not schedule or it has no team yet."""
    definition = version_definition(referral.program_version)
    rules = selectors.scheduling_rules(definition)
    if rules is None:
        raise ApplicationError(
            "appointments are not booked for this program", code="scheduling_disabled"
        )
    if referral.queue_id is None or referral.queue.team_id is None:
        raise ApplicationError(
            "the referral has no team yet to hold an appointment", code="no_team"
        )
    return definition, rules, referral.queue.team


def _type(definition: ProgramDefinition, referral: Referral, type_key: str) -> AppointmentType:
    offered = selectors.appointment_types_for(definition, referral.request_type)
    if type_key not in offered:
        raise ValidationFailed(
            [{"field": "type", "code": "invalid", "message": "Choose an appointment type."}]
        )
    return offered[type_key]


def booking_window(rules: Scheduling, *, now: datetime, lead: bool) -> tuple[datetime, datetime]:
    """The earliest and latest start that may be booked now (a lead needs the notice)."""
    earliest = now + timedelta(hours=rules.min_notice_hours if lead else 0)
    return earliest, now + timedelta(days=rules.booking_window_days)


def _check_start(starts_at: datetime, rules: Scheduling, *, now: datetime, lead: bool) -> None:
    if starts_at is None or timezone.is_naive(starts_at):
        raise ValidationFailed(
            [{"field": "starts_at", "code": "invalid", "message": "Choose a time from the list."}]
        )
    earliest, latest = booking_window(rules, now=now, lead=lead)
    if starts_at <= now:
        raise SlotUnavailable("That time has passed. Please choose another time.")
    if starts_at < earliest:
        raise SlotUnavailable(
            f"Times less than {rules.min_notice_hours} hours away cannot be booked here. "
            "Please choose a later time."
        )
    if starts_at > latest:
        raise SlotUnavailable(
            f"Times more than {rules.booking_window_days} days ahead cannot be booked yet."
        )


def _candidates(referral: Referral, team: Team, member: User | None) -> list[User]:
    members = selectors.bookable_members(team)
    if member is not None:
        if member.pk not in {m.pk for m in members}:
            raise ValidationFailed(
                [
                    {
                        "field": "member",
                        "code": "invalid",
                        "message": "Choose a member of the team who is available.",
                    }
                ]
            )
        return [member]
    assignee = next((m for m in members if m.pk == referral.assigned_to_id), None)
    return [assignee] if assignee else members


def _free_at(
    *,
    definition: ProgramDefinition,
    team: Team,
    type_key: str,
    starts_at: datetime,
    length: timedelta,
    members: list[User],
    exclude: Appointment | None = None,
) -> list[Slot]:
    """The members free at exactly ``starts_at`` (availability and booked time, now), or
    why nobody is: ``SlotTaken`` when the time is in someone's hours but booked, else
    ``SlotUnavailable`` (outside availability)."""
    at = {
        "definition": definition,
        "team": team,
        "type_key": type_key,
        "start": starts_at,
        "end": starts_at + length,
        "members": members,
    }
    free = [s for s in selectors.free_slots(**at, exclude=exclude) if s.starts_at == starts_at]
    if free:
        return free
    if any(s.starts_at == starts_at for s in selectors.free_slots(**at, ignore_bookings=True)):
        raise SlotTaken()
    raise SlotUnavailable(
        "That time is outside the team's available hours. Please choose a time from the list."
    )


# The advisory-lock space of "booking a member's time" (pg_advisory_xact_lock(space, member)).
BOOKING_LOCKS = 0x5C4ED


def hold_member_locks(member_ids: list[int]) -> None:
    """On PostgreSQL, hold each member's booking lock until the transaction ends (taken in id
    order, so two bookings never wait for each other in a circle). Two bookings of one member
    then check and insert one after the other: without it, concurrent inserts of overlapping
    ranges can deadlock inside the exclusion constraint (each new row waits for the other's
    transaction; bench/booking.py found it with four processes), where one of them should
    simply have been told the time was taken. The constraint stays the guarantee; the lock
    makes the loser's answer "that time was just taken". SQLite needs none: its writer is
    serialised already."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for member_id in sorted(set(member_ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BOOKING_LOCKS, member_id])


def _lock(referral: Referral) -> Referral:
    return (
        Referral.objects.select_for_update(of=("self",))
        .select_related("queue__team", "program_version", "assigned_to", "referrer")
        .get(pk=referral.pk)
    )


def appointment_book(
    *,
    referral: Referral,
    type_key: str,
    starts_at: datetime,
    actor: Actor,
    member: User | None = None,
    lead_timezone: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Book an appointment for the referral's lead (module doc). ``actor`` is a staff user or
    ``LEAD`` (the signed link); ``lead_timezone``: the zone the lead chose on the page."""
    now = now or timezone.now()
    lead = _is_lead(actor)
    with transaction.atomic():
        referral = _lock(referral)
        definition, rules, team = scheduling_for(referral)
        kind = _type(definition, referral, type_key)
        _check_start(starts_at, rules, now=now, lead=lead)
        action_guard(referral, "schedule", to=Stage.SCHEDULED)
        if selectors.booked_appointment(referral) is not None:
            raise Conflict(
                "This referral already has an appointment booked; change that one instead.",
                code="already_booked",
            )
        length = timedelta(minutes=kind.duration_minutes)
        members = _candidates(referral, team, member)
        hold_member_locks([m.pk for m in members])
        appointment = None
        for slot in _free_at(
            definition=definition,
            team=team,
            type_key=type_key,
            starts_at=starts_at,
            length=length,
            members=members,
        ):
            appointment = _insert(
                referral=referral,
                team=team,
                member_id=slot.member_id,
                type_key=type_key,
                kind=kind,
                starts_at=starts_at,
                length=length,
                buffer=timedelta(minutes=rules.buffer_minutes),
                lead_timezone=lead_timezone,
                actor=actor,
                lead=lead,
            )
            if appointment is not None:
                break
        if appointment is None:
            raise SlotTaken()  # free when checked, refused by the database: taken meanwhile
        values = {}
        if referral.assigned_to_id is None:
            values["assigned_to"] = appointment.member
        if not lead:
            # A person arranged it with the lead: that is the first response the SLA promises.
            values.update(first_response(referral, now))
        referral_transition(
            referral,
            action="schedule",
            actor=actor,
            to=Stage.SCHEDULED,
            values=values,
            changes=_described(appointment),
            now=now,
        )
        if "assigned_to" in values:
            notify_assigned(referral=referral, assignee=appointment.member, actor=actor, at=now)
        attempts_stop(referral_id=referral.pk, reason="appointment_booked", now=now)
        appointment_message(
            appointment=appointment,
            purpose=MessagePurpose.CONFIRMATION,
            template_key=rules.confirmation_template,
            actor=actor,
            due_at=now,
        )
        reminders_schedule(appointment=appointment, definition=definition, actor=actor, now=now)
    return appointment


def _insert(
    *,
    referral,
    team,
    member_id,
    type_key,
    kind,
    starts_at,
    length,
    buffer,
    lead_timezone,
    actor,
    lead,
) -> Appointment | None:
    """Insert in a savepoint; None when the database refuses an overlap (a concurrent booking
    of the member committed first: PostgreSQL's exclusion constraint)."""
    try:
        with transaction.atomic():
            return Appointment.objects.create(
                referral=referral,
                team=team,
                member_id=member_id,
                type_key=type_key,
                label=kind.label,
                mode=kind.mode,
                location=kind.location or "",
                prepare=kind.prepare or "",
                starts_at=starts_at,
                ends_at=starts_at + length,
                blocked_until=starts_at + length + buffer,
                lead_timezone=lead_timezone or referral.lead_timezone,
                booked_via=BookedVia.LEAD_LINK if lead else BookedVia.STAFF,
                booked_by=actor_label(actor),
            )
    except IntegrityError as error:
        if "one_booked_per_referral" in str(error):
            raise Conflict(
                "This referral already has an appointment booked; change that one instead.",
                code="already_booked",
            ) from None
        return None


def _described(appointment: Appointment, old: Appointment | None = None) -> dict:
    """The audit changes naming the appointment (never the lead)."""
    changes = {
        "appointment": (None, str(appointment.public_id)),
        "appointment_type": (None, appointment.type_key),
        "starts_at": (None, appointment.starts_at.isoformat()),
        "member": (None, appointment.member.username),
    }
    if old is not None:
        changes["starts_at"] = (old.starts_at.isoformat(), appointment.starts_at.isoformat())
        changes["member"] = (old.member.username, appointment.member.username)
        changes["sequence"] = (old.sequence, appointment.sequence)
    return changes


def _locked_appointment(appointment: Appointment) -> Appointment:
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("member", "team", "referral")
        .get(pk=appointment.pk)
    )


def _lead_may_change(appointment: Appointment, rules: Scheduling, now: datetime) -> None:
    cutoff = appointment.starts_at - timedelta(hours=rules.change_cutoff_hours)
    if now >= cutoff:
        raise ApplicationError(
            f"The appointment starts in less than {rules.change_cutoff_hours} hour(s), so it "
            "can no longer be changed here. Please call the team instead.",
            code="too_late_to_change",
        )


def _reason(reason: str, allowed, *, field: str = "reason") -> str:
    if reason not in allowed:
        raise ValidationFailed(
            [{"field": field, "code": "invalid", "message": "Choose a reason from the list."}]
        )
    return reason


def appointment_reschedule(
    *,
    appointment: Appointment,
    starts_at: datetime,
    actor: Actor,
    reason: str,
    member: User | None = None,
    lead_timezone: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Move a booked appointment to ``starts_at`` (same row, same UID, ``sequence`` + 1): the
    same checks as booking, the program's limits for a lead, the old reminders withdrawn, the
    updated invite and new reminders scheduled. ``reason``: a ``RESCHEDULE_REASONS`` code."""
    now = now or timezone.now()
    lead = _is_lead(actor)
    reason = _reason("lead_request" if lead else reason, RESCHEDULE_REASONS)
    with transaction.atomic():
        referral = _lock(appointment.referral)
        appointment = _locked_appointment(appointment)
        definition, rules, team = scheduling_for(referral)
        if appointment.status != AppointmentStatus.BOOKED:
            raise Conflict("This appointment is no longer booked.", code="not_booked")
        action_guard(referral, "reschedule")
        if lead:
            _lead_may_change(appointment, rules, now)
            if appointment.reschedules >= rules.max_reschedules:
                raise ApplicationError(
                    "This appointment has been moved as often as it can be online. Please "
                    "call the team to change it.",
                    code="too_many_reschedules",
                )
        _check_start(starts_at, rules, now=now, lead=lead)
        length = appointment.ends_at - appointment.starts_at
        members = [member] if member is not None else [appointment.member]
        if member is not None:
            _candidates(referral, team, member)  # a member of the team, available
        hold_member_locks([members[0].pk, appointment.member_id])
        _free_at(  # refuses when the member is not free then
            definition=definition,
            team=team,
            type_key=appointment.type_key,
            starts_at=starts_at,
            length=length,
            members=members,
            exclude=appointment,
        )
        old = Appointment(
            starts_at=appointment.starts_at,
            member=appointment.member,
            sequence=appointment.sequence,
        )
        buffer = appointment.blocked_until - appointment.ends_at
        appointment.member = members[0]
        appointment.starts_at = starts_at
        appointment.ends_at = starts_at + length
        appointment.blocked_until = starts_at + length + buffer
        appointment.sequence += 1
        appointment.reschedules += 1
        appointment.reason = reason
        if lead_timezone:
            appointment.lead_timezone = lead_timezone
        try:
            with transaction.atomic():
                appointment.save(
                    update_fields=[
                        "member",
                        "starts_at",
                        "ends_at",
                        "blocked_until",
                        "sequence",
                        "reschedules",
                        "reason",
                        "lead_timezone",
                        "updated_at",
                    ]
                )
        except IntegrityError:
            raise SlotTaken() from None
        audit_record(
            actor=actor,
            action="appointment.rescheduled",
            subject=referral,
            changes=_described(appointment, old),
            reason=reason,
        )
        appointment_messages_withdraw(appointment=appointment, now=now)
        appointment_message(
            appointment=appointment,
            purpose=MessagePurpose.APPOINTMENT_CHANGE,
            template_key=rules.change_template or rules.confirmation_template,
            actor=actor,
            due_at=now,
        )
        reminders_schedule(appointment=appointment, definition=definition, actor=actor, now=now)
    return appointment


def appointment_cancel(
    *, appointment: Appointment, actor: Actor, reason: str, now: datetime | None = None
) -> Appointment:
    """Cancel a booked appointment (``CANCEL_REASONS``; a lead picks from
    ``LEAD_CANCEL_REASONS`` and not within the cutoff): the member's time is free again, the
    referral goes back to ``in_progress``, unsent reminders are withdrawn and the cancelled
    invite is scheduled."""
    now = now or timezone.now()
    lead = _is_lead(actor)
    reason = _reason(reason, LEAD_CANCEL_REASONS if lead else CANCEL_REASONS)
    with transaction.atomic():
        referral = _lock(appointment.referral)
        appointment = _locked_appointment(appointment)
        definition, rules, _team = scheduling_for(referral)
        if appointment.status != AppointmentStatus.BOOKED:
            raise Conflict("This appointment is no longer booked.", code="not_booked")
        if lead:
            _lead_may_change(appointment, rules, now)
        appointment.status = AppointmentStatus.CANCELLED
        appointment.sequence += 1
        appointment.reason = reason
        appointment.ended_at = now
        appointment.ended_by = actor_label(actor)
        appointment.save(
            update_fields=["status", "sequence", "reason", "ended_at", "ended_by", "updated_at"]
        )
        referral_transition(
            referral,
            action="cancel_appointment",
            actor=actor,
            to=Stage.IN_PROGRESS,
            changes={
                **_described(appointment),
                "appointment_status": (AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED),
            },
            reason=CANCEL_REASONS[reason],
            now=now,
        )
        appointment_messages_withdraw(appointment=appointment, now=now)
        appointment_message(
            appointment=appointment,
            purpose=MessagePurpose.CANCELLATION,
            template_key=rules.cancellation_template,
            actor=actor,
            due_at=now,
        )
    return appointment


def next_free_slots(
    *,
    referral: Referral,
    type_key: str,
    lead: bool,
    moving: Appointment | None = None,
    now: datetime | None = None,
    limit: int = 0,
) -> list[Slot]:
    """Free slots for the referral now, earliest first, within the booking window: for a lead
    one per start time (the assignee's, or the team's), for staff every member's; ``moving``:
    the appointment being rescheduled (its member's slots, its own time counted free)."""
    now = now or timezone.now()
    definition, rules, team = scheduling_for(referral)
    if type_key not in selectors.appointment_types_for(definition, referral.request_type):
        return []
    earliest, latest = booking_window(rules, now=now, lead=lead)
    if moving is not None:
        members = [moving.member]
    elif lead:
        members = _candidates(referral, team, None)
    else:
        members = selectors.bookable_members(team)
    slots = selectors.free_slots(
        definition=definition,
        team=team,
        type_key=type_key,
        start=max(earliest, now + timedelta(minutes=1)),
        end=latest,
        members=members,
        exclude=moving,
    )
    if lead:
        slots = selectors.first_per_start(slots)
    return slots[:limit] if limit else slots
