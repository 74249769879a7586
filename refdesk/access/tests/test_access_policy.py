"""The access policy (accounts/policy.py) through the access helpers (desk/access.py)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from refdesk.access import policy
from refdesk.access.selectors import (
    NOT_FOUND_MESSAGE,
    PATIENT_DATA_VIEWED,
    lead_names_for_visible,
    lead_view,
    queue_get_for_user,
    queue_list_visible_to,
    referral_get_for_user,
    referral_list_visible_to,
    referral_name_matches,
)
from refdesk.accounts import roles
from refdesk.accounts.choices import Role
from refdesk.accounts.roles import assignee_roles
from refdesk.audit.models import AuditEvent
from refdesk.core.crypto import name_query_words
from refdesk.intake.models import Referral
from refdesk.routing.models import Queue
from refdesk.testing import education, make_personas, staff, submit, support, trial

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    people = make_personas()
    referrals = {
        "trial": submit("trial-prescreening", trial(1)),
        "support": submit("patient-support", support(2)),
        "education": submit("provider-education", education(3)),
        "product": submit("provider-education", education(4, request_type="product_discussion")),
    }
    return people, referrals


def not_found_message(call) -> str:
    with pytest.raises(Http404) as caught:
        call()
    return str(caught.value)


def test_a_coordinator_sees_only_the_queues_of_their_team(world):
    people, _ = world
    slugs = set(queue_list_visible_to(user=people["coordinator"]).values_list("slug", flat=True))
    assert slugs == {"clinical-ops-prescreening"}


def test_the_auditor_reads_every_queue_and_the_administrator_none_without_a_team(world):
    people, _ = world
    assert queue_list_visible_to(user=people["auditor"]).count() >= 8
    assert not queue_list_visible_to(user=people["admin"]).exists()


def test_anonymous_and_deactivated_users_see_nothing(world):
    people, referrals = world
    gone = people["coordinator"]
    gone.is_active = False
    for user in (AnonymousUser(), gone):
        assert not queue_list_visible_to(user=user).exists()
        assert not referral_list_visible_to(user=user).exists()
        assert lead_view(user=user, referral=referrals["trial"]) is None


def test_a_user_without_a_known_role_is_denied_everything(world):
    _, referrals = world
    nobody = staff("nobody", Role.PATIENT_SERVICES_AGENT, "clinical-ops")
    nobody.role = ""
    assert not referral_list_visible_to(user=nobody).exists()
    assert policy.allowed_actions(nobody, referrals["trial"]) == frozenset()


def test_another_teams_referral_is_exactly_as_missing_as_an_unknown_one(world):
    people, referrals = world
    agent = people["agent"]
    foreign = not_found_message(
        lambda: referral_get_for_user(user=agent, public_id=referrals["trial"].public_id)
    )
    unknown = not_found_message(lambda: referral_get_for_user(user=agent, public_id=uuid.uuid4()))
    garbage = not_found_message(lambda: referral_get_for_user(user=agent, public_id="1 OR 1=1"))
    assert foreign == unknown == garbage == NOT_FOUND_MESSAGE
    assert referral_get_for_user(user=agent, public_id=referrals["support"].public_id)


def test_a_queue_of_another_team_is_exactly_as_missing_as_an_unknown_one(world):
    people, _ = world
    rep = people["rep"]
    assert queue_get_for_user(user=rep, slug="commercial").slug == "commercial"
    foreign = not_found_message(lambda: queue_get_for_user(user=rep, slug="patient-services"))
    unknown = not_found_message(lambda: queue_get_for_user(user=rep, slug="no-such-queue"))
    assert foreign == unknown


def test_the_commercial_rep_never_sees_a_patient_lead_even_in_the_commercial_queue(world):
    people, referrals = world
    patient = referrals["trial"]
    # The workflow never re-routes a patient to commercial (nobody there may work one); should
    # one ever sit there (data from before that check), the policy still hides it.
    Referral.objects.filter(pk=patient.pk).update(queue=Queue.objects.get(slug="commercial"))
    patient = Referral.objects.select_related("queue").get(pk=patient.pk)
    rep = people["rep"]
    visible = set(referral_list_visible_to(user=rep).values_list("reference", flat=True))
    assert visible == {referrals["product"].reference}
    with pytest.raises(Http404):
        referral_get_for_user(user=rep, public_id=patient.public_id)
    assert lead_view(user=rep, referral=patient) is None
    assert policy.allowed_actions(rep, patient) == frozenset()


def test_the_commercial_rep_sees_the_clinician_lead_they_work(world):
    people, referrals = world
    product = referral_get_for_user(user=people["rep"], public_id=referrals["product"].public_id)
    view = lead_view(user=people["rep"], referral=product)
    assert view["masked"] is False
    assert view["name"] == "Samuel Adeyemi"
    assert not AuditEvent.objects.filter(action=PATIENT_DATA_VIEWED).exists()  # not a patient


def test_showing_a_patient_lead_to_its_worker_is_audited_without_the_values(world):
    people, referrals = world
    referral = referral_get_for_user(
        user=people["coordinator"], public_id=referrals["trial"].public_id
    )
    view = lead_view(user=people["coordinator"], referral=referral)
    assert view["masked"] is False
    assert view["fields"]["family_name"] == "Quill"
    assert view["answers"]["ecog"] == 1
    event = AuditEvent.objects.get(action=PATIENT_DATA_VIEWED)
    assert (event.actor, event.subject_id) == ("user:p-coordinator", str(referral.public_id))
    assert "Quill" not in str(event.changes) and "example.org" not in str(event.changes)


@pytest.mark.parametrize("persona", ["owner", "auditor"])
def test_supervisors_and_auditors_see_the_patient_lead_masked_and_nothing_is_audited(
    world, persona
):
    people, referrals = world
    user = people[persona]
    referral = referral_get_for_user(user=user, public_id=referrals["trial"].public_id)
    view = lead_view(user=user, referral=referral)
    assert view["masked"] is True
    assert view["name"] == policy.MASK
    assert view["fields"]["family_name"] == policy.MASK
    assert view["fields"]["preferred_contact"] == "phone"  # not identifying on its own
    assert set(view["answers"].values()) == {policy.MASK}
    assert not AuditEvent.objects.filter(action=PATIENT_DATA_VIEWED).exists()


def test_a_drug_safety_member_sees_a_referral_noticed_to_their_queue(world):
    _, _ = world
    safety = staff("sam.safety", Role.MEDICAL_AFFAIRS_SPECIALIST, "drug-safety")
    flagged = submit("patient-support", support(9, reason="I had a bad side effect last week."))
    assert flagged.queue.slug == "patient-services"
    found = referral_get_for_user(user=safety, public_id=flagged.public_id)
    assert lead_view(user=safety, referral=found)["masked"] is False
    assert list(referral_list_visible_to(user=safety)) == [flagged]


WORKER_ACTIONS = set(policy.ACTIONS) - {"assign_to"}  # choosing who works it: supervisors
ACTIONS_BY_PERSONA = {
    # persona: (referral it is tried on, actions the policy allows)
    "agent": (
        "support",
        WORKER_ACTIONS - {"record_prescreen", "approve_review", "reject_review"},
    ),
    "coordinator": ("trial", WORKER_ACTIONS - {"approve_review", "reject_review"}),
    "specialist": (
        "education",
        WORKER_ACTIONS - {"record_prescreen", "approve_review", "reject_review"},
    ),
    "reviewer": ("education", WORKER_ACTIONS - {"record_prescreen"}),
    "rep": (
        "product",
        WORKER_ACTIONS - {"record_prescreen", "approve_review", "reject_review"},
    ),
    "owner": ("trial", {"assign", "assign_to", "reroute"}),
    "auditor": ("trial", set()),
    "admin": ("trial", set()),
}


@pytest.mark.parametrize("persona", sorted(ACTIONS_BY_PERSONA))
def test_each_role_may_take_exactly_the_actions_of_the_policy_table(world, persona):
    people, referrals = world
    which, expected = ACTIONS_BY_PERSONA[persona]
    assert policy.allowed_actions(people[persona], referrals[which]) == expected


def test_no_action_on_a_referral_of_another_team(world):
    people, referrals = world
    assert policy.allowed_actions(people["agent"], referrals["trial"]) == frozenset()
    assert policy.allowed_actions(people["owner"], referrals["product"]) == frozenset()


def test_an_unknown_rule_is_refused():
    assert policy.has_perm(AnonymousUser(), "referral.view") is False
    assert "referral.delete" not in policy.POLICY


@pytest.mark.parametrize(
    ("lead_kind", "expected"),
    [
        ("patient", roles.PATIENT_DATA_ROLES),
        ("clinician", roles.LEAD_WORKERS),
        ("organization", roles.LEAD_WORKERS),
    ],
)
def test_work_goes_only_to_roles_that_may_work_the_lead(lead_kind, expected):
    roles = assignee_roles(lead_kind=lead_kind)
    assert roles == expected
    assert not roles & {Role.PROGRAM_OWNER, Role.COMPLIANCE_AUDITOR, Role.ADMINISTRATOR}


def test_name_search_finds_a_referral_exactly_when_the_persona_sees_its_lead(world):
    """Every persona, every referral, by its lead's family name: found iff ``view_lead``."""
    people, referrals = world
    for persona, user in people.items():
        for referral in referrals.values():
            words, _ = name_query_words(referral.lead["family_name"])
            found = referral in referral_name_matches(user=user, words=words, limit=25)
            assert found == policy.has_perm(user, "referral.view_lead", referral), (
                persona,
                referral.request_type,
            )


def test_search_rows_show_names_only_to_lead_workers_and_audit_patient_names(world):
    people, referrals = world
    rows = list(referral_list_visible_to(user=people["owner"]))
    assert rows and set(
        lead_names_for_visible(user=people["owner"], referrals=rows, purpose="search").values()
    ) == {policy.MASK}
    agent = people["agent"]
    rows = list(referral_list_visible_to(user=agent))
    names = lead_names_for_visible(user=agent, referrals=rows, purpose="search")
    assert names == {referrals["support"].pk: "Alex Moreno"}
    viewed = AuditEvent.objects.get(action=PATIENT_DATA_VIEWED, actor=f"user:{agent.username}")
    assert viewed.subject_id == str(referrals["support"].public_id)
