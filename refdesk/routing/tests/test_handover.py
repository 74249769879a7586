"""referral_assign_to: a supervisor hands a referral to a chosen member — only to someone who may
work it, only while it is open in a queue, audited with who had it before."""

from __future__ import annotations

import pytest

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership
from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError, InvalidTransition, PermissionDenied
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral, ReferralNote
from refdesk.routing.models import Review
from refdesk.routing.selectors import assignees_for
from refdesk.testing import education, reviewer, staff, submit, trial
from refdesk.workflow.assignment import referral_assign_to, referral_claim
from refdesk.workflow.closing import referral_close
from refdesk.workflow.reviews import review_approve

pytestmark = pytest.mark.django_db


def coordinator(name: str, **kwargs):
    return staff(name, Role.CLINICAL_OPS_COORDINATOR, "clinical-ops", **kwargs)


def owner(name: str = "olga"):
    return staff(name, Role.PROGRAM_OWNER, "clinical-ops", "medical-affairs")


@pytest.fixture
def team():
    """ana has the queued trial referral; ben is free; olga supervises clinical-ops."""
    ana = coordinator("ana")
    referral = submit("trial-prescreening", trial(0))
    assert referral.assigned_to == ana
    return {"ana": ana, "ben": coordinator("ben"), "olga": owner(), "referral": referral}


def stored(referral) -> Referral:
    return Referral.objects.select_related("queue", "assigned_to").get(pk=referral.pk)


def test_the_supervisor_hands_a_queued_referral_to_a_chosen_member(team):
    referral = referral_assign_to(
        referral=team["referral"], assignee=team["ben"], actor=team["olga"], reason="ana is away"
    )
    assert referral.assigned_to == team["ben"]
    assert (stored(referral).stage, stored(referral).assigned_to) == (Stage.QUEUED, team["ben"])
    event = AuditEvent.objects.filter(action="referral.assigned").latest("seq")
    assert event.actor == "user:olga"
    assert event.subject_id == str(referral.public_id)
    assert event.changes["assigned_to"] == {"old": "ana", "new": "ben"}
    # What the supervisor wrote is a note, encrypted with the referral; the trail refers to it.
    note = ReferralNote.objects.get(referral=referral)
    assert note.text == "ana is away" and event.reason == ""
    assert event.changes["note"]["new"]["id"] == str(note.public_id)


def test_work_in_progress_changes_hands_and_stays_in_progress(team):
    referral_claim(referral=team["referral"], user=team["ana"])
    referral = stored(team["referral"])
    referral_assign_to(referral=referral, assignee=team["ben"], actor=team["olga"])
    assert (stored(referral).stage, stored(referral).assigned_to) == (
        Stage.IN_PROGRESS,
        team["ben"],
    )


def test_an_unassigned_referral_is_recorded_as_coming_from_nobody(team):
    Referral.objects.filter(pk=team["referral"].pk).update(assigned_to=None)
    referral_assign_to(referral=stored(team["referral"]), assignee=team["ben"], actor="system:x")
    event = AuditEvent.objects.filter(action="referral.assigned").latest("seq")
    assert event.changes["assigned_to"] == {"old": None, "new": "ben"}


@pytest.mark.parametrize(
    "who",
    ["away", "inactive", "other_team", "supervisor", "commercial_rep"],
)
def test_nobody_gets_work_they_may_not_or_cannot_do(team, who):
    referral = stored(team["referral"])
    if who == "away":
        assignee = coordinator("cai", available=False)
    elif who == "inactive":
        assignee = coordinator("dee")
        assignee.is_active = False
        assignee.save(update_fields=["is_active"])
    elif who == "other_team":
        assignee = staff("paula", Role.PATIENT_SERVICES_AGENT, "patient-services")
    elif who == "supervisor":
        assignee = owner("otto")  # in the team, but supervisors do not work leads
    else:
        # In the team, but a commercial rep never sees (let alone works) a patient lead.
        assignee = staff("cody", Role.COMMERCIAL_REP, "clinical-ops")
    with pytest.raises(ApplicationError) as refused:
        referral_assign_to(referral=referral, assignee=assignee, actor=team["olga"])
    assert (refused.value.code, refused.value.field) == ("assignee_not_eligible", "assignee")
    assert stored(referral).assigned_to == team["ana"]
    assert not AuditEvent.objects.filter(action="referral.assigned", actor="user:olga").exists()


def test_handing_it_to_its_current_assignee_is_refused(team):
    with pytest.raises(ApplicationError) as refused:
        referral_assign_to(referral=team["referral"], assignee=team["ana"], actor=team["olga"])
    assert refused.value.code == "already_assigned"


def test_a_person_the_policy_does_not_let_assign_is_refused(team):
    """A coordinator is a peer: they claim or use the rotation, they do not pick a colleague."""
    with pytest.raises(PermissionDenied):
        referral_assign_to(referral=team["referral"], assignee=team["ben"], actor=team["ana"])
    assert stored(team["referral"]).assigned_to == team["ana"]


def test_a_closed_referral_cannot_be_assigned(team):
    referral_close(referral=team["referral"], outcome=Outcome.QUALIFIED, actor=team["ana"])
    with pytest.raises(InvalidTransition) as refused:
        referral_assign_to(
            referral=stored(team["referral"]), assignee=team["ben"], actor=team["olga"]
        )
    assert (refused.value.code, refused.value.status) == ("invalid_transition", 409)
    assert refused.value.extra == {"stage": Stage.CLOSED}


def test_a_referral_awaiting_medical_review_is_assigned_by_the_review_decision():
    specialist = staff("mira", Role.MEDICAL_AFFAIRS_SPECIALIST, "medical-affairs")
    rui = reviewer()
    referral = submit("provider-education", education(1, request_type="clinical_question"))
    supervisor = owner()
    assert referral.stage == Stage.AWAITING_REVIEW
    with pytest.raises(InvalidTransition):
        referral_assign_to(referral=stored(referral), assignee=specialist, actor=supervisor)
    review_approve(review=Review.objects.get(referral=referral), reviewer=rui, note="ok")
    referral = stored(referral)
    assert referral.stage == Stage.QUEUED
    other = referral.assigned_to  # the rotation's choice; the supervisor may now pick the other
    target = rui if other == specialist else specialist
    referral_assign_to(referral=referral, assignee=target, actor=supervisor)
    assert stored(referral).assigned_to == target


def test_a_stale_copy_loses_to_a_concurrent_change(team):
    stale = stored(team["referral"])
    referral_claim(referral=team["referral"], user=team["ana"])  # meanwhile
    with pytest.raises(InvalidTransition, match="changed meanwhile"):
        referral_assign_to(referral=stale, assignee=team["ben"], actor=team["olga"])
    assert stored(team["referral"]).assigned_to == team["ana"]


def test_the_choice_lists_eligible_members_with_their_open_load(team):
    coordinator("cai", available=False)
    staff("cody", Role.COMMERCIAL_REP, "clinical-ops")
    submit("trial-prescreening", trial(1))  # someone's second open referral
    choices = assignees_for(stored(team["referral"]))
    assert [user.username for user in choices] == ["ben"]  # not ana (has it), cai, cody, olga
    assert choices[0].open_load == Referral.objects.filter(assigned_to=team["ben"]).count()
    TeamMembership.objects.filter(user=team["ben"]).update(available=False)
    assert assignees_for(stored(team["referral"])) == []
