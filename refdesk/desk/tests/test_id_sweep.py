"""The id sweep: a user of one team asks for every referral of other teams by id — in URLs, in
form fields and in htmx fragments — and never succeeds; every answer is byte-identical to the
answer for an id that does not exist."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from refdesk.access import policy
from refdesk.accounts import roles
from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent
from refdesk.desk.views_referral import HANDLERS
from refdesk.intake.models import Referral
from refdesk.routing.models import Review
from refdesk.testing import (
    PERSONAS,
    action_url,
    agent,
    coordinator,
    detail_url,
    education,
    login,
    owner,
    reviewer,
    staff,
    submit,
    support,
    timeline_url,
    trial,
    trial_submission,
)

pytestmark = pytest.mark.django_db

# Plausible values for every action's form, so a refusal is never just "bad input".
FORM = {
    "note": "done",
    "reason": "wrong team",
    "channel": "phone",
    "outcome": "unreachable",
    "party": "lead",
    "items": ["answers.ecog"],
    "prescreen_outcome": "eligible",
    "reason_code": "retries_exhausted",
    "queue": "patient-services",
}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def other_teams():
    """Referrals worked by clinical-ops and medical-affairs (with a pending review)."""
    coordinator()
    referrals = [submit("trial-prescreening", trial(n)) for n in range(3)]
    referrals.append(submit("provider-education", education(5, request_type="clinical_question")))
    referrals.append(submit("provider-education", education(6)))
    return referrals


def requests_for(public_id, review_id, assignee_id):
    """Every way to name a referral: page, fragment, each action (plain and htmx)."""
    yield "get", detail_url(public_id), {}, {}
    yield "get", detail_url(public_id), {}, HTMX
    yield "get", timeline_url(public_id), {}, HTMX
    for action in HANDLERS:
        data = {**FORM, "review": str(review_id), "assignee": str(assignee_id)}
        yield "post", action_url(public_id, action), data, {}
        yield "post", action_url(public_id, action), data, HTMX


def answer(client, method, url, data, headers):
    response = getattr(client, method)(url, data, **headers)
    return response.status_code, response.content


SWEEPERS = {
    # patient-services people: none of these referrals is theirs. The supervisor may take
    # ``assign_to`` in their own team, so the sweep also tries it with a permitted role.
    "agent": lambda: agent(),
    "supervisor": lambda: staff("pat.owner", Role.PROGRAM_OWNER, "patient-services"),
}


@pytest.mark.parametrize("persona", sorted(SWEEPERS))
def test_another_teams_referrals_look_exactly_like_missing_ones_everywhere(
    client, other_teams, persona
):
    sweeper = SWEEPERS[persona]()
    login(client, sweeper)
    before = {r.pk: (r.stage, r.queue_id, r.assigned_to_id) for r in Referral.objects.all()}
    # The assignee named is a member of the referrals' own team (clinical-ops).
    member = User.objects.get(username="carl.coordinator").public_id
    missing_id, missing_review = uuid.uuid4(), uuid.uuid4()
    expected = [
        answer(client, *request) for request in requests_for(missing_id, missing_review, member)
    ]
    assert {status for status, _ in expected} == {404}
    for referral in other_teams:
        review = Review.objects.filter(referral=referral).first()
        review_id = review.public_id if review else uuid.uuid4()
        got = [
            answer(client, *request)
            for request in requests_for(referral.public_id, review_id, member)
        ]
        assert got == expected, referral.reference
    after = {r.pk: (r.stage, r.queue_id, r.assigned_to_id) for r in Referral.objects.all()}
    assert after == before
    assert not AuditEvent.objects.filter(actor=f"user:{sweeper.username}").exists()


def test_a_review_of_another_referral_in_a_form_field_is_not_found(client):
    """The review id in the form must belong to the referral in the URL."""
    user = reviewer()
    mine = submit("provider-education", education(1, request_type="clinical_question"))
    other = submit("provider-education", education(2, request_type="clinical_question"))
    other_review = Review.objects.get(referral=other)
    login(client, user)
    url = action_url(mine, "approve_review")
    foreign = client.post(url, {"review": str(other_review.public_id), "note": "ok"})
    missing = client.post(url, {"review": str(uuid.uuid4()), "note": "ok"})
    garbage = client.post(url, {"review": "1", "note": "ok"})
    assert foreign.status_code == missing.status_code == garbage.status_code == 404
    assert foreign.content == missing.content == garbage.content
    other_review.refresh_from_db()
    assert other_review.state == "pending"


def test_a_member_of_another_team_in_the_assignee_field_is_not_found(client):
    """The assignee must be in the team owning the referral's queue; anyone else is as
    unknown as an id that does not exist — the answer does not reveal who exists elsewhere."""
    mine = submit("patient-support", support(1))
    stranger = coordinator()  # clinical-ops
    login(client, owner())
    url = action_url(mine, "assign_to")
    answers = [
        client.post(url, {"assignee": value})
        for value in (str(stranger.public_id), str(uuid.uuid4()), "1 OR 1=1")
    ]
    assert {response.status_code for response in answers} == {404}
    assert len({response.content for response in answers}) == 1
    assert Referral.objects.get(pk=mine.pk).assigned_to_id is None
    assert not AuditEvent.objects.filter(action="referral.assigned").exists()
    # The control: a member of the referral's own team is found and gets it.
    colleague = agent()
    assert client.post(url, {"assignee": str(colleague.public_id)}).status_code == 302
    assert Referral.objects.get(pk=mine.pk).assigned_to == colleague


def _stable(content: bytes, query: str) -> bytes:
    """The page without what differs on every response (CSRF token, CSP nonce) or per query."""
    content = re.sub(rb'(name="csrfmiddlewaretoken" value=|nonce=)"[^"]+"', rb"\1", content)
    return content.replace(f'value="{query}"'.encode(), b'value="QUERY"')


def test_searching_for_another_teams_reference_or_lead_finds_nothing(client, other_teams):
    login(client, agent())
    url = reverse("desk:search")
    baseline = _stable(client.post(url, {"q": "RF-0000-0000"}).content, "RF-0000-0000")
    for referral in other_teams:
        for query in (referral.reference, referral.referrer.code, "patient1@example.org"):
            response = client.post(url, {"q": query})
            assert f"/desk/referrals/{referral.public_id}" not in response.content.decode()
            # Apart from the echoed query, the page is the empty result.
            assert _stable(response.content, query) == baseline


def test_the_owning_team_does_see_them(client, other_teams):
    """The control: the sweep fails because of the policy, not because the ids are wrong."""
    login(client, coordinator("second.coordinator"))
    assert client.get(detail_url(other_teams[0])).status_code == 200


def test_a_patient_support_referral_is_invisible_to_clinical_ops(client):
    referral = submit("patient-support", support(1))
    login(client, coordinator())
    assert client.get(detail_url(referral)).content == client.get(detail_url(uuid.uuid4())).content


# --- name search: the sweep over every persona and every referral --------------------------------

SWEEP_PERSONAS = {
    **{name: (role, teams) for name, (role, teams) in PERSONAS.items()},
    # A member of the drug-safety team (noticed referrals of other teams' queues), and the
    # drug-safety officer's role before the policy gives it anything.
    "safety-specialist": (Role.MEDICAL_AFFAIRS_SPECIALIST, ["drug-safety"]),
    "safety-officer": (Role.DRUG_SAFETY_OFFICER, ["drug-safety"]),
}


@pytest.fixture
def every_kind_of_referral():
    """Patient, clinician and organisation-less leads in every team's queue, one noticed to
    drug-safety, one awaiting information (in no queue yet), one closed as a duplicate."""
    return [
        submit("trial-prescreening", trial(1)),
        submit("trial-prescreening", trial(2)),
        submit("patient-support", support(3)),
        submit("patient-support", support(4, reason="I had a bad side effect last week.")),
        submit("provider-education", education(5)),
        submit("provider-education", education(6, request_type="clinical_question")),
        submit("provider-education", education(7, request_type="product_discussion")),
        submit("trial-prescreening", trial_submission(lead={"timezone": None, "phone": None})),
        submit("patient-support", support(3)),  # the same lead again: a duplicate
    ]


def _name_queries(referral) -> list[str]:
    lead = referral.lead
    given, family = str(lead.get("given_name", "")), str(lead.get("family_name", ""))
    return [family, given[:3], f"{given} {family}".upper(), f"{family[:4]} {given[:3]}"]


@pytest.mark.parametrize("persona", sorted(SWEEP_PERSONAS))
def test_name_search_never_finds_a_referral_whose_lead_the_user_may_not_see(
    client, every_kind_of_referral, persona
):
    """Every persona searches every referral's lead by name, whole and in part: what they find
    is exactly the referrals of that name whose lead they may see (``referral.view_lead``);
    when they may see none, the page is byte for byte the page of a name nobody has."""
    role, teams = SWEEP_PERSONAS[persona]
    user = staff(f"sweep-{persona}", role, *teams)
    login(client, user)
    url = reverse("desk:search")
    nobody = _stable(client.post(url, {"q": "Quixotic"}).content, "Quixotic")
    referrals = Referral.objects.select_related("queue", "queue__team").order_by("pk")
    may_see_lead = {r.pk for r in referrals if policy.has_perm(user, "referral.view_lead", r)}
    for referral in every_kind_of_referral:
        same_name = {
            other.pk
            for other in referrals
            if (other.lead.get("given_name"), other.lead.get("family_name"))
            == (referral.lead.get("given_name"), referral.lead.get("family_name"))
        }
        for query in _name_queries(referral):
            response = client.post(url, {"q": query})
            page = response.content.decode()
            got = {r.pk for r in referrals if f"/desk/referrals/{r.public_id}" in page}
            assert got <= may_see_lead, (persona, query)
            if role in roles.LEAD_WORKERS:  # they find every one they may see
                assert got == same_name & may_see_lead, (persona, query)
            if not got:
                assert _stable(response.content, query) == nobody, (persona, query)
    if role in roles.LEAD_WORKERS and teams != ["commercial"]:
        assert may_see_lead, "the sweep must include referrals the persona does see"
