"""A data set for the reports benchmark: N referrals over ~24 months with their related rows.

    .venv/bin/python bench/reports_data.py --database sqlite --referrals 1000000
    .venv/bin/python bench/reports_data.py --database postgres --referrals 5000000
    .venv/bin/python bench/reports_data.py --database sqlite --path /tmp/x.sqlite3 --referrals 2000

Fills a dedicated database (SQLite ``var/bench/reports-<size>.sqlite3``, PostgreSQL
``refdesk_bench_reports_<size>``; ``--path`` / ``--db-name`` choose another) and leaves it in
place, printing how to open it (``DJANGO_SETTINGS_MODULE=refdesk.settings.test`` and the
``DATABASE_URL`` printed: the test settings' fixed keys decrypt the leads).

1. The normal path first: ``migrate``; the three demo programs applied by ``program_apply``
   three times each over the period (the shipped file, a rule change, the shipped file again),
   each under a clock set back to its date, so ``ProgramVersion.applied_at`` and the audit
   trail say when; the demo's staff (and eight more members per team) by ``user_create``; team
   leads; the shipped templates approved by the reviewer.
2. Then bulk, NOT through the services (they take minutes per 100,000): ~300 referrers per
   program, and the referrals in time order with their routing decisions (one each, ~3% a
   re-route), consent records (intake; some withdrawals; the daily expiry), reviews of gated
   requests, messages (~2 per referral), appointments (~18%), missing items (~10%) and a few
   manual checks. Each referral's life is drawn as a whole (receipt, routing, first response
   inside or past the SLA, attempts, booking, attendance, outcome) and cut at "now": what
   happens later leaves it open in the stage it has reached. Due times come from the program
   engine's own SLA rule (business hours and holidays of the version in force).
   PostgreSQL: ``COPY`` (psycopg ``cursor.copy``); SQLite: ``executemany`` in transactions of
   ~50,000 referrals with ``synchronous=OFF, journal_mode=OFF`` during the load (WAL after).
   The secondary indexes are dropped for the load and built again after it; ANALYZE.

Shortcuts, on purpose: every referral carries the same encrypted lead (one Fernet token per lead
kind, encrypted once) and the same encrypted answers per program; message recipients are one
short token, subjects and bodies empty; blind indexes and facts digests are random hex; no audit
events for the bulk rows (each would need its chained HMAC; reports never read the trail), no
name-search tokens, no timers or notifications.

Importable: ``dataset("postgres", 1_000_000)`` gives a kept data set's DATABASE_URL (generated
in a child process when missing); ``generate(referrals=2000, seed=1)`` fills the database Django
is set up with (``bench/test_reports_data.py`` runs it on the test database).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import math
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
VAR_BENCH = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
ACTOR = "system:bench"
PROGRAMS = ("trial-prescreening", "provider-education", "patient-support")
PROGRAM_WEIGHTS = (3, 4, 3)
REFERRERS_PER_PROGRAM = 300
MEMBERS_PER_TEAM = 8
CHUNK = 50_000  # referrals per transaction (SQLite) / per COPY batch
MINUTE, HOUR, DAY = 60, 3600, 86400

# The rule change applied in the middle of the period (then the shipped file again).
RULE_CHANGES = {
    "patient-support": (
        "    then: {queue: patient-access}",
        "    then: {queue: patient-services}",
    ),
    "provider-education": (
        "      queue: msl-field-team\n      flags: [extra_validation]\n",
        "      queue: medical-info-triage\n      flags: [extra_validation]\n",
    ),
    "trial-prescreening": ("require: {gte: 0, lte: 2}\n", "require: {gte: 0, lte: 1}\n"),
}
# The demo's staff (username, role, teams) and the teams that get extra members.
DEMO_STAFF = [
    ("admin", "administrator", []),
    ("agent", "patient_services_agent", ["patient-services"]),
    ("coordinator", "clinical_ops_coordinator", ["clinical-ops"]),
    ("specialist", "medical_affairs_specialist", ["medical-affairs"]),
    ("reviewer", "medical_reviewer", ["medical-affairs"]),
    ("rep", "commercial_rep", ["commercial"]),
    ("owner", "program_owner", ["clinical-ops", "medical-affairs", "patient-services"]),
    ("auditor", "compliance_auditor", []),
    ("safety", "drug_safety_officer", ["drug-safety"]),
]
TEAM_MEMBER_ROLES = {
    "clinical-ops": "clinical_ops_coordinator",
    "medical-affairs": "medical_affairs_specialist",
    "patient-services": "patient_services_agent",
}
TEAM_LEADS = {
    "clinical-ops": "coordinator",
    "medical-affairs": "specialist",
    "patient-services": "agent",
}
SIZE_LABELS = {100_000: "100k", 1_000_000: "1m", 5_000_000: "5m"}
# A synthetic lead per lead kind: encrypted once, stored on every referral of that kind.
LEADS = {
    "patient": {
        "given_name": "Avery",
        "family_name": "Benchmark",
        "email": "avery.benchmark@example.org",
        "phone": "+12125550142",
        "timezone": "America/New_York",
        "country": "US",
        "language": "en",
        "preferred_contact": "phone",
        "birth_year": 1961,
    },
    "clinician": {
        "given_name": "Jordan",
        "family_name": "Benchmark",
        "email": "dr.benchmark@example.org",
        "phone": "+13125550177",
        "timezone": "America/Chicago",
        "country": "US",
        "language": "en",
        "preferred_contact": "email",
        "specialty": "oncology",
        "organization": "Metro Health",
        "npi": "1234567893",
    },
}
# Answers per program (one token each) and, for the trial, the answers behind each prescreen
# outcome (what the engine is asked once per route combination).
ANSWERS = {
    "trial-prescreening": {
        "eligible": {
            "study_id": "RDX-301",
            "age": 61,
            "diagnosis_confirmed": True,
            "ecog": 1,
            "prior_therapy_lines": 1,
            "active_brain_metastases": False,
        },
        "not_eligible": {
            "study_id": "RDX-301",
            "age": 61,
            "diagnosis_confirmed": True,
            "ecog": 3,
            "prior_therapy_lines": 1,
            "active_brain_metastases": False,
        },
        "pending": {
            "study_id": "RDX-301",
            "age": 61,
            "diagnosis_confirmed": "records_requested",
            "ecog": 1,
            "prior_therapy_lines": 1,
            "active_brain_metastases": False,
        },
        "incomplete": {"study_id": "RDX-301", "age": 61, "diagnosis_confirmed": True},
    },
    "provider-education": {
        "": {"preferred_format": "call", "question": "Is there data on dose adjustment?"}
    },
    "patient-support": {
        "": {"reason_for_contact": "Would like help understanding the co-pay card"},
        "ae": {"reason_for_contact": "Since the last injection I have a rash and itching"},
    },
}
PRESCREEN = (("eligible", 0.46), ("not_eligible", 0.32), ("pending", 0.13), ("incomplete", 0.09))
MISSING_FIELDS = {
    "trial-prescreening": ("answers.ecog", "answers.prior_therapy_lines", "lead.preferred_contact"),
    "provider-education": ("lead.specialty", "lead.npi", "lead.preferred_contact"),
    "patient-support": ("lead.preferred_contact", "lead.timezone", "answers.reason_for_contact"),
}
METHOD_WEIGHTS = {"web": 70, "api": 22, "bulk": 8}
REFUSALS = ("channel_not_consented", "consent_withdrawn", "consent_expired", "review_pending")
BOUNCES = ("mailbox_unavailable", "invalid_number", "domain_not_found")


# --- the database ---------------------------------------------------------------------------


def default_target(database: str, referrals: int) -> str:
    label = SIZE_LABELS.get(referrals, str(referrals))
    if database == "postgres":
        return f"refdesk_bench_reports_{label}"
    return str(VAR_BENCH / f"reports-{label}.sqlite3")


def fresh_database(database: str, target: str) -> str:
    """Drop and create the database (or delete the file); returns its DATABASE_URL."""
    if database == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{target}"')
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{target}"
    path = Path(target).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-writer.lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "refdesk.settings.test"  # fixed keys, fast hashing
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def database_size(database: str, target: str) -> int:
    from django.db import connection

    if database == "postgres":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]
    return sum(
        Path(f"{target}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{target}{suffix}").exists()
    )


def stored_referrals(database: str, target: str) -> int | None:
    """How many referrals a kept data set holds (None: there is none), without Django."""
    try:
        if database == "postgres":
            import psycopg

            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{target}"
            with psycopg.connect(url, connect_timeout=5) as conn:
                return conn.execute("SELECT count(*) FROM intake_referral").fetchone()[0]
        import sqlite3

        if not Path(target).exists():
            return None
        with sqlite3.connect(f"file:{target}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM intake_referral").fetchone()[0]
    except Exception:  # no database, no table: nothing kept
        return None


def dataset(database: str, referrals: int, *, months: int = 24, seed: int = 13) -> str:
    """The DATABASE_URL of a kept data set of ``referrals`` (``database``: sqlite|postgres),
    generated first in a child process when it is missing, so the caller's Django is untouched.
    For the report benchmark: ``url = dataset("postgres", 1_000_000)``."""
    import subprocess

    target = default_target(database, referrals)
    if stored_referrals(database, target) != referrals:
        command = [sys.executable, str(Path(__file__).resolve()), "--database", database]
        command += ["--referrals", str(referrals), "--months", str(months), "--seed", str(seed)]
        subprocess.run(command, check=True, cwd=ROOT)
    if database == "postgres":
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{target}"
    return f"sqlite:///{target}"


# --- the world through the normal path ------------------------------------------------------


@contextmanager
def clock_at(moment: dt.datetime):
    """Every ``timezone.now()`` (program apply, the audit trail) answers ``moment``."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def setup_world(now: dt.datetime, months: int) -> dt.datetime:
    """Programs with three versions each, staff, team leads and approved content, through the
    services (audited). Returns when the generated history starts: ``months`` before ``now``,
    or, when the programs were applied already (a test database), just after that."""
    from refdesk.accounts.models import Team, User
    from refdesk.accounts.services import team_lead_set, user_create
    from refdesk.governance.services import program_apply
    from refdesk.outreach.choices import ApprovalState
    from refdesk.outreach.models import ContentVersion
    from refdesk.outreach.services import content_approve
    from refdesk.programs.loader import load_program_files, load_program_text
    from refdesk.programs.models import ProgramVersion

    files = [ROOT / "programs" / f"{slug}.yaml" for slug in PROGRAMS]
    start = now - dt.timedelta(days=months * 30.44)
    applied = ProgramVersion.objects.filter(program__slug__in=PROGRAMS)
    if applied.exists():
        if applied.count() != len(PROGRAMS):
            raise SystemExit("the database already holds program versions: use a fresh one")
        latest = max(applied.values_list("applied_at", flat=True))
        start = max(start, latest + dt.timedelta(minutes=1))
        if start >= now:
            raise SystemExit(f"the programs were applied at {latest}: choose a later --now")
    else:
        with clock_at(start - dt.timedelta(days=7)):
            program_apply(programs=load_program_files(files), actor=ACTOR, note="programs launched")
    span = now - start
    with clock_at(start + span * 0.45):
        edited = []
        for path in files:
            text = path.read_text()
            old, new = RULE_CHANGES[path.stem]
            assert old in text, f"{path.stem}: the benchmark's rule change no longer applies"
            edited.append(load_program_text(text.replace(old, new, 1), filename=str(path)))
        program_apply(programs=edited, actor=ACTOR, note="rule change under review")
    with clock_at(start + span * 0.8):
        program_apply(programs=load_program_files(files), actor=ACTOR, note="rule change reverted")
    for username, role, teams in DEMO_STAFF:
        user_create(
            username=username,
            email=f"{username}@bench.refdesk.invalid",
            role=role,
            password=None,
            actor=ACTOR,
            teams=list(Team.objects.filter(slug__in=teams)),
        )
    for team, role in TEAM_MEMBER_ROLES.items():
        for n in range(1, MEMBERS_PER_TEAM + 1):
            user_create(
                username=f"{team}-{n}",
                email=f"{team}-{n}@bench.refdesk.invalid",
                role=role,
                password=None,
                actor=ACTOR,
                teams=list(Team.objects.filter(slug=team)),
            )
    for team, username in TEAM_LEADS.items():
        team_lead_set(
            team=Team.objects.get(slug=team),
            user=User.objects.get(username=username),
            lead=True,
            actor=ACTOR,
        )
    reviewer = User.objects.get(username="reviewer")
    for draft in ContentVersion.objects.filter(state=ApprovalState.DRAFT).order_by("id"):
        content_approve(content=draft, approver=reviewer, note="Approved for the benchmark.")
    return start


