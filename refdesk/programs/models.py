from django.db import models

from refdesk.core.models import BaseModel
from refdesk.programs.choices import ProgramGoal


class ImmutableRecord(Exception):
    pass


class Program(BaseModel):
    """A referral program (``trial-prescreening``, ...). Created by the first ``program apply``.

    Its rules live in versions; ``active_version`` is the one that handles new referrals.
    """

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    goal = models.CharField(max_length=40, choices=ProgramGoal.choices)
    owner_team = models.ForeignKey(
        "accounts.Team", on_delete=models.PROTECT, related_name="owned_programs"
    )
    active_version = models.ForeignKey(
        "ProgramVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class ProgramVersion(BaseModel):
    """An immutable snapshot of a program definition, made by ``program apply`` when it changed.

    Every referral records the version that handled it, so reports and audits stay true across
    rule changes. Rows are never updated or deleted (enforced here and by database triggers).
    """

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    # sha256 of the canonical JSON of the parsed definition: comments and layout do not count.
    content_hash = models.CharField(max_length=64)
    definition = models.JSONField()
    source_text = models.TextField()
    source_path = models.CharField(max_length=500, blank=True)
    applied_by = models.CharField(max_length=200)
    applied_at = models.DateTimeField()
    note = models.TextField()

    class Meta:
        ordering = ["program", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["program", "number"],
                name="program_version_number",
                violation_error_message="This version number already exists.",
            ),
        ]

    def __str__(self):
        return f"{self.program_id}@v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("program versions are immutable; apply a new version instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("program versions are never deleted")
