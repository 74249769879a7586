"""What staff type is patient data: stored encrypted with the referral (so it can be erased
with it), never in the append-only audit trail, never in clear in another table. The trail
keeps the note's id and a keyed fingerprint, and the timeline shows the text only to the roles
that see patient data."""

from __future__ import annotations

import pytest
from django.db import connection

from refdesk.audit.models import AuditEvent
from refdesk.desk.timeline import referral_timeline
from refdesk.intake.models import Referral, ReferralNote
from refdesk.routing.models import Review, RoutingDecision
from refdesk.testing import (
    coordinator,
    education,
    owner,
    reviewer,
    specialist,
    submit,
    trial,
)
from refdesk.workflow.assignment import referral_assign_to, referral_claim
from refdesk.workflow.closing import referral_close, referral_update_answers
from refdesk.workflow.consent import consent_withdraw
from refdesk.workflow.contact import contact_attempt_log, referral_request_info
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.route import referral_reroute

pytestmark = pytest.mark.django_db

SECRET = "ZEBRA"  # in every note below; must never reach the trail or a clear column


def _stored(referral):
    return Referral.objects.select_related("queue", "assigned_to", "program_version").get(
        pk=referral.pk
    )


@pytest.fixture
def worked():
    """Two referrals worked with every action that takes free text."""
    carl, ben, olga = coordinator(), coordinator("ben.coordinator"), owner()
    trial_lead = submit("trial-prescreening", trial(1))
    contact_attempt_log(
        referral=trial_lead,
        channel="phone",
        outcome="no_answer",
        note=f"{SECRET} contact: mother answered",
        actor=carl,
    )
    referral_assign_to(
        referral=_stored(trial_lead), assignee=ben, actor=olga, reason=f"{SECRET} assign"
    )
    referral_update_answers(
        referral=_stored(trial_lead), answers={"ecog": 2}, actor=ben, reason=f"{SECRET} records"
    )
    referral_request_info(
        referral=_stored(trial_lead), items=["answers.ecog"], actor=ben, reason=f"{SECRET} ask"
    )
    question = submit("provider-education", education(2, request_type="clinical_question"))
    mira, rui = specialist(), reviewer()
    review_approve(review=Review.objects.get(referral=question), reviewer=rui, note=f"{SECRET} ok")
    referral_reroute(
        referral=_stored(question), queue="medical-info-triage", reason=f"{SECRET} move", actor=mira
    )
    worker = _stored(question).assigned_to  # the triage queue's next member
    referral_claim(referral=_stored(question), user=worker)
    referral_close(
        referral=_stored(question), outcome="qualified", actor=worker, note=f"{SECRET} closing"
    )
    second = submit("provider-education", education(3, request_type="clinical_question"))
    review_reject(
        review=Review.objects.get(referral=second), reviewer=rui, reason=f"{SECRET} off-label"
    )
    third = submit("trial-prescreening", trial(4))
    consent_withdraw(referral=third, reason="lead_request", actor=carl, note=f"{SECRET} said stop")
    return trial_lead, question


def test_no_audit_event_holds_what_staff_wrote(worked):
    for event in AuditEvent.objects.all():
        assert SECRET not in event.reason and SECRET not in str(event.changes), event.action


def test_notes_are_stored_encrypted_and_read_back(worked):
    texts = sorted(note.text for note in ReferralNote.objects.all())
    assert len(texts) == 9 and all(text.startswith(SECRET) for text in texts)
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM intake_referralnote")
        assert all(SECRET not in row[0] for row in cursor.fetchall())


def test_no_other_table_keeps_the_text_in_clear(worked):
    assert not RoutingDecision.objects.filter(reason__contains=SECRET).exists()
    with connection.cursor() as cursor:
        for table in ("routing_review", "routing_routingdecision", "consent_consentrecord"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            assert all(SECRET not in str(row) for row in cursor.fetchall()), table


def test_each_event_refers_to_its_note_by_id_and_fingerprint(worked):
    trial_lead, _question = worked
    note = ReferralNote.objects.get(referral=trial_lead, kind="contact")
    event = AuditEvent.objects.get(
        action="referral.contact_attempted", subject_id=str(trial_lead.public_id)
    )
    reference = event.changes["note"]["new"]
    assert reference["id"] == str(note.public_id)
    assert reference["fingerprint"].startswith("hmac:")


def test_the_timeline_shows_notes_only_to_roles_that_see_patient_data(worked):
    trial_lead, _question = worked
    shown = referral_timeline(referral=trial_lead, show_free_text=True)
    hidden = referral_timeline(referral=trial_lead, show_free_text=False)
    assert any("mother answered" in entry.detail for entry in shown)
    assert not any(SECRET in entry.detail for entry in hidden)
