import uuid
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from refdesk.accounts.choices import Role
from refdesk.core.models import BaseModel


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone")


class User(AbstractUser):
    """A staff member who logs in. Referrers do not have accounts."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=40, choices=Role.choices, blank=True)
    # Times on the console are shown in this zone; blank: the zone of the user's first team,
    # else settings.TIME_ZONE (``refdesk.accounts.selectors.user_timezone``).
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])

    @property
    def audit_label(self) -> str:
        return f"user:{self.username}"


class Team(BaseModel):
    """A group of staff owning queues (clinical-ops, medical-affairs, ...).

    Created or updated by ``program apply`` from the ``teams`` of a program definition.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    # Business hours and SLA clocks run in this zone.
    timezone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_timezone]
    )
    members = models.ManyToManyField(User, through="TeamMembership", related_name="teams")

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class TeamMembership(models.Model):
    """A user's place in a team; ``available`` false means away (never assigned new work)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    available = models.BooleanField(default=True)
    # Leads the team: hears escalations of its queues' breached first responses.
    lead = models.BooleanField(default=False)
    # When automatic assignment last gave this member a referral of the team's: among members
    # with equal open work, the one waiting longest goes next (turn-taking without counting
    # every referral they ever had).
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"],
                name="membership_once_per_team",
                violation_error_message="The user is already in this team.",
            ),
        ]

    def __str__(self):
        return f"{self.user} in {self.team}"
