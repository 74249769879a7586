"""The append-only, hash-chained audit trail.

Only ``refdesk.audit.services.audit_record`` writes here. Database triggers (migration 0002) reject
UPDATE and DELETE on the event table, and ``refdesk audit verify`` recomputes the chain.
"""

import uuid

from django.db import models

from refdesk.audit.choices import ACTIVE_STATES, VerificationState

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One thing that happened: who did what to which subject, when and why.

    Created by ``audit_record()`` inside the same transaction as the change it records. ``seq`` is
    the position in the single global chain; ``hash`` is HMAC-SHA256 over this event's fields and
    ``prev_hash``, so editing, deleting, reordering or forging an event breaks the chain.
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(editable=False)
    # A fixed text ("user:alice", "system:demo", "referrer:K7Q3M9X"), not a foreign key, so the
    # record stays meaningful after an account is renamed or deactivated.
    actor = models.CharField(max_length=200, editable=False)
    action = models.CharField(max_length=100, editable=False)
    subject_type = models.CharField(max_length=50, blank=True, editable=False)
    subject_id = models.CharField(max_length=64, blank=True, editable=False)
    # {field: {"old": ..., "new": ...}}; patient fields carry keyed fingerprints, never values.
    changes = models.JSONField(default=dict, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False)
    request_id = models.CharField(max_length=64, blank=True, editable=False)
    # unique: two writers can never both extend the chain from the same event (no fork).
    prev_hash = models.CharField(max_length=64, unique=True, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["seq"]
        indexes = [
            # A subject's timeline: WHERE subject_type=? AND subject_id=? ORDER BY seq.
            models.Index(fields=["subject_type", "subject_id", "seq"], name="audit_subject_seq"),
            # Reports by action over time: WHERE action=? AND occurred_at BETWEEN ...
            models.Index(fields=["action", "occurred_at"], name="audit_action_time"),
            # The console's search, newest first and sought by seq: WHERE action=? AND seq < ?
            # ORDER BY seq DESC, and the same for an actor ("what did this person do").
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.subject_type}:{self.subject_id}"


class AuditChainHead(models.Model):
    """The single row (pk=1) naming the newest event: the lock writers queue on.

    Locking this row from reading the head to commit serialises chain writers on PostgreSQL
    (SELECT ... FOR UPDATE); on SQLite the IMMEDIATE transaction already serialises them.
    ``verify`` also compares it with the last event, which catches a deleted tail; ``mac`` (an
    HMAC of seq and hash with the audit key, see ``refdesk.audit.services.head_mac``) makes that
    check hold against someone who deletes the tail and rewrites this row without the key.
    """

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # Written by the same UPDATE that moves the head; empty only before migration 0004 signs it.
    mac = models.CharField(max_length=64, default="")

    def __str__(self):
        return f"head #{self.seq}"


class AuditVerification(models.Model):
    """One check of the whole chain asked for from the console (``refdesk audit verify`` does
    the same walk from the command line, without a row).

    Created by ``audit_verification_start`` (audited as ``audit.verification_started``); the
    background task walks the chain, writing its progress here (``checked`` of ``total``), and
    records the result (``audit.verification_finished``). At most one run is queued or running
    at a time: ``active`` is True only then, and unique among True values.
    """

    audit_subject_type = "audit_verification"  # how the trail names it (audit_record)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(
        max_length=20, choices=VerificationState.choices, default=VerificationState.QUEUED
    )
    # True while queued or running, NULL afterwards (the constraint below sees one at most).
    active = models.BooleanField(null=True, default=True)
    started_by = models.CharField(max_length=200)  # an actor label, like AuditEvent.actor
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)  # when a worker took it
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the walk after every chunk: how far it is, and when it last moved.
    checked = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    progressed_at = models.DateTimeField()
    problem = models.TextField(blank=True)  # the first break, in the verifier's words
    bad_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["active"],
                name="audit_verification_one_active",
                violation_error_message="A verification of the audit chain is already running.",
            ),
            models.CheckConstraint(
                condition=models.Q(active__isnull=True)
                | models.Q(active=True, state__in=[s.value for s in ACTIVE_STATES]),
                name="audit_verification_active_state",
                violation_error_message="Only a queued or running verification is active.",
            ),
        ]

    def __str__(self):
        return f"verification {self.public_id} {self.state}"

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE_STATES

    @property
    def percent(self) -> int:
        """How far the walk is, 0..100 (100 once finished intact)."""
        if self.state == VerificationState.INTACT:
            return 100
        if not self.total:
            return 0
        return min(100, self.checked * 100 // self.total)
