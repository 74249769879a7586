"""The append-only, hash-chained audit trail.

Only ``refdesk.audit.services.audit_record`` writes here. Database triggers (migration 0002) reject
UPDATE and DELETE on the event table, and ``refdesk audit verify`` recomputes the chain.
"""

from django.db import models

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