# --- what the bulk rows refer to ------------------------------------------------------------


@dataclass
class Version:
    starts: float  # epoch seconds: applied_at
    id: int
    number: int
    definition: object  # ProgramDefinition
    compiled: object


@dataclass
class SourceInfo:
    id: int
    slug: str
    methods: list[str]
    method_cum: list[float]
    request_types: list[str]
    referrers: list[int] = field(default_factory=list)
    referrer_cum: list[float] = field(default_factory=list)


@dataclass
class ProgramInfo:
    id: int
    slug: str
    goal: str
    versions: list[Version]
    sources: list[SourceInfo]
    source_cum: list[float]
    kinds: dict[str, str]  # request type -> lead kind
    areas: list[str]
    consent: dict | None
    schedule: dict | None
    queues: list[str]
    templates: dict[str, int | None]  # template key -> approved ContentVersion id
    ack_template: str
    outreach_templates: dict[str, str]
    default_outreach: str
    retry_cadence: list[int]
    window_days: int
    answers: dict[str, str]  # variant -> ciphertext
    decisions: dict = field(default_factory=dict)
    recent: list = field(default_factory=list)  # (id, email_index, phone_index) for duplicates


def cumulative(weights) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return [value / total for value in out]


def pick(rng: random.Random, items, cum):
    return items[bisect.bisect_left(cum, rng.random())]


