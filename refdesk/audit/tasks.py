"""Background work of the audit trail. Tasks are thin and take ids."""

from __future__ import annotations

from django.tasks import task

from refdesk.audit.verifying import audit_verification_run


@task()
def verify_chain(verification_public_id: str) -> None:
    """Walk the chain for a verification run started from the console (``AuditVerification``);
    a repeated delivery finds the run no longer queued and does nothing."""
    audit_verification_run(public_id=verification_public_id)
