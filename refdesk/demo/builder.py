"""Demo data: the three demo programs, teams, one user per role, referrers and referrals.

Everything goes through the same services as real use, so the audit chain verifies. Idempotent:
programs apply only when changed, users and referrers are found by name, and referrals carry a
``client_ref`` (``demo-00042``) that a second run recognises. Synthetic data, fixed seed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from refdesk.accounts.choices import Role
from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.models import Team, User
from refdesk.accounts.services import team_lead_set, user_create
from refdesk.demo.scheduling import build_scheduling_demo
from refdesk.governance.services import program_apply
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.submissions import Submission
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion
from refdesk.outreach.services import content_approve
from refdesk.programs.loader import load_program_files
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer, Source
from refdesk.referrers.services import referrer_create
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.closing import referral_close
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.submission import referral_submit
from refdesk.workflow.sweep import followup_replay

ACTOR = "system:demo"
DEMO_PROGRAMS = ("trial-prescreening", "provider-education", "patient-support")

# username, role, first, last, teams
DEMO_USERS = [
    ("admin", Role.ADMINISTRATOR, "Ada", "Admin", []),
    ("agent", Role.PATIENT_SERVICES_AGENT, "Paula", "Agent", ["patient-services"]),
    ("coordinator", Role.CLINICAL_OPS_COORDINATOR, "Carl", "Coordinator", ["clinical-ops"]),
    ("specialist", Role.MEDICAL_AFFAIRS_SPECIALIST, "Mira", "Specialist", ["medical-affairs"]),
    ("reviewer", Role.MEDICAL_REVIEWER, "Rui", "Reviewer", ["medical-affairs"]),
    ("rep", Role.COMMERCIAL_REP, "Cody", "Rep", ["commercial"]),
    (
        "owner",
        Role.PROGRAM_OWNER,
        "Olga",
        "Owner",
        ["clinical-ops", "medical-affairs", "patient-services"],
    ),
    ("auditor", Role.COMPLIANCE_AUDITOR, "Ines", "Auditor", []),
    ("safety", Role.DRUG_SAFETY_OFFICER, "Sana", "Safety", ["drug-safety"]),
]

REFERRERS = {
    "trial-prescreening": [
        ("study-coordinator", "Northside Oncology Research — J. Alvarez", "person"),
        ("site-investigator", "Dr. Helen Okafor, Lakeview Cancer Center", "person"),
        ("patient-navigator", "Riverbend Navigation Services", "organization"),
    ],
    "provider-education": [
        ("hcp-referral", "Dr. Samuel Reyes (colleague referral)", "person"),
        ("practice-coordinator", "Maple Street Practice Group", "organization"),
        ("event-partner", "Midwest Oncology Summit", "organization"),
        ("partner-lab", "Precision Diagnostics Lab", "organization"),
    ],
    "patient-support": [
        ("patient-org", "Lung Health Alliance", "organization"),
        ("hcp-office", "Harbor Family Medicine", "organization"),
        ("digital-health-partner", "CareTrack App", "organization"),
    ],
}

GIVEN = [
    "Avery",
    "Jordan",
    "Morgan",
    "Riley",
    "Casey",
    "Quinn",
    "Harper",
    "Rowan",
    "Sage",
    "Emerson",
    "Finley",
    "Hayden",
    "Kendall",
    "Logan",
    "Parker",
    "Reese",
]
FAMILY = [
    "Abbott",
    "Baines",
    "Calder",
    "Dunmore",
    "Ellery",
    "Fenwick",
    "Garland",
    "Hollis",
    "Iverson",
    "Jessup",
    "Kingsley",
    "Lowell",
    "Marlow",
    "Norcross",
    "Oakley",
    "Pryor",
]
SPECIALTIES = [
    "oncology",
    "hematology",
    "pulmonology",
    "rheumatology",
    "dermatology",
    "gastroenterology",
    "cardiology",
]
AREA_CODES = ["201", "212", "312", "415", "617", "713", "303", "206"]
TIMEZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
QUESTIONS = [
    "What does the latest guideline say about second-line options after progression?",
    "Is there published data on dose adjustment in renal impairment?",
    "Which monitoring schedule is recommended during the first three months?",
]
REASONS = [
    "Needs help understanding insurance coverage for the prescribed therapy.",
    "Would like reminders and coaching to stay on the treatment schedule.",
    "Asked for a callback about enrolling in the support program.",
    "Mentioned a rash and some dizziness since starting the medication.",
    "Reports nausea after the last injection and wants to talk to someone.",
    "Looking for transport options to infusion appointments.",
]

ADVERSE_EVENT_REASON = REASONS[3]  # mentions a rash: the program's adverse-event terms flag it


def demo_password(username: str) -> str:
    """Stable per installation (derived from SECRET_KEY), so a re-run prints what still works."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"demo:{username}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest).decode("ascii")[:16].lower()


