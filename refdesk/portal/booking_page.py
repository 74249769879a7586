"""What the lead's booking page shows (``views_booking``), read fresh for every response: the
closed notice, the appointment with its controls, the free slots, or "not yet". Parsing the
page address (``view_from``) and rendering (``render_page``) live here; the views read the
token, call one service and respond.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.shortcuts import render
from django.urls import reverse

from refdesk.core.errors import ApplicationError
from refdesk.core.timezones import timezone_choices
from refdesk.intake.choices import Stage
from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.models import Message
from refdesk.portal import booking_times
from refdesk.portal.views_recipient import private
from refdesk.scheduling.choices import LEAD_CANCEL_REASONS, AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.scheduling.selectors import (
    appointment_types_for,
    appointments_of,
    booked_appointment,
    scheduling_rules,
)
from refdesk.workflow.appointment_messages import appointment_zone
from refdesk.workflow.booking import next_free_slots
from refdesk.workflow.messages import lead_zone

# Days with free slots shown at once (each may hold ~30 times); "later dates" shows the next.
DAYS_SHOWN = 5
# Stages in which the lead may book (the workflow's "schedule" action starts from these).
BOOKABLE = (Stage.QUEUED, Stage.IN_PROGRESS)
# The cancel reasons as the lead reads them (the codes are LEAD_CANCEL_REASONS).
CANCEL_CHOICES = {
    "lead_request": "I cannot make this time, or I want to cancel",
    "no_longer_needed": "I no longer need it",
}
MODE_WORDS = {
    "phone": "By phone: the team will call you on the number you gave us.",
    "video": "By video: the team will send you the link to join before the meeting.",
    "in_person": "In person.",
}
# What a POST did, named in its redirect (``?done=``) so the page can confirm it.
DONE = {"booked", "moved", "cancelled"}


class BadAddress(Exception):
    """A page address (query or form field) naming something that does not exist."""


@dataclass(frozen=True)
class View:
    """What the request asks to see (validated)."""

    zone: ZoneInfo
    type_key: str  # "" until chosen
    start: date | None
    change: bool
    done: str


def view_from(params, *, referral, definition, appointment, posted: bool) -> View:
    """Parse ``tz``, ``type``, ``from``, ``change`` and ``done``; ``BadAddress`` for a zone, a
    date or (in a link) a type that is not one. A POST's type is the service's to refuse."""
    name = params.get("tz", "")
    if name:
        zone = booking_times.zone_named(name)
        if zone is None:
            raise BadAddress(
                "The time zone in the page address is not one we know. Choose your time zone "
                "from the list instead."
            )
    elif appointment is not None:
        zone = appointment_zone(appointment, definition)
    else:
        zone = lead_zone(referral, definition)
    start = None
    if params.get("from"):
        try:
            start = date.fromisoformat(params["from"])
        except ValueError:
            raise BadAddress(
                "The date in the page address is not a date. Go back to the first dates."
            ) from None
    offered = appointment_types_for(definition, referral.request_type)
    type_key = params.get("type", "")
    if len(offered) == 1:
        type_key = next(iter(offered))
    if type_key and type_key not in offered and not posted:
        raise BadAddress("That kind of appointment is not offered. Choose one from the list.")
    return View(
        zone=zone,
        type_key=type_key,
        start=start,
        change=params.get("change") == "1",
        done=params.get("done") if params.get("done") in DONE else "",
    )


def page_url(token: str, view: View, **extra) -> str:
    query = {"tz": view.zone.key}
    if view.type_key:
        query["type"] = view.type_key
    query.update({key: value for key, value in extra.items() if value})
    return f"{reverse('recipient:book', args=[token])}?{urlencode(query)}"


def render_page(
    request, referral, definition, view: View, context: dict, *, status=200, change=False
):
    """Render the page for the referral as it stands now (after a refusal: fresh slots);
    ``change``: show the times to move a booked appointment to (as ``?change=1`` does)."""
    referral.refresh_from_db(fields=["stage"])
    appointment = booked_appointment(referral)
    team = referral.queue.team if referral.queue_id and referral.queue.team_id else None
    team_zone = ZoneInfo(team.timezone) if team else view.zone
    context |= {
        "zone": view.zone,
        "zone_words": booking_times.zone_words(view.zone),
        # The same grouped list as the intake form's (core.timezones): common zones first.
        "zone_choices": timezone_choices(),
        "view": view,
    }
    if referral.stage == Stage.CLOSED:
        return private(render(request, "recipient/book_closed.html", context, status=status))
    if appointment is not None:
        context |= _appointment_context(appointment, definition, view, team_zone)
        if view.change or change:
            context |= _slots_context(
                referral,
                context["token"],
                view,
                team_zone,
                type_key=appointment.type_key,
                moving=appointment,
            )
            context["change"] = True
        context |= {
            "cancel_choices": [
                (code, CANCEL_CHOICES.get(code, code)) for code in LEAD_CANCEL_REASONS
            ],
            "change_url": page_url(context["token"], view, change="1"),
            "invite_url": reverse("recipient:book_invite", args=[context["token"]]),
        }
        return private(render(request, "recipient/book_appointment.html", context, status=status))
    if referral.stage not in BOOKABLE:
        return private(render(request, "recipient/book_not_yet.html", context, status=status))
    offered = appointment_types_for(definition, referral.request_type)
    context["types"] = [(key, kind.label) for key, kind in offered.items()]
    context["several_types"] = len(offered) > 1
    if view.done == "cancelled":
        context["cancelled"] = _last_cancelled(referral, view.zone)
    if view.type_key in offered:
        context["kind"] = offered[view.type_key]
        context |= _slots_context(
            referral, context["token"], view, team_zone, type_key=view.type_key
        )
    return private(render(request, "recipient/book_slots.html", context, status=status))


def _slots_context(
    referral, token: str, view: View, team_zone: ZoneInfo, *, type_key: str, moving=None
) -> dict:
    """Free slots from now (fresh on every render), ``DAYS_SHOWN`` days from ``view.start``,
    and the links to the later and the first dates."""
    try:
        slots = next_free_slots(referral=referral, type_key=type_key, lead=True, moving=moving)
    except ApplicationError:  # no team yet: nothing can be offered
        slots = []
    page = booking_times.slot_page(
        slots, zone=view.zone, team_zone=team_zone, start=view.start, days=DAYS_SHOWN
    )
    change = "1" if moving is not None else ""
    later = page.later_from.isoformat() if page.later_from else ""
    return {
        "slot_page": page,
        "first_slot": page.days[0].slots[0].id if page.days else "",
        "later_url": page_url(token, view, change=change, **{"from": later}) if later else "",
        "first_url": page_url(token, view, change=change) if page.earlier else "",
    }


def _appointment_context(appointment: Appointment, definition, view: View, team_zone: ZoneInfo):
    rules = scheduling_rules(definition)
    return {
        "appointment": appointment,
        "when": booking_times.full_time(appointment.starts_at, view.zone),
        "team_when": booking_times.team_clock(appointment.starts_at, team_zone, view.zone),
        "how": appointment.location or MODE_WORDS.get(appointment.mode, ""),
        "confirmation": _confirmation_channel(appointment),
        "cutoff_hours": rules.change_cutoff_hours if rules else 0,
    }


def _confirmation_channel(appointment: Appointment) -> str:
    """The channel of the confirmation (or change notice) about the appointment as it stands,
    or "" when none is going (no template, no usable channel, refused)."""
    message = (
        Message.objects.filter(
            appointment=appointment,
            appointment_sequence=appointment.sequence,
            purpose__in=(MessagePurpose.CONFIRMATION, MessagePurpose.APPOINTMENT_CHANGE),
        )
        .exclude(status=MessageStatus.REFUSED)
        .order_by("-created_at")
        .values_list("channel", flat=True)
        .first()
    )
    return message or ""


def _last_cancelled(referral, zone: ZoneInfo) -> str:
    """When the appointment just cancelled was (the newest appointment, if cancelled)."""
    latest = next(iter(appointments_of(referral)), None)
    if latest is None or latest.status != AppointmentStatus.CANCELLED:
        return ""
    return booking_times.full_time(latest.starts_at, zone)
