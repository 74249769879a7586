"""iCalendar (RFC 5545) for appointments: the invite attached to the lead's email, and the
staff's calendar feed.

The invite keeps one UID for the appointment's whole life: a reschedule sends it again with
``SEQUENCE`` + 1 (the calendar moves the event), a cancellation with ``METHOD:CANCEL`` and
``STATUS:CANCELLED`` (the calendar removes it). Times carry their zone (``TZID``) with the
matching ``VTIMEZONE`` block, so the event keeps its wall-clock time across daylight-saving
changes in any calendar program.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment

PRODID = "-//refdesk//scheduling//EN"


def _calendar(method: str | None) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    return calendar


def _event(
    appointment: Appointment, zone: ZoneInfo, *, summary: str, description: str, now: datetime
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", appointment.uid)
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", appointment.starts_at.astimezone(zone))
    event.add("dtend", appointment.ends_at.astimezone(zone))
    event.add("summary", summary)
    if description:
        event.add("description", description)
    if appointment.location:
        event.add("location", appointment.location)
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def _with_zones(calendar: icalendar.Calendar, around: Iterable[datetime]) -> str:
    moments = list(around) or [datetime.now(UTC)]
    calendar.add_missing_timezones(
        first_date=(min(moments) - timedelta(days=366)).date(),
        last_date=(max(moments) + timedelta(days=366)).date(),
    )
    return calendar.to_ical().decode()


def invite_ics(
    appointment: Appointment,
    *,
    zone: ZoneInfo,
    summary: str,
    description: str = "",
    organizer: tuple[str, str] | None = None,
    attendee: str = "",
    now: datetime | None = None,
) -> str:
    """The lead's invite: ``REQUEST`` while booked (a reschedule is the same UID with a
    higher SEQUENCE), ``CANCEL`` once cancelled. Times in the lead's ``zone``."""
    now = now or datetime.now(UTC)
    cancelled = appointment.status == AppointmentStatus.CANCELLED
    calendar = _calendar("CANCEL" if cancelled else "REQUEST")
    event = _event(appointment, zone, summary=summary, description=description, now=now)
    if organizer:
        name, email = organizer
        address = icalendar.vCalAddress(f"mailto:{email}")
        address.params["cn"] = icalendar.vText(name)
        event.add("organizer", address, encode=0)
    if attendee:
        address = icalendar.vCalAddress(f"mailto:{attendee}")
        address.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        address.params["partstat"] = icalendar.vText("ACCEPTED")
        event.add("attendee", address, encode=0)
    calendar.add_component(event)
    return _with_zones(calendar, [appointment.starts_at])


def feed_ics(appointments: Iterable[Appointment], *, zone: ZoneInfo, name: str) -> str:
    """A staff member's feed: reference and type only, never the lead's name or contact."""
    calendar = _calendar(None)
    calendar.add("x-wr-calname", name)
    now = datetime.now(UTC)
    moments = []
    for appointment in appointments:
        moments.append(appointment.starts_at)
        summary = f"{appointment.label} - {appointment.referral.reference}"
        calendar.add_component(_event(appointment, zone, summary=summary, description="", now=now))
    return _with_zones(calendar, moments)
