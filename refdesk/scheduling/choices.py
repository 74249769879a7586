"""Lifecycles and reason codes of appointments (one vocabulary: pages, API, reports)."""

from django.db import models


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", "Booked"  # holds its member's time; the only status that does
    ATTENDED = "attended", "Attended"  # staff recorded that it took place
    NO_SHOW = "no_show", "No-show"  # staff recorded that the lead did not come
    CANCELLED = "cancelled", "Cancelled"  # by the lead (link) or staff, with a reason


class BookedVia(models.TextChoices):
    STAFF = "staff", "Staff"  # booked from the console (e.g. on the phone with the lead)
    LEAD_LINK = "lead_link", "Lead's booking link"  # the lead chose a slot through the link


# Why an appointment moved or ended: fixed codes (nothing a lead types reaches the trail).
RESCHEDULE_REASONS = {
    "lead_request": "The lead asked for another time",
    "staff_unavailable": "The staff member is not available",
    "no_show_rebooked": "Booked again after a missed appointment",
    "other": "Other",
}
CANCEL_REASONS = {
    "lead_request": "The lead cancelled",
    "no_longer_needed": "No longer needed",
    "staff_unavailable": "The staff member is not available",
    "booked_in_error": "Booked in error",
    "referral_closed": "The referral was closed",
}
# What the lead may pick on the link (staff reasons stay with staff).
LEAD_CANCEL_REASONS = ("lead_request", "no_longer_needed")
ATTENDANCE = {
    AppointmentStatus.ATTENDED: "Attended",
    AppointmentStatus.NO_SHOW: "No-show",
}
