"""Availability, appointments and calendar feeds.

An appointment holds its member's time from ``starts_at`` to ``blocked_until`` (the end plus
the program's buffer) while it is ``booked``. No two booked appointments of one member may
overlap: on PostgreSQL an exclusion constraint says so (migration 0002, ``btree_gist``); on
SQLite the booking service checks inside the one serialised writer transaction (``BEGIN
IMMEDIATE``), so no check can interleave with another booking's insert.
"""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from refdesk.accounts.models import validate_timezone
from refdesk.core.models import BaseModel
from refdesk.scheduling.choices import AppointmentStatus, BookedVia


class WorkingHours(models.Model):
    """One weekly interval in which a team member (or, as its default, a whole team) takes
    appointments, in that person's own time zone. Members with no rows of their own work the
    team's rows, and a team with none works its program's business hours. Edited in the
    console by the member, their team lead or an administrator."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="working_hours",
    )
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="working_hours",
    )
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday ... 6 = Sunday")
    starts = models.TimeField()
    ends = models.TimeField()
    timezone = models.CharField(max_length=64, validators=[validate_timezone])

    class Meta:
        ordering = ["weekday", "starts"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="hours_one_owner",
                violation_error_message="Working hours belong to a member or to a team.",
            ),
            models.CheckConstraint(
                condition=Q(ends__gt=F("starts")),
                name="hours_end_after_start",
                violation_error_message="Working hours must end after they start.",
            ),
            models.CheckConstraint(
                condition=Q(weekday__lte=6),
                name="hours_weekday",
                violation_error_message="The weekday is 0 (Monday) to 6 (Sunday).",
            ),
        ]

    def __str__(self):
        return f"{self.user or self.team} day {self.weekday} {self.starts}-{self.ends}"


class TimeOff(BaseModel):
    """A period in which a member (or a whole team: a holiday) takes no appointments.
    Created in the console; the program's holidays count for its teams without a row."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="time_off",
    )
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="time_off"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    label = models.CharField(max_length=100, help_text="e.g. Holiday, Training (no patient data)")
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="timeoff_one_owner",
                violation_error_message="Time off belongs to a member or to a team.",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="timeoff_end_after_start",
                violation_error_message="Time off must end after it starts.",
            ),
        ]


class Appointment(BaseModel):
    """One call, meeting or visit with a referral's lead, held by one team member.

    Booked by ``appointment_book`` (staff in the console, or the lead through the signed link);
    moved by ``appointment_reschedule`` (same row, same calendar UID, ``sequence`` + 1), ended by
    ``appointment_cancel`` or ``appointment_record_attendance``. The type's label, length, mode
    and location are copied from the program version in force when booked.
    """

    referral = models.ForeignKey(
        "intake.Referral", on_delete=models.PROTECT, related_name="appointments"
    )
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    type_key = models.CharField(max_length=63)
    label = models.CharField(max_length=200)
    mode = models.CharField(max_length=20)
    location = models.CharField(max_length=500, blank=True)
    prepare = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The member's time is held until here: the end plus the program's buffer.
    blocked_until = models.DateTimeField()
    lead_timezone = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    # iCalendar SEQUENCE: raised on every change the lead's calendar must follow.
    sequence = models.PositiveIntegerField(default=0)
    reschedules = models.PositiveSmallIntegerField(default=0)
    booked_via = models.CharField(max_length=20, choices=BookedVia.choices)
    booked_by = models.CharField(max_length=200, help_text="Who booked it (an actor label).")
    reason = models.CharField(max_length=40, blank=True, help_text="Last change's reason code.")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")) & Q(blocked_until__gte=F("ends_at")),
                name="appointment_times_in_order",
                violation_error_message="An appointment ends after it starts.",
            ),
            # A referral has at most one booked appointment: a second booking (a double click,
            # two tabs) is refused, and a change is a reschedule of the one there is.
            models.UniqueConstraint(
                fields=["referral"],
                condition=Q(status="booked"),
                name="appointment_one_booked_per_referral",
                violation_error_message="The referral already has a booked appointment.",
            ),
        ]
        indexes = [
            # Availability: a member's booked appointments in a window.
            models.Index(fields=["member", "starts_at"], name="appointment_member_start"),
            # The team agenda.
            models.Index(fields=["team", "starts_at"], name="appointment_team_start"),
        ]

    def __str__(self):
        return f"{self.label} at {self.starts_at:%Y-%m-%d %H:%M}Z"

    @property
    def uid(self) -> str:
        """The iCalendar UID: stays the same through reschedules and the cancellation."""
        domain = getattr(settings, "REFDESK_MESSAGE_ID_DOMAIN", "refdesk.invalid")
        return f"{self.public_id}@{domain}"


def feed_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeed(models.Model):
    """A staff member's private calendar feed URL (their appointments: reference and type,
    no patient names). Only the token's hash is stored: the URL is shown once when created;
    revoking it (or creating a new one) makes the old URL answer 404."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(revoked_at__isnull=True),
                name="calendar_feed_one_live_per_user",
                violation_error_message="The user already has a live calendar feed.",
            ),
        ]

    def __str__(self):
        return f"calendar feed of {self.user_id}"
