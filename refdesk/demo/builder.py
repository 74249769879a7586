"""Demo data: the three demo programs, teams, one user per role, referrers, and 90 days of
referrals played out in time.

The history is a discrete-event simulation under a simulated clock (``demo.history``): each
referral arrives at its moment (weekdays in business hours mostly, some evenings and weekends),
is routed in its submission's transaction, and is worked by the demo's people
(``demo.people``) through the same services as real use — claims, contact attempts and retries,
reviews, prescreen outcomes, bookings, attendance, outcomes — while the follow-up machinery
sends, retries, warns and escalates at its due times. Every event, audit events included, is
stamped at its simulated time, so the audit chain is one time-ordered sequence that verifies.
Last month (in the programs' zone) the patient-support program gets a new version through
``program_apply`` — the shipped file, which sends cost questions to the patient access team;
the history starts with the version before it — and a referral or two is re-routed after it.

Idempotent: the history is played once; a later run finds the demo's referrals (``client_ref``
``demo-00042``) and adds nothing (programs apply only when their files changed, users and
referrers are found by name). Synthetic data, fixed seed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import yaml
from django.conf import settings
from django.utils import timezone

from refdesk.accounts.choices import Role
from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.models import Team, User
from refdesk.accounts.services import team_lead_set, user_create
from refdesk.demo.guard import demo_refuse_in_production
from refdesk.demo.history import History
from refdesk.demo.people import People, npi
from refdesk.demo.scheduling import (
    STORY_CLIENT_REF,
    plan_story,
    story_reference,
    upcoming,
    working_hours,
)
from refdesk.governance.services import program_apply
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion
from refdesk.outreach.services import content_approve
from refdesk.programs.engine import BusinessCalendar
from refdesk.programs.engine.compiled import compiled
from refdesk.programs.loader import (
    LoadedProgram,
    compute_content_hash,
    definition_from_dict,
    load_program_files,
)
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer, Source
from refdesk.referrers.services import referrer_create

ACTOR = "system:demo"
DEMO_PROGRAMS = ("trial-prescreening", "provider-education", "patient-support")
SHIPPED_NOTE = "demo programs shipped with refdesk"
HISTORY_DAYS = 90
# The rule change last month: the shipped patient-support file adds this rule; the history
# starts with the version before it.
CHANGED_PROGRAM = "patient-support"
CHANGED_RULE = "financial-assistance"
RULE_CHANGE_CLIENT_REF = "demo-rule-change"  # the cost question re-routed after the change

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
class HistorySummary:
    start: datetime
    end: datetime
    steps: int
    refused: int  # steps a service refused (the referral had moved on): nothing written
    rule_change: datetime


@dataclass
class DemoSummary:
    versions: list[str]
    users: list[tuple[str, str, str, str]]  # username, role, password, TOTP secret
    intake_links: dict[str, str]
    referrals_created: int
    referrals_existing: int
    scheduling_story: str | None = None  # the reference of the booked-and-missed referral
    history: HistorySummary | None = None  # None: played by an earlier run


def build_demo(
    *, referrals: int, programs_dir: Path | None = None, seed: int = 2026
) -> DemoSummary:
    demo_refuse_in_production()
    programs_dir = programs_dir or default_programs_dir()
    shipped = load_program_files([programs_dir / f"{slug}.yaml" for slug in DEMO_PROGRAMS])
    if history_played():
        results = program_apply(programs=shipped, actor=ACTOR, note=SHIPPED_NOTE)
        users = _ensure_users()
        _ensure_team_leads()
        _approve_content()
        referrers = _ensure_referrers()
        return DemoSummary(
            versions=[str(r) for r in results],
            users=users,
            intake_links=_links(referrers),
            referrals_created=0,
            referrals_existing=_synthetic().count(),
            scheduling_story=story_reference(),
        )
    end = timezone.now()
    rng = random.Random(seed)
    history = History(start=end - timedelta(days=HISTORY_DAYS), end=end)
    with history:
        changed = next(p for p in shipped if p.definition.id == CHANGED_PROGRAM)
        first = [earlier_version(p) if p is changed else p for p in shipped]
        results = program_apply(programs=first, actor=ACTOR, note=SHIPPED_NOTE)
        users = _ensure_users()
        _ensure_team_leads()
        _approve_content()
        referrers = _ensure_referrers()
        working_hours(today=timezone.localdate(end))
        people = People(rng)
        _plan_referrals(history, people, referrals, referrers, rng)
        plan_story(history, referrer=referrers["patient-support"][0])
        change = _plan_rule_change(history, people, changed, referrers["patient-support"][1], rng)
        history.play()
        upcoming(rng)
    results += change.results
    return DemoSummary(
        versions=[str(r) for r in results],
        users=users,
        intake_links=_links(referrers),
        referrals_created=_synthetic().count(),
        referrals_existing=0,
        scheduling_story=story_reference(),
        history=HistorySummary(
            start=history.start,
            end=history.end,
            steps=history.steps,
            refused=sum(history.refused.values()),
            rule_change=change.at,
        ),
    )


def history_played() -> bool:
    """Has a run played the demo's history already (its referrals are there)?"""
    return Referral.objects.filter(client_ref__startswith="demo-").exists()


