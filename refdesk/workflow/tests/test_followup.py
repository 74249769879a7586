"""Follow-up as a machine: acknowledgement, first message, retries, unreachable, SLA timers."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from refdesk.audit.models import AuditEvent
from refdesk.intake.choices import Outcome, Stage
from refdesk.outreach.choices import MessageStatus, TimerKind, TimerState
from refdesk.outreach.models import Message, Timer
from refdesk.testing import (
    approve_all_content,
    education,
    referrer_with_email,
    submit,
)
from refdesk.workflow.sweep import sweep_due

pytestmark = pytest.mark.django_db

# Tuesday 8 December 2026, 16:00 UTC = 10:00 in Chicago (the test clinician's zone).
TUESDAY = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)


def actions(referral):
    return list(
        AuditEvent.objects.filter(subject_id=str(referral.public_id))
        .order_by("seq")
        .values_list("action", flat=True)
    )


def run_at(moment):
    with time_machine.travel(moment, tick=False):
        return sweep_due()


@pytest.fixture
def education_referral():
    approve_all_content()
    referrer_with_email("provider-education")
    with time_machine.travel(TUESDAY, tick=False):
        return submit("provider-education", education(1))


def test_it_acknowledges_the_referrer_and_sends_the_first_message_with_approved_materials(
    education_referral,
):
    run_at(TUESDAY + timedelta(seconds=5))
    sent = {m.to[0]: m for m in mail.outbox}
    assert set(sent) == {"ref@example-clinic.org", "clinician1@example-clinic.org"}
    ack = sent["ref@example-clinic.org"]
    assert education_referral.reference in ack.subject
    first = sent["clinician1@example-clinic.org"]
    assert "treatment education materials" in first.subject.lower()
    assert "/m/" in first.body  # the approved materials link
    lead_message = Message.objects.get(referral=education_referral, audience="lead")
    assert lead_message.status == MessageStatus.SENT
    assert [m.key for m in lead_message.materials.all()] == ["nsclc-treatment-overview"]
    assert lead_message.template.state == "approved"
    assert "message.sent" in actions(education_referral)
    education_referral.refresh_from_db()
    assert education_referral.lead_attempts == 1
    from refdesk.desk.timeline import referral_timeline

    words = [e.what for e in referral_timeline(referral=education_referral, show_free_text=False)]
    assert "Message sent to the lead: Treatment education materials (v1) (Email)" in words
    # An automatic message is not a person's response: the SLA clock keeps running.
    assert education_referral.first_responded_at is None


def test_it_refuses_a_template_that_is_not_approved_and_records_why():
    referrer_with_email("provider-education")
    with time_machine.travel(TUESDAY, tick=False):
        referral = submit("provider-education", education(2))
    run_at(TUESDAY + timedelta(seconds=5))
    assert mail.outbox == []
    reasons = set(Message.objects.filter(referral=referral).values_list("status", "reason"))
    assert reasons == {(MessageStatus.REFUSED, "template_not_approved")}
    assert "message.refused" in actions(referral)


def test_it_holds_a_lead_message_in_quiet_hours_and_sends_it_when_they_end():
    approve_all_content()
    referrer_with_email("provider-education")
    late = datetime(2026, 12, 9, 4, 0, tzinfo=UTC)  # 22:00 in Chicago
    with time_machine.travel(late, tick=False):
        referral = submit("provider-education", education(3))
    run_at(late + timedelta(seconds=5))
    assert [m.to[0] for m in mail.outbox] == ["ref@example-clinic.org"]  # the referrer's goes
    held = Message.objects.get(referral=referral, audience="lead")
    assert (held.status, held.reason) == (MessageStatus.SCHEDULED, "quiet_hours")
    assert held.next_action_at == datetime(2026, 12, 9, 14, 0, tzinfo=UTC)  # 08:00 Chicago
    run_at(datetime(2026, 12, 9, 13, 59, tzinfo=UTC))
    assert len(mail.outbox) == 1
    run_at(datetime(2026, 12, 9, 14, 0, 1, tzinfo=UTC))
    assert len(mail.outbox) == 2
    held.refresh_from_db()
    assert held.status == MessageStatus.SENT


def test_it_retries_on_the_cadence_then_closes_as_unreachable(education_referral):
    run_at(TUESDAY + timedelta(seconds=5))
    run_at(TUESDAY + timedelta(days=3, seconds=5))  # attempt 2 (cadence 0, 3, 7)
    run_at(TUESDAY + timedelta(days=7, seconds=5))  # attempt 3
    lead_mail = [m for m in mail.outbox if m.to[0] == "clinician1@example-clinic.org"]
    assert len(lead_mail) == 3
    purposes = list(
        Message.objects.filter(referral=education_referral, audience="lead")
        .order_by("attempt")
        .values_list("attempt", "purpose", "status")
    )
    assert purposes == [
        (1, "first_outreach", "sent"),
        (2, "retry", "sent"),
        (3, "retry", "sent"),
    ]
    run_at(TUESDAY + timedelta(days=10, seconds=5))  # the window ends
    education_referral.refresh_from_db()
    assert education_referral.stage == Stage.CLOSED
    assert (education_referral.outcome, education_referral.outcome_reason) == (
        Outcome.UNREACHABLE,
        "retries_exhausted",
    )
    assert "referral.closed" in actions(education_referral)


def test_a_lead_who_was_reached_gets_no_more_attempts(education_referral):
    from refdesk.testing import specialist
    from refdesk.workflow.contact import contact_attempt_log

    run_at(TUESDAY + timedelta(seconds=5))
    education_referral.refresh_from_db()
    person = specialist()
    contact_attempt_log(
        referral=education_referral, channel="email", outcome="reached", note="", actor=person
    )
    run_at(TUESDAY + timedelta(days=11))
    assert Message.objects.filter(referral=education_referral, audience="lead").count() == 1
    education_referral.refresh_from_db()
    assert education_referral.stage != Stage.CLOSED
    attempts = Timer.objects.filter(referral=education_referral, kind=TimerKind.ATTEMPT, attempt=2)
    assert attempts.get().result == "lead_reached"


def test_closing_a_referral_cancels_its_timers(education_referral):
    from refdesk.workflow.closing import referral_close

    education_referral.refresh_from_db()
    referral_close(
        referral=education_referral,
        outcome=Outcome.DECLINED,
        reason_code="lead_declined",
        actor="system:test",
    )
    pending = Timer.objects.filter(referral=education_referral, state=TimerState.PENDING)
    assert not pending.exists()
    lead = Message.objects.filter(referral=education_referral, audience="lead")
    assert not lead.exclude(status=MessageStatus.REFUSED).exists()


def test_a_breached_first_response_warns_then_escalates_to_the_queue_lead_and_owner(
    education_referral, django_capture_on_commit_callbacks
):
    from refdesk.accounts.models import Team
    from refdesk.accounts.services import team_lead_set
    from refdesk.testing import owner, specialist
    from refdesk.workflow.models import Notification

    lead = specialist("lena.lead")
    team_lead_set(
        team=Team.objects.get(slug="medical-affairs"), user=lead, lead=True, actor="system:test"
    )
    program_owner = owner("otto.owner")
    education_referral.refresh_from_db()
    due = education_referral.first_response_due_at
    run_at(due - timedelta(hours=1))  # warning (2 h before)
    run_at(due + timedelta(minutes=1))  # breach
    assert "referral.sla_breached" in actions(education_referral)
    assert not Notification.objects.filter(kind="escalated").exists()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_at(due + timedelta(hours=4, minutes=1))  # escalation after 4 hours
    told = set(
        Notification.objects.filter(kind="escalated").values_list("user__username", flat=True)
    )
    assert {"lena.lead", "otto.owner"} <= told
    assert "referral.sla_escalated" in actions(education_referral)
    escalation_mail = [m for m in mail.outbox if "Escalation" in m.subject]
    assert escalation_mail and "Samuel" not in escalation_mail[0].body  # no patient data
    assert program_owner.email in {a for m in escalation_mail for a in m.to}


def test_a_persons_contact_stops_the_sla_timers(education_referral):
    from refdesk.testing import specialist
    from refdesk.workflow.contact import contact_attempt_log

    education_referral.refresh_from_db()
    contact_attempt_log(
        referral=education_referral,
        channel="email",
        outcome="no_answer",
        note="",
        actor=specialist(),
    )
    run_at(education_referral.first_response_due_at + timedelta(hours=5))
    assert "referral.sla_breached" not in actions(education_referral)
    results = set(
        Timer.objects.filter(referral=education_referral, kind__startswith="sla").values_list(
            "result", flat=True
        )
    )
    assert results == {"responded"}


def test_staff_send_a_template_from_the_referral_page_and_see_it_in_messages(client):
    from refdesk.testing import action_url, agent, detail_url, support

    approve_all_content()
    person = agent()
    moment = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 11:00 in Denver (the lead's zone)
    with time_machine.travel(moment, tick=False):
        referral = submit("patient-support", support(4, channels=("phone", "sms")))
        client.force_login(person)
        response = client.post(
            action_url(referral, "send_message"),
            {"template": "support-callback-intro", "channel": "sms"},
        )
        assert response.status_code == 302
        sweep_due()
        page = client.get(detail_url(referral)).content.decode()
    from refdesk.outreach.sms import LocmemSMSBackend

    assert len(LocmemSMSBackend.outbox) == 1
    assert "Messages" in page and "Sent" in page
    referral.refresh_from_db()
    assert referral.first_responded_at == moment  # a person's message is the first response


def test_a_refused_manual_send_says_why_and_writes_nothing(client):
    from refdesk.testing import action_url, agent, support

    approve_all_content()
    person = agent()
    moment = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        referral = submit("patient-support", support(5, channels=("phone",)))
        client.force_login(person)
        response = client.post(
            action_url(referral, "send_message"),
            {"template": "support-callback-intro", "channel": "sms"},
        )
    assert response.status_code == 400  # the page again, with the reason
    assert "did not consent to this channel" in response.content.decode()
    assert not Message.objects.filter(referral=referral, purpose="manual").exists()


def test_a_high_value_lead_is_checked_by_a_person_not_closed_automatically():
    from refdesk.testing import reviewer, valid_npi
    from refdesk.workflow.models import Notification
    from refdesk.workflow.reviews import review_approve

    approve_all_content()
    referrer_with_email("provider-education")
    with time_machine.travel(TUESDAY, tick=False):
        referral = submit(
            "provider-education",
            education(9, request_type="meeting_request", npi=valid_npi(9)),
        )
        # A meeting request waits for its extra validation; the reviewer clears it.
        for review in referral.reviews.filter(state="pending"):
            review_approve(review=review, reviewer=reviewer("rhea.reviewer"), note="valid")
    for day in (0, 3, 7, 10):
        run_at(TUESDAY + timedelta(days=day, seconds=5))
    referral.refresh_from_db()
    assert referral.lead_attempts == 3
    assert referral.stage != Stage.CLOSED  # others would be closed as unreachable now
    timer = Timer.objects.get(referral=referral, kind=TimerKind.CLOSE_UNREACHABLE)
    assert timer.result == "high_value_check"
    assert "followup.manual_check" in actions(referral)
    if referral.assigned_to_id:
        assert Notification.objects.filter(kind="manual_check", referral=referral).exists()