def check_code(number: int, length: int) -> str:
    """A unique code for ``number`` (bijective below 32**(length-1)) with refdesk's check
    character, so references and referrer codes read back as valid."""
    from refdesk.core.references import ALPHABET, check_character

    space = 32 ** (length - 1)
    value = (number * 2_654_435_761 + 12_345) % space  # odd multiplier: a permutation
    body = []
    for _ in range(length - 1):
        value, digit = divmod(value, 32)
        body.append(ALPHABET[digit])
    text = "".join(body)
    return text + check_character(text)


def bulk_referrers(rng: random.Random, now: dt.datetime) -> None:
    """~300 referrers per program over its sources (more for the busy sources), in one insert."""
    from refdesk.referrers.models import Referrer, Source

    rows, number = [], 0
    for slug in PROGRAMS:
        sources = list(Source.objects.filter(program__slug=slug).order_by("slug"))
        shares = cumulative([1 + i % 3 for i in range(len(sources))])
        for n in range(REFERRERS_PER_PROGRAM):
            source = pick(rng, sources, shares)
            number += 1
            person = rng.random() < 0.6
            rows.append(
                Referrer(
                    source=source,
                    code=check_code(number, 7),
                    kind="person" if person else "organization",
                    name=f"Bench referrer {number:04d}" + ("" if person else " Clinic"),
                    email=f"referrals+{number}@bench.refdesk.invalid" if n % 4 else "",
                    organization="" if person else f"Bench organisation {number:04d}",
                    active=rng.random() > 0.03,
                    created_at=now,
                    updated_at=now,
                )
            )
    Referrer.objects.bulk_create(rows, batch_size=500)


def load_context(now: dt.datetime) -> tuple[dict, dict]:
    """Everything the generator refers to, read back from the database."""
    from django.db import connection

    from refdesk.accounts.models import TeamMembership
    from refdesk.intake.models import Referral
    from refdesk.intake.submissions import consent_text_hash
    from refdesk.outreach.models import ContentVersion, Message
    from refdesk.programs.engine.compiled import compiled
    from refdesk.programs.models import Program
    from refdesk.programs.selectors import version_definition
    from refdesk.referrers.models import Referrer, Source
    from refdesk.routing.models import Queue

    lead_field = Referral._meta.get_field("lead")
    answers_field = Referral._meta.get_field("answers")
    leads = {kind: lead_field.get_db_prep_value(lead, connection) for kind, lead in LEADS.items()}
    approved = {
        (c.program_id, c.key): c.id for c in ContentVersion.objects.filter(state="approved")
    }
    programs = {}
    for program in Program.objects.filter(slug__in=PROGRAMS).order_by("slug"):
        versions = [
            Version(
                v.applied_at.timestamp(),
                v.id,
                v.number,
                version_definition(v),
                compiled(version_definition(v)),
            )
            for v in program.versions.order_by("number")
        ]
        data = program.active_version.definition
        sources = []
        for source in Source.objects.filter(program=program, active=True).order_by("slug"):
            spec = data["sources"][source.slug]
            methods = list(spec["submission_methods"])
            allowed = spec.get("request_types", "all")
            types = sorted(data["request_types"]) if allowed == "all" else list(allowed)
            info = SourceInfo(
                source.id,
                source.slug,
                methods,
                cumulative([METHOD_WEIGHTS[m] for m in methods]),
                types,
            )
            ids = list(
                Referrer.objects.filter(source=source, active=True)
                .order_by("code")
                .values_list("id", flat=True)
            )
            info.referrers = ids
            # A few referrers send most referrals (Zipf-like).
            info.referrer_cum = cumulative([1 / (rank + 1) ** 0.9 for rank in range(len(ids))])
            if ids:
                sources.append(info)
        consent = None
        definition = versions[-1].definition
        if data.get("consent"):
            rules = data["consent"]
            text = max(rules["texts"], key=lambda t: str(t["published"]))
            consent = {
                "kinds": set(rules.get("for_lead_kinds") or []),
                "version": text["version"],
                "hash": consent_text_hash(definition.consent, text["version"]),
                "purposes": json.dumps(list(text["purposes"])),
                "channels": list(rules["channels"]),
                "methods": list(rules["methods"]),
                "valid_days": rules.get("valid_days"),
            }
        schedule = None
        if (data.get("scheduling") or {}).get("enabled"):
            spec = data["scheduling"]
            kinds = []
            for key, kind in spec["appointment_types"].items():
                kinds.append(
                    {
                        "key": key,
                        "label": kind["label"],
                        "mode": kind["mode"],
                        "location": kind.get("location") or "",
                        "prepare": kind.get("prepare") or "",
                        "minutes": kind["duration_minutes"],
                        "request_types": kind.get("request_types"),
                    }
                )
            for kind in kinds:  # written as is into COPY's text format
                for text in (kind["label"], kind["location"], kind["prepare"]):
                    assert not set(text) & {"\t", "\n", "\\"}, f"needs escaping: {text!r}"
            schedule = {
                "types": kinds,
                "buffer": spec.get("buffer_minutes") or 0,
                "confirmation": spec.get("confirmation_template") or "",
                "reminder": spec.get("reminder_template") or "",
                "manual_check": bool((spec.get("no_show") or {}).get("manual_check")),
            }
        followup = data.get("followup") or {}
        outreach = followup.get("first_outreach") or {}
        retry = followup.get("retry") or {}
        answers = {
            variant: answers_field.get_db_prep_value(value, connection)
            for variant, value in ANSWERS[program.slug].items()
        }
        programs[program.slug] = ProgramInfo(
            id=program.id,
            slug=program.slug,
            goal=program.goal,
            versions=versions,
            sources=sources,
            source_cum=cumulative([1 + i % 3 for i in range(len(sources))]),
            kinds={rt: spec["lead_kind"] for rt, spec in data["request_types"].items()},
            areas=sorted(data.get("therapy_areas") or {}),
            consent=consent,
            schedule=schedule,
            queues=sorted(data["queues"]),
            templates={key: approved.get((program.id, key)) for key in data.get("templates", {})},
            ack_template=(followup.get("acknowledge_referrer") or {}).get("template", ""),
            outreach_templates=dict(outreach.get("by_request_type") or {}),
            default_outreach=outreach.get("default_template") or "",
            retry_cadence=list(retry.get("cadence_days") or [0, 2, 5]),
            window_days=int(retry.get("window_days") or 7),
            answers=answers,
        )
    queues = {q.slug: (q.id, q.team_id) for q in Queue.objects.all()}
    members: dict[int, list[tuple[int, str]]] = {}
    for membership in TeamMembership.objects.select_related("user").order_by("user__username"):
        members.setdefault(membership.team_id, []).append(
            (membership.user_id, f"user:{membership.user.username}")
        )
    recipient = Message._meta.get_field("recipient").get_db_prep_value(
        LEADS["patient"]["phone"], connection
    )
    context = {"queues": queues, "members": members, "leads": leads, "recipient": recipient}
    return programs, context


