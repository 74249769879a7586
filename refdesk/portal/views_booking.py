"""The lead's booking page, ``/book/<token>`` ({links.reschedule}): the signed link in our
messages (``refdesk.outreach.booking_links``) on which the lead books, moves or cancels their
call or meeting themselves, through the workflow's booking services (``workflow.booking``).

What the page shows depends on the referral, read fresh on every request:

1. closed: says so; nothing can be booked;
2. its program does not schedule: the call-back request form (``workflow.callbacks``);
3. an appointment is booked: what, when (the lead's zone named, the team's time beside it),
   how it takes place, what to prepare, the invite to download, and the controls to choose
   another time (``?change=1``) or cancel with a reason;
4. queued or in progress: the appointment type (when several are offered), then the free
   slots grouped by the lead's day, ``booking_page.DAYS_SHOWN`` days at a time
   (``?from=YYYY-MM-DD``);
5. otherwise (still being checked): nothing to book yet, the team will write.

Times show in the lead's zone: ``?tz=`` (an IANA name; anything else is refused with a 400
before anything is read or written), else the zone the appointment was booked in, else the
referral's, else the program's. The zone chosen is the one the services store.

Every POST is CSRF-protected (the form carries the token; unlike unsubscribing, no mail client
posts here) and rate-limited per client address, and redirects after success (post/redirect/
get) so a reload does not book twice. A refusal re-renders the page with the service's reason
at the top and fresh slots: a time just taken (409), a time that cannot be booked (422), the
program's limits on changes. The page shows no patient data (not even the lead's name): a link
may be forwarded or opened on a shared screen. Responses are never cached.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from refdesk.core.errors import ApplicationError, Conflict, ValidationFailed
from refdesk.core.ratelimit import RateLimited, client_address, limit_from_settings, rate_limit_hit
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.outreach import booking_links
from refdesk.portal.booking_page import BadAddress, View, page_url, render_page, view_from
from refdesk.portal.views_recipient import link_not_found, private
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.scheduling.invites import invite_ics
from refdesk.scheduling.selectors import booked_appointment, scheduling_rules
from refdesk.workflow.appointment_messages import appointment_zone
from refdesk.workflow.booking import (
    LEAD,
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
)
from refdesk.workflow.callbacks import CALL_TIMES, callback_request

# POSTs per minute from one client address (the recipient pages' shared allowance).
POST_LIMIT = (20, 60)

# Refusals whose service wording is written for staff, in the lead's words.
LEAD_WORDS = {
    "already_booked": "You already have an appointment booked (shown below). You can choose "
    "another time or cancel it here.",
    "not_booked": "This appointment is no longer booked.",
    "invalid_transition": "Times cannot be booked or changed here at the moment. Please call "
    "the team that wrote to you.",
    "scheduling_disabled": "Times cannot be booked online for this service. Please call the "
    "team that wrote to you.",
    "no_team": "Times cannot be booked online yet. The team will write to you when they can.",
}


def _referral(token: str) -> Referral | None:
    public_id = booking_links.read_booking_token(token)
    if public_id is None:
        return None
    return (
        Referral.objects.select_related("program", "program_version", "queue__team")
        .filter(public_id=public_id)
        .first()
    )


def _starts_at(value: str) -> datetime:
    """The slot's ISO 8601 start, as posted by the page; 422 for anything else."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or timezone.is_naive(moment):
        raise ValidationFailed(
            [{"field": "start", "code": "invalid", "message": "Choose a time from the list."}]
        )
    return moment


def _lead_message(error: ApplicationError, *, action: str = "", referral=None) -> str:
    if isinstance(error, ValidationFailed) and error.errors:
        return error.errors[0]["message"]
    code = error.code
    # Booking from a second tab after the first booked: the stage refuses before the service
    # looks for the appointment; the lead needs to hear that they have one.
    if action == "book" and code == "invalid_transition" and booked_appointment(referral):
        code = "already_booked"
    return LEAD_WORDS.get(code, error.message)


def _status(error: ApplicationError) -> int:
    return error.status if 400 <= error.status < 500 and error.status != 404 else 400


