"""Shared test personas and builders (one place)."""

from __future__ import annotations

from pathlib import Path

from refdesk.governance.services import program_apply
from refdesk.intake.submissions import Submission
from refdesk.programs.engine.facts import npi_check
from refdesk.programs.loader import load_program_files
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Source
from refdesk.referrers.services import referrer_create

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = PROJECT_ROOT / "programs"
DEMO_FILES = [
    PROGRAMS_DIR / f"{slug}.yaml"
    for slug in ("trial-prescreening", "provider-education", "patient-support")
]

COORDINATOR = "user:coordinator"  # the persona who refers and works trial leads


def apply_demo_programs(note: str = "test setup"):

    return program_apply(programs=load_program_files(DEMO_FILES), actor="system:test", note=note)


def make_referrer(program: str, source: str, name: str = "Test Referrer"):

    return referrer_create(
        source=Source.objects.get(program__slug=program, slug=source),
        name=name,
        actor="system:test",
    )


def trial_submission(
    *,
    lead: dict | None = None,
    answers: dict | None = None,
    consent: dict | None = None,
    with_consent: bool = True,
) -> Submission:
    """A complete, eligible trial prescreen referral; pass dicts to override parts of it."""
    full_lead = {
        "given_name": "Avery",
        "family_name": "Quill",
        "email": "Avery.Quill@Example.org",
        "phone": "(617) 555-0142",
        "preferred_contact": "phone",
        "timezone": "America/Chicago",
        "country": "US",
        "birth_year": 1970,
        **(lead or {}),
    }
    full_answers = {
        "study_id": "RDX-301",
        "age": 54,
        "diagnosis_confirmed": True,
        "ecog": 1,
        "prior_therapy_lines": 1,
        "active_brain_metastases": False,
        **(answers or {}),
    }
    full_consent = {
        "granted": True,
        "purposes": ["trial_contact"],
        "channels": ["phone", "email"],
        "method": "attested_by_referrer",
        "text_version": latest_consent_version("trial-prescreening"),
        **(consent or {}),
    }
    return Submission(
        request_type="trial_prescreen",
        lead_kind="patient",
        therapy_area="oncology",
        lead=full_lead,
        answers=full_answers,
        consent=full_consent if with_consent else None,
    )


def latest_consent_version(program: str) -> str:

    definition = version_definition(Program.objects.get(slug=program).active_version)
    return max(definition.consent.texts, key=lambda text: text.published).version


def valid_npi(n: int) -> str:
    """A distinct, check-digit-valid NPI for lead ``n`` (NPIs are a duplicate key)."""

    base = f"1{n:08d}"
    return next(
        f"{base}{digit}" for digit in "0123456789" if npi_check(f"{base}{digit}") == "valid"
    )
