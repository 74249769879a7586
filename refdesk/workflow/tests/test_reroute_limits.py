"""A person re-routes a referral only to a queue of its own program whose team may work that
kind of lead: otherwise it is refused with the reason, and nothing is written.

Before: a patient could be re-routed to ``commercial`` (nobody may work a patient there: it sat
unassigned and invisible), and across programs (a patient-support referral re-routed to trial
prescreening was given to a trial coordinator, who then saw a patient who had consented only to
patient support).
"""

from __future__ import annotations

import pytest
from django.http import Http404

from refdesk.access.selectors import referral_get_for_user
from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError
from refdesk.intake.models import Referral
from refdesk.routing.models import RoutingDecision
from refdesk.routing.selectors import reroute_targets
from refdesk.testing import coordinator, education, rep, specialist, staff, submit, support
from refdesk.workflow.route import referral_reroute

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient():
    agent = staff("paula.agent", Role.PATIENT_SERVICES_AGENT, "patient-services")
    return agent, submit("patient-support", support(1, request_type="helpline_callback"))


def _refused(referral, queue, actor) -> ApplicationError:
    decisions, events = RoutingDecision.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ApplicationError) as refused:
        referral_reroute(referral=referral, queue=queue, reason="moving it", actor=actor)
    assert (RoutingDecision.objects.count(), AuditEvent.objects.count()) == (decisions, events)
    assert Referral.objects.get(pk=referral.pk).queue_id == referral.queue_id
    return refused.value


def test_a_patient_is_never_re_routed_to_the_commercial_team(patient):
    agent, referral = patient
    rep()  # the commercial team has somebody: still not a queue of patient support
    error = _refused(referral, "commercial", agent)
    assert error.code == "reroute_other_program" and error.field == "queue"


def test_a_patient_is_never_re_routed_into_another_program(patient):
    agent, referral = patient
    carl = coordinator()
    error = _refused(referral, "clinical-ops-prescreening", agent)
    assert "not a queue of this referral's program" in error.message
    with pytest.raises(Http404):  # the coordinator never sees the patient
        referral_get_for_user(user=carl, public_id=referral.public_id)


def test_a_queue_whose_team_may_not_work_the_lead_is_refused_with_the_reason():
    mira = specialist()
    referral = submit("provider-education", education(1, therapy_area=""))
    error = _refused(referral, "drug-safety", mira)  # nobody in drug safety works clinicians
    assert error.code == "reroute_not_workable"
    assert "nobody in the team of drug-safety may work a clinician lead" in error.message


def test_an_unknown_queue_says_it_does_not_exist(patient):
    agent, referral = patient
    assert "does not exist" in _refused(referral, "no-such-queue", agent).message


def test_a_queue_of_the_same_program_and_a_team_that_works_the_lead_is_fine(patient):
    agent, referral = patient
    referral_reroute(
        referral=referral, queue="patient-access", reason="asks about costs", actor=agent
    )
    stored = Referral.objects.select_related("queue", "assigned_to").get(pk=referral.pk)
    assert stored.queue.slug == "patient-access" and stored.assigned_to == agent


def test_the_targets_offered_are_the_programs_other_queues_each_allowed_or_not(patient):
    _agent, referral = patient
    targets = {t.queue.slug: (t.allowed, t.why_not) for t in reroute_targets(referral)}
    assert targets == {
        "patient-access": (True, ""),
        "drug-safety": (False, "nobody in the team of drug-safety may work a patient lead"),
    }
