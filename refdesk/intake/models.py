from django.db import models
from django.db.models import Q

from refdesk.core.fields import EncryptedJSONField, EncryptedTextField
from refdesk.core.models import BaseModel
from refdesk.intake.choices import LeadKind, Outcome, PrescreenOutcome, Stage, SubmissionMethod


class Referral(BaseModel):
    """One submission by a referrer about one lead. Created only by ``referral_submit``.

    Lead identity and answers are encrypted (``lead``, ``answers``); the blind indexes let
    refdesk find the same lead again without decrypting. Never deleted: closed with an outcome.
    """

    # Fields whose values are patient data: audit events name them but store fingerprints.
    SENSITIVE_FIELDS = frozenset({"lead", "answers"})
    # Columns copied or derived from the lead (clear for routing, or blind indexes): when the
    # lead changes, the trail fingerprints them too.
    LEAD_COLUMNS = frozenset(
        {
            "preferred_contact",
            "lead_timezone",
            "language",
            "country",
            "email_index",
            "phone_index",
            "npi_index",
            "name_index",
        }
    )

    reference = models.CharField(max_length=16, unique=True)
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="referrals"
    )
    # The rules that handled it, so reports stay true after the program changes.
    program_version = models.ForeignKey(
        "programs.ProgramVersion", on_delete=models.PROTECT, related_name="referrals"
    )
    source = models.ForeignKey(
        "referrers.Source", on_delete=models.PROTECT, related_name="referrals"
    )
    referrer = models.ForeignKey(
        "referrers.Referrer", on_delete=models.PROTECT, related_name="referrals"
    )
    submission_method = models.CharField(max_length=10, choices=SubmissionMethod.choices)
    # The submitter's own id for the referral (import row key, partner id): a resubmission with
    # the same one is recognised instead of creating a second referral.
    client_ref = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField()

    request_type = models.CharField(max_length=63)
    therapy_area = models.CharField(max_length=63, blank=True)
    lead_kind = models.CharField(max_length=20, choices=LeadKind.choices)
    lead = EncryptedJSONField()
    answers = EncryptedJSONField(default=dict)
    # Not identifying on their own; kept in clear for routing, scheduling and reports.
    preferred_contact = models.CharField(max_length=10, blank=True)
    lead_timezone = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=16, blank=True)
    country = models.CharField(max_length=2, blank=True)
    # Blind indexes (keyed HMACs) of the duplicate keys a program may match on (``match_on``).
    email_index = models.CharField(max_length=64, blank=True)
    phone_index = models.CharField(max_length=64, blank=True)
    npi_index = models.CharField(max_length=64, blank=True)
    name_index = models.CharField(max_length=64, blank=True)  # name and birth year

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.RECEIVED)
    # When it entered that stage (empty: still in the stage it was received in): how long work
    # has stood where it is, for the reports' "where referrals stall".
    stage_changed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    outcome_reason = models.CharField(max_length=100, blank=True)
    prescreen_outcome = models.CharField(
        max_length=20, choices=PrescreenOutcome.choices, blank=True
    )
    # Names of the items still missing (never their values).
    missing = models.JSONField(default=list, blank=True)
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates"
    )
    queue = models.ForeignKey(
        "routing.Queue", on_delete=models.PROTECT, null=True, blank=True, related_name="referrals"
    )
    # Set by routing: the owner of the work, the route's flags, and the SLA's due time.
    assigned_to = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_referrals",
    )
    flags = models.JSONField(default=list, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    # The first-response clock stops while the referrer owes information (needs_info): when it
    # stopped, and the business time it has stood still in earlier waits (added to the SLA).
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    sla_paused_seconds = models.PositiveIntegerField(default=0)
    # The first response to the lead (the SLA's end): the first message sent to them or the
    # first logged attempt to reach them. Set once, by the workflow.
    first_responded_at = models.DateTimeField(null=True, blank=True)
    # How long that took in the program's business time, from receipt, less the time the clock
    # stood still (needs_info): fixed when the response is recorded, so reports aggregate it.
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Attempts to reach the lead so far (messages sent, contact attempts logged) and when a
    # person last reached them: the retry cadence stops once they are reached.
    lead_attempts = models.PositiveSmallIntegerField(default=0)
    lead_reached_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    utm_content = models.CharField(max_length=100, blank=True)
    utm_term = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["referrer", "client_ref"],
                condition=~Q(client_ref=""),
                name="referral_client_ref_once_per_referrer",
                violation_error_message="This referrer already submitted a referral with that id.",
            ),
            models.CheckConstraint(
                condition=Q(stage="closed", outcome__gt="") | (~Q(stage="closed") & Q(outcome="")),
                name="referral_outcome_iff_closed",
                violation_error_message="A referral has an outcome exactly when it is closed.",
            ),
        ]
        indexes = [
            # Duplicate detection: same program, same lead email/phone, recent.
            models.Index(
                fields=["program", "email_index", "received_at"], name="referral_dup_email"
            ),
            models.Index(
                fields=["program", "phone_index", "received_at"], name="referral_dup_phone"
            ),
            # The same for the optional keys, only over referrals that have them.
            models.Index(
                fields=["program", "npi_index", "received_at"],
                name="referral_dup_npi",
                condition=~Q(npi_index=""),
            ),
            models.Index(
                fields=["program", "name_index", "received_at"],
                name="referral_dup_name",
                condition=~Q(name_index=""),
            ),
            # Work queues: WHERE queue=? AND stage IN (...) ORDER BY first_response_due_at.
            models.Index(
                fields=["queue", "stage", "first_response_due_at"], name="referral_queue_due"
            ),
            # The queue page sorted by receipt (either way): per stage, WHERE queue=? AND
            # stage=? ORDER BY received_at [DESC] LIMIT n (desk/queue_selectors.py).
            models.Index(fields=["queue", "stage", "received_at"], name="referral_queue_received"),
            # Assignment: each member's open work, counted by seeks (assigned_to, stage IN ...);
            # and My work by due time, per stage: WHERE assigned_to=? (or IS NULL: unassigned
            # work) AND stage=? ORDER BY first_response_due_at LIMIT n (desk/queue_selectors.py).
            models.Index(
                fields=["assigned_to", "stage", "first_response_due_at"],
                name="referral_assignee_due",
            ),
            # Unassigned work of a queue by due time, per stage: WHERE queue=? AND stage=? AND
            # assigned_to IS NULL ORDER BY first_response_due_at LIMIT n (My work's unassigned
            # tab, the queue page's "Unassigned" filter, Next referral). Partial: only the rows
            # nobody has, so a stage whose rows are all assigned costs nothing to look through.
            models.Index(
                fields=["queue", "stage", "first_response_due_at"],
                name="referral_unassigned_due",
                condition=Q(assigned_to__isnull=True),
            ),
            # Reports and lists by program over time.
            models.Index(fields=["program", "received_at"], name="referral_program_time"),
            # Reports' open work by stage (and the dashboard's oldest of each): open referrals
            # only, a small part of all of them.
            models.Index(
                fields=["program", "stage", "received_at"],
                name="referral_open_work",
                condition=Q(closed_at__isnull=True),
            ),
            # Reports' live SLA clocks: open referrals still waiting for a first response, by
            # due time (refdesk.reports.rollups reads only these; everything else is rolled up).
            models.Index(
                fields=["first_response_due_at"],
                name="referral_awaiting_response",
                condition=Q(first_responded_at__isnull=True, closed_at__isnull=True),
            ),
        ]

    def __str__(self):
        return self.reference


