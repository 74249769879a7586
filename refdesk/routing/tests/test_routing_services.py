"""referral_route, referral_reevaluate, referral_reroute: explained, stored, audited decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.accounts.services import user_create
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.core.errors import ApplicationError, InvalidTransition
from refdesk.intake.choices import PrescreenOutcome, Stage
from refdesk.intake.models import Referral, ReferralNote
from refdesk.routing.choices import DecisionKind, ReviewKind, ReviewState
from refdesk.routing.decisions import ROUTE_CHANGED_FLAG
from refdesk.routing.facts import facts_digest, referral_facts
from refdesk.routing.models import QueueNotice, Review, RoutingDecision
from refdesk.routing.selectors import routing_history
from refdesk.testing import (
    education,
    make_partner,
    specialist,
    staff,
    submit,
    support,
    trial,
    valid_body,
)
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.closing import referral_record_prescreen, referral_update_answers
from refdesk.workflow.route import referral_reevaluate, referral_reroute
from refdesk.workflow.submission import referral_complete

pytestmark = pytest.mark.django_db

# A Wednesday morning in New York, so SLA due times are easy to read.
NOW = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def programs():
    with time_machine.travel(NOW, tick=False):
        yield


# program, submission (built inside the test: it reads the consent text), queue, stage, rule,
# flags — the demo routes as PRODUCT.md describes them.
ROUTES = [
    (
        "trial-prescreening",
        lambda: trial(),
        "clinical-ops-prescreening",
        "queued",
        "rdx-301-prescreen",
        [],
    ),
    (
        "provider-education",
        lambda: education(),
        "medical-info-oncology",
        "queued",
        "education-oncology",
        [],
    ),
    (
        "provider-education",
        lambda: education(therapy_area="immunology", request_type="guideline_update"),
        "medical-info-immunology",
        "queued",
        "education-immunology",
        [],
    ),
    (
        "provider-education",
        lambda: education(therapy_area=""),
        "medical-info-triage",
        "queued",
        "triage",
        [],
    ),
    (
        "provider-education",
        lambda: education(request_type="clinical_question"),
        "medical-review",
        "awaiting_review",
        "clinical-question",
        ["medical_review_required"],
    ),
    (
        "provider-education",
        lambda: education(request_type="meeting_request", npi="1234567893"),
        "msl-field-team",
        "awaiting_review",
        "meeting-request",
        ["extra_validation"],
    ),
    (
        "provider-education",
        lambda: education(request_type="product_discussion"),
        "commercial",
        "queued",
        "product-discussion",
        [],
    ),
    (
        "patient-support",
        lambda: support(request_type="financial_assistance"),
        "patient-access",
        "queued",
        "financial-assistance",
        [],
    ),
    (
        "patient-support",
        lambda: support(request_type="adherence_support"),
        "patient-services",
        "queued",
        "support-services",
        [],
    ),
]


@pytest.mark.parametrize(
    ("program", "submission", "queue", "stage", "rule", "flags"),
    ROUTES,
    ids=[f"{r[0]}:{r[4]}" for r in ROUTES],
)
def test_a_submitted_referral_is_routed_with_an_explained_stored_decision(
    program, submission, queue, stage, rule, flags
):
    referral = submit(program, submission())
    referral.refresh_from_db()
    assert (referral.queue.slug, referral.stage, referral.flags) == (queue, stage, flags)
    assert referral.routed_at == NOW and referral.first_response_due_at > NOW
    decision = RoutingDecision.objects.get(referral=referral)
    assert decision.kind == DecisionKind.INITIAL and decision.rule_id == rule
    assert decision.queue.slug == queue and decision.program_version == referral.program_version
    assert decision.default_route == (rule == "triage") and decision.rule_position >= 1
    assert decision.facts_digest == facts_digest(referral_facts(referral))
    assert f"routed by rule {rule} (" in " ".join(decision.decision["explanation"])
    assert "of version 1" in decision.decision["route"]["why"]
    routed = AuditEvent.objects.get(action="referral.routed", subject_id=str(referral.public_id))
    assert routed.changes["queue"]["new"] == queue and routed.changes["rule"]["new"] == rule
    assert routed.changes["stage"] == {"old": "received", "new": stage}
    assert audit_verify().ok


def test_flagged_referrals_wait_for_a_pending_review_of_the_flagged_kind():
    question = submit("provider-education", education(1, request_type="clinical_question"))
    meeting = submit(
        "provider-education", education(2, request_type="meeting_request", npi="1234567893")
    )
    assert Review.objects.get(referral=question).kind == ReviewKind.MEDICAL_REVIEW
    assert Review.objects.get(referral=meeting).kind == ReviewKind.EXTRA_VALIDATION
    assert {r.state for r in Review.objects.all()} == {ReviewState.PENDING}
    assert question.assigned_to is None and meeting.assigned_to is None
    assert AuditEvent.objects.filter(action="review.requested").count() == 2


def test_a_meeting_request_failing_its_checks_needs_info_with_the_failed_items_missing():
    referral = submit(
        "provider-education",
        # Intake refuses a malformed NPI outright; a missing one fails the route's check.
        education(request_type="meeting_request", specialty="cardiology"),
    )
    referral.refresh_from_db()
    assert referral.stage == Stage.NEEDS_INFO
    assert referral.missing == ["lead.npi", "lead.specialty"]
    assert referral.first_response_due_at is None  # SLA clock paused
    assert not Review.objects.filter(referral=referral).exists()
    assert RoutingDecision.objects.get(referral=referral).rule_id == "meeting-request"


def test_supplying_the_failed_items_routes_the_meeting_request_again_to_its_review():
    referral = submit(
        "provider-education", education(request_type="meeting_request", specialty="cardiology")
    )
    referral_complete(
        referral=referral,
        lead_updates={"npi": "1234567893", "specialty": "oncology"},
        answer_updates={},
        actor="referrer:test",
    )
    referral.refresh_from_db()
    assert referral.stage == Stage.AWAITING_REVIEW and referral.missing == []
    kinds = [d.kind for d in routing_history(referral)]
    assert kinds == [DecisionKind.INITIAL, DecisionKind.RE_EVALUATION]


def test_a_completed_trial_referral_is_routed_when_its_missing_items_arrive():
    submission = trial(7)
    submission.lead.pop("family_name")
    referral = submit("trial-prescreening", submission)
    assert referral.stage == Stage.NEEDS_INFO and referral.queue is None
    referral_complete(
        referral=referral,
        lead_updates={"family_name": "Quill"},
        answer_updates={},
        actor="referrer:test",
    )
    referral.refresh_from_db()
    assert referral.stage == Stage.QUEUED
    assert referral.queue.slug == "clinical-ops-prescreening"
    assert referral.prescreen_outcome == PrescreenOutcome.ELIGIBLE


def test_a_possible_adverse_event_sends_a_drug_safety_notice_keeping_the_time_of_receipt():
    received = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    referral = submit(
        "patient-support",
        support(request_type="financial_assistance", reason="Mentioned a rash since Monday."),
        received_at=received,
    )
    referral.refresh_from_db()
    # The route keeps the referral; the alert adds the flag and a copy to drug safety.
    assert referral.queue.slug == "patient-access"
    assert referral.flags == ["possible_adverse_event"]
    notice = QueueNotice.objects.get(referral=referral)
    assert notice.queue.slug == "drug-safety" and notice.reason == "possible-adverse-event"
    assert notice.received_at == received == referral.received_at
    sent = AuditEvent.objects.get(action="notice.sent")
    assert sent.changes["queue"]["new"] == "drug-safety"


def test_decisions_and_audit_events_carry_no_patient_values():
    referral = submit(
        "provider-education",
        education(request_type="clinical_question", question="Patient had a rash on day 3."),
    )
    decision = RoutingDecision.objects.get(referral=referral)
    stored = json.dumps(decision.decision) + decision.facts_digest
    stored += json.dumps(list(AuditEvent.objects.values_list("changes", "reason")))
    for secret in ("Samuel", "Adeyemi", "example-clinic", "day 3", "Patient had"):
        assert secret not in stored


def test_the_api_201_body_names_the_route_with_its_explanation(client):
    partner = make_partner("provider-education")
    response = client.post(
        "/api/v1/referrals",
        data=json.dumps(valid_body("provider-education")),
        content_type="application/json",
        **partner.auth,
    )
    assert response.status_code == 201, response.content
    route = response.json()["route"]
    assert route["queue"] == "medical-info-oncology" and route["rule"] == "education-oncology"
    assert route["version"] == 1 and route["flags"] == []
    assert any("routed by rule education-oncology" in s for s in route["explanation"])
    assert "Adeyemi" not in response.content.decode()


def test_a_reroute_needs_a_reason_and_is_stored_for_the_routing_audit():
    mira = specialist()
    referral = submit("provider-education", education(therapy_area=""))
    assert referral.assigned_to == mira
    for reason in ("", "   "):
        with pytest.raises(ApplicationError) as error:
            referral_reroute(
                referral=referral, queue="medical-info-oncology", reason=reason, actor=mira
            )
        assert error.value.code == "reason_required"
    referral_reroute(
        referral=referral,
        queue="medical-info-oncology",
        reason="Question is about an oncology product",
        actor=mira,
    )
    referral.refresh_from_db()
    assert referral.queue.slug == "medical-info-oncology"
    reroute = routing_history(referral)[-1]
    assert reroute.kind == DecisionKind.REROUTE and reroute.previous_queue.slug == (
        "medical-info-triage"
    )
    # What the person wrote is a note, encrypted with the referral; the decision refers to it.
    assert reroute.reason == "" and reroute.note.text == "Question is about an oncology product"
    assert reroute.decided_by == "user:mira.specialist"
    event = AuditEvent.objects.get(action="referral.rerouted")
    assert event.changes["queue"] == {"old": "medical-info-triage", "new": "medical-info-oncology"}
    assert event.changes["assigned_to"]["old"] == "mira.specialist"
    # The assignee was cleared with the move, then the new queue's team assigned it afresh.
    assert AuditEvent.objects.filter(action="referral.assigned").count() == 2


def test_a_claimed_referral_rerouted_goes_back_to_queued_for_the_new_team():
    mira = specialist()
    referral = submit("provider-education", education(therapy_area=""))
    cody = staff("cody.rep", Role.COMMERCIAL_REP, "commercial")
    cody_membership = cody.memberships.get()
    cody_membership.available = False  # away: the referral waits in the new queue unassigned
    cody_membership.save(update_fields=["available"])
    referral_claim(referral=referral, user=mira)
    referral_reroute(referral=referral, queue="commercial", reason="Wants a rep", actor=mira)
    referral.refresh_from_db()
    assert referral.stage == Stage.QUEUED and referral.assigned_to is None
    with pytest.raises(ApplicationError):
        referral_reroute(referral=referral, queue="commercial", reason="again", actor=mira)


def test_a_prescreen_update_from_staff_reruns_the_engine_and_keeps_the_history():
    coordinator = staff("carl", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    submission = trial(3)
    submission.answers.pop("ecog")
    referral = submit("trial-prescreening", submission)
    assert referral.prescreen_outcome == PrescreenOutcome.INCOMPLETE
    referral_update_answers(
        referral=referral, answers={"ecog": 1}, actor=coordinator, reason="records arrived"
    )
    referral.refresh_from_db()
    assert referral.prescreen_outcome == PrescreenOutcome.ELIGIBLE
    history = routing_history(referral)
    assert [d.kind for d in history] == [DecisionKind.INITIAL, DecisionKind.RE_EVALUATION]
    assert [d.decision["prescreen"]["outcome"] for d in history] == ["incomplete", "eligible"]
    assert history[0].facts_digest != history[1].facts_digest
    event = AuditEvent.objects.get(action="referral.reevaluated")
    assert event.changes["prescreen_outcome"] == {"old": "incomplete", "new": "eligible"}
    assert event.reason == "answers updated"
    updated = AuditEvent.objects.get(action="referral.answers_updated")
    note = ReferralNote.objects.get(referral=referral)
    assert note.text == "records arrived" and updated.reason == ""
    assert updated.changes["note"]["new"]["id"] == str(note.public_id)


def test_a_recorded_prescreen_outcome_stands_and_the_engine_reruns_beside_it():
    coordinator = staff("carl", Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")
    referral = submit("trial-prescreening", trial(4))
    referral_record_prescreen(
        referral=referral,
        outcome=PrescreenOutcome.NOT_ELIGIBLE,
        actor=coordinator,
        reasons=["ecog"],
    )
    referral.refresh_from_db()
    assert referral.prescreen_outcome == PrescreenOutcome.NOT_ELIGIBLE
    history = routing_history(referral)
    assert len(history) == 2 and history[1].decision["prescreen"]["outcome"] == "eligible"


def test_staff_answer_updates_are_validated_and_need_a_reason():
    referral = submit("trial-prescreening", trial(5))
    with pytest.raises(ApplicationError):
        referral_update_answers(referral=referral, answers={"ecog": 1}, actor="u", reason="")
    with pytest.raises(ApplicationError):
        referral_update_answers(referral=referral, answers={"ecog": "x"}, actor="u", reason="r")
    assert RoutingDecision.objects.filter(referral=referral).count() == 1


def _change_therapy_area(referral: Referral, area: str) -> None:
    # A staff correction of the therapy area (its own editing service is not part of routing).
    Referral.objects.filter(pk=referral.pk).update(therapy_area=area)


def test_reevaluation_moves_an_unclaimed_referral_to_the_new_queue():
    referral = submit("provider-education", education(therapy_area=""))
    _change_therapy_area(referral, "immunology")
    referral_reevaluate(referral=referral, actor="user:mira", reason="therapy area corrected")
    referral.refresh_from_db()
    assert referral.queue.slug == "medical-info-immunology"
    assert ROUTE_CHANGED_FLAG not in referral.flags
    assert routing_history(referral)[-1].previous_queue.slug == "medical-info-triage"


def test_reevaluation_of_claimed_work_keeps_queue_and_worker_and_flags_the_difference():
    mira = specialist()
    referral = submit("provider-education", education(therapy_area=""))
    referral_claim(referral=referral, user=mira)
    _change_therapy_area(referral, "oncology")
    referral_reevaluate(referral=referral, actor=mira, reason="therapy area corrected")
    referral.refresh_from_db()
    assert referral.queue.slug == "medical-info-triage" and referral.assigned_to == mira
    assert ROUTE_CHANGED_FLAG in referral.flags
    latest = routing_history(referral)[-1]
    assert latest.kind == DecisionKind.RE_EVALUATION
    assert latest.queue.slug == "medical-info-oncology"
    event = AuditEvent.objects.get(action="referral.reevaluated")
    assert event.changes["suggested_queue"]["new"] == "medical-info-oncology"


def test_reevaluation_that_raises_an_alert_notifies_drug_safety_once():
    referral = submit("patient-support", support(2))
    assert not QueueNotice.objects.exists()
    for _ in range(2):
        referral_update_answers(
            referral=referral,
            answers={"reason_for_contact": "Now reports nausea after each dose."},
            actor="user:agent",
            reason="call notes",
        )
    notice = QueueNotice.objects.get(referral=referral)
    assert notice.received_at == referral.received_at
    assert RoutingDecision.objects.filter(referral=referral).count() == 3


def test_routing_refuses_a_referral_that_is_not_freshly_received():
    referral = submit("trial-prescreening", trial(6))
    from refdesk.workflow.route import referral_route

    with pytest.raises(InvalidTransition):
        referral_route(referral=referral, actor="system:test")
    assert RoutingDecision.objects.filter(referral=referral).count() == 1


def test_the_referral_admin_shows_the_explanation_but_never_lead_data(client):
    admin = user_create(
        username="root",
        email="root@example.org",
        role=Role.ADMINISTRATOR,
        password="a long admin password",
        actor="system:test",
    )
    client.force_login(admin)
    referral = submit(
        "provider-education", education(request_type="clinical_question", question="Rash?")
    )
    page = client.get(reverse("admin:intake_referral_change", args=[referral.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "routed by rule clinical-question" in html and referral.reference in html
    for secret in ("Samuel", "Adeyemi", "example-clinic", "Rash?"):
        assert secret not in html
    listing = client.get(reverse("admin:intake_referral_changelist"))
    assert listing.status_code == 200 and referral.reference in listing.content.decode()
    for page in ("routing_routingdecision", "routing_review", "routing_queuenotice"):
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200
    decision = RoutingDecision.objects.get(referral=referral)
    detail = client.get(reverse("admin:routing_routingdecision_change", args=[decision.pk]))
    assert detail.status_code == 200 and "Adeyemi" not in detail.content.decode()
