"""Verifying the chain from the console: ``audit_verification_start`` (the service behind the
button) and the runs as the page reads them. The walk itself is ``refdesk.audit.verifying``,
run by the task ``refdesk.audit.tasks.verify_chain``.

One run at a time: a second start while one is queued or running returns that one (the
database holds the rule: ``AuditVerification.active`` is unique). A run that has not moved for
``LOST_AFTER`` (its worker died, or the task was never delivered) is recorded as lost when
someone starts a new one, so a dead run never blocks verification for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from refdesk.audit.choices import ACTIVE_STATES, VerificationState
from refdesk.audit.models import AuditVerification
from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.audit.tasks import verify_chain

LOST_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Started:
    run: AuditVerification
    created: bool  # False: one was already queued or running; this is it


def verification_active() -> AuditVerification | None:
    """The queued or running run, if any."""
    return AuditVerification.objects.filter(active=True).first()


def verification_latest() -> AuditVerification | None:
    """The run asked for last (the one the page shows)."""
    return AuditVerification.objects.order_by("-requested_at", "-id").first()


def verification_get(public_id) -> AuditVerification | None:
    return AuditVerification.objects.filter(public_id=public_id).first()


def is_stalled(run: AuditVerification, *, now=None) -> bool:
    """Queued or running, and nothing written for ``LOST_AFTER``."""
    now = now or timezone.now()
    return run.state in ACTIVE_STATES and run.progressed_at < now - LOST_AFTER


def audit_verification_start(*, actor: Actor) -> Started:
    """Ask for a walk of the whole chain (``audit.verification_started``), queued for a worker
    once this transaction commits; or the run already queued or running.

    1. A stalled active run is recorded as lost (``audit.verification_lost``) and frees the slot.
    2. Otherwise an active run is returned as it is (nothing written).
    3. A new run is inserted; a concurrent start that won the slot first makes the insert fail
       on the unique ``active``, and that run is returned instead.
    """
    now = timezone.now()
    with transaction.atomic():
        active = AuditVerification.objects.select_for_update().filter(active=True).first()
        if active is not None and is_stalled(active, now=now):
            _lose(active, now=now)
            active = None
        if active is not None:
            return Started(active, created=False)
        try:
            with transaction.atomic():
                run = AuditVerification.objects.create(
                    started_by=actor_label(actor), requested_at=now, progressed_at=now
                )
        except IntegrityError:
            return Started(verification_active(), created=False)
        audit_record(
            actor=actor,
            action="audit.verification_started",
            subject=run,
            changes={"state": (None, VerificationState.QUEUED)},
        )
        public_id = str(run.public_id)
        transaction.on_commit(lambda: verify_chain.enqueue(public_id), robust=True)
    return Started(run, created=True)


def _lose(run: AuditVerification, *, now) -> None:
    problem = (
        f"no progress since {run.progressed_at:%Y-%m-%d %H:%M} UTC: the worker stopped "
        "before the walk ended"
    )
    AuditVerification.objects.filter(pk=run.pk, active=True).update(
        state=VerificationState.LOST, active=None, finished_at=now, problem=problem
    )
    audit_record(
        actor="system:audit-verify",
        action="audit.verification_lost",
        subject=run,
        changes={"state": (run.state, VerificationState.LOST), "checked": (None, run.checked)},
    )
