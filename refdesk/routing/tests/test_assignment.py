"""referral_assign / referral_claim: fair, never to the absent, counted when nobody is there."""

from __future__ import annotations

from collections import Counter

import pytest

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership
from refdesk.audit.models import AuditEvent
from refdesk.core.errors import InvalidTransition, PermissionDenied
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.routing.selectors import unassigned_counts_by_queue
from refdesk.testing import staff, submit, trial
from refdesk.workflow.assignment import referral_assign, referral_claim
from refdesk.workflow.closing import referral_close

pytestmark = pytest.mark.django_db

QUEUE = "clinical-ops-prescreening"  # worked by the clinical-ops team


def coordinator(name: str, **kwargs):
    return staff(name, Role.CLINICAL_OPS_COORDINATOR, "clinical-ops", **kwargs)


def test_load_is_spread_evenly_over_the_available_members():
    team = [coordinator(name) for name in ("ana", "ben", "cai")]
    referrals = [submit("trial-prescreening", trial(n)) for n in range(30)]
    counts = Counter(r.assigned_to.username for r in referrals)
    assert counts == {"ana": 10, "ben": 10, "cai": 10}
    assert {r.stage for r in referrals} == {Stage.QUEUED}
    # In turn: the first three went to three different people.
    assert len({r.assigned_to for r in referrals[:3]}) == 3
    assert set(counts) == {user.username for user in team}


def test_an_inactive_user_or_an_away_member_is_never_chosen():
    coordinator("ana")
    gone = coordinator("ben")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    coordinator("cai", available=False)
    referrals = [submit("trial-prescreening", trial(n)) for n in range(6)]
    assert {r.assigned_to.username for r in referrals} == {"ana"}


def test_work_goes_only_to_members_whose_role_works_the_lead():
    """A supervisor in the team is not a worker, and a commercial rep never gets a patient lead
    (they may not even see one): with only them in the team, the referral waits unassigned."""
    staff("olga", Role.PROGRAM_OWNER, "clinical-ops")
    staff("cody", Role.COMMERCIAL_REP, "clinical-ops")
    waiting = submit("trial-prescreening", trial(0))
    assert waiting.assigned_to is None
    ana = coordinator("ana")
    referrals = [submit("trial-prescreening", trial(n)) for n in range(1, 5)]
    assert {r.assigned_to for r in referrals} == {ana}


def test_with_nobody_available_the_referral_waits_unassigned_and_is_counted():
    coordinator("cai", available=False)
    referrals = [submit("trial-prescreening", trial(n)) for n in range(3)]
    assert all(r.stage == Stage.QUEUED and r.assigned_to is None for r in referrals)
    assert unassigned_counts_by_queue() == {QUEUE: 3}
    # Someone comes back: the next assignment pass finds them.
    TeamMembership.objects.filter(user__username="cai").update(available=True)
    assert referral_assign(referral=referrals[0], actor="system:test").username == "cai"
    assert unassigned_counts_by_queue() == {QUEUE: 2}


def test_closed_work_does_not_count_as_load():
    ana, ben = coordinator("ana"), coordinator("ben")
    first = submit("trial-prescreening", trial(0))
    assert first.assigned_to == ana
    referral_claim(referral=first, user=ana)
    referral_close(referral=first, outcome=Outcome.QUALIFIED, actor=ana)
    # ana has no open work now, ben neither; ben has had fewer assignments, so it is his turn.
    assert submit("trial-prescreening", trial(1)).assigned_to == ben
    assert submit("trial-prescreening", trial(2)).assigned_to == ana


def test_assignment_writes_only_when_still_unassigned():
    ana = coordinator("ana")
    referral = submit("trial-prescreening", trial(0))
    stale = Referral.objects.get(pk=referral.pk)
    stale.assigned_to = None  # a copy read before the assignment
    coordinator("ben")
    assert referral_assign(referral=stale, actor="system:test") is None
    assert Referral.objects.get(pk=referral.pk).assigned_to == ana
    assert AuditEvent.objects.filter(action="referral.assigned").count() == 1


def test_claiming_starts_the_work_and_is_audited():
    ana = coordinator("ana")
    referral = submit("trial-prescreening", trial(0))
    referral_claim(referral=referral, user=ana)
    referral.refresh_from_db()
    assert referral.stage == Stage.IN_PROGRESS and referral.assigned_to == ana
    event = AuditEvent.objects.get(action="referral.claimed")
    assert event.changes["stage"] == {"old": "queued", "new": "in_progress"}
    with pytest.raises(InvalidTransition):
        referral_claim(referral=referral, user=ana)


def test_nobody_claims_work_assigned_to_someone_else_and_the_inactive_claim_nothing():
    ana = coordinator("ana")
    referral = submit("trial-prescreening", trial(0))
    ben = coordinator("ben")
    with pytest.raises(InvalidTransition):
        referral_claim(referral=referral, user=ben)
    ana.is_active = False
    with pytest.raises(PermissionDenied):
        referral_claim(referral=referral, user=ana)
    assert Referral.objects.get(pk=referral.pk).stage == Stage.QUEUED