@require_http_methods(["GET", "HEAD", "POST"])
def book(request, token: str):
    """``/book/<token>``: the lead's booking page (module doc)."""
    referral = _referral(token)
    if referral is None:
        return link_not_found(request)
    definition = version_definition(referral.program_version)
    context = {"program": definition.name, "token": token}
    posted = request.method == "POST"
    if referral.stage == Stage.CLOSED:
        return private(
            render(request, "recipient/book_closed.html", context, status=409 if posted else 200)
        )
    if scheduling_rules(definition) is None:
        return _callback(request, referral, context)
    appointment = booked_appointment(referral)
    try:
        view = view_from(
            request.POST if posted else request.GET,
            referral=referral,
            definition=definition,
            appointment=appointment,
            posted=posted,
        )
    except BadAddress as bad:
        context |= {"message": str(bad), "start_url": reverse("recipient:book", args=[token])}
        return private(render(request, "recipient/book_bad_address.html", context, status=400))
    if not posted:
        return render_page(request, referral, definition, view, context)
    try:
        rate_limit_hit(
            rule=limit_from_settings("recipient.address", POST_LIMIT),
            key=client_address(request),
        )
    except RateLimited as limited:
        context["busy"] = True
        response = render_page(request, referral, definition, view, context, status=429)
        response["Retry-After"] = str(max(1, int(limited.retry_after)))
        return response
    action = request.POST.get("action", "")
    try:
        done = _act(
            request.POST, action=action, referral=referral, appointment=appointment, view=view
        )
    except ApplicationError as error:
        context["error"] = _lead_message(error, action=action, referral=referral)
        context["error_field"] = "reason" if action == "cancel" else "start"
        return render_page(
            request,
            referral,
            definition,
            view,
            context,
            status=_status(error),
            change=action == "reschedule",
        )
    return private(redirect(page_url(token, view, done=done)))


def _act(post, *, action: str, referral, appointment, view: View) -> str:
    """The one service call a POST asks for; what was done (for the confirmation)."""
    if action == "book":
        appointment_book(
            referral=referral,
            type_key=post.get("type", ""),
            starts_at=_starts_at(post.get("start", "")),
            actor=LEAD,
            lead_timezone=view.zone.key,
        )
        return "booked"
    if action in ("reschedule", "cancel") and appointment is None:
        raise Conflict("This appointment is no longer booked.", code="not_booked")
    if action == "reschedule":
        appointment_reschedule(
            appointment=appointment,
            starts_at=_starts_at(post.get("start", "")),
            actor=LEAD,
            reason="lead_request",
            lead_timezone=view.zone.key,
        )
        return "moved"
    if action == "cancel":
        appointment_cancel(appointment=appointment, actor=LEAD, reason=post.get("reason", ""))
        return "cancelled"
    raise ValidationFailed(
        [{"field": "action", "code": "invalid", "message": "Choose what you would like to do."}]
    )


def _callback(request, referral, context):
    """A program that does not schedule: the lead asks for a call back instead."""
    context["times"] = list(CALL_TIMES.items())
    if request.method != "POST":
        return private(render(request, "recipient/book.html", context))
    try:
        rate_limit_hit(
            rule=limit_from_settings("recipient.address", POST_LIMIT),
            key=client_address(request),
        )
        callback_request(referral=referral, when=request.POST.get("when", ""))
    except RateLimited as limited:
        response = render(request, "recipient/book.html", {**context, "busy": True}, status=429)
        response["Retry-After"] = str(max(1, int(limited.retry_after)))
        return private(response)
    except ApplicationError as error:
        context["error"] = _lead_message(error)
        return private(render(request, "recipient/book.html", context, status=400))
    chosen = CALL_TIMES[request.POST["when"]].lower()
    return private(render(request, "recipient/booked.html", {**context, "chosen": chosen}))


@require_safe
def invite(request, token: str):
    """``/book/<token>/invite.ics``: the booked appointment's calendar invite (the same UID
    and sequence as the one emailed, so a calendar merges them), times in the lead's zone."""
    referral = _referral(token)
    appointment = booked_appointment(referral) if referral is not None else None
    if appointment is None:
        return link_not_found(request)
    definition: ProgramDefinition = version_definition(referral.program_version)
    description = "\n".join(
        part
        for part in (
            appointment.prepare and f"To prepare: {appointment.prepare}",
            f"To change or cancel: {booking_links.booking_url(referral)}",
        )
        if part
    )
    calendar = invite_ics(
        appointment,
        zone=appointment_zone(appointment, definition),
        summary=f"{appointment.label} ({definition.name})",
        description=description,
        organizer=(appointment.team.name, settings.DEFAULT_FROM_EMAIL),
    )
    response = HttpResponse(calendar, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="appointment.ics"'
    return private(response)
