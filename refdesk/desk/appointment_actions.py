"""The referral page's appointment actions: book (the next free slots, or a time chosen on
the phone), reschedule, cancel and record attendance. Parse -> one workflow service call."""

from __future__ import annotations

import uuid

from django.http import Http404

from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import User
from refdesk.desk import forms
from refdesk.scheduling.choices import CANCEL_REASONS, RESCHEDULE_REASONS
from refdesk.scheduling.selectors import booked_appointment
from refdesk.workflow.attendance import OUTCOMES, appointment_record_attendance
from refdesk.workflow.booking import appointment_book, appointment_cancel, appointment_reschedule

# What staff may give as a cancellation's reason: never "the referral was closed" — closing the
# referral cancels its appointment itself (workflow.pending), and says so.
STAFF_CANCEL_REASONS = {
    code: words for code, words in CANCEL_REASONS.items() if code != "referral_closed"
}


def _member(request, referral) -> User | None:
    """The team member chosen for the appointment (public id), or None: whoever is free.
    Only a member of the referral's team is looked up: any other id, malformed or not, reads
    the same (nobody outside the team can be probed); whether the member is available now is
    the service's call."""
    value = (request.POST.get("member") or "").strip()
    if not value:
        return None
    try:
        key = uuid.UUID(value)
    except ValueError:
        key = None
    user = None
    if key is not None and referral.queue_id is not None:
        user = User.objects.filter(
            public_id=key, memberships__team_id=referral.queue.team_id
        ).first()
    if user is None:
        raise forms.ValidationFailed(
            [
                {
                    "field": "member",
                    "code": "invalid",
                    "message": "Choose a member of the team from the list, or leave it blank.",
                }
            ]
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
        member=_member(request, referral),
        actor=request.user,
    )


def reschedule(request, referral):
    appointment_reschedule(
        appointment=_booked(referral),
        starts_at=forms.slot_start(request.POST),
        reason=forms.choice(request.POST, "reason", RESCHEDULE_REASONS, "Choose why it is moved."),
        member=_member(request, referral),
        actor=request.user,
    )


def cancel_appointment(request, referral):
    appointment_cancel(
        appointment=_booked(referral),
        reason=forms.choice(
            request.POST, "reason", STAFF_CANCEL_REASONS, "Choose why it is cancelled."
        ),
        actor=request.user,
    )


def record_attendance(request, referral):
    appointment_record_attendance(
        appointment=_booked(referral),
        outcome=forms.choice(request.POST, "outcome", OUTCOMES, "Choose attended or no-show."),
        actor=request.user,
    )
