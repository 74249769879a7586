"""Background work for intake. Tasks are thin, take ids, and re-check state before acting."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from refdesk.audit.services import audit_record
from refdesk.intake.choices import Stage
from refdesk.intake.labels import item_label
from refdesk.intake.links import completion_link_days, completion_url, status_url
from refdesk.intake.models import Referral
from refdesk.programs.selectors import version_definition

logger = logging.getLogger(__name__)


def completion_request_message(referral: Referral) -> tuple[str, str]:
    """(subject, body) asking the referrer for the missing items: their names, never values."""
    definition = version_definition(referral.program_version)
    items = "\n".join(f"  - {item_label(definition, item)}" for item in referral.missing)
    expires = (timezone.localdate() + timedelta(days=completion_link_days())).isoformat()
    subject = f"Referral {referral.reference}: information needed"
    body = (
        f"Dear {referral.referrer.name},\n\n"
        f"Thank you for referral {referral.reference} to {definition.name}. Before the team can "
        f"act on it, it still needs:\n\n{items}\n\n"
        f"Please add them here (the link works until {expires}):\n{completion_url(referral)}\n\n"
        f"To follow the referral's status afterwards:\n{status_url(referral)}\n\n"
        "For privacy this email names only the missing items. Please do not reply with patient "
        "details; use the links above.\n"
    )
    return subject, body


@task()
def send_completion_request(referral_public_id: str) -> None:
    """Email the referrer a completion link for a ``needs_info`` referral.

    Skipped when the referral no longer needs information (a late or repeated run) or the
    referrer has no email address.
    """
    referral = (
        Referral.objects.select_related("referrer", "program_version")
        .filter(public_id=referral_public_id)
        .first()
    )
    if referral is None or referral.stage != Stage.NEEDS_INFO or not referral.referrer.email:
        return
    subject, body = completion_request_message(referral)
    send_mail(subject, body, None, [referral.referrer.email])
    with transaction.atomic():
        audit_record(
            actor="system:intake",
            action="referral.info_requested",
            subject=referral,
            changes={"missing": (None, list(referral.missing)), "to": (None, "referrer")},
        )
    logger.info("completion request sent for %s", referral.reference)
