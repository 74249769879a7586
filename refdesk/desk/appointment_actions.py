"""The referral page's appointment actions: book (the next free slots, or a time chosen on
the phone), reschedule, cancel and record attendance. Parse -> one workflow service call."""

from __future__ import annotations

from django.http import Http404

from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import User
from refdesk.desk import forms
from refdesk.scheduling.choices import CANCEL_REASONS, RESCHEDULE_REASONS
from refdesk.scheduling.selectors import booked_appointment
from refdesk.workflow.attendance import OUTCOMES, appointment_record_attendance
from refdesk.workflow.booking import appointment_book, appointment_cancel, appointment_reschedule


def _member(request) -> User | None:
    """The team member chosen for the appointment (public id), or None: whoever is free."""
    value = (request.POST.get("member") or "").strip()
    if not value:
        return None
    user = User.objects.filter(public_id=value if len(value) == 36 else None).first()
    if user is None:
        raise forms.ValidationFailed(
            [{"field": "member", "code": "invalid", "message": "Choose a team member."}]
        )
    return user


def _booked(referral):
    appointment = booked_appointment(referral)
    if appointment is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return appointment


def schedule(request, referral):
    appointment_book(
        referral=referral,
        type_key=(request.POST.get("type") or "").strip(),
        starts_at=forms.slot_start(request.POST),
        member=_member(request),
        actor=request.user,
    )


def reschedule(request, referral):
    appointment_reschedule(
        appointment=_booked(referral),
        starts_at=forms.slot_start(request.POST),
        reason=forms.choice(request.POST, "reason", RESCHEDULE_REASONS, "Choose why it is moved."),
        member=_member(request),
        actor=request.user,
    )


def cancel_appointment(request, referral):
    appointment_cancel(
        appointment=_booked(referral),
        reason=forms.choice(request.POST, "reason", CANCEL_REASONS, "Choose why it is cancelled."),
        actor=request.user,
    )


def record_attendance(request, referral):
    appointment_record_attendance(
        appointment=_booked(referral),
        outcome=forms.choice(request.POST, "outcome", OUTCOMES, "Choose attended or no-show."),
        actor=request.user,
    )
