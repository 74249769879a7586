"""Submissions for each demo program and staff personas, for the routing and consent tests.

Every builder takes ``n`` so each lead has its own email and phone (the same lead twice within
the duplicate window would be closed as a duplicate instead of routed).
"""

from __future__ import annotations

from datetime import datetime

from refdesk.accounts.choices import Role
from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.accounts.services import user_create
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.testing import latest_consent_version, make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

# program -> (source used in these tests, its submission method)
SOURCES = {
    "trial-prescreening": ("study-coordinator", "api"),
    "provider-education": ("hcp-referral", "web"),
    "patient-support": ("patient-org", "web"),
}


def phone(n: int) -> str:
    # 555-0100..0199 is reserved for fiction; the area code varies past 100 leads.
    return f"+1{212 + n // 100}5550{100 + n % 100}"


def trial(n: int = 0, **answers) -> Submission:
    return trial_submission(
        lead={"email": f"patient{n}@example.org", "phone": phone(n)}, answers=answers or None
    )


def education(
    n: int = 0,
    *,
    request_type: str = "treatment_education",
    therapy_area: str = "oncology",
    specialty: str = "oncology",
    npi: str | None = None,
    question: str | None = None,
) -> Submission:
    lead = {
        "given_name": "Samuel",
        "family_name": "Adeyemi",
        "email": f"clinician{n}@example-clinic.org",
        "preferred_contact": "email",
        "specialty": specialty,
        "country": "US",
        "timezone": "America/Chicago",
    }
    if npi:
        lead["npi"] = npi
    answers = {"preferred_format": "email"}
    if question or request_type == "clinical_question":
        answers["question"] = question or "Is there data on dose adjustment in renal impairment?"
    return Submission(
        request_type=request_type,
        lead_kind="clinician",
        therapy_area=therapy_area,
        lead=lead,
        answers=answers,
    )


def support(
    n: int = 0,
    *,
    request_type: str = "helpline_callback",
    reason: str = "Would like help with the co-pay card.",
    channels: tuple[str, ...] = ("phone",),
) -> Submission:
    return Submission(
        request_type=request_type,
        lead_kind="patient",
        therapy_area="immunology",
        lead={
            "given_name": "Alex",
            "family_name": "Moreno",
            "phone": phone(n),
            "preferred_contact": "phone",
            "timezone": "America/Denver",
            "country": "US",
        },
        answers={"reason_for_contact": reason},
        consent={
            "granted": True,
            "purposes": ["patient_support"],
            "channels": list(channels),
            "method": "attested_by_referrer",
            "text_version": latest_consent_version("patient-support"),
        },
    )


def referrer_for(program: str):
    """The test referrer of the program's source, created on first use."""
    from refdesk.referrers.models import Referrer

    source, _ = SOURCES[program]
    found = Referrer.objects.filter(source__program__slug=program, source__slug=source).first()
    return found or make_referrer(program, source)


def submit(
    program: str, submission: Submission, *, received_at: datetime | None = None
) -> Referral:
    """Submit through ``referral_submit`` (which routes) and return the stored referral."""
    referrer = referrer_for(program)
    _, method = SOURCES[program]
    result = referral_submit(
        referrer=referrer,
        submission=submission,
        method=method,
        actor=referrer,
        received_at=received_at,
    )
    return result.referral


def staff(username: str, role: str, *teams: str, available: bool = True) -> User:
    """A staff persona in the given teams (``available=False``: away in all of them)."""
    user = user_create(
        username=username,
        email=f"{username}@example.org",
        role=role,
        password=None,
        actor="system:test",
        teams=list(Team.objects.filter(slug__in=teams)),
    )
    if not available:
        TeamMembership.objects.filter(user=user).update(available=False)
    return user


def medical_reviewer() -> User:
    return staff("rui.reviewer", Role.MEDICAL_REVIEWER, "medical-affairs")


def specialist() -> User:
    return staff("mira.specialist", Role.MEDICAL_AFFAIRS_SPECIALIST, "medical-affairs")
