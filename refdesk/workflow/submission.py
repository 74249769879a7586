"""A referral comes in: ``referral_submit`` stores it, ``referral_complete`` takes the items it
lacked. Both write the referral, its consent and missing-item rows, route it when it is complete
and audit it all in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from refdesk.audit.services import Actor, audit_batch, audit_record
from refdesk.consent.models import ConsentRecord
from refdesk.consent.selectors import consent_needed, consent_of
from refdesk.core import sql
from refdesk.core.errors import ValidationFailed
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.missing import missing_items_record, missing_items_resolve
from refdesk.intake.models import Referral
from refdesk.intake.name_tokens import name_tokens_record
from refdesk.intake.submissions import (
    PreparedSubmission,
    Submission,
    SubmitResult,
    duplicate_find,
    index_columns,
    lead_keys,
    reference_allocate,
    referral_prepare,
    submission_check,
)
from refdesk.intake.validation import error
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.workflow.consent import consent_at_intake
from refdesk.workflow.effects import ask_referrer_on_commit
from refdesk.workflow.followup import followup_start
from refdesk.workflow.route import referral_route
from refdesk.workflow.sla import sla_resume
from refdesk.workflow.transitions import referral_transition


def referral_submit(
    *,
    referrer: Referrer,
    submission: Submission,
    method: str,
    actor: Actor,
    client_ref: str = "",
    received_at: datetime | None = None,
    prepared: PreparedSubmission | None = None,
) -> SubmitResult:
    """Accept one referral, or raise ``ValidationFailed`` having written nothing.

    1. Refuse an inactive referrer or source (403); a known ``client_ref`` returns the original.
    2. Validate against the program's active version; collect missing items
       (``referral_prepare``, unless ``prepared`` is given for this referrer and method).
    3. In one transaction: the referral (lead data encrypted, blind indexes, name tokens), its
       consent record (text version and hash), duplicate linkage, routing, and the audit events.
    """
    if client_ref:
        existing = Referral.objects.filter(referrer=referrer, client_ref=client_ref).first()
        if existing is not None:
            return SubmitResult(existing, created=False)
    if prepared is None:
        prepared = referral_prepare(referrer=referrer, submission=submission, method=method)
    elif prepared.referrer.pk != referrer.pk or prepared.method != method:
        raise ValueError("prepared for another referrer or method")
    received_at = received_at or timezone.now()
    try:
        # A savepoint is needed only to survive the unique client_ref race below; the audit
        # batch writes the chain at the end, so the chain lock is held only until commit.
        with transaction.atomic(savepoint=bool(client_ref)), audit_batch():
            return _write(
                submission=submission,
                actor=actor,
                client_ref=client_ref,
                received_at=received_at,
                prepared=prepared,
            )
    except IntegrityError:
        # A concurrent retry with the same client_ref won the race: answer with its referral.
        existing = Referral.objects.filter(referrer=referrer, client_ref=client_ref).first()
        if client_ref and existing is not None:
            return SubmitResult(existing, created=False)
        raise


def _write(
    *,
    submission: Submission,
    actor: Actor,
    client_ref: str,
    received_at: datetime,
    prepared: PreparedSubmission,
) -> SubmitResult:
    referrer, method, version, definition = (
        prepared.referrer,
        prepared.method,
        prepared.version,
        prepared.definition,
    )
    lead, answers, missing, utm = prepared.lead, prepared.answers, prepared.missing, prepared.utm
    original = duplicate_find(
        program_id=version.program_id,
        match_on=definition.duplicates.match_on,
        keys=prepared.keys,
        since=received_at - timedelta(days=definition.duplicates.window_days),
    )
    lead_kind = submission.lead_kind or definition.request_types[submission.request_type].lead_kind
    # Where a referral starts is the one place a stage is set outside the action table: a new
    # row has no stage to move from.
    stage, outcome, outcome_reason = Stage.RECEIVED, "", ""
    if original is not None:
        stage, outcome, outcome_reason = Stage.CLOSED, Outcome.DUPLICATE, "same_lead_in_window"
    elif missing:
        stage = Stage.NEEDS_INFO
    # SQL built once: 195 µs less than save() on SQLite, 229 µs on PostgreSQL (bench/sql_paths.py).
    referral = sql.insert(
        Referral(
            reference=reference_allocate(),
            program_id=version.program_id,
            program_version=version,
            source=referrer.source,
            referrer=referrer,
            submission_method=method,
            client_ref=client_ref,
            received_at=received_at,
            request_type=submission.request_type,
            therapy_area=submission.therapy_area,
            lead_kind=lead_kind,
            lead=lead,
            answers=answers,
            preferred_contact=lead.get("preferred_contact", ""),
            lead_timezone=lead.get("timezone", ""),
            language=lead.get("language", ""),
            country=lead.get("country", ""),
            **prepared.index_columns,
            stage=stage,
            outcome=outcome,
            outcome_reason=outcome_reason,
            missing=missing,
            duplicate_of=original,
            closed_at=received_at if outcome else None,
            # Waiting on the referrer from the start: the first-response clock has not run.
            sla_paused_at=received_at if stage == Stage.NEEDS_INFO else None,
            **utm,
        )
    )
    missing_items_record(referral=referral, fields=missing)
    # The name-search index, in this transaction: a failed submission leaves no tokens.
    name_tokens_record(referral=referral, lead=lead, replace=False)
    audit_record(
        actor=actor,
        action="referral.submitted",
        subject=referral,
        sensitive_fields=Referral.SENSITIVE_FIELDS,
        changes={
            "reference": (None, referral.reference),
            "program": (None, definition.id),
            "program_version": (None, version.number),
            "referrer": (None, referrer.code),
            "source": (None, referrer.source.slug),
            "request_type": (None, referral.request_type),
            "stage": (None, stage),
            "lead": (None, lead),
            "answers": (None, answers),
            "missing": (None, missing),
            "method": (None, method),
            **{key: (None, value) for key, value in utm.items() if value},
        },
    )
    consent = consent_at_intake(
        referral=referral,
        consent=submission.consent,
        definition=definition,
        actor=actor,
        at=received_at,
    )
    if original is not None:
        # On the first referral's timeline: attribution of the second referrer is kept.
        audit_record(
            actor=actor,
            action="referral.duplicate_received",
            subject=original,
            changes={"duplicate": (None, referral.reference), "referrer": (None, referrer.code)},
        )
    if stage == Stage.RECEIVED:
        # Complete and new: the engine routes it in this same transaction and audit batch,
        # with the consent just recorded (nothing later can exist yet: no query).
        needed = consent_needed(definition.consent, lead_kind)
        referral_route(referral=referral, actor=actor, consent=consent_of(consent, needed=needed))
        followup_start(referral=referral, actor=actor, now=received_at, fresh=True)
    elif stage == Stage.NEEDS_INFO:
        ask_referrer_on_commit(referral)
    return SubmitResult(referral, created=True)


def _consent_as_submitted(referral: Referral) -> dict | None:
    """The consent given with the submission, to re-check the completed submission with."""
    record = ConsentRecord.objects.filter(referral=referral).order_by("recorded_at", "id").first()
    if record is None:
        return None
    return {
        "granted": record.granted,
        "purposes": record.purposes,
        "channels": record.channels,
        "method": record.method,
        "text_version": record.text_version,
    }


def referral_complete(
    *,
    referral: Referral,
    lead_updates: dict[str, Any],
    answer_updates: dict[str, Any],
    actor: Actor,
) -> Referral:
    """Supply missing items of a ``needs_info`` referral; raise having written nothing otherwise.

    1. Lock the referral; it must still be ``needs_info`` (the action table's ``supply_info``).
    2. Only items on its missing list may be supplied (a completion link must not rewrite the
       rest of the lead), and at least one must be.
    3. Merge into the stored lead and answers and re-validate everything with the program
       version that handled the referral; the engine recomputes the missing list.
    4. Save (encrypted lead/answers, blind indexes, clear-text routing columns); when nothing
       is missing any more it moves to ``received``, its first-response clock resumes with the
       business time it had left, and it is routed.
    5. Audit ``referral.info_supplied`` naming the supplied items, never their values.
    """
    with transaction.atomic(), audit_batch():
        return _complete(
            referral=referral, lead_updates=lead_updates, answer_updates=answer_updates, actor=actor
        )


def _complete(*, referral, lead_updates, answer_updates, actor: Actor) -> Referral:
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("referrer__source__program", "program_version")
        .get(pk=referral.pk)
    )
    supplied = {f"lead.{name}": value for name, value in lead_updates.items()}
    supplied |= {f"answers.{name}": value for name, value in answer_updates.items()}
    supplied = {
        item: value
        for item, value in supplied.items()
        if value is not None and not (isinstance(value, str) and not value.strip())
    }
    if referral.stage == Stage.NEEDS_INFO:
        errors = [
            error(item, "not_missing", "Only the missing items can be supplied through this link.")
            for item in supplied
            if item not in referral.missing
        ]
        if not supplied:
            errors.append(error("__all__", "nothing_supplied", "Give at least one missing item."))
        if errors:
            raise ValidationFailed(errors)

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
    lead, answers, missing, errors = submission_check(definition, referral.referrer, submission)
    if errors:
        raise ValidationFailed(errors)

    old_missing = list(referral.missing)
    now = timezone.now()
    complete = not missing
    values = {
        "lead": lead,
        "answers": answers,
        "missing": missing,
        "preferred_contact": lead.get("preferred_contact", ""),
        "lead_timezone": lead.get("timezone", ""),
        "language": lead.get("language", ""),
        "country": lead.get("country", ""),
        **index_columns(lead_keys(lead)),
    }
    if complete:
        values |= sla_resume(referral, definition, now)
    referral_transition(
        referral,
        action="supply_info",
        actor=actor,
        to=Stage.RECEIVED if complete else Stage.NEEDS_INFO,
        values=values,
        changes={"supplied": (None, sorted(supplied))},
        sensitive_fields=Referral.SENSITIVE_FIELDS | Referral.LEAD_COLUMNS,
        now=now,
    )
    # A supplied name is searchable at once (and a changed one no longer found by the old).
    name_tokens_record(referral=referral, lead=lead, replace=True)
    # Report counts keep every item missing at submission; this stamps the ones now supplied.
    missing_items_resolve(
        referral=referral, fields=[item for item in old_missing if item not in missing], at=now
    )
    if complete:
        referral_route(referral=referral, actor=actor)
        followup_start(referral=referral, actor=actor, now=now)
    return referral