def _synthetic():
    """The synthetic referrals (``demo-00042``), not the story's nor the rule change's."""
    return Referral.objects.filter(client_ref__startswith="demo-").exclude(
        client_ref__in=(STORY_CLIENT_REF, RULE_CHANGE_CLIENT_REF)
    )


def _links(referrers: dict[str, list[Referrer]]) -> dict[str, str]:
    return {
        slug: f"{settings.REFDESK_BASE_URL}/r/{group[0].code}" for slug, group in referrers.items()
    }


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


def _plan_referrals(
    history: History,
    people: People,
    count: int,
    referrers: dict[str, list[Referrer]],
    rng: random.Random,
) -> None:
    """Put each synthetic referral's arrival on the history (what happens next is decided as
    it goes, by ``People``). The first ones, one of each request type of each program, are the
    last day's intake, still waiting in their queues (assigned, not yet claimed), so every queue
    has fresh work whatever the demo's size; the rest arrive over the whole period."""
    programs = {
        p.slug: p
        for p in Program.objects.filter(slug__in=DEMO_PROGRAMS).select_related("active_version")
    }
    definitions = {slug: version_definition(p.active_version) for slug, p in programs.items()}
    calendar = compiled(definitions["patient-support"]).calendar  # all three share it
    fresh = [(slug, kind) for slug in DEMO_PROGRAMS for kind in definitions[slug].request_types]
    adverse_event_seeded = False
    for index in range(count):
        journey = index >= len(fresh)
        if not journey:
            slug, request_type = fresh[index]
            window_start = max(history.start, history.end - timedelta(days=1))
        else:
            slug, request_type = rng.choices(DEMO_PROGRAMS, weights=[3, 4, 3])[0], None
            window_start = history.start
        definition = definitions[slug]
        referrer = rng.choice(
            [
                referrer
                for referrer in referrers[slug]
                if request_type is None
                or request_type in _allowed_request_types(definition, referrer)
            ]
        )
        submission = _synthetic_submission(
            slug, definition, referrer, rng, index, request_type=request_type, complete=not journey
        )
        received_at = arrival_time(window_start, history.end, calendar, rng)
        triage = True
        if slug == "patient-support" and not adverse_event_seeded:
            # The safety officer's demo: one possible adverse event received a few hours ago,
            # its 24-hour triage window still running (not yet seen by the officer).
            adverse_event_seeded = True
            submission.answers["reason_for_contact"] = ADVERSE_EVENT_REASON
            received_at = history.end - timedelta(hours=3)
            triage = False
        method = definition.sources[referrer.source.slug].submission_methods[0]
        history.at(
            received_at,
            people.arrive,
            referrer,
            submission,
            method,
            f"demo-{index:05d}",
            journey,
            triage,
        )


def arrival_time(
    start: datetime, end: datetime, calendar: BusinessCalendar, rng: random.Random
) -> datetime:
    """When a referral comes in: about four in five on a working day in business hours of the
    programs' zone, the rest in the evening, early morning or at the weekend."""
    zone = calendar.timezone
    while True:
        moment = start + (end - start) * rng.random()
        local = moment.astimezone(zone)
        business_day = calendar.is_business_day(local.date())
        if not business_day and rng.random() > 0.3:
            continue  # weekends and holidays are quieter
        if rng.random() < 0.82:
            opens = datetime.combine(local.date(), calendar.opens, tzinfo=zone)
            hours = (calendar.day_length.total_seconds() / 3600) * rng.random()
            local = opens + timedelta(hours=hours)
        else:
            local = (
                datetime.combine(local.date(), time(17), tzinfo=zone)
                + timedelta(hours=rng.choice([0, 1, 2, 3, 4, 14, 15]))
                + timedelta(minutes=rng.randrange(60))
            )
        moment = local.astimezone(UTC)
        if start <= moment <= end:
            return moment


