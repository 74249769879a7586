"""refdesk demo: complete, verifiable, and idempotent."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from refdesk.access.selectors import notice_list_visible_to
from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.programs.models import ProgramVersion
from refdesk.referrers.models import Referrer
from refdesk.workflow.safety import notice_clocks

pytestmark = pytest.mark.django_db

COUNTED = (User, Referrer, Referral, ConsentRecord, ProgramVersion, AuditEvent)


def _counts():
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_demo_twice_creates_nothing_twice(capsys):
    call_command("demo", "--referrals", "40")
    first = _counts()
    out = capsys.readouterr().out
    call_command("demo", "--referrals", "40")
    assert _counts() == first
    assert "40 already there" in capsys.readouterr().out
    # 40 synthetic referrals and the scheduling story's (demo.scheduling)
    assert first["Referral"] == 41 and first["ProgramVersion"] == 3
    assert "/r/" in out and "admin" in out


def test_demo_makes_one_user_per_role_and_varied_outcomes():
    call_command("demo", "--referrals", "120")
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    stages = set(Referral.objects.values_list("stage", flat=True))
    outcomes = set(Referral.objects.values_list("outcome", flat=True)) - {""}
    assert {"closed", "in_progress"} <= stages
    assert {"qualified", "not_qualified"} <= outcomes
    assert Referral.objects.exclude(prescreen_outcome="").exists()
    assert audit_verify().ok


def test_demo_passwords_log_in():
    call_command("demo", "--referrals", "0")
    from refdesk.demo.builder import demo_password

    user = User.objects.get(username="coordinator")
    assert user.check_password(demo_password("coordinator"))


def test_the_demo_leads_can_be_found_by_name(client):
    """After `make run`, an agent finds a demo lead of their queue by part of its name."""
    call_command("demo", "--referrals", "40")
    agent = User.objects.get(role=Role.PATIENT_SERVICES_AGENT)
    theirs = Referral.objects.filter(queue__slug="patient-services").order_by("-received_at")
    referral = theirs.first()
    assert referral is not None
    query = f"{referral.lead['given_name'][:3]} {referral.lead['family_name']}".lower()
    client.force_login(agent)
    page = client.post(reverse("desk:search"), {"q": query}).content.decode()
    assert f"/desk/referrals/{referral.public_id}" in page


def test_demo_gives_the_safety_officer_a_possible_adverse_event_to_triage():
    call_command("demo", "--referrals", "40")
    safety = User.objects.get(username="safety")
    assert safety.role == Role.DRUG_SAFETY_OFFICER
    assert list(safety.memberships.values_list("team__slug", flat=True)) == ["drug-safety"]
    notices = list(notice_list_visible_to(user=safety).filter(closed_at__isnull=True))
    assert notices, "the demo holds no possible adverse event"
    now = timezone.now()
    assert any(not notice_clocks(notice).triage_overdue(now) for notice in notices)


def test_the_scheduling_story_is_booked_by_link_moved_missed_and_checked(capsys):
    """Issue 12's "done when": a patient-support referral booked through the lead's link, its
    invite and reminders sent, rescheduled once, marked no-show, the manual check open — all on
    its timeline — and the demo's agenda holds upcoming appointments."""
    from refdesk.desk.timeline import referral_timeline
    from refdesk.outreach.models import Message
    from refdesk.scheduling.models import Appointment
    from refdesk.workflow.models import ManualCheck

    call_command("demo", "--referrals", "40")
    out = capsys.readouterr().out
    story = Referral.objects.get(client_ref="demo-scheduling-story")
    assert f"Scheduling story: {story.reference}" in out
    appointment = Appointment.objects.get(referral=story)
    assert appointment.booked_via == "lead_link" and appointment.reschedules == 1
    assert appointment.status == "no_show" and appointment.sequence == 1
    sent = set(
        Message.objects.filter(referral=story, status__in=("sent", "delivered")).values_list(
            "purpose", flat=True
        )
    )
    assert {"manual", "confirmation", "appointment_change", "reminder", "reschedule_offer"} <= sent
    assert Message.objects.filter(appointment=appointment, purpose="appointment_change")[
        0
    ].calendar.count("SEQUENCE:1")
    assert ManualCheck.objects.filter(referral=story, resolved_at__isnull=True).exists()
    actions = [entry.action for entry in referral_timeline(referral=story, show_free_text=False)]
    for step in (
        "referral.scheduled",
        "appointment.rescheduled",
        "referral.unscheduled",
        "followup.manual_check",
    ):
        assert step in actions, step
    assert Appointment.objects.filter(status="booked", starts_at__gt=timezone.now()).count() >= 3
    assert audit_verify().ok
