"""Partners and valid bodies for the API tests, built from the demo program definitions."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from refdesk.testing import apply_demo_programs, latest_consent_version, make_referrer

# The source of each demo program that accepts API submissions.
API_SOURCES = {
    "trial-prescreening": "study-coordinator",
    "provider-education": "partner-lab",
    "patient-support": "digital-health-partner",
}


@dataclass
class Partner:
    referrer: object
    record: object
    key: str

    @property
    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.key}"}


def make_partner(program: str, source: str | None = None) -> Partner:
    from refdesk.referrers.services import partner_key_create

    referrer = make_referrer(program, source or API_SOURCES[program], name="Partner Org")
    record, key = partner_key_create(referrer=referrer, actor="system:test")
    return Partner(referrer, record, key)


def valid_body(program: str, *, email: str = "avery.quill@example.org", phone: str = "") -> dict:
    """A complete, valid body for the program (distinct email/phone avoid duplicates)."""
    if program == "trial-prescreening":
        return {
            "program": program,
            "source": API_SOURCES[program],
            "request_type": "trial_prescreen",
            "therapy_area": "oncology",
            "lead": {
                "kind": "patient",
                "given_name": "Avery",
                "family_name": "Quill",
                "email": email,
                "phone": phone or "(617) 555-0142",
                "preferred_contact": "phone",
                "timezone": "America/Chicago",
                "language": "en",
                "country": "US",
                "birth_year": 1970,
            },
            "consent": {
                "granted": True,
                "purposes": ["trial_contact"],
                "channels": ["phone", "email"],
                "method": "attested_by_referrer",
                "text_version": latest_consent_version(program),
            },
            "answers": {
                "study_id": "RDX-301",
                "age": 54,
                "diagnosis_confirmed": True,
                "ecog": 1,
                "prior_therapy_lines": 1,
                "active_brain_metastases": False,
            },
        }
    if program == "provider-education":
        return {
            "program": program,
            "source": API_SOURCES[program],
            "request_type": "treatment_education",
            "therapy_area": "oncology",
            "lead": {
                "kind": "clinician",
                "given_name": "Samuel",
                "family_name": "Adeyemi",
                "email": email,
                "preferred_contact": "email",
                "specialty": "oncology",
                "npi": "1234567893",
                "timezone": "America/Chicago",
                "country": "US",
            },
            "answers": {"preferred_format": "email"},
        }
    assert program == "patient-support"
    return {
        "program": program,
        "source": API_SOURCES[program],
        "request_type": "helpline_callback",
        "therapy_area": "immunology",
        "lead": {
            "kind": "patient",
            "given_name": "Alex",
            "family_name": "Moreno",
            "phone": phone or "+1 404 555 0123",
            "preferred_contact": "phone",
            "timezone": "America/Denver",
            "country": "US",
        },
        "consent": {
            "granted": True,
            "purposes": ["patient_support"],
            "channels": ["phone"],
            "method": "attested_by_referrer",
            "text_version": latest_consent_version(program),
        },
        "answers": {"reason_for_contact": "Would like help with the co-pay card."},
    }


def changed(body: dict, path: str, value) -> dict:
    """A copy of body with the dotted path set (or removed when value is DELETE)."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return body


DELETE = object()


@pytest.fixture
def programs():
    apply_demo_programs()


@pytest.fixture
def partner(programs) -> Partner:
    return make_partner("trial-prescreening")
