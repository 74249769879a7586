"""The console's verification run, as the background task performs it: take the queued run,
walk the chain with ``audit_verify`` (the same check as ``refdesk audit verify``) writing the
progress to the run's row, then record the result — audited, like the start.

1. ``audit_verification_run`` claims the run by a conditional UPDATE (queued -> running): a
   task delivered twice, or a run already given up as lost, does nothing.
2. The walk reports its progress; the row is written at most once a second (and at the end),
   each write also telling the page that the run is alive (``progressed_at``).
3. The result (intact, or the first break in the verifier's words, which name events by seq
   only) and the row's release from the "one at a time" slot are one transaction with their
   audit event ``audit.verification_finished``.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from refdesk.audit.choices import VerificationState
from refdesk.audit.models import AuditVerification
from refdesk.audit.services import VerifyResult, audit_record, audit_verify

VERIFIER = "system:audit-verify"  # who records the result: refdesk's walk, not a person
CHUNK = 1000  # events between progress reports
WRITE_EVERY = 1.0  # seconds: the page polls every two; more writes would tell it nothing


def audit_verification_run(*, public_id: str) -> AuditVerification | None:
    """Walk the chain for the queued run ``public_id`` and record its result; None when the
    run is not queued (taken already, finished, lost or unknown)."""
    now = timezone.now()
    claimed = AuditVerification.objects.filter(
        public_id=public_id, state=VerificationState.QUEUED
    ).update(state=VerificationState.RUNNING, started_at=now, progressed_at=now)
    if not claimed:
        return None
    run = AuditVerification.objects.get(public_id=public_id)
    last_write = -WRITE_EVERY

    def progress(checked: int, total: int) -> None:
        nonlocal last_write
        moment = time.monotonic()
        if moment - last_write < WRITE_EVERY and checked < total:
            return
        last_write = moment
        run.checked, run.total = checked, total
        AuditVerification.objects.filter(pk=run.pk, state=VerificationState.RUNNING).update(
            checked=checked, total=total, progressed_at=timezone.now()
        )

    try:
        result = audit_verify(chunk_size=CHUNK, progress=progress)
    except Exception as error:
        _finish(
            run,
            VerifyResult(run.checked, f"the run stopped on an error ({type(error).__name__})"),
            state=VerificationState.LOST,
        )
        raise
    state = VerificationState.INTACT if result.ok else VerificationState.BROKEN
    return _finish(run, result, state=state)


@transaction.atomic
def _finish(run: AuditVerification, result: VerifyResult, *, state: str) -> AuditVerification:
    now = timezone.now()
    total = max(run.total, result.checked)
    done = AuditVerification.objects.filter(pk=run.pk, state=VerificationState.RUNNING).update(
        state=state,
        active=None,
        finished_at=now,
        progressed_at=now,
        checked=result.checked,
        total=total,
        problem=result.problem or "",
        bad_seq=result.bad_seq,
    )
    if done:
        audit_record(
            actor=VERIFIER,
            action="audit.verification_finished",
            subject=run,
            changes={
                "state": (VerificationState.RUNNING, state),
                "checked": (None, result.checked),
                "problem": (None, result.problem),
                "bad_seq": (None, result.bad_seq),
            },
        )
    run.refresh_from_db()
    return run
