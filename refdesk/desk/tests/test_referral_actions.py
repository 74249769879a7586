"""Referral actions: each is a POST through one service, audited, refused for the wrong role or
state, working as a plain form post (redirect) and through htmx (the page body)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from refdesk.audit.models import AuditEvent
from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.models import Referral, ReferralNote
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import Review
from refdesk.testing import (
    action_url,
    agent,
    auditor,
    coordinator,
    detail_url,
    education,
    login,
    owner,
    referrer_for,
    rep,
    reviewer,
    specialist,
    submit,
    support,
    trial,
)

pytestmark = pytest.mark.django_db


def events(referral, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(subject_id=str(referral.public_id), action=action))


def fresh(referral) -> Referral:
    return Referral.objects.get(pk=referral.pk)


@pytest.fixture
def queued():
    """A queued trial referral assigned to the coordinator."""
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    assert referral.stage == Stage.QUEUED and referral.assigned_to == user
    return user, referral


def test_claim_as_a_plain_post_redirects_back_and_is_audited(client, queued):
    user, referral = queued
    response = login(client, user).post(action_url(referral, "claim"))
    assert response.status_code == 302 and response["Location"] == detail_url(referral)
    assert fresh(referral).stage == Stage.IN_PROGRESS
    assert events(referral, "referral.claimed")[0].actor == "user:carl.coordinator"


def test_claim_through_htmx_returns_the_updated_page_body(client, queued):
    user, referral = queued
    response = login(client, user).post(action_url(referral, "claim"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="referral"')
    assert "In progress" in page and "Claimed by carl.coordinator" in page


def test_an_action_the_state_does_not_allow_shows_the_page_with_the_error(client, queued):
    user, referral = queued
    login(client, user).post(action_url(referral, "claim"))
    response = client.post(action_url(referral, "claim"))
    assert response.status_code == 409
    page = response.content.decode()
    assert "the action was not done" in page
    assert "Claiming is not possible while the referral is in progress" in page
    assert len(events(referral, "referral.claimed")) == 1


def test_assign_gives_an_unassigned_referral_to_an_available_team_member(client):
    referral = submit("trial-prescreening", trial(1))  # nobody in the team yet
    assert referral.assigned_to is None
    user = coordinator()
    response = login(client, user).post(action_url(referral, "assign"))
    assert response.status_code == 302
    assert fresh(referral).assigned_to == user
    assert events(referral, "referral.assigned")


@pytest.fixture
def handover(queued):
    """The coordinator's queued referral, a free colleague and the supervising owner."""
    user, referral = queued
    return {"from": user, "to": coordinator("cleo.coordinator"), "owner": owner(), "r": referral}


def test_the_owner_assigns_to_a_chosen_member_as_a_plain_post(client, handover):
    referral, colleague = handover["r"], handover["to"]
    response = login(client, handover["owner"]).post(
        action_url(referral, "assign_to"),
        {"assignee": str(colleague.public_id), "reason": "carl is on leave"},
    )
    assert response.status_code == 302 and response["Location"] == detail_url(referral)
    assert fresh(referral).assigned_to == colleague
    (event,) = events(referral, "referral.assigned")[-1:]
    assert event.actor == "user:olga.owner" and event.reason == ""
    assert "carl is on leave" in [note.text for note in ReferralNote.objects.all()]
    assert event.changes["assigned_to"] == {"old": "carl.coordinator", "new": "cleo.coordinator"}