def routing_for(
    program: ProgramInfo,
    version: Version,
    source: SourceInfo,
    request_type: str,
    area: str,
    variant: str,
    queues: dict,
) -> tuple:
    """The engine's route for one combination, asked once and remembered."""
    key = (version.number, source.slug, request_type, area, variant)
    found = program.decisions.get(key)
    if found is not None:
        return found
    from refdesk.programs.engine import Facts, decide

    kind = program.kinds[request_type]
    consent = program.consent
    needs_consent = consent is not None and kind in consent["kinds"]
    facts = Facts(
        received_at=dt.datetime.fromtimestamp(version.starts + DAY, dt.UTC),
        lead_kind=kind,
        source=source.slug,
        request_type=request_type,
        therapy_area=area,
        answers=dict(ANSWERS[program.slug][variant]),
        consent="granted" if needs_consent else "not_required",
        consent_channels=tuple(consent["channels"]) if needs_consent else (),
        country="US",
        specialty="oncology" if kind == "clinician" else "",
        npi="1234567893" if kind == "clinician" else "",
        preferred_contact="phone",
    )
    decision = decide(version.definition, facts, version=version.number)
    route = decision.route
    queue_id, team_id = queues[route.queue]
    gated = sorted({"medical_review_required", "extra_validation"} & set(route.flags))
    summary = {  # what the stored decision keeps (the full explanation is per referral)
        "program": decision.program,
        "version": decision.version,
        "eligible": decision.eligible,
        "qualified": decision.qualified,
        "route": {"rule_id": route.rule_id, "queue": route.queue, "flags": list(route.flags)},
        "prescreen": decision.prescreen.outcome if decision.prescreen else None,
    }
    found = (
        queue_id,
        team_id,
        json.dumps(list(route.flags)),
        route.rule_id,
        route.position,
        route.default,
        json.dumps(list(route.also_notify)),
        json.dumps(summary, sort_keys=True),
        decision.prescreen.outcome if decision.prescreen else "",
        gated,
        route.queue,
    )
    program.decisions[key] = found
    return found


# --- writing rows fast ------------------------------------------------------------------------

TABLES = {  # table -> (model label, columns in the order the generator builds rows)
    "intake_referral": (
        "intake.Referral",
        "id public_id created_at updated_at reference program_id program_version_id source_id "
        "referrer_id submission_method client_ref received_at request_type therapy_area "
        "lead_kind lead answers preferred_contact lead_timezone language country email_index "
        "phone_index npi_index name_index stage stage_changed_at outcome outcome_reason "
        "prescreen_outcome "
        "missing duplicate_of_id queue_id assigned_to_id flags routed_at "
        "first_response_due_at sla_paused_at sla_paused_seconds first_responded_at "
        "first_response_seconds "
        "lead_attempts lead_reached_at closed_at utm_source utm_medium utm_campaign "
        "utm_content utm_term",
    ),
    "routing_review": (
        "routing.Review",
        "id public_id created_at updated_at referral_id kind state requested_at decided_at "
        "decided_by note_id",
    ),
    "routing_routingdecision": (
        "routing.RoutingDecision",
        "id public_id created_at updated_at referral_id program_version_id kind rule_id "
        "rule_position default_route queue_id previous_queue_id flags also_notify "
        "facts_digest decision decided_at decided_by reason note_id",
    ),
    "consent_consentrecord": (
        "consent.ConsentRecord",
        "id public_id created_at updated_at referral_id event granted purposes channels method "
        "text_version text_hash recorded_at recorded_by expires_at withdrawn_purposes "
        "withdrawn_channels reason note_id",
    ),
    "scheduling_appointment": (
        "scheduling.Appointment",
        "id public_id created_at updated_at referral_id team_id member_id type_key label mode "
        "location prepare starts_at ends_at blocked_until lead_timezone status sequence "
        "reschedules booked_via booked_by reason ended_at ended_by",
    ),
    "outreach_message": (
        "outreach.Message",
        "id public_id created_at updated_at referral_id template_id template_key purpose "
        "audience channel attempt status reason next_action_at lease_until tries "
        "idempotency_key recipient subject body appointment_id appointment_sequence calendar "
        "provider_id requested_by sent_at delivered_at failed_at",
    ),
    "intake_missingitem": (
        "intake.MissingItem",
        "id referral_id program_id source_id field recorded_at resolved_at",
    ),
    "workflow_manualcheck": (
        "workflow.ManualCheck",
        "id public_id referral_id queue_id reason subject opened_at resolved_at resolved_by",
    ),
}


def check_columns() -> dict[str, list[str]]:
    """The generator's columns are exactly each model's: a column added later stops it here,
    with its name, instead of failing as a NOT NULL violation halfway through a load."""
    from django.apps import apps

    columns = {}
    for table, (label, names) in TABLES.items():
        model = apps.get_model(label)
        assert model._meta.db_table == table, (label, model._meta.db_table)
        wanted = names.split()
        actual = [f.column for f in model._meta.concrete_fields]
        if set(wanted) != set(actual):
            raise SystemExit(
                f"{table}: the generator's columns differ from the model's: missing "
                f"{sorted(set(actual) - set(wanted))}, unknown {sorted(set(wanted) - set(actual))}"
            )
        columns[table] = wanted
    return columns


class Sink:
    """Buffers rows per table; writes them with COPY (PostgreSQL) or executemany (SQLite)."""

    def __init__(self, connection, columns: dict[str, list[str]]):
        self.connection = connection
        self.vendor = connection.vendor
        self.columns = columns
        self.rows: dict[str, list[tuple]] = {table: [] for table in columns}
        self.written = 0

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if not rows:
                continue
            names = self.columns[table]
            if self.vendor == "postgresql":
                text = "".join(
                    "\t".join("\\N" if value is None else str(value) for value in row) + "\n"
                    for row in rows
                )
                sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
                with self.connection.cursor() as cursor, cursor.copy(sql) as copy:
                    copy.write(text)
            else:
                marks = ", ".join("?" * len(names))
                self.connection.connection.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows
                )
            self.written += len(rows)
            rows.clear()


def secondary_indexes(cursor, vendor: str, table: str) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's non-unique indexes (unique ones stay: they are
    the model's constraints)."""
    if vendor == "postgresql":
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
    else:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%'",
            [table],
        )
    return list(cursor.fetchall())


@contextmanager
def bulk_session(connection, fast: bool, say):
    """Fast mode (a database of our own): indexes dropped and rebuilt, SQLite unjournalled in
    big transactions, PostgreSQL without per-row FK triggers. Otherwise (inside a test's
    transaction) plain inserts: the same rows, checked by every constraint as they go in."""
    if not fast:
        yield lambda: None
        return
    vendor = connection.vendor
    dropped = []
    with connection.cursor() as cursor:
        for table in TABLES:
            for name, create in secondary_indexes(cursor, vendor, table):
                cursor.execute(f'DROP INDEX "{name}"')
                dropped.append(create)
        if vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # no FK triggers per row
            cursor.execute("SET synchronous_commit = off")
    raw = connection.connection
    if vendor == "sqlite":
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("PRAGMA journal_mode=OFF")
        raw.execute("PRAGMA cache_size=-400000")
        raw.execute("BEGIN")

    def commit():
        if vendor == "sqlite":
            raw.execute("COMMIT")
            raw.execute("BEGIN")

    try:
        yield commit
    finally:
        if vendor == "sqlite":
            raw.execute("COMMIT")
        started = time.perf_counter()
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")
                cursor.execute("SET maintenance_work_mem = '1GB'")
            for create in dropped:
                cursor.execute(create)
        say(f"  {len(dropped)} indexes built in {time.perf_counter() - started:.1f} s")
        if vendor == "sqlite":
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=FULL")


