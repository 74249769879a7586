"""Test personas and builders, in one place: submissions for each demo program, staff in the
demo's teams (one per role, plus named ones), partners of the API, and the page URLs tests use.

The demo programs are applied once per test database (conftest.py), so builders assume them.
Every lead ``n`` gets its own email, phone and NPI: the same lead twice within the duplicate
window would be closed as a duplicate instead of routed.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from allauth.mfa.totp.internal.auth import generate_totp_secret
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.accounts.mfa import has_authenticator, user_totp_provision
from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.accounts.services import user_create
from refdesk.governance.services import program_apply
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion
from refdesk.outreach.services import content_approve
from refdesk.programs.engine.facts import npi_check
from refdesk.programs.loader import load_program_files
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer, Source
from refdesk.referrers.services import partner_key_create, referrer_create
from refdesk.workflow.reviews import review_approve
from refdesk.workflow.submission import referral_submit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAMS_DIR = PROJECT_ROOT / "programs"
DEMO_SLUGS = ("trial-prescreening", "provider-education", "patient-support")
DEMO_FILES = [PROGRAMS_DIR / f"{slug}.yaml" for slug in DEMO_SLUGS]

COORDINATOR = "user:coordinator"  # the persona who refers and works trial leads


def demo_programs_present() -> bool:
    """Are the three demo programs in the database (a transactional test's flush empties it)?"""
    return Program.objects.filter(slug__in=DEMO_SLUGS, active_version__isnull=False).count() == 3


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


# --- submissions of each demo program ------------------------------------------------------

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


# --- staff personas, in the demo's teams --------------------------------------------------------

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


def safety_officer(name: str = "sana.safety"):
    return staff(name, Role.DRUG_SAFETY_OFFICER, "drug-safety")


ADVERSE_EVENT_REASON = "Reports a rash and a bad side effect since the last injection."


def adverse_event_referral(n: int = 0, *, received_at: datetime | None = None) -> Referral:
    """A patient-support referral whose reason for contact suggests a side effect: flagged
    ``possible_adverse_event`` and noticed to the ``drug-safety`` queue."""
    return submit(
        "patient-support", support(n, reason=ADVERSE_EVENT_REASON), received_at=received_at
    )


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


PERSONAS = {
    "agent": (Role.PATIENT_SERVICES_AGENT, ["patient-services"]),
    "coordinator": (Role.CLINICAL_OPS_COORDINATOR, ["clinical-ops"]),
    "specialist": (Role.MEDICAL_AFFAIRS_SPECIALIST, ["medical-affairs"]),
    "reviewer": (Role.MEDICAL_REVIEWER, ["medical-affairs"]),
    "rep": (Role.COMMERCIAL_REP, ["commercial"]),
    "owner": (Role.PROGRAM_OWNER, ["clinical-ops", "medical-affairs", "patient-services"]),
    "auditor": (Role.COMPLIANCE_AUDITOR, []),
    "admin": (Role.ADMINISTRATOR, []),
    "safety": (Role.DRUG_SAFETY_OFFICER, ["drug-safety"]),
}


def make_personas() -> dict:
    """{persona name: User}; usernames are prefixed so they never clash with demo users."""
    return {name: staff(f"p-{name}", role, *teams) for name, (role, teams) in PERSONAS.items()}


def login_with_mfa(client, user) -> None:
    """Sign ``user`` in on ``client`` past RequireMFAMiddleware: give them a TOTP authenticator
    (if they have none) and log in. For view tests; the login flow itself is tested with real
    codes in refdesk/accounts/tests."""
    if not has_authenticator(user):
        user_totp_provision(user=user, secret=generate_totp_secret(), actor="system:test")
    client.force_login(user)


# --- partners of the API -------------------------------------------------------------------------

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

# Every signed-in request stamps the idle clock in its session (SessionGuardMiddleware), so
# each console page also writes the session: one UPDATE of django_session, which inside a test's
# transaction runs in a savepoint (SAVEPOINT, UPDATE, RELEASE). Query budgets add these.
SESSION_WRITE_STATEMENTS = 1
SESSION_WRITE_QUERIES = 3


def approve_all_content(approver: User | None = None) -> int:
    """Approve every draft template and material of the demo programs (as a medical reviewer,
    never their author): what a program's reviewers do before its messages may go out."""
    approver = approver or reviewer("ava.approver")
    drafts = ContentVersion.objects.filter(state=ApprovalState.DRAFT).order_by("id")
    for draft in drafts:
        content_approve(content=draft, approver=approver, note="approved for use")
    return len(drafts)


def referrer_with_email(program: str, email: str = "ref@example-clinic.org") -> Referrer:
    """The program's test referrer, with an email address (acknowledgements go to it)."""
    referrer = referrer_for(program)
    if referrer.email != email:
        Referrer.objects.filter(pk=referrer.pk).update(email=email)
        referrer.refresh_from_db()
    return referrer


def support_by_email(n: int = 0, *, timezone: str = "America/Denver", **kwargs) -> Submission:
    """A patient-support lead who prefers email and consented to it (messages can reach them)."""
    submission = support(n, channels=("email", "phone"), **kwargs)
    submission.lead.update(
        {"email": f"patient{n}@example.net", "preferred_contact": "email", "timezone": timezone}
    )
    return submission


def cleared_meeting_request(n: int = 0) -> Referral:
    """A provider-education meeting request from an oncologist with a valid NPI (high value),
    its extra validation approved: queued for the MSL team, and it may book either type."""
    referral = submit(
        "provider-education",
        education(n, request_type="meeting_request", specialty="oncology", npi=valid_npi(n)),
    )
    checker = reviewer("rhea.reviewer")
    for review in referral.reviews.filter(state="pending"):
        review_approve(review=review, reviewer=checker, note="valid")
    referral.refresh_from_db()
    return referral


def without_ids(text: str) -> str:
    """``text`` with every id and signed token (a run of 24 or more URL-safe characters: UUIDs,
    link tokens) replaced, so a check that short patient values ("555", "1970") are absent is
    not fooled by the random hex that happens to hold them."""
    return re.sub(r"[A-Za-z0-9_:.-]{24,}", "ID", text)
