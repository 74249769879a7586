"""Stage moves, closing and prescreen outcomes: state-checked, race-safe, audited."""

import pytest

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError, InvalidTransition
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.lifecycle import referral_close, referral_move, referral_record_prescreen
from refdesk.intake.models import Referral
from refdesk.intake.services import referral_submit
from refdesk.testing import apply_demo_programs, make_referrer, trial_submission

pytestmark = pytest.mark.django_db

WORKER = "user:coordinator"


@pytest.fixture
def referral():
    apply_demo_programs()
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    return referral_submit(
        referrer=referrer, submission=trial_submission(), method="api", actor=referrer
    ).referral


def _actions(referral):
    return list(
        AuditEvent.objects.filter(subject_id=str(referral.public_id)).values_list(
            "action", flat=True
        )
    )


def test_a_referral_moves_along_allowed_stages_with_an_audit_event_each(referral):
    assert referral.stage == Stage.QUEUED  # routed on arrival
    referral_move(referral=referral, stage=Stage.IN_PROGRESS, actor=WORKER, reason="claimed")
    referral_move(referral=referral, stage=Stage.SCHEDULED, actor=WORKER)
    assert Referral.objects.get(pk=referral.pk).stage == Stage.SCHEDULED
    moves = AuditEvent.objects.filter(action="referral.stage_changed").order_by("seq")
    assert [event.changes["stage"] for event in moves] == [
        {"old": "queued", "new": "in_progress"},
        {"old": "in_progress", "new": "scheduled"},
    ]


def test_a_move_the_lifecycle_does_not_allow_is_refused(referral):
    with pytest.raises(InvalidTransition):
        referral_move(referral=referral, stage=Stage.SCHEDULED, actor=WORKER)
    assert Referral.objects.get(pk=referral.pk).stage == Stage.QUEUED


def test_a_move_based_on_a_stale_copy_fails_instead_of_overwriting(referral):
    stale = Referral.objects.get(pk=referral.pk)
    referral_move(referral=referral, stage=Stage.IN_PROGRESS, actor=WORKER)
    with pytest.raises(InvalidTransition, match="changed meanwhile"):
        referral_move(referral=stale, stage=Stage.NEEDS_INFO, actor="user:someone-else")
    assert Referral.objects.get(pk=referral.pk).stage == Stage.IN_PROGRESS


def test_every_outcome_but_qualified_needs_a_reason_code(referral):
    with pytest.raises(ApplicationError) as failure:
        referral_close(referral=referral, outcome=Outcome.DECLINED, actor=WORKER)
    assert failure.value.code == "reason_required"
    referral_close(
        referral=referral, outcome=Outcome.DECLINED, actor=WORKER, reason_code="lead_declined"
    )
    stored = Referral.objects.get(pk=referral.pk)
    assert (stored.stage, stored.outcome, stored.outcome_reason) == (
        Stage.CLOSED,
        Outcome.DECLINED,
        "lead_declined",
    )
    assert stored.closed_at is not None


def test_a_closed_referral_cannot_be_closed_again(referral):
    referral_close(referral=referral, outcome=Outcome.QUALIFIED, actor=WORKER)
    with pytest.raises(InvalidTransition):
        referral_close(referral=referral, outcome=Outcome.QUALIFIED, actor=WORKER)
    assert _actions(referral).count("referral.closed") == 1


def test_prescreen_outcomes_are_recorded_with_reasons(referral):
    referral_record_prescreen(
        referral=referral,
        outcome=PrescreenOutcome.NOT_ELIGIBLE,
        actor=WORKER,
        reasons=["ecog_0_to_2"],
    )
    assert Referral.objects.get(pk=referral.pk).prescreen_outcome == "not_eligible"
    event = AuditEvent.objects.get(action="referral.prescreen_recorded")
    assert event.reason == "ecog_0_to_2"
    with pytest.raises(ApplicationError):
        referral_record_prescreen(referral=referral, outcome="maybe", actor=WORKER)