class MissingItem(models.Model):
    """One item (``lead.email``, ``answers.ecog``) that a referral lacked when it was submitted.

    Written by ``missing_items_record`` inside ``referral_submit``'s transaction; stamped
    ``resolved_at`` by ``missing_items_resolve`` when the referrer supplies it. Reports count these
    rows to show which fields each source leaves out. Only the field's name, never a value. An
    internal statistics row, never shown outside the database, so it has no public id.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="missing_items")
    # Copied from the referral so the report query needs no join through the referral table.
    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="missing_items"
    )
    source = models.ForeignKey(
        "referrers.Source", on_delete=models.PROTECT, related_name="missing_items"
    )
    field = models.CharField(max_length=100)
    recorded_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["referral", "field"],
                name="missing_item_once_per_referral",
                violation_error_message="This item is already recorded as missing.",
            ),
        ]
        indexes = [
            # missing_item_counts: one program's items recorded since a date, grouped by source
            # and field (all three read from the index).
            models.Index(
                fields=["program", "recorded_at", "source", "field"],
                name="missing_item_program_time",
            ),
        ]

    def __str__(self):
        return f"{self.field} missing on referral {self.referral_id}"


class Rejection(models.Model):
    """One error of a submission that was refused for its content (a web form re-displayed with
    errors, a partner API 422, a bulk-import row rejected): which field, which stable code.

    One row per error, so a submission refused for three fields is three rows; reports count
    rows per code and field ("rejected submissions by error code"). Written by
    ``rejections_record`` after the refused submission's transaction, so nothing else exists to
    point at: no referral. Codes and field paths only, never a submitted value. An internal
    statistics row, never shown outside the database, so it has no public id.
    """

    program = models.ForeignKey(
        "programs.Program", on_delete=models.PROTECT, related_name="rejections"
    )
    # Every path that records one knows the referrer, hence the source: never null.
    source = models.ForeignKey(
        "referrers.Source", on_delete=models.PROTECT, related_name="rejections"
    )
    method = models.CharField(max_length=10, choices=SubmissionMethod.choices)
    code = models.CharField(max_length=63)  # e.g. "required", "invalid_phone", "unknown_field"
    # e.g. "lead.phone", "answers.ecog"; "" when the error is about the whole submission.
    field = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            # One program's rejections in a period, grouped by source and code (all read from
            # the index).
            models.Index(
                fields=["program", "occurred_at", "source", "code"],
                name="rejection_program_time",
            ),
        ]

    def __str__(self):
        return f"{self.method} submission rejected: {self.field or '-'} {self.code}"


class NoteKind(models.TextChoices):
    """Which action a staff note was written with."""

    CONTACT = "contact", "Contact attempt"
    CLOSE = "close", "Closing"
    REROUTE = "reroute", "Re-route"
    ASSIGN = "assign", "Assignment"
    REQUEST_INFO = "request_info", "Information request"
    ANSWERS = "answers", "Answers changed"
    REVIEW = "review", "Review decision"
    CONSENT = "consent", "Consent"
    SAFETY_TRIAGE = "safety_triage", "Drug-safety triage"


class ReferralNote(BaseModel):
    """Free text a staff member typed while acting on a referral (a contact note, a re-route
    reason, a reviewer's note). People may type anything there, patient details included, so it
    is patient data: encrypted, kept with the referral so it can be erased with it, and never
    copied into the append-only audit trail — the event that records the action carries the
    note's public id and a keyed fingerprint of the text instead.

    Written only by the workflow services, in the same transaction as the action.
    """

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="notes")
    kind = models.CharField(max_length=20, choices=NoteKind.choices)
    text = EncryptedTextField()
    written_by = models.CharField(max_length=200)  # the audit label of the author
    written_at = models.DateTimeField()

    class Meta:
        ordering = ["referral", "written_at"]
        indexes = [
            # A referral's notes for its timeline: WHERE referral=? ORDER BY written_at.
            models.Index(fields=["referral", "written_at"], name="note_referral_time"),
        ]

    def __str__(self):
        return f"{self.kind} note on referral {self.referral_id}"


class NameToken(models.Model):
    """One keyed digest of one prefix of one word of a referral's lead name (given, family or
    organisation name): the blind index that name search looks up, so nothing is decrypted
    to search. ``refdesk.core.crypto.name_token_digests`` makes them; what they reveal without
    the key is in docs/privacy-search.md.

    Written by ``name_tokens_record`` in the transaction that stores the referral or changes
    its lead, and by ``refdesk names reindex``; derived data, never shown, rebuilt at will.
    """

    # (referral, digest) is the key: a referral is indexed once under a digest, and its rows
    # are found (replaced, erased) by a range on it. No surrogate id: at 5M referrals and ~10
    # tokens each, an id column and its index would add about a fifth to the table's size.
    pk = models.CompositePrimaryKey("referral", "digest")
    # Derived from the referral and erased with it: nothing regulated lives here.
    # The primary key's leading column already indexes it.
    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="name_tokens", db_index=False
    )
    digest = models.BinaryField(max_length=16)
    # Copied from the referral (never changes): search reads the newest matches first straight
    # from the lookup index and stops at the page size, however common the prefix.
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Name search: WHERE digest = ? ORDER BY received_at DESC, referral_id DESC — an
            # index range read newest first, joined to the referral row by row.
            models.Index(fields=["digest", "-received_at", "-referral"], name="name_token_lookup"),
        ]

    def __str__(self):
        return f"name token of referral {self.referral_id}"
