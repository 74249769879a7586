"""Lifecycle services: stage moves, closing with an outcome, prescreen outcomes.

Each checks the current state and changes it with a conditional UPDATE (``WHERE stage = old``),
so two people acting on one referral at once cannot both succeed; each writes its audit event in
the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import audit_record
from refdesk.core.errors import ApplicationError, InvalidTransition, ValidationFailed
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.models import Referral

# Which stages a referral may move to from each stage (closing goes through referral_close).
TRANSITIONS: dict[str, set[str]] = {
    Stage.RECEIVED: {Stage.NEEDS_INFO, Stage.AWAITING_REVIEW, Stage.QUEUED},
    Stage.NEEDS_INFO: {Stage.RECEIVED, Stage.AWAITING_REVIEW, Stage.QUEUED},
    Stage.AWAITING_REVIEW: {Stage.QUEUED, Stage.NEEDS_INFO},
    Stage.QUEUED: {Stage.IN_PROGRESS, Stage.AWAITING_REVIEW, Stage.NEEDS_INFO},
    Stage.IN_PROGRESS: {Stage.SCHEDULED, Stage.QUEUED, Stage.NEEDS_INFO},
    Stage.SCHEDULED: {Stage.IN_PROGRESS},
    Stage.CLOSED: set(),
}


@transaction.atomic
def referral_move(*, referral: Referral, stage: str, actor, reason: str = "") -> Referral:
    """Move to another open stage; a concurrent change makes this fail instead of overwrite."""
    if stage not in TRANSITIONS.get(referral.stage, set()):
        raise InvalidTransition(f"a referral cannot go from {referral.stage} to {stage}")
    updated = Referral.objects.filter(pk=referral.pk, stage=referral.stage).update(
        stage=stage, updated_at=timezone.now()
    )
    if updated != 1:
        raise InvalidTransition("the referral changed meanwhile; reload and try again")
    audit_record(
        actor=actor,
        action="referral.stage_changed",
        subject=referral,
        changes={"stage": (referral.stage, stage)},
        reason=reason,
    )
    referral.stage = stage
    return referral


# Outcomes that judge the lead or report contact: not before the review gate is passed.
REVIEW_GATED_OUTCOMES = frozenset({Outcome.QUALIFIED, Outcome.NOT_QUALIFIED, Outcome.UNREACHABLE})


@transaction.atomic
def referral_close(
    *, referral: Referral, outcome: str, actor, reason_code: str = "", note: str = ""
) -> Referral:
    """Close with an outcome; every outcome but ``qualified`` needs a reason code.

    While a referral awaits a pending review (medical review, extra validation) nobody may judge
    it: ``qualified``, ``not_qualified`` and ``unreachable`` wait until the review is decided (a
    rejection closes it ``not_qualified`` itself). It may still be closed as declined,
    withdrawn, duplicate or entered in error.
    """
    if outcome not in Outcome.values:
        raise ApplicationError("unknown outcome", code="unknown_outcome", field="outcome")
    # routing builds on intake; imported here to keep the dependency one way at import time.
    from refdesk.routing.selectors import review_pending

    if (
        referral.stage == Stage.AWAITING_REVIEW
        and outcome in REVIEW_GATED_OUTCOMES
        and review_pending(referral)
    ):
        raise InvalidTransition(
            "this referral awaits its review; approve or reject the review before "
            "qualifying, disqualifying or marking it unreachable",
            code="awaiting_review",
        )
    if outcome != Outcome.QUALIFIED and not reason_code:
        raise ApplicationError(
            "this outcome needs a reason code", code="reason_required", field="reason_code"
        )
    now = timezone.now()
    updated = (
        Referral.objects.filter(pk=referral.pk, stage=referral.stage)
        .exclude(stage=Stage.CLOSED)
        .update(
            stage=Stage.CLOSED,
            outcome=outcome,
            outcome_reason=reason_code,
            closed_at=now,
            updated_at=now,
        )
    )
    if updated != 1:
        raise InvalidTransition("the referral is already closed or changed meanwhile")
    audit_record(
        actor=actor,
        action="referral.closed",
        subject=referral,
        reason=note,
        changes={
            "stage": (referral.stage, Stage.CLOSED),
            "outcome": (None, outcome),
            "outcome_reason": (None, reason_code),
        },
    )
    referral.stage, referral.outcome, referral.outcome_reason = Stage.CLOSED, outcome, reason_code
    referral.closed_at = now
    return referral


@transaction.atomic
def referral_record_prescreen(
    *, referral: Referral, outcome: str, actor, reasons: list[str] = ()
) -> Referral:
    """Record a trial prescreen outcome (with the failing or missing markers as reasons)."""
    if outcome not in PrescreenOutcome.values:
        raise ApplicationError("unknown prescreen outcome", code="unknown_prescreen_outcome")
    if referral.program.goal != "trial_prescreening":
        raise ApplicationError(
            "only trial programs have prescreen outcomes", code="not_a_trial_program"
        )
    old = referral.prescreen_outcome
    Referral.objects.filter(pk=referral.pk).update(
        prescreen_outcome=outcome, updated_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="referral.prescreen_recorded",
        subject=referral,
        changes={"prescreen_outcome": (old or None, outcome)},
        reason="; ".join(reasons),
    )
    referral.prescreen_outcome = outcome
    if referral.stage in REEVALUATE_STAGES:
        # Routing may depend on the outcome: re-run the engine, keeping the recorded outcome
        # (a person's finding stands; the stored decision shows the engine's view beside it).
        from refdesk.routing.services import referral_reevaluate

        referral_reevaluate(
            referral=referral, actor=actor, reason="prescreen recorded", keep_prescreen=True
        )
    return referral


# Open stages in which new information re-runs the routing engine (see referral_reevaluate).
REEVALUATE_STAGES = (Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED)


@transaction.atomic
def referral_update_answers(
    *, referral: Referral, answers: dict[str, Any], actor, reason: str
) -> Referral:
    """Staff add or correct intake answers (e.g. markers once records arrive), then the engine
    re-runs: prescreen, qualification and route may change; every decision is kept.

    Answers are validated against the referral's own program version; a value of None removes
    an answer. Audited with fingerprints only (answers are patient data).
    """
    from refdesk.intake.validation import clean_answers
    from refdesk.programs.selectors import version_definition
    from refdesk.routing.services import referral_reevaluate

    if not (reason or "").strip():
        raise ApplicationError("say why the answers change", code="reason_required", field="reason")
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.stage not in REEVALUATE_STAGES:
        raise InvalidTransition(f"answers of a referral in {referral.stage} cannot be updated")
    merged = {**referral.answers, **answers}
    merged = {key: value for key, value in merged.items() if value is not None}
    cleaned, errors = clean_answers(version_definition(referral.program_version), merged)
    if errors:
        raise ValidationFailed(errors)
    old = referral.answers
    referral.answers = cleaned
    referral.save(update_fields=["answers", "updated_at"])
    audit_record(
        actor=actor,
        action="referral.answers_updated",
        subject=referral,
        sensitive_fields=Referral.SENSITIVE_FIELDS,
        changes={"answers": (old, cleaned), "items": (None, sorted(answers))},
        reason=reason,
    )
    referral_reevaluate(referral=referral, actor=actor, reason=reason)
    return referral
