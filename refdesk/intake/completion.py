"""``referral_complete``: a referrer supplies a referral's missing items (completion link)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from refdesk.audit.services import audit_record
from refdesk.consent.models import ConsentRecord
from refdesk.core.crypto import email_index, phone_index
from refdesk.core.errors import InvalidTransition
from refdesk.core.errors import ValidationFailed as ValidationFailedError
from refdesk.intake.choices import Stage
from refdesk.intake.missing import missing_items_resolve
from refdesk.intake.models import Referral
from refdesk.intake.services import Submission, _check_submission
from refdesk.intake.validation import error
from refdesk.programs.selectors import version_definition


def _consent_as_submitted(referral: Referral) -> dict | None:
    record = ConsentRecord.objects.filter(referral=referral).order_by("recorded_at").first()
    if record is None:
        return None
    return {
        "granted": record.granted,
        "purposes": record.purposes,
        "channels": record.channels,
        "method": record.method,
        "text_version": record.text_version,
    }


@transaction.atomic
def referral_complete(
    *,
    referral: Referral,
    lead_updates: dict[str, Any],
    answer_updates: dict[str, Any],
    actor,
) -> Referral:
    """Supply missing items of a ``needs_info`` referral; raise having written nothing otherwise.

    1. Lock the referral; it must still be ``needs_info``.
    2. Only items on its missing list may be supplied (a completion link must not rewrite the
       rest of the lead), and at least one must be.
    3. Merge into the stored lead and answers and re-validate everything with the program
       version that handled the referral; recompute the missing list.
    4. Save (encrypted lead/answers, blind indexes, clear-text routing columns); move to
       ``received`` when nothing is missing any more.
    5. Audit ``referral.info_supplied`` naming the supplied items, never their values.
    """
    referral = (
        Referral.objects.select_for_update()
        .select_related("referrer__source__program", "program_version")
        .get(pk=referral.pk)
    )
    if referral.stage != Stage.NEEDS_INFO:
        raise InvalidTransition("this referral is not waiting for information")
    supplied = {f"lead.{name}": value for name, value in lead_updates.items()}
    supplied |= {f"answers.{name}": value for name, value in answer_updates.items()}
    supplied = {
        item: value
        for item, value in supplied.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }
    errors = [
        error(item, "not_missing", "Only the missing items can be supplied through this link.")
        for item in supplied
        if item not in referral.missing
    ]
    if not supplied:
        errors.append(error("__all__", "nothing_supplied", "Give at least one missing item."))
    if errors:
        raise ValidationFailedError(errors)

    definition = version_definition(referral.program_version)
    lead = {**referral.lead, **{k[5:]: v for k, v in supplied.items() if k.startswith("lead.")}}
    answers = {
        **referral.answers,
        **{k[8:]: v for k, v in supplied.items() if k.startswith("answers.")},
    }
    submission = Submission(
        request_type=referral.request_type,
        lead_kind=referral.lead_kind,
        therapy_area=referral.therapy_area,
        lead=lead,
        answers=answers,
        consent=_consent_as_submitted(referral),
    )
    lead, answers, missing, errors = _check_submission(definition, referral.referrer, submission)
    if errors:
        raise ValidationFailedError(errors)

    old_missing, old_stage = list(referral.missing), referral.stage
    country = lead.get("country") or "US"
    referral.lead, referral.answers, referral.missing = lead, answers, missing
    referral.email_index = email_index(lead.get("email"))
    referral.phone_index = phone_index(lead.get("phone"), country)
    referral.preferred_contact = lead.get("preferred_contact", "")
    referral.lead_timezone = lead.get("timezone", "")
    referral.language = lead.get("language", "")
    referral.country = lead.get("country", "")
    if not missing:
        referral.stage = Stage.RECEIVED
    referral.save(
        update_fields=[
            "lead",
            "answers",
            "missing",
            "stage",
            "email_index",
            "phone_index",
            "preferred_contact",
            "lead_timezone",
            "language",
            "country",
            "updated_at",
        ]
    )
    changes = {
        "supplied": (None, sorted(supplied)),
        "missing": (old_missing, missing),
    }
    if referral.stage != old_stage:
        changes["stage"] = (old_stage, referral.stage)
    audit_record(actor=actor, action="referral.info_supplied", subject=referral, changes=changes)
    # Report counts keep every item missing at submission; this stamps the ones now supplied.
    missing_items_resolve(
        referral=referral, fields=[item for item in old_missing if item not in missing]
    )
    if referral.stage == Stage.RECEIVED:
        # Complete now: route it by its own program version, in this transaction.
        from refdesk.routing.services import referral_route

        referral_route(referral=referral, actor=actor)
    return referral