def reset_sequences(connection) -> None:
    """PostgreSQL: the id sequences continue after the explicit ids (SQLite's AUTOINCREMENT
    table follows inserted ids by itself)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
            )


# --- the referrals and their lives ----------------------------------------------------------

# Receipt hour (UTC) weights: US working hours, little at night.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 9, 8, 6, 4, 3]
TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
GATED_REVIEWS = {
    "medical_review_required": "medical_review",
    "extra_validation": "extra_validation",
}
_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive UTC, as Django stores it


def generate(
    *,
    referrals: int,
    months: int = 24,
    seed: int = 13,
    now: dt.datetime | None = None,
    migrate: bool = True,
    quiet: bool = False,
) -> dict:
    """Fill the database Django is set up with: programs, staff and referrers through the
    services, then ``referrals`` referrals and their rows in bulk. Returns counts and seconds.

    In a database of its own (not inside a transaction) it loads in fast mode; inside a
    transaction (a test) it writes the same rows with every index and constraint in place."""
    from django.core.management import call_command
    from django.db import connection

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    started = time.perf_counter()
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if migrate:
        call_command("migrate", verbosity=0)
    columns = check_columns()
    start = setup_world(now, months)
    bulk_referrers(random.Random(seed), now)
    programs, ctx = load_context(now)
    say(f"set up (migrate, programs, staff, referrers) in {time.perf_counter() - started:.1f} s")
    sink = Sink(connection, columns)
    fast = not connection.in_atomic_block
    loaded = time.perf_counter()
    with bulk_session(connection, fast, say) as commit:
        made = fill(referrals, start, seed, now, programs, ctx, sink, commit, say)
    reset_sequences(connection)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    say(
        f"loaded {referrals:,} referrals and {sink.written - referrals:,} related rows in "
        f"{time.perf_counter() - loaded:.1f} s; {seconds:.1f} s in all"
    )
    return {"referrals": referrals, "rows": sink.written, "seconds": seconds, **made}


def fill(count, start_dt, seed, now_dt, programs, ctx, sink, commit, say) -> dict:
    from refdesk.programs.engine.business_time import business_time_between
    from refdesk.programs.engine.decide import _first_response_due

    rng = random.Random(seed)
    rand, choice = rng.random, rng.choice
    vendor = sink.connection.vendor
    tz_suffix = "+00" if vendor == "postgresql" else ""
    false = False
    delta = dt.timedelta

    def ts(epoch):
        return None if epoch is None else str(_EPOCH + delta(seconds=int(epoch))) + tz_suffix

    def uid():
        return f"{rng.getrandbits(128):032x}"

    def hexid():
        return f"{rng.getrandbits(256):064x}"

    now = now_dt.timestamp()
    start = start_dt.timestamp()
    span = now - start
    growth = math.log(2.0)  # volume doubles over the period
    grown = math.expm1(growth)
    hour_cum = cumulative(HOUR_WEIGHTS)
    hours = list(range(24))
    order = [programs[slug] for slug in PROGRAMS if slug in programs]
    program_cum = cumulative(PROGRAM_WEIGHTS[: len(order)])
    queues, members, leads = ctx["queues"], ctx["members"], ctx["leads"]
    queue_by_id = {queue_id: slug for slug, (queue_id, _team) in queues.items()}
    # One short encrypted token stands in for every lead recipient; subjects and bodies are
    # left empty (at 5M referrals they would add ~8 GB that no report reads).
    recipient = ctx["recipient"]
    ids = {table: next_id(sink.connection, table) for table in TABLES}
    slot = {}  # member -> booked appointments placed so far (no overlaps)
    tomorrow = (now // DAY + 1) * DAY
    rows = sink.rows
    R, RV, DC, CR, AP, MS, MI, MC = (
        rows["intake_referral"],
        rows["routing_review"],
        rows["routing_routingdecision"],
        rows["consent_consentrecord"],
        rows["scheduling_appointment"],
        rows["outreach_message"],
        rows["intake_missingitem"],
        rows["workflow_manualcheck"],
    )
    stats = {"qualified": 0, "closed": 0, "appointments": 0, "sla_met": 0, "responded": 0}
    due_cache: dict = {}

    def due_for(version, t):
        key = (version.id, int(t // 60))
        found = due_cache.get(key)
        if found is None:
            moment = dt.datetime.fromtimestamp(key[1] * 60, dt.UTC)
            found = _first_response_due(version.compiled, moment)[0].timestamp()
            if len(due_cache) > 200_000:
                due_cache.clear()
            due_cache[key] = found
        return found

    def business_seconds(version, start, end):
        """The program's business time from ``start`` to ``end`` (timestamps), as the
        workflow fixes it at the first response (``first_response_seconds``)."""
        calendar = version.compiled.calendar
        taken = business_time_between(
            dt.datetime.fromtimestamp(start, dt.UTC),
            dt.datetime.fromtimestamp(end, dt.UTC),
            calendar=calendar,
        )
        return int(taken.total_seconds())

    def member_of(team_id):
        people = members.get(team_id)
        return choice(people) if people else (None, "system:bench")

    def message(
        rid,
        t,
        purpose,
        audience,
        channel,
        template_key,
        program,
        attempt=1,
        appointment=None,
        sequence=None,
        requested_by="system:followup",
        refusable=True,
    ):
        mid = ids["outreach_message"]
        ids["outreach_message"] = mid + 1
        roll = rand()
        reason, delivered, failed = "", None, None
        if refusable and roll < 0.04:
            status, reason = "refused", choice(REFUSALS)
        elif roll < 0.07:
            status, reason, failed = "bounced", choice(BOUNCES), t + 40
        elif roll < 0.085:
            status, reason, failed = "failed", "provider_error", t + 300
        elif roll < 0.25:
            status = "sent"
        else:
            status, delivered = "delivered", t + 5 + rand() * 120
        sent = None if status == "refused" else t
        stamp = ts(t)
        MS.append(
            (
                mid,
                uid(),
                stamp,
                ts(delivered or failed or t),
                rid,
                program.templates.get(template_key),
                template_key,
                purpose,
                audience,
                channel,
                attempt,
                status,
                reason,
                None,
                None,
                0 if status == "refused" else 1,
                f"bench-{mid}",
                recipient if audience == "lead" else "",
                "",
                "",
                appointment,
                sequence,
                "",
                "",
                requested_by,
                ts(sent),
                ts(delivered),
                ts(failed),
            )
        )

    n = 0
    chunks = max(1, math.ceil(count / CHUNK))
    began = time.perf_counter()
    for _chunk in range(chunks):
        size = min(CHUNK, count - n)
        lo, hi = n / count, (n + size) / count
        times = []
        for _ in range(size):
            u = lo + rand() * (hi - lo)
            t = start + math.log1p(u * grown) / growth * span
            day = t // DAY * DAY
            weekday = (int(day // DAY) + 3) % 7  # 1970-01-01 was a Thursday
            if weekday >= 5 and rand() < 0.7:  # a weekend's referral: most arrive on weekdays
                day -= (weekday - int(rand() * 5)) * DAY
            t = day + pick(rng, hours, hour_cum) * HOUR + rand() * HOUR
            if t > now - 60:
                t = now - 60 - rand() * 6 * HOUR
            if t < start:  # the first day's hours or a weekend moved before the start
                t = start + rand() * HOUR
            times.append(int(t))
        times.sort()
        for t0 in times:
            n += 1
            rid = ids["intake_referral"]
            ids["intake_referral"] = rid + 1
            p = pick(rng, order, program_cum)
            version = p.versions[0]
            for candidate in p.versions[1:]:
                if candidate.starts <= t0:
                    version = candidate
            src = pick(rng, p.sources, p.source_cum)
            referrer = pick(rng, src.referrers, src.referrer_cum)
            method = pick(rng, src.methods, src.method_cum)
            rt = choice(src.request_types)
            kind = p.kinds[rt]
            area = choice(p.areas) if p.areas else ""
            if p.goal == "trial_prescreening":
                roll, variant = rand(), "incomplete"
                for name, share in PRESCREEN:
                    if roll < share:
                        variant = name
                        break
                    roll -= share
            elif "ae" in p.answers and rand() < 0.04:
                variant = "ae"
            else:
                variant = ""
            (
                queue_id,
                team_id,
                flags,
                rule_id,
                position,
                default,
                notify,
                decision,
                prescreen,
                gated,
                _queue,
            ) = routing_for(p, version, src, rt, area, variant, queues)
            if kind == "clinician":
                contact = "email" if rand() < 0.6 else "phone"
            else:
                roll = rand()
                contact = "phone" if roll < 0.5 else "email" if roll < 0.85 else "sms"
            consent = p.consent if p.consent and kind in p.consent["kinds"] else None
            consent_given = consent is not None and rand() > 0.03
            email_index, phone_index = hexid(), hexid()
            stage = outcome = reason = ""
            duplicate_of = routed = due = paused_at = responded = reached = closed = None
            paused = attempts = 0
            assignee = None
            missing = "[]"
            # -- intake: a duplicate, or missing information, or complete
            if p.recent and rand() < 0.025:
                duplicate_of, email_index, phone_index = choice(p.recent)
                stage, outcome, reason, closed = "closed", "duplicate", "same_lead_in_window", t0
            else:
                p.recent.append((rid, email_index, phone_index))
                if len(p.recent) > 50:
                    p.recent.pop(0)
            supplied = None
            if not closed and rand() < 0.09:
                fields = MISSING_FIELDS[p.slug]
                chosen = rng.sample(fields, 1 if rand() < 0.7 else 2)
                if rand() < 0.82:
                    supplied = t0 + (0.1 + rand() * rand() * 6) * DAY
                for name in chosen:
                    mi = ids["intake_missingitem"]
                    ids["intake_missingitem"] = mi + 1
                    MI.append(
                        (
                            mi,
                            rid,
                            p.id,
                            src.id,
                            name,
                            ts(t0),
                            ts(supplied if supplied and supplied <= now else None),
                        )
                    )
                if supplied is None or supplied > now:
                    stage, missing, paused_at = "needs_info", json.dumps(chosen), t0
                    if supplied is None and now - t0 > 21 * DAY:
                        stage, missing, paused_at = "closed", "[]", None
                        outcome, reason = "unreachable", "contact_details_invalid"
                        closed = t0 + 21 * DAY
                else:
                    paused = int((supplied - t0) * 5 / 7 / 3)  # roughly its business time
            # Routed at once when complete; when information was missing, once it is supplied
            # (the clock moved by the wait); never while it is still missing.
            if duplicate_of or stage:
                routed = None
            else:
                routed = (supplied or t0) + 2 + rand() * 40
                due = due_for(version, t0) + (supplied - t0 if supplied else 0)
            # -- the life after routing, drawn whole, then cut at now
            life_closed = None
            appointment = None
            ready = routed
            review = None
            if routed and not stage:
                if gated:
                    decided_at = ready + (0.05 + rand() * rand() * 1.5) * DAY
                    rejected = rand() < 0.06
                    review = (GATED_REVIEWS[gated[0]], decided_at, rejected)
                    ready = decided_at
                    if rejected:
                        life_closed = (decided_at, "not_qualified", "review_rejected")
                if life_closed is None and consent is not None and not consent_given:
                    life_closed = (ready + (0.2 + rand()) * DAY, "declined", "lead_declined")
                if life_closed is None:
                    window = max(due - ready, 600) if due else DAY
                    if rand() < 0.93:
                        responded = ready + (0.02 + rand() * 0.93) * window
                    else:
                        responded = max(due, ready) + (0.05 + rand() * 3) * DAY
                    assignee = member_of(team_id)
                    cadence = p.retry_cadence
                    reach = rand()
                    tries = 1 if reach < 0.6 else 2 if reach < 0.74 else 3 if reach < 0.82 else 0
                    if tries:
                        reached = responded + cadence[tries - 1] * DAY + rand() * 6 * HOUR
                        attempts_at = [responded + c * DAY for c in cadence[:tries]]
                    else:
                        attempts_at = [responded + c * DAY for c in cadence]
                        life_closed = (
                            responded + p.window_days * DAY,
                            "unreachable",
                            "retries_exhausted",
                        )
                    if reached is not None:
                        roll = rand()
                        schedule = p.schedule
                        kinds = (
                            [
                                k
                                for k in schedule["types"]
                                if not k["request_types"] or rt in k["request_types"]
                            ]
                            if schedule
                            else []
                        )
                        if consent and roll < 0.02:
                            life_closed = (
                                reached + rand() * 3 * DAY,
                                "withdrawn",
                                "consent_withdrawn",
                            )
                        elif roll < 0.12:
                            life_closed = (reached + rand() * 2 * DAY, "declined", "lead_declined")
                        elif kinds and roll < 0.12 + 0.235:
                            kind_spec = (
                                kinds[0]
                                if len(kinds) == 1 or rt in (kinds[0]["request_types"] or ())
                                else choice(kinds)
                            )
                            booked = reached + rand() * DAY
                            starts = (booked + (1 + rand() * 7) * DAY) // 1800 * 1800
                            moves = 0 if rand() > 0.18 else 1 if rand() < 0.75 else 2
                            starts += moves * (1 + rand() * 4) * DAY
                            fate = rand()
                            status = (
                                "attended"
                                if fate < 0.75
                                else "no_show"
                                if fate < 0.89
                                else "cancelled"
                            )
                            ends = starts + kind_spec["minutes"] * MINUTE
                            ended = (  # attendance recorded, or the cancellation
                                ends + (0.5 + rand() * 5) * HOUR
                                if status != "cancelled"
                                else booked + rand() * (starts - booked)
                            )
                            appointment = [kind_spec, booked, starts, moves, status, ended]
                            if status == "attended":
                                life_closed = (ends + (0.2 + rand() * 3) * DAY,) + (
                                    ("qualified", "")
                                    if rand() < 0.6
                                    else ("not_qualified", "criteria_not_met")
                                )
                            elif status == "no_show":
                                roll = rand()
                                life_closed = (ends + (1 + rand() * 6) * DAY,) + (
                                    ("unreachable", "retries_exhausted")
                                    if roll < 0.5
                                    else ("declined", "lead_declined")
                                    if roll < 0.75
                                    else ("qualified", "")
                                )
                        if life_closed is None:
                            at = (reached if not appointment else appointment[2]) + (
                                0.5 + rand() * 10
                            ) * DAY
                            if p.goal == "trial_prescreening":
                                if prescreen == "not_eligible":
                                    life_closed = (at, "not_qualified", "criteria_not_met")
                                elif rand() < (0.7 if prescreen == "eligible" else 0.3):
                                    life_closed = (at, "qualified", "")
                                else:
                                    life_closed = (at, "not_qualified", "criteria_not_met")
                            else:
                                roll = rand()
                                if roll < 0.45:
                                    life_closed = (at, "qualified", "")
                                elif roll < 0.82:
                                    life_closed = (
                                        at,
                                        "not_qualified",
                                        choice(
                                            (
                                                "specialty_not_targeted",
                                                "request_out_of_scope",
                                                "out_of_region",
                                            )
                                        ),
                                    )
                                elif roll < 0.97:
                                    life_closed = (at, "declined", "lead_declined")
                                else:
                                    life_closed = None  # stalled: still open, long after
                    attempts = sum(1 for a in attempts_at if a <= now)
                if life_closed is not None and life_closed[0] <= now:
                    stage, closed, outcome, reason = (
                        "closed",
                        life_closed[0],
                        life_closed[1],
                        life_closed[2],
                    )
                elif review is not None and review[1] > now:
                    stage = "awaiting_review"
                elif appointment is not None and appointment[1] <= now < appointment[5]:
                    stage = "scheduled"  # booked, not yet attended, missed or cancelled
                elif responded is not None and responded <= now:
                    stage = "in_progress"
                else:
                    stage = "queued"
                    if rand() > 0.3:
                        assignee = None
            if responded is not None and responded > now:
                responded = None
            if reached is not None and reached > now:
                reached = None
            if responded is None:
                attempts = 0
            if stage == "closed" and outcome != "duplicate" and assignee is None and routed:
                assignee = member_of(team_id)
            # -- the rows
            assigned_id = assignee[0] if assignee else None
            worker = assignee[1] if assignee else "system:bench"
            stamp0 = ts(t0)
            if stage == "closed":
                stats["closed"] += 1
                stats["qualified"] += outcome == "qualified"
            if responded is not None:
                stats["responded"] += 1
                stats["sla_met"] += due is not None and responded <= due
            final_queue = queue_id if routed else None
            if routed and not duplicate_of:
                decided = routed
                DC.append(
                    (
                        ids["routing_routingdecision"],
                        uid(),
                        ts(decided),
                        ts(decided),
                        rid,
                        version.id,
                        "initial",
                        rule_id,
                        position,
                        default,
                        queue_id,
                        None,
                        flags,
                        notify,
                        hexid(),
                        decision,
                        ts(decided),
                        "system:routing",
                        "",
                        None,
                    )
                )
                ids["routing_routingdecision"] += 1
                if responded and rand() < 0.03 and len(p.queues) > 1:
                    moved = responded + rand() * 2 * DAY
                    if moved <= now and (closed is None or moved < closed):
                        others = [
                            q for q in p.queues if q != queue_by_id[queue_id] and q != "drug-safety"
                        ]
                        if others:
                            final_queue = queues[choice(others)][0]
                            DC.append(
                                (
                                    ids["routing_routingdecision"],
                                    uid(),
                                    ts(moved),
                                    ts(moved),
                                    rid,
                                    version.id,
                                    "reroute",
                                    "",
                                    None,
                                    false,
                                    final_queue,
                                    queue_id,
                                    flags,
                                    "[]",
                                    "",
                                    "{}",
                                    ts(moved),
                                    worker,
                                    "re-routed by staff",
                                    None,
                                )
                            )
                            ids["routing_routingdecision"] += 1
            if review is not None:
                kind_r, decided_at, rejected = review
                done = decided_at <= now
                RV.append(
                    (
                        ids["routing_review"],
                        uid(),
                        ts(routed),
                        ts(decided_at if done else routed),
                        rid,
                        kind_r,
                        ("rejected" if rejected else "approved") if done else "pending",
                        ts(routed),
                        ts(decided_at) if done else None,
                        "user:reviewer" if done else "",
                        None,
                    )
                )
                ids["routing_review"] += 1
            if consent is not None:
                method_c = choice(consent["methods"])
                channels = json.dumps(sorted({contact, "email"} & set(consent["channels"])))
                expires = (
                    t0 + consent["valid_days"] * DAY
                    if consent["valid_days"] and consent_given
                    else None
                )
                CR.append(
                    (
                        ids["consent_consentrecord"],
                        uid(),
                        stamp0,
                        stamp0,
                        rid,
                        "given" if consent_given else "refused",
                        consent_given,
                        consent["purposes"] if consent_given else "[]",
                        channels if consent_given else "[]",
                        method_c,
                        consent["version"],
                        consent["hash"],
                        stamp0,
                        f"referrer:{referrer}",
                        ts(expires),
                        "[]",
                        "[]",
                        "",
                        None,
                    )
                )
                ids["consent_consentrecord"] += 1
                if outcome == "withdrawn":
                    CR.append(
                        (
                            ids["consent_consentrecord"],
                            uid(),
                            ts(closed),
                            ts(closed),
                            rid,
                            "withdrawn",
                            false,
                            "[]",
                            "[]",
                            method_c,
                            consent["version"],
                            consent["hash"],
                            ts(closed),
                            worker,
                            ts(expires),
                            consent["purposes"],
                            channels,
                            "lead_request",
                            None,
                        )
                    )
                    ids["consent_consentrecord"] += 1
                elif expires is not None and expires + DAY <= now:
                    lapsed = expires + rand() * DAY
                    CR.append(
                        (
                            ids["consent_consentrecord"],
                            uid(),
                            ts(lapsed),
                            ts(lapsed),
                            rid,
                            "expired",
                            false,
                            "[]",
                            "[]",
                            method_c,
                            consent["version"],
                            consent["hash"],
                            ts(lapsed),
                            "system:consent",
                            ts(expires),
                            "[]",
                            "[]",
                            "",
                            None,
                        )
                    )
                    ids["consent_consentrecord"] += 1
            # Messages: the acknowledgement to the referrer, the lead's first message and retries
            # (not for calls: those are logged attempts), the appointment's confirmation/reminder.
            if p.ack_template and not duplicate_of:
                message(
                    rid,
                    t0 + 30 + rand() * 600,
                    "acknowledgement",
                    "referrer",
                    "email",
                    p.ack_template,
                    p,
                    refusable=False,
                )
            if responded is not None and contact != "phone":
                first = p.outreach_templates.get(rt, p.default_outreach)
                for number, at in enumerate(attempts_at[: max(attempts, 1)], start=1):
                    if at <= now and (reached is None or at <= reached):
                        message(
                            rid,
                            at,
                            "first_outreach" if number == 1 else "retry",
                            "lead",
                            contact,
                            first,
                            p,
                            attempt=number,
                            requested_by=worker,
                        )
            if appointment is not None and appointment[1] <= now:
                kind_spec, booked, starts, moves, status, ended = appointment
                aid = ids["scheduling_appointment"]
                ids["scheduling_appointment"] += 1
                member_id, member_label = (
                    assignee if assignee and assignee[0] else member_of(team_id)
                )
                ends_at = starts + kind_spec["minutes"] * MINUTE
                if ended > now:  # still booked: placed in the member's free hours ahead
                    k = slot.get(member_id, 0)
                    slot[member_id] = k + 1
                    business_days, day = k // 8, tomorrow
                    while True:
                        if (int(day // DAY) + 3) % 7 < 5:
                            if business_days == 0:
                                break
                            business_days -= 1
                        day += DAY
                    starts = day + 13 * HOUR + (k % 8) * HOUR
                    ends_at = starts + kind_spec["minutes"] * MINUTE
                    status, ended = "booked", None
                stats["appointments"] += 1
                AP.append(
                    (
                        aid,
                        uid(),
                        ts(booked),
                        ts(ended or booked),
                        rid,
                        team_id,
                        member_id,
                        kind_spec["key"],
                        kind_spec["label"],
                        kind_spec["mode"],
                        kind_spec["location"],
                        kind_spec["prepare"],
                        ts(starts),
                        ts(ends_at),
                        ts(ends_at + p.schedule["buffer"] * MINUTE),
                        choice(TIMEZONES),
                        status,
                        moves,
                        moves,
                        "lead_link" if rand() < 0.4 else "staff",
                        worker,
                        "lead_request" if moves or status == "cancelled" else "",
                        ts(ended),
                        member_label if ended else "",
                    )
                )
                if p.schedule["confirmation"]:
                    message(
                        rid,
                        booked + 20,
                        "confirmation",
                        "lead",
                        "email",
                        p.schedule["confirmation"],
                        p,
                        appointment=aid,
                        sequence=0,
                        requested_by=worker,
                    )
                if p.schedule["reminder"] and starts - DAY <= now and status != "cancelled":
                    message(
                        rid,
                        starts - DAY,
                        "reminder",
                        "lead",
                        "email",
                        p.schedule["reminder"],
                        p,
                        appointment=aid,
                        sequence=moves,
                    )
                if status == "no_show" and p.schedule["manual_check"] and ended <= now:
                    solved = ended + rand() * DAY
                    MC.append(
                        (
                            ids["workflow_manualcheck"],
                            uid(),
                            rid,
                            final_queue,
                            "no_show",
                            "Missed appointment: follow up",
                            ts(ended),
                            ts(solved) if solved <= now else None,
                            member_label if solved <= now else "",
                        )
                    )
                    ids["workflow_manualcheck"] += 1
            if (
                outcome == "unreachable"
                and prescreen == "eligible"
                and reason == "retries_exhausted"
            ):
                MC.append(
                    (
                        ids["workflow_manualcheck"],
                        uid(),
                        rid,
                        final_queue,
                        "retries_exhausted",
                        "High-value lead: retry window over",
                        ts(closed - HOUR),
                        ts(closed),
                        worker,
                    )
                )
                ids["workflow_manualcheck"] += 1
            last = closed or reached or responded or routed or t0
            response_seconds = (
                max(0, business_seconds(version, t0, responded) - paused)
                if responded is not None
                else None
            )
            R.append(
                (
                    rid,
                    uid(),
                    stamp0,
                    ts(last),
                    check_reference(rid),
                    p.id,
                    version.id,
                    src.id,
                    referrer,
                    method,
                    "",
                    stamp0,
                    rt,
                    area,
                    kind,
                    leads[kind],
                    p.answers[variant],
                    contact,
                    choice(TIMEZONES),
                    "en",
                    "US",
                    email_index,
                    phone_index,
                    hexid() if kind == "clinician" else "",
                    hexid(),
                    stage,
                    ts(last) if stage != "received" else None,
                    outcome,
                    reason,
                    prescreen,
                    missing,
                    duplicate_of,
                    final_queue if stage != "closed" or routed else None,
                    assigned_id,
                    flags if routed else "[]",
                    ts(routed),
                    ts(due),
                    ts(paused_at),
                    paused,
                    ts(responded),
                    response_seconds,
                    attempts,
                    ts(reached),
                    ts(closed),
                    src.slug,
                    "referral",
                    f"{p.slug}-{dt.datetime.fromtimestamp(t0, dt.UTC).year}",
                    "",
                    "",
                )
            )
        sink.flush()
        commit()
        elapsed = time.perf_counter() - began
        say(
            f"  {n:,} referrals, {sink.written:,} rows, {elapsed:.0f} s, "
            f"{sink.written / elapsed:,.0f} rows/s"
        )
    return stats


def check_reference(number: int) -> str:
    code = check_code(number, 8)
    return f"RF-{code[:4]}-{code[4:]}"


def next_id(connection, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")
        return cursor.fetchone()[0]


# --- the command ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--now",
        type=dt.datetime.fromisoformat,
        help="the generated history ends here (UTC, e.g. 2026-12-01T12:00; default: this hour)",
    )
    parser.add_argument("--path", help="SQLite file (default var/bench/reports-<size>.sqlite3)")
    parser.add_argument(
        "--db-name", help="PostgreSQL database (default refdesk_bench_reports_<size>)"
    )
    args = parser.parse_args()
    if args.referrals < 1 or args.months < 1:
        parser.error("--referrals and --months must be 1 or more")
    if args.database == "sqlite" and args.db_name or args.database == "postgres" and args.path:
        parser.error("--path is for sqlite, --db-name for postgres")
    target = args.path or args.db_name or default_target(args.database, args.referrals)
    if args.database == "sqlite":
        target = str(Path(target).resolve())
    os.nice(5)
    url = fresh_database(args.database, target)
    setup_django(url)
    print(
        f"generating {args.referrals:,} referrals over {args.months} months into {url}", flush=True
    )
    now = args.now or dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    now = now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    print(f"  history up to {now:%Y-%m-%dT%H:%M} UTC, seed {args.seed} (pass both to repeat it)")
    result = generate(referrals=args.referrals, months=args.months, seed=args.seed, now=now)
    from django.db import connection

    size = database_size(args.database, target)
    connection.close()
    print(
        f"done: {result['referrals']:,} referrals, {result['rows']:,} rows in "
        f"{result['seconds']:.1f} s ({result['rows'] / result['seconds']:,.0f} rows/s); "
        f"database size {size / 2**20:,.0f} MiB\n"
        f"  closed {result['closed']:,}, qualified {result['qualified']:,} "
        f"({result['qualified'] / result['referrals']:.1%} of all), appointments "
        f"{result['appointments']:,}, first responses within SLA "
        f"{result['sla_met'] / max(result['responded'], 1):.1%}\n"
        f"open it with: DJANGO_SETTINGS_MODULE=refdesk.settings.test DATABASE_URL={url}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