def test_the_owner_assigns_through_htmx_and_gets_the_updated_page_body(client, handover):
    referral, colleague = handover["r"], handover["to"]
    response = login(client, handover["owner"]).post(
        action_url(referral, "assign_to"),
        {"assignee": str(colleague.public_id)},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<div id="referral"')
    assert "<dd>cleo.coordinator</dd>" in page and "Assigned to cleo.coordinator" in page


def test_the_page_offers_the_owner_a_choice_of_eligible_members_only(client, handover):
    coordinator("away.coordinator").memberships.update(available=False)
    page = login(client, handover["owner"]).get(detail_url(handover["r"])).content.decode()
    form = page.split('class="action action-assign_to"')[1].split("</form>")[0]
    assert f'value="{handover["to"].public_id}"' in form and "cleo.coordinator" in form
    for absent in ("carl.coordinator", "away.coordinator", "olga.owner"):
        assert absent not in form  # the current assignee, someone away, a supervisor
    assert "— 0 open" in form


def test_the_choice_is_not_offered_to_a_worker_nor_on_a_closed_referral(client, handover):
    page = login(client, handover["from"]).get(detail_url(handover["r"])).content.decode()
    assert "action-assign_to" not in page
    client.post(action_url(handover["r"], "qualify"))
    page = login(client, handover["owner"]).get(detail_url(handover["r"])).content.decode()
    assert "action-assign_to" not in page


def test_a_worker_posting_the_choice_gets_not_found(client, handover):
    referral = handover["r"]
    response = login(client, handover["from"]).post(
        action_url(referral, "assign_to"), {"assignee": str(handover["to"].public_id)}
    )
    assert response.status_code == 404
    assert fresh(referral).assigned_to == handover["from"]


def test_assigning_to_a_member_who_is_away_is_a_clear_error_not_a_crash(client, handover):
    referral, colleague = handover["r"], handover["to"]
    colleague.memberships.update(available=False)
    response = login(client, handover["owner"]).post(
        action_url(referral, "assign_to"), {"assignee": str(colleague.public_id)}
    )
    assert response.status_code == 400
    assert "Cleo.coordinator cannot take this referral" in response.content.decode()
    assert fresh(referral).assigned_to == handover["from"]


def test_assigning_without_choosing_a_member_asks_for_one(client, handover):
    response = login(client, handover["owner"]).post(action_url(handover["r"], "assign_to"))
    assert response.status_code == 422
    assert "Choose a team member." in response.content.decode()


def test_a_contact_attempt_on_a_consented_channel_is_recorded(client, queued):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "log_contact"),
        {"party": "lead", "channel": "phone", "outcome": "no_answer", "note": "voicemail full"},
    )
    assert response.status_code == 302
    (event,) = events(referral, "referral.contact_attempted")
    assert event.changes["channel"]["new"] == "phone"
    assert event.changes["outcome"]["new"] == "no_answer"


def test_a_contact_attempt_on_a_channel_without_consent_is_refused(client, queued):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "log_contact"),
        {"party": "lead", "channel": "sms", "outcome": "no_answer"},
    )
    assert response.status_code == 400
    assert (
        "You may not contact the lead by text message: the lead did not consent to this "
        "channel" in response.content.decode()
    )
    assert not events(referral, "referral.contact_attempted")


def test_requesting_information_moves_to_needs_info_and_emails_the_completion_link(
    client, django_capture_on_commit_callbacks
):
    user = coordinator()
    referrer = referrer_for("trial-prescreening")
    referrer.email = "coordinator@site.example"
    referrer.save(update_fields=["email"])
    referral = submit("trial-prescreening", trial(1))
    with django_capture_on_commit_callbacks(execute=True):
        response = login(client, user).post(
            action_url(referral, "request_info"), {"items": ["answers.ecog"]}
        )
    assert response.status_code == 302
    referral = fresh(referral)
    assert referral.stage == Stage.NEEDS_INFO
    assert referral.missing == ["answers.ecog"]
    assert referral.first_response_due_at is None  # the SLA clock is paused
    assert events(referral, "referral.info_request_queued")
    assert events(referral, "referral.info_requested")  # sent by the task
    assert len(mail.outbox) == 1 and "/complete/" in mail.outbox[0].body


def test_requesting_an_item_the_program_does_not_have_is_a_clear_error(client, queued):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "request_info"), {"items": ["lead.<script>"]}
    )
    assert response.status_code == 422
    assert "Choose items from the list." in response.content.decode()
    assert fresh(referral).stage == Stage.QUEUED


def test_the_coordinator_records_a_prescreen_outcome(client, queued):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "record_prescreen"), {"prescreen_outcome": "pending"}
    )
    assert response.status_code == 302
    assert fresh(referral).prescreen_outcome == PrescreenOutcome.PENDING
    assert events(referral, "referral.prescreen_recorded")


def test_qualify_closes_as_qualified(client, queued):
    user, referral = queued
    login(client, user).post(action_url(referral, "qualify"))
    referral = fresh(referral)
    assert (referral.stage, referral.outcome) == (Stage.CLOSED, Outcome.QUALIFIED)
    assert events(referral, "referral.closed")


