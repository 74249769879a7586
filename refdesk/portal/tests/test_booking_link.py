"""The {links.reschedule} page of a program that does not book appointments: the lead asks for a
call back at a time of day that suits them (the booking page itself: test_booking_page.py)."""

import pytest

from refdesk.audit.models import AuditEvent
from refdesk.governance.services import program_apply
from refdesk.intake.choices import Outcome
from refdesk.outreach.booking_links import booking_token
from refdesk.programs.loader import load_program_files
from refdesk.testing import PROGRAMS_DIR, agent, submit, support
from refdesk.workflow.closing import referral_close
from refdesk.workflow.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def referral(tmp_path):
    source = (PROGRAMS_DIR / "patient-support.yaml").read_text()
    assert "scheduling:\n  enabled: true" in source
    path = tmp_path / "patient-support.yaml"
    path.write_text(source.replace("scheduling:\n  enabled: true", "scheduling:\n  enabled: false"))
    program_apply(programs=load_program_files([path]), actor="system:test", note="no booking")
    agent()  # someone in patient services, so the referral is assigned
    return submit("patient-support", support(7))


def test_the_page_asks_when_to_call_and_shows_no_patient_data(client, referral):
    response = client.get(f"/book/{booking_token(referral)}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "When is best to call you?" in page
    assert 'name="start"' not in page  # no times to book
    assert "Alex" not in page and "Moreno" not in page and referral.reference not in page
    assert response["Cache-Control"] == "private, no-store"


def test_asking_for_a_call_is_on_the_timeline_and_tells_the_assignee(client, referral):
    response = client.post(f"/book/{booking_token(referral)}", {"when": "weekday_morning"})
    assert response.status_code == 200
    assert "We will call you" in response.content.decode()
    event = AuditEvent.objects.get(
        subject_id=str(referral.public_id), action="referral.callback_requested"
    )
    assert event.changes["when"]["new"] == "weekday_morning"
    referral.refresh_from_db()
    assert Notification.objects.filter(
        user=referral.assigned_to, referral=referral, kind="callback_requested"
    ).exists()


def test_no_choice_is_a_clear_error_and_records_nothing(client, referral):
    response = client.post(f"/book/{booking_token(referral)}", {})
    assert response.status_code == 400
    assert "Choose when we should call you" in response.content.decode()
    assert not AuditEvent.objects.filter(action="referral.callback_requested").exists()


def test_a_closed_referral_says_so_and_records_nothing(client, referral):
    referral.refresh_from_db()
    referral_close(
        referral=referral, outcome=Outcome.DECLINED, reason_code="lead_declined", actor="system:t"
    )
    response = client.post(f"/book/{booking_token(referral)}", {"when": "weekday_morning"})
    assert response.status_code == 409
    assert "This request is closed" in response.content.decode()
    assert not AuditEvent.objects.filter(action="referral.callback_requested").exists()


def test_a_forged_link_is_not_found(client, referral):
    response = client.get(f"/book/{booking_token(referral)}x")
    assert response.status_code == 404
