"""Personas and referrals for the referral page tests (desk/tests/test_referral_*.py, ...).

Teams come from the demo programs: clinical-ops works ``clinical-ops-prescreening`` (trial),
patient-services works ``patient-services`` (support), medical-affairs the medical queues.
"""

from __future__ import annotations

import uuid

from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.routing.tests.builders import staff

XSS = "<script>alert(1)</script>"
ATTR_XSS = '"><img src=x onerror=alert(1)>'


def coordinator(name: str = "carl.coordinator"):
    return staff(name, Role.CLINICAL_OPS_COORDINATOR, "clinical-ops")


def agent(name: str = "paula.agent"):
    return staff(name, Role.PATIENT_SERVICES_AGENT, "patient-services")


def reviewer(name: str = "rui.reviewer"):
    return staff(name, Role.MEDICAL_REVIEWER, "medical-affairs")


def specialist(name: str = "mira.specialist"):
    return staff(name, Role.MEDICAL_AFFAIRS_SPECIALIST, "medical-affairs")


def rep(name: str = "cody.rep"):
    return staff(name, Role.COMMERCIAL_REP, "commercial")


def owner(name: str = "olga.owner"):
    return staff(name, Role.PROGRAM_OWNER, "clinical-ops", "medical-affairs", "patient-services")


def auditor(name: str = "ines.auditor"):
    return staff(name, Role.COMPLIANCE_AUDITOR)


def detail_url(referral_or_id) -> str:
    public_id = getattr(referral_or_id, "public_id", referral_or_id)
    return reverse("desk:referral_detail", kwargs={"public_id": public_id})


def action_url(referral_or_id, action: str) -> str:
    public_id = getattr(referral_or_id, "public_id", referral_or_id)
    return reverse("desk:referral_action", kwargs={"public_id": public_id, "action": action})


def timeline_url(referral_or_id) -> str:
    public_id = getattr(referral_or_id, "public_id", referral_or_id)
    return reverse("desk:referral_timeline", kwargs={"public_id": public_id})


def random_id() -> uuid.UUID:
    return uuid.uuid4()


def login(client, user):
    client.force_login(user)
    return client
