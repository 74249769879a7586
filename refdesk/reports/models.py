"""Rollups: the report figures of whole months, kept by ``refdesk.reports.rollups``.

Each row holds, for one program, one month (in the program's zone), one source and one queue,
the counts the raw definitions (``funnel``, ``response``, ``activity``) give for that group —
computed by those same definitions, never by separate code — so a period of whole months is
the sum of its rows. Derived data: rebuilt at will (``refdesk report rollup --full``), never
shown outside the database, no patient data.
"""

from django.db import models


class MonthRollup(models.Model):
    program = models.ForeignKey("programs.Program", on_delete=models.CASCADE, related_name="+")
    month = models.DateField()  # the first day, in the program's zone
    source = models.CharField(max_length=63)
    queue = models.CharField(max_length=63, blank=True)
    # The version that handled them (the dashboard's "referrals received under each version").
    program_version = models.ForeignKey(
        "programs.ProgramVersion", on_delete=models.CASCADE, related_name="+"
    )
    # Referrals received in the month (the funnel and drop-offs: funnel.py).
    received = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    scheduled = models.PositiveIntegerField(default=0)
    attended = models.PositiveIntegerField(default=0)
    qualified = models.PositiveIntegerField(default=0)
    not_qualified = models.PositiveIntegerField(default=0)
    unreachable = models.PositiveIntegerField(default=0)
    declined = models.PositiveIntegerField(default=0)
    withdrawn = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    entered_in_error = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    # Their SLA verdicts that never change again (response.py); open clocks are read live.
    on_time = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    # Appointments starting in the month (activity.py), by the referral's source and queue.
    appointments = models.PositiveIntegerField(default=0)
    appointments_attended = models.PositiveIntegerField(default=0)
    appointments_no_show = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "month", "source", "queue", "program_version"],
                name="month_rollup_group",
            ),
        ]

    def __str__(self):
        return f"{self.program_id} {self.month:%Y-%m} {self.source}/{self.queue}"


class ResponseRollup(models.Model):
    """How many first responses of a month's referrals took each step of time (business time,
    rounded down as ``aggregates.bucket`` does): the histogram medians and percentiles are read
    from (``aggregates.percentile``). A few hundred rows per group at most, whatever the
    number of referrals."""

    program = models.ForeignKey("programs.Program", on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    source = models.CharField(max_length=63)
    queue = models.CharField(max_length=63, blank=True)
    step = models.PositiveIntegerField()  # seconds: the start of the step
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "month", "source", "queue", "step"],
                name="response_rollup_group",
            ),
        ]

    def __str__(self):
        return f"{self.program_id} {self.month:%Y-%m} {self.step} s x{self.count}"


class RollupState(models.Model):
    """The single row (pk=1) saying how far the rollups have read: the audit sequence number
    of the newest change they include, and when they were refreshed."""

    audit_seq = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"rollups up to audit #{self.audit_seq}"