def test_disqualify_needs_a_reason_code(client, queued):
    user, referral = queued
    response = login(client, user).post(action_url(referral, "disqualify"), {"reason_code": ""})
    assert response.status_code == 422
    assert "Choose a reason code" in response.content.decode()
    assert fresh(referral).stage == Stage.QUEUED
    client.post(action_url(referral, "disqualify"), {"reason_code": "criteria_not_met"})
    referral = fresh(referral)
    assert (referral.outcome, referral.outcome_reason) == ("not_qualified", "criteria_not_met")


def test_close_with_another_outcome_and_its_reason_code(client, queued):
    user, referral = queued
    login(client, user).post(
        action_url(referral, "close"),
        {"outcome": "unreachable", "reason_code": "retries_exhausted"},
    )
    assert fresh(referral).outcome == Outcome.UNREACHABLE


@pytest.fixture
def triaged():
    """A provider-education referral nobody's rule matched, with its specialist; the commercial
    team has a rep, so re-routing there is allowed (and takes it out of the specialist's sight)."""
    user = specialist()
    rep("cody.rep")
    referral = submit("provider-education", education(1, therapy_area=""))
    assert referral.queue.slug == "medical-info-triage" and referral.assigned_to == user
    return user, referral


def test_reroute_needs_a_reason_and_moves_the_referral(client, triaged):
    user, referral = triaged
    response = login(client, user).post(
        action_url(referral, "reroute"), {"queue": "medical-info-oncology"}
    )
    assert response.status_code == 422 and fresh(referral).queue.slug == "medical-info-triage"
    response = client.post(
        action_url(referral, "reroute"), {"queue": "no-such-queue", "reason": "wrong team"}
    )
    assert response.status_code == 400 and "does not exist" in response.content.decode()
    response = client.post(
        action_url(referral, "reroute"),
        {"queue": "medical-info-oncology", "reason": "about an oncology product"},
    )
    assert response.status_code == 302
    assert fresh(referral).queue.slug == "medical-info-oncology"
    event = events(referral, "referral.rerouted")[0]
    assert event.reason == "" and "about an oncology product" not in str(event.changes)


def test_the_page_offers_only_queues_of_the_program_whose_team_may_work_the_lead(client, queued):
    user, referral = queued  # a patient in the trial program: its only queue is its own
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert "No other queue of this program has a team that may work this lead." in page
    response = client.post(
        action_url(referral, "reroute"), {"queue": "patient-access", "reason": "wrong team"}
    )
    assert response.status_code == 400
    assert "not a queue of this referral" in response.content.decode()
    assert fresh(referral).queue.slug == "clinical-ops-prescreening"
    assert not events(referral, "referral.rerouted")