def demo_totp_secret(username: str) -> str:
    """The demo user's TOTP secret (base32, 160 bits), stable per installation like the password,
    so the authenticator app entry made after the first run keeps working."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"demo-totp:{username}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest[:20]).decode("ascii")


def default_programs_dir() -> Path:
    for candidate in (Path.cwd() / "programs", Path(__file__).resolve().parents[2] / "programs"):
        if (candidate / "trial-prescreening.yaml").exists():
            return candidate
    raise FileNotFoundError("cannot find the demo programs/ directory; pass --programs-dir")


@dataclass
class DemoSummary:
    versions: list[str]
    users: list[tuple[str, str, str, str]]  # username, role, password, TOTP secret
    intake_links: dict[str, str]
    referrals_created: int
    referrals_existing: int
    scheduling_story: str | None = None  # the reference of the booked-and-missed referral


def build_demo(
    *, referrals: int, programs_dir: Path | None = None, seed: int = 2026
) -> DemoSummary:
    programs_dir = programs_dir or default_programs_dir()
    files = [programs_dir / f"{slug}.yaml" for slug in DEMO_PROGRAMS]
    results = program_apply(
        programs=load_program_files(files), actor=ACTOR, note="demo programs shipped with refdesk"
    )
    users = _ensure_users()
    _ensure_team_leads()
    _approve_content()
    referrers = _ensure_referrers()
    created, existing = _ensure_referrals(referrals, referrers, random.Random(seed))
    story_reference = build_scheduling_demo(
        referrer=referrers["patient-support"][0], rng=random.Random(seed)
    )
    # What a worker running all along would have sent and escalated, each at its due time.
    followup_replay(until=timezone.now())
    links = {
        slug: f"{settings.REFDESK_BASE_URL}/r/{group[0].code}" for slug, group in referrers.items()
    }
    return DemoSummary([str(r) for r in results], users, links, created, existing, story_reference)


def _ensure_users() -> list[tuple[str, str, str, str]]:
    printed = []
    for username, role, first, last, team_slugs in DEMO_USERS:
        password = demo_password(username)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(
                username=username,
                email=f"{username}@demo.refdesk.invalid",
                role=role,
                password=password,
                actor=ACTOR,
                first_name=first,
                last_name=last,
                teams=list(Team.objects.filter(slug__in=team_slugs)),
            )
        totp_secret = demo_totp_secret(username)
        # Only when the user has no authenticator: one they enrolled themselves stays.
        user_totp_provision(user=user, secret=totp_secret, actor=ACTOR)
        printed.append((username, role.label, password, totp_secret))
    return printed


# Who leads each team: they hear escalations of its queues' breached first responses.
TEAM_LEADS = {
    "clinical-ops": "coordinator",
    "medical-affairs": "specialist",
    "patient-services": "agent",
}


def _ensure_team_leads() -> None:
    for slug, username in TEAM_LEADS.items():
        team = Team.objects.filter(slug=slug).first()
        if team is not None:
            team_lead_set(
                team=team, user=User.objects.get(username=username), lead=True, actor=ACTOR
            )


def _approve_content() -> None:
    """The medical reviewer approves the shipped templates and materials (their author is the
    demo's program apply, so the reviewer may)."""
    reviewer = User.objects.get(username="reviewer")
    for draft in ContentVersion.objects.filter(state=ApprovalState.DRAFT).order_by("id"):
        content_approve(content=draft, approver=reviewer, note="Approved for the demo programs.")


def _ensure_referrers() -> dict[str, list[Referrer]]:
    result: dict[str, list[Referrer]] = {}
    for program_slug, entries in REFERRERS.items():
        result[program_slug] = []
        for source_slug, name, kind in entries:
            source = Source.objects.select_related("program").get(
                program__slug=program_slug, slug=source_slug
            )
            referrer = Referrer.objects.filter(source=source, name=name).first()
            if referrer is None:
                referrer = referrer_create(
                    source=source,
                    name=name,
                    kind=kind,
                    actor=ACTOR,
                    email=f"referrals+{source_slug}@demo.refdesk.invalid",
                )
            result[program_slug].append(referrer)
    return result


def _ensure_referrals(
    count: int, referrers: dict[str, list[Referrer]], rng: random.Random
) -> tuple[int, int]:
    programs = {
        p.slug: p
        for p in Program.objects.filter(slug__in=DEMO_PROGRAMS).select_related("active_version")
    }
    now = timezone.now()
    created = existing = 0
    adverse_event_seeded = False
    for index in range(count):
        slug = rng.choices(DEMO_PROGRAMS, weights=[3, 4, 3])[0]
        definition = version_definition(programs[slug].active_version)
        referrer = rng.choice(referrers[slug])
        submission = _synthetic_submission(slug, definition, referrer, rng, index)
        received_at = now - timedelta(days=rng.uniform(0, 90))
        if slug == "patient-support" and not adverse_event_seeded:
            # The safety officer's demo: one possible adverse event received a few hours ago,
            # its 24-hour triage window still running (the random ones are mostly overdue).
            adverse_event_seeded = True
            submission.answers["reason_for_contact"] = ADVERSE_EVENT_REASON
            received_at = now - timedelta(hours=3)
        fate = rng.random()
        result = referral_submit(
            referrer=referrer,
            submission=submission,
            method=definition.sources[referrer.source.slug].submission_methods[0],
            actor=referrer,
            client_ref=f"demo-{index:05d}",
            received_at=received_at,
        )
        if not result.created:
            existing += 1
            continue
        created += 1
        _progress(result.referral, definition, fate, age_days=(now - received_at).days)
    return created, existing


def _synthetic_submission(slug, definition, referrer, rng, index) -> Submission:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    request_type = rng.choice(sorted(_allowed_request_types(definition, referrer)))
    kind = definition.request_types[request_type].lead_kind
    person = index - 1 if index and rng.random() < 0.03 else index  # a few leads referred twice
    lead = {
        "given_name": given,
        "family_name": family,
        "email": f"lead{person}@example.org",
        # 555-0100..0199 is reserved for fiction; eight area codes give 800 distinct leads.
        "phone": f"+1{AREA_CODES[person % 8]}5550{100 + person // 8 % 100}",
        "timezone": rng.choice(TIMEZONES),
        "language": "en",
        "country": "US",
        "preferred_contact": rng.choice(["phone", "email"]),
    }
    if rng.random() < 0.08:
        # Some referrers do not say how the person wants to be contacted: incomplete, and the
        # referrer is asked for it. (A chosen method without its detail is refused at intake.)
        lead.pop("preferred_contact")
    if kind == "clinician":
        lead["specialty"] = rng.choice(SPECIALTIES)
        lead["organization"] = rng.choice(["Lakeside Clinic", "Metro Health", "Valley Oncology"])
        if rng.random() < 0.5:
            lead["npi"] = rng.choice(["1234567893", "1245319599", "1003000126"])
    else:
        lead["birth_year"] = rng.randint(1940, 2000)
    answers = _synthetic_answers(slug, request_type, rng)
    consent = None
    if definition.consent and kind in definition.consent.for_lead_kinds:
        text = max(definition.consent.texts, key=lambda t: t.published)
        channels = [c for c in ("phone", "email") if c in definition.consent.channels]
        consent = {
            "granted": True,
            "purposes": list(text.purposes),
            "channels": channels,
            "method": definition.consent.methods[0],
            "text_version": text.version,
        }
    areas = sorted(definition.therapy_areas)
    return Submission(
        request_type=request_type,
        lead_kind=kind,
        lead=lead,
        answers=answers,
        therapy_area=rng.choice(areas) if areas else "",
        consent=consent,
        utm={
            "utm_source": referrer.source.slug,
            "utm_medium": "referral",
            "utm_campaign": f"{slug}-2026",
        },
    )


def _allowed_request_types(definition, referrer) -> set[str]:
    allowed = definition.sources[referrer.source.slug].request_types
    return set(definition.request_types) if allowed == "all" else set(allowed)


def _synthetic_answers(slug: str, request_type: str, rng: random.Random) -> dict:
    if slug == "trial-prescreening":
        answers = {
            "study_id": "RDX-301",
            "age": rng.randint(16, 84),
            "diagnosis_confirmed": rng.random() < 0.9,
            "ecog": rng.choice([0, 1, 1, 2, 3]),
            "prior_therapy_lines": rng.choice([0, 1, 1, 2, 3]),
            "active_brain_metastases": rng.random() < 0.1,
        }
        if rng.random() < 0.1:
            answers.pop(rng.choice(["ecog", "prior_therapy_lines"]))
        return answers
    if slug == "provider-education":
        answers = {"preferred_format": rng.choice(["email", "call", "meeting"])}
        if request_type == "clinical_question" or rng.random() < 0.2:
            answers["question"] = rng.choice(QUESTIONS)
        return answers
    return {"reason_for_contact": rng.choice(REASONS)}


def _progress(referral, definition, fate: float, age_days: int) -> None:
    """Move a freshly routed demo referral along a plausible path for its age.

    ``referral_submit`` has already routed it (queue, stage, prescreen outcome, assignee); the
    demo plays the people: the medical reviewer signs off gated referrals, the assignee claims
    and closes the work.
    """
    if referral.stage == Stage.AWAITING_REVIEW:
        if age_days < 1 and fate < 0.7:
            return  # still waiting for the reviewer
        reviewer = User.objects.get(username="reviewer")
        for review in referral.reviews.filter(state="pending"):
            if fate > 0.95:
                review_reject(review=review, reviewer=reviewer, reason="Outside the program scope.")
                return
            review_approve(review=review, reviewer=reviewer, note="Reviewed; response may go.")
        referral.refresh_from_db()
    if referral.stage != Stage.QUEUED:
        return
    if age_days < 2 and fate < 0.7:
        return  # fresh work still waiting in the queue
    worker = referral.assigned_to
    if worker is None:
        return  # nobody available in that team: it waits, unassigned
    referral_claim(referral=referral, user=worker)
    if age_days < 10 and fate < 0.5:
        return
    if referral.prescreen_outcome == PrescreenOutcome.NOT_ELIGIBLE:
        referral_close(
            referral=referral,
            outcome=Outcome.NOT_QUALIFIED,
            actor=worker,
            reason_code="criteria_not_met",
        )
    elif fate < 0.12:
        referral_close(
            referral=referral,
            outcome=Outcome.UNREACHABLE,
            actor=worker,
            reason_code="retries_exhausted",
        )
    elif fate < 0.18:
        referral_close(
            referral=referral, outcome=Outcome.DECLINED, actor=worker, reason_code="lead_declined"
        )
    elif fate < 0.3 and definition.goal != "trial_prescreening":
        referral_close(
            referral=referral,
            outcome=Outcome.NOT_QUALIFIED,
            actor=worker,
            reason_code="specialty_not_targeted",
        )
    elif fate < 0.4:
        return  # still being worked
    else:
        referral_close(referral=referral, outcome=Outcome.QUALIFIED, actor=worker)
