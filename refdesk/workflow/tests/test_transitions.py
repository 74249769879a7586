"""The lifecycle's one guarded transition: the action table, the conditional UPDATE (a lost race
is a 409 naming the current stage, nothing written) and the audit event; closing and prescreen
outcomes through it."""

import pytest

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError, InvalidTransition
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.models import Referral
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.closing import referral_close, referral_record_prescreen
from refdesk.workflow.submission import referral_submit
from refdesk.workflow.transitions import ACTIONS, referral_transition

pytestmark = pytest.mark.django_db

WORKER = "user:coordinator"


@pytest.fixture
def referral():
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


def test_a_move_the_table_allows_is_applied_and_audited_once(referral):
    assert referral.stage == Stage.QUEUED  # routed on arrival
    referral_transition(referral, action="claim", actor=WORKER, to=Stage.IN_PROGRESS)
    assert Referral.objects.get(pk=referral.pk).stage == Stage.IN_PROGRESS
    event = AuditEvent.objects.filter(action="referral.claimed").get()
    assert event.changes["stage"] == {"old": "queued", "new": "in_progress"}


def test_a_move_the_table_does_not_allow_is_a_409_naming_the_stage_and_writes_nothing(referral):
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition) as refused:
        referral_transition(referral, action="claim", actor=WORKER, to=Stage.SCHEDULED)
    assert refused.value.status == 409
    assert "queued" in refused.value.message
    assert Referral.objects.get(pk=referral.pk).stage == Stage.QUEUED
    assert AuditEvent.objects.count() == events


def test_an_action_from_a_stage_it_does_not_start_from_is_refused(referral):
    closed = _closed(referral)
    refusal = "Re-evaluating is not possible while the referral is closed"
    with pytest.raises(InvalidTransition, match=refusal) as refused:
        referral_transition(closed, action="reevaluate", actor=WORKER)
    assert refused.value.extra == {"stage": Stage.CLOSED}


def _closed(referral):
    referral_close(referral=referral, outcome=Outcome.QUALIFIED, actor=WORKER)
    return Referral.objects.get(pk=referral.pk)


def test_a_move_based_on_a_stale_copy_loses_with_a_409_naming_the_current_stage(referral):
    stale = Referral.objects.get(pk=referral.pk)
    referral_transition(referral, action="claim", actor=WORKER, to=Stage.IN_PROGRESS)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidTransition, match="in progress now") as lost:
        referral_transition(
            stale, action="request_info", actor="user:someone-else", to=Stage.NEEDS_INFO
        )
    assert lost.value.status == 409
    assert lost.value.code == "changed_meanwhile"
    assert lost.value.extra == {"stage": Stage.IN_PROGRESS}
    assert Referral.objects.get(pk=referral.pk).stage == Stage.IN_PROGRESS
    assert AuditEvent.objects.count() == events


def test_every_action_that_can_move_a_referral_names_the_audit_event_it_writes():
    for name, action in ACTIONS.items():
        if action.targets:
            assert action.audit.startswith("referral."), name


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