def test_rerouting_away_as_a_plain_post_lands_on_the_queues_with_a_message(client, triaged):
    """Without JavaScript the post redirects back to the referral page, which is now "Not
    Found" for this user: the action looked failed (found in a browser walkthrough)."""
    user, referral = triaged
    response = login(client, user).post(
        action_url(referral, "reroute"),
        {"queue": "commercial", "reason": "wants a rep"},
        follow=True,
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/desk/"
    page = response.content.decode()
    assert f"{referral.reference} has left your queues" in page
    assert fresh(referral).queue.slug == "commercial"


def test_rerouting_away_through_htmx_says_the_referral_left_the_users_queues(client, triaged):
    user, referral = triaged
    response = login(client, user).post(
        action_url(referral, "reroute"),
        {"queue": "commercial", "reason": "wants a rep"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "no longer shown" in response.content.decode()


def clinical_question():
    return submit("provider-education", education(1, request_type="clinical_question"))


def test_the_reviewer_approves_a_medical_review(client):
    referral = clinical_question()
    review = Review.objects.get(referral=referral)
    login(client, reviewer()).post(
        action_url(referral, "approve_review"), {"review": str(review.public_id), "note": "ok"}
    )
    review.refresh_from_db()
    assert review.state == ReviewState.APPROVED
    assert fresh(referral).stage == Stage.QUEUED
    assert events(referral, "review.approved")


def test_the_reviewer_rejects_a_medical_review_with_a_reason(client):
    referral = clinical_question()
    review = Review.objects.get(referral=referral)
    login(client, reviewer()).post(
        action_url(referral, "reject_review"), {"review": str(review.public_id), "reason": "off"}
    )
    assert fresh(referral).outcome_reason == "review_rejected"


def test_an_approval_without_a_note_is_a_clear_error(client):
    referral = clinical_question()
    review = Review.objects.get(referral=referral)
    response = login(client, reviewer()).post(
        action_url(referral, "approve_review"), {"review": str(review.public_id)}
    )
    assert response.status_code == 422 and "Approval note is required." in response.content.decode()


@pytest.mark.parametrize(
    ("persona", "action", "data"),
    [
        (specialist, "approve_review", {"note": "ok"}),  # separation of duties
        (specialist, "reject_review", {"reason": "no"}),
    ],
)
def test_a_role_that_may_not_decide_reviews_gets_not_found(client, persona, action, data):
    referral = clinical_question()
    review = Review.objects.get(referral=referral)
    user = persona()
    assert login(client, user).get(detail_url(referral)).status_code == 200  # may see it
    response = client.post(action_url(referral, action), {"review": str(review.public_id), **data})
    assert response.status_code == 404
    review.refresh_from_db()
    assert review.state == ReviewState.PENDING


@pytest.mark.parametrize(
    ("persona", "action"),
    [
        (auditor, "claim"),  # read-only
        (auditor, "qualify"),
        (owner, "claim"),  # supervises: assigns and re-routes only
        (owner, "qualify"),
        (agent, "claim"),  # another team
        (reviewer, "record_prescreen"),  # not a trial coordinator; also another team
    ],
)
def test_each_action_is_refused_for_a_role_that_may_not_take_it(client, queued, persona, action):
    _, referral = queued
    response = login(client, persona()).post(action_url(referral, action))
    assert response.status_code == 404
    assert fresh(referral).stage == Stage.QUEUED


def test_record_prescreen_is_refused_for_an_agent_on_their_own_referral(client):
    from refdesk.testing import support

    user = agent()
    referral = submit("patient-support", support(1))
    response = login(client, user).post(
        action_url(referral, "record_prescreen"), {"prescreen_outcome": "eligible"}
    )
    assert response.status_code == 404


def test_an_unknown_action_is_not_found(client, queued):
    user, referral = queued
    assert login(client, user).post(action_url(referral, "delete")).status_code == 404


def test_actions_need_the_csrf_token(queued):
    user, referral = queued
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(action_url(referral, "claim")).status_code == 403
    assert fresh(referral).stage == Stage.QUEUED


def test_actions_refuse_get(client, queued):
    user, referral = queued
    assert login(client, user).get(action_url(referral, "claim")).status_code == 405


def test_qualify_and_disqualify_are_not_offered_while_a_review_is_pending(client):
    referral = clinical_question()
    user = reviewer()
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert "action-approve_review" in page and "action-close" in page
    assert "action-qualify" not in page and "action-disqualify" not in page
    review = Review.objects.get(referral=referral)
    client.post(
        action_url(referral, "approve_review"), {"review": str(review.public_id), "note": "ok"}
    )
    Referral.objects.filter(pk=referral.pk).update(assigned_to=user)
    client.post(action_url(referral, "claim"))
    page = client.get(detail_url(referral)).content.decode()
    assert "action-qualify" in page and "action-disqualify" in page


def test_an_agent_records_a_partial_withdrawal_and_the_page_shows_the_consent_history(client):
    user = agent()
    referral = submit("patient-support", support(1, channels=("phone", "sms")))
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert "action-withdraw_consent" in page and "Consent history" in page
    response = client.post(
        action_url(referral, "withdraw_consent"),
        {"scope": "some", "channels": ["sms"], "reason": "lead_request", "note": "no texts"},
    )
    assert response.status_code == 302
    page = client.get(detail_url(referral)).content.decode()
    assert "Withdrawn (The lead asked to withdraw): sms" in page
    assert fresh(referral).stage == Stage.QUEUED  # phone is still consented: work goes on


def test_withdrawing_consent_for_a_channel_never_granted_is_shown_not_written(client):
    user = agent()
    referral = submit("patient-support", support(1, channels=("phone",)))
    response = login(client, user).post(
        action_url(referral, "withdraw_consent"),
        {"scope": "some", "channels": ["email"], "reason": "lead_request"},
    )
    assert response.status_code == 422
    assert "does not cover email" in response.content.decode()
    assert ConsentRecord.objects.filter(referral=referral).count() == 1


def test_a_supervisor_does_not_record_consent(client):
    referral = submit("patient-support", support(1))
    response = login(client, owner()).post(
        action_url(referral, "withdraw_consent"), {"scope": "all", "reason": "lead_request"}
    )
    assert response.status_code == 404