@dataclass
class RuleChange:
    at: datetime
    results: list = field(default_factory=list)


def earlier_version(loaded: LoadedProgram) -> LoadedProgram:
    """The changed program as it was before last month: without its first routing rule
    (``financial-assistance``), so cost questions fell to the default route."""
    data = loaded.canonical_dict()
    data["routes"] = [route for route in data["routes"] if route["id"] != CHANGED_RULE]
    definition = definition_from_dict(data)
    return LoadedProgram(
        path=f"{loaded.path} (before the {CHANGED_RULE} rule)",
        source_text=yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100),
        definition=definition,
        content_hash=compute_content_hash(definition),
    )


def rule_change_time(end: datetime, calendar: BusinessCalendar) -> datetime:
    """10:00 on the first working day from the 15th of last month, in the program's zone."""
    zone = calendar.timezone
    this_month = end.astimezone(zone).date().replace(day=1)
    day = (this_month - timedelta(days=1)).replace(day=15)
    while not calendar.is_business_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=zone).astimezone(UTC)


def _plan_rule_change(
    history: History,
    people: People,
    shipped: LoadedProgram,
    referrer: Referrer,
    rng: random.Random,
) -> RuleChange:
    """The program owner applies the shipped patient-support file last month; a cost question
    that came in the afternoon before (routed to patient services by the earlier version) and
    another still open there are re-routed to patient access."""
    calendar = compiled(shipped.definition).calendar
    change = RuleChange(at=rule_change_time(history.end, calendar))
    day = change.at.astimezone(calendar.timezone).date() - timedelta(days=1)
    while not calendar.is_business_day(day):
        day -= timedelta(days=1)
    received = datetime.combine(day, time(15), tzinfo=calendar.timezone).astimezone(UTC)
    definition = version_definition(referrer.source.program.active_version)
    submission = _synthetic_submission("patient-support", definition, referrer, rng, 9999)
    submission.request_type = "financial_assistance"
    submission.answers["reason_for_contact"] = REASONS[0]
    method = definition.sources[referrer.source.slug].submission_methods[0]
    history.at(received, people.arrive, referrer, submission, method, RULE_CHANGE_CLIENT_REF, False)
    history.at(change.at, _apply_rule_change, shipped, people, change)
    return change


def _apply_rule_change(history: History, loaded: LoadedProgram, people: People, change) -> None:
    change.results = program_apply(
        programs=[loaded],
        actor=people.users["owner"],
        note="Cost and coverage questions go to the patient access team (governance board, "
        "monthly review).",
    )
    _approve_content()
    moved = Referral.objects.filter(
        program__slug=CHANGED_PROGRAM,
        request_type="financial_assistance",
        queue__slug="patient-services",
        stage__in=(Stage.QUEUED, Stage.IN_PROGRESS),
    ).order_by("-client_ref")[:2]  # the planted one ("demo-rule-change") first
    for number, referral in enumerate(moved):
        when = people.business(referral, history.now, 1 + number)
        history.at(
            when,
            people.reroute,
            referral.pk,
            "patient-access",
            "Cost questions go to patient access since today's rule change.",
        )


def _synthetic_submission(
    slug,
    definition,
    referrer,
    rng,
    index,
    *,
    request_type: str | None = None,
    complete: bool = False,
) -> Submission:
    """A synthetic referral; ``complete``: nothing missing, a new lead, and a clinician in the
    program's target with a valid NPI (what passes a meeting request's validation)."""
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    request_type = request_type or rng.choice(sorted(_allowed_request_types(definition, referrer)))
    kind = definition.request_types[request_type].lead_kind
    twice = not complete and index and rng.random() < 0.03
    person = index - 1 if twice else index  # a few leads referred twice
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
    if not complete and rng.random() < 0.08:
        # Some referrers do not say how the person wants to be contacted: incomplete, and the
        # referrer is asked for it. (A chosen method without its detail is refused at intake.)
        lead.pop("preferred_contact")
    if kind == "clinician":
        lead["specialty"] = rng.choice(SPECIALTIES)
        lead["organization"] = rng.choice(["Lakeside Clinic", "Metro Health", "Valley Oncology"])
        if complete:
            lead["specialty"] = "oncology"
        if complete or rng.random() < 0.5:
            lead["npi"] = npi(person)  # one per person: the program matches duplicates on it
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
