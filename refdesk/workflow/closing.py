"""Judging a referral: closing it with an outcome, recording a prescreen outcome, correcting its
answers (which re-runs the engine)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from refdesk.audit.services import Actor, audit_batch
from refdesk.core.errors import ApplicationError, InvalidTransition, ValidationFailed
from refdesk.intake.choices import (
    OUTCOME_REASONS,
    REVIEW_GATED_OUTCOMES,
    SYSTEM_OUTCOME_REASONS,
    Outcome,
    PrescreenOutcome,
    Stage,
)
from refdesk.intake.models import NoteKind, Referral
from refdesk.intake.notes import note_write
from refdesk.intake.validation import clean_answers
from refdesk.programs.selectors import version_definition
from refdesk.routing.selectors import review_pending
from refdesk.workflow.route import referral_reevaluate
from refdesk.workflow.transitions import ACTIONS, action_guard, referral_transition

# The action each outcome is taken with (the table says from which stages).
_CLOSE_ACTIONS = {Outcome.QUALIFIED: "qualify", Outcome.NOT_QUALIFIED: "disqualify"}


def referral_close(
    *,
    referral: Referral,
    outcome: str,
    actor: Actor,
    reason_code: str = "",
    note: str = "",
    action: str | None = None,
) -> Referral:
    """Close with an outcome; every outcome but ``qualified`` needs its reason code.

    While a review is pending nobody may judge the lead: ``qualified``, ``not_qualified`` and
    ``unreachable`` wait until it is decided (a rejection closes it ``not_qualified`` itself).
    It may still be closed as declined, withdrawn, duplicate or entered in error. ``action``
    names the table entry when a closing is part of another action (a rejected review, a
    withdrawal of consent); the reason codes refdesk sets itself are accepted only then.
    """
    if outcome not in Outcome.values:
        raise ApplicationError("unknown outcome", code="unknown_outcome", field="outcome")
    if outcome != Outcome.QUALIFIED:
        allowed = OUTCOME_REASONS.get(outcome, ())
        if action is not None:
            allowed += SYSTEM_OUTCOME_REASONS.get(outcome, ())
        if not reason_code:
            raise ApplicationError(
                "this outcome needs a reason code", code="reason_required", field="reason_code"
            )
        if reason_code not in allowed:
            raise ApplicationError(
                f"{reason_code} is not a reason code for {outcome}; use one of: "
                + ", ".join(allowed),
                code="unknown_reason_code",
                field="reason_code",
            )
    elif reason_code:
        raise ApplicationError(
            "a qualified referral takes no reason code", code="reason_not_allowed"
        )
    action = action or _CLOSE_ACTIONS.get(outcome, "close")
    with transaction.atomic():
        # The review gate first: its refusal says what to do, whatever the stage.
        if outcome in REVIEW_GATED_OUTCOMES and review_pending(referral):
            raise InvalidTransition(
                "this referral awaits its review; approve or reject the review before "
                "qualifying, disqualifying or marking it unreachable",
                code="awaiting_review",
                extra={"stage": referral.stage},
            )
        action_guard(referral, action, to=Stage.CLOSED)
        now = timezone.now()
        written = note_write(referral=referral, kind=NoteKind.CLOSE, text=note, actor=actor, at=now)
        return referral_transition(
            referral,
            action=action,
            actor=actor,
            to=Stage.CLOSED,
            values={"outcome": outcome, "outcome_reason": reason_code, "closed_at": now},
            note=written,
            now=now,
        )


def referral_record_prescreen(
    *, referral: Referral, outcome: str, actor: Actor, reasons: list[str] = ()
) -> Referral:
    """Record a trial prescreen outcome (the failing or missing markers, by name, as reasons);
    routing may depend on it, so the engine re-runs, keeping the recorded outcome (a person's
    finding stands; the stored decision shows the engine's view beside it)."""
    if outcome not in PrescreenOutcome.values:
        raise ApplicationError(
            "unknown prescreen outcome", code="unknown_prescreen_outcome", field="prescreen_outcome"
        )
    if referral.program.goal != "trial_prescreening":
        raise ApplicationError(
            "only trial programs have prescreen outcomes", code="not_a_trial_program"
        )
    with transaction.atomic(), audit_batch():
        referral_transition(
            referral,
            action="record_prescreen",
            actor=actor,
            values={"prescreen_outcome": outcome},
            # Named even when the engine had found the same: a person has now confirmed it.
            changes={"prescreen_outcome": (referral.prescreen_outcome or None, outcome)},
            reason="; ".join(reasons),
        )
        if referral.stage in ACTIONS["reevaluate"].sources:
            referral_reevaluate(
                referral=referral, actor=actor, reason="prescreen recorded", keep_prescreen=True
            )
    return referral


def referral_update_answers(
    *, referral: Referral, answers: dict[str, Any], actor: Actor, reason: str
) -> Referral:
    """Staff add or correct intake answers (e.g. markers once records arrive), then the engine
    re-runs: prescreen, qualification and route may change; every decision is kept.

    Answers are validated against the referral's own program version; a value of None removes
    an answer. Audited with fingerprints only (answers are patient data); the reason a person
    gives is a note.
    """
    if not (reason or "").strip():
        raise ApplicationError("say why the answers change", code="reason_required", field="reason")
    with transaction.atomic(), audit_batch():
        referral = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("program_version", "program")
            .get(pk=referral.pk)
        )
        action_guard(referral, "update_answers")
        merged = {**referral.answers, **answers}
        merged = {key: value for key, value in merged.items() if value is not None}
        cleaned, errors = clean_answers(version_definition(referral.program_version), merged)
        if errors:
            raise ValidationFailed(errors)
        now = timezone.now()
        note = note_write(
            referral=referral, kind=NoteKind.ANSWERS, text=reason, actor=actor, at=now
        )
        referral_transition(
            referral,
            action="update_answers",
            actor=actor,
            values={"answers": cleaned},
            changes={"items": (None, sorted(answers))},
            sensitive_fields=Referral.SENSITIVE_FIELDS,
            note=note,
            now=now,
        )
        referral_reevaluate(referral=referral, actor=actor, reason="answers updated")
    return referral
