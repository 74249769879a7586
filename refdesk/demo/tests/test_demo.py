"""refdesk demo: complete, verifiable, and idempotent."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.programs.models import ProgramVersion
from refdesk.referrers.models import Referrer

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
    assert first["Referral"] == 40 and first["ProgramVersion"] == 3
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
