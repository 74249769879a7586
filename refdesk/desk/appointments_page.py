"""What the referral page shows about appointments and manual checks: every appointment in
words, the open checks, and the choices of the four appointment forms (the next free times in
the reader's and the lead's zone, the members, the reasons).

Read-only. Free times are the workflow's answer (``workflow.booking.next_free_slots``, staff's
view: every bookable member, no lead notice); the services check the chosen time again when
the form is posted. Built only for the forms the page offers.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.core.errors import ApplicationError
from refdesk.desk.appointment_actions import STAFF_CANCEL_REASONS
from refdesk.intake.models import Referral
from refdesk.scheduling.choices import (
    ATTENDANCE,
    CANCEL_REASONS,
    RESCHEDULE_REASONS,
    AppointmentStatus,
)
from refdesk.scheduling.models import Appointment
from refdesk.scheduling.selectors import (
    appointment_types_for,
    bookable_members,
    scheduling_rules,
)
from refdesk.workflow.booking import next_free_slots

# How many start times the booking and reschedule forms list: enough for a phone call ("the
# next free time is ...; or later that day ..."), few enough to read out.
SLOTS_SHOWN = 12
APPOINTMENT_ACTIONS = ("schedule", "reschedule", "cancel_appointment", "record_attendance")


def member_name(user: User) -> str:
    return user.get_full_name() or user.username


def lead_zone_of(referral: Referral, appointment: Appointment | None = None):
    """The lead's zone: the one the appointment was booked in, else the referral's; None when
    unknown. A time zone identifies nobody (``policy.NON_IDENTIFYING_LEAD_FIELDS``), so every
    role that sees the referral sees appointment times in it too."""
    name = (appointment.lead_timezone if appointment is not None else "") or (
        referral.lead_timezone
    )
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _differs(zone) -> bool:
    return zone is not None and str(zone) != timezone.get_current_timezone_name()


def last_reason_words(appointment: Appointment) -> str:
    """The last change's reason code in words (a cancellation's, else a move's)."""
    code = appointment.reason
    if not code:
        return ""
    if appointment.status == AppointmentStatus.CANCELLED:
        return CANCEL_REASONS.get(code, code.replace("_", " "))
    return RESCHEDULE_REASONS.get(code, code.replace("_", " "))


def appointment_rows(referral: Referral, appointments: list[Appointment]) -> list[dict]:
    """Each appointment of the referral (newest first, as read) in words."""
    rows = []
    for appointment in appointments:
        zone = lead_zone_of(referral, appointment)
        rows.append(
            {
                "label": appointment.label,
                "status": appointment.status,
                "status_label": appointment.get_status_display(),
                "starts_at": appointment.starts_at,
                "lead_zone": zone,
                "lead_zone_differs": _differs(zone),
                "member": member_name(appointment.member),
                "booked_via": appointment.get_booked_via_display(),
                "reschedules": appointment.reschedules,
                "reason": last_reason_words(appointment),
            }
        )
    return rows


def _slot_choices(
    referral: Referral,
    *,
    type_key: str,
    names: dict[int, str],
    moving: Appointment | None = None,
) -> list[dict]:
    """The next ``SLOTS_SHOWN`` start times with free members (staff's view: no lead notice),
    each with who is free then, least loaded first. Moving an appointment: its member's times,
    its own time left out."""
    try:
        slots = next_free_slots(referral=referral, type_key=type_key, lead=False, moving=moving)
    except ApplicationError:  # the program stopped scheduling, or the referral has no team
        return []
    grouped: dict[datetime, list[str]] = {}
    for slot in slots:  # ordered by time, then by load: one time's members are adjacent
        if moving is not None and slot.starts_at == moving.starts_at:
            continue
        if slot.starts_at not in grouped:
            if len(grouped) == SLOTS_SHOWN:
                break
            grouped[slot.starts_at] = []
        grouped[slot.starts_at].append(names.get(slot.member_id, "a team member"))
    return [
        {"value": starts_at.isoformat(), "starts_at": starts_at, "members": members}
        for starts_at, members in grouped.items()
    ]


def appointment_choices(
    request, referral: Referral, actions, definition, booked: Appointment | None, failed: str
) -> dict:
    """Choices of the appointment forms the page offers (none built for the others).

    The booking form lists the free times of one appointment type: the one just posted (a
    refused booking is shown again with fresh times of that type), else the one asked for in
    the page's address (``?type=``: links under the form, no JavaScript needed), else the
    first the request type may book."""
    if not any(name in actions for name in APPOINTMENT_ACTIONS):
        return {}
    rules = scheduling_rules(definition)
    zone = lead_zone_of(referral, booked)
    choices: dict = {
        "slot_lead_zone": zone,
        "slot_lead_zone_differs": _differs(zone),
        "cancel_reasons": list(STAFF_CANCEL_REASONS.items()),
        "reschedule_reasons": list(RESCHEDULE_REASONS.items()),
        "attendance_outcomes": [(str(code), words) for code, words in ATTENDANCE.items()],
        "change_cutoff_hours": rules.change_cutoff_hours if rules else 0,
        "no_show_offer": bool(
            rules and rules.no_show.offer_reschedule and rules.no_show.reschedule_template
        ),
        "no_show_check": bool(rules and rules.no_show.manual_check),
        "booking_window_days": rules.booking_window_days if rules else 0,
    }
    if "schedule" in actions and referral.queue_id is not None:
        types = appointment_types_for(definition, referral.request_type)
        source = request.POST if failed == "schedule" else request.GET
        wanted = (source.get("type") or "").strip()
        slot_type = wanted if wanted in types else next(iter(types), "")
        members = bookable_members(referral.queue.team)
        names = {member.pk: member_name(member) for member in members}
        choices |= {
            "appointment_types": [(key, kind.label) for key, kind in types.items()],
            "slot_type": slot_type,
            "slot_type_label": types[slot_type].label if slot_type else "",
            "members": [(str(member.public_id), names[member.pk]) for member in members],
            "book_slots": _slot_choices(referral, type_key=slot_type, names=names)
            if slot_type
            else [],
        }
    if booked is not None and "reschedule" in actions:
        choices["booked_member"] = member_name(booked.member)
        choices["move_slots"] = _slot_choices(
            referral,
            type_key=booked.type_key,
            names={booked.member_id: member_name(booked.member)},
            moving=booked,
        )
    return choices
