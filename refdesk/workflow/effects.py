"""What the workflow sets off once a change is committed: messages and other side effects,
queued with ``transaction.on_commit`` so a rolled-back change never sends anything."""

from __future__ import annotations

from django.db import transaction

from refdesk.intake.models import Referral
from refdesk.intake.tasks import send_completion_request


def ask_referrer_on_commit(referral: Referral) -> None:
    """Email the referrer a completion link once the referral is safely stored; robust, so a
    queue hiccup never turns an accepted referral into an error response."""
    if not referral.referrer.email:
        return
    public_id = str(referral.public_id)
    transaction.on_commit(lambda: send_completion_request.enqueue(public_id), robust=True)
