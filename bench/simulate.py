"""Simulation benchmark: ``refdesk program simulate`` over 100,000 stored referrals.

    .venv/bin/python bench/simulate.py [--database sqlite|postgres] [--referrals 100000]
                                       [--program SLUG] [--workers N]

1. Fresh database (SQLite file in a temp dir, or a new PostgreSQL database
   ``refdesk_bench_simulate``) with its own keys, migrated, the demo programs applied.
2. Load N referrals spread over the three demo programs and the last twelve months, with varied
   answers (trial markers met, failed, unknown or awaiting records; every request type, therapy
   area, specialty, NPI valid/invalid/absent; reasons for contact with and without adverse-event
   terms; consent mostly granted). Bench-only fast path, NOT ``referral_submit`` (~15 minutes):
   rows built in memory and written with ``bulk_create`` in batches of 2,000, lead and answers
   encrypted through the model fields, each with the active version's engine decision stored as
   its initial ``RoutingDecision`` and a consent record. The time spent in ``decide()`` while
   loading gives the bare engine's decisions/s.
3. For each demo program, a modified copy (patient-support: financial assistance to
   patient-services; provider-education: meeting requests to triage; trial-prescreening: ECOG
   0-1 instead of 0-2) is simulated with ``refdesk program simulate FILE --format json`` as a
   separate process; wall time (process start to exit, Django start-up included), CPU time
   (the command and its workers) and referrals/s are printed per program and in total, with
   the load average, because the machine is shared. ``--program SLUG`` loads every referral
   into that one program and times one command over all of them. Target (issue 4): 100,000
   in under 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, the repository root is not on the path; the bench package lives there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, bench_environment  # noqa: E402

PYTHON = sys.executable
PG_DB = "refdesk_bench_simulate"
BATCH = 2000
DRAFTS = {
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


def environment(database: str, tmp: Path) -> dict[str, str]:
    return bench_environment(database, tmp, pg_db=PG_DB)


# --- the data (runs in a child process with the bench environment) ----------------------------

AE_REASONS = [
    "Since the last injection I have a rash and itching",
    "Felt dizzy and had nausea after the new dose",
    "Was hospitalized last week, wants to talk about the treatment",
]
PLAIN_REASONS = [
    "Would like help understanding the co-pay card",
    "Needs reminders to take the tablets on time",
    "Asked for injection training at home",
    "Wants to know about the assistance program",
    "Would like a call back about the support services",
]
QUESTIONS = [
    "What data exist on dose adjustment in moderate hepatic impairment?",
    "Is there guidance for patients who develop a rash on treatment?",
    "How should the drug be stored when travelling?",
]
SPECIALTIES = ["oncology", "hematology", "pulmonology", "rheumatology", "dermatology", "cardiology"]
EDUCATION_TYPES = [
    "treatment_education",
    "guideline_update",
    "patient_management_resources",
    "clinical_question",
    "meeting_request",
    "product_discussion",
]


def _marker(rng: random.Random, good, bad):
    roll = rng.random()
    if roll < 0.75:
        return good()
    if roll < 0.87:
        return bad()
    if roll < 0.94:
        return "records_requested"
    return None


def _trial(rng: random.Random, n: int):
    answers = {
        "study_id": "RDX-301",
        "age": _marker(rng, lambda: rng.randint(18, 85), lambda: rng.randint(12, 17)),
        "diagnosis_confirmed": _marker(rng, lambda: True, lambda: False),
        "ecog": _marker(rng, lambda: rng.randint(0, 2), lambda: rng.randint(3, 4)),
        "prior_therapy_lines": _marker(rng, lambda: rng.randint(0, 2), lambda: rng.randint(3, 5)),
        "active_brain_metastases": _marker(rng, lambda: False, lambda: True),
    }
    if answers["age"] == "records_requested":
        answers["age"] = None  # age is never "records requested"
    answers = {key: value for key, value in answers.items() if value is not None}
    lead = _person(rng, n, "patient")
    return "trial_prescreen", "patient", "oncology", lead, answers, "trial_contact"


def _education(rng: random.Random, n: int):
    request_type = rng.choice(EDUCATION_TYPES)
    lead = _person(rng, n, "clinician")
    lead["specialty"] = rng.choice(SPECIALTIES)
    npi = rng.random()
    if npi < 0.6:
        lead["npi"] = "1234567893"
    elif npi < 0.75:
        lead["npi"] = "1234567890"
    answers = {"preferred_format": rng.choice(["email", "call", "meeting"])}
    if request_type == "clinical_question":
        answers["question"] = rng.choice(QUESTIONS)
    area = rng.choice(["oncology", "oncology", "immunology", ""])
    return request_type, "clinician", area, lead, answers, None


def _support(rng: random.Random, n: int):
    request_type = rng.choice(["helpline_callback", "financial_assistance", "adherence_support"])
    reason = rng.choice(AE_REASONS) if rng.random() < 0.1 else rng.choice(PLAIN_REASONS)
    lead = _person(rng, n, "patient")
    area = rng.choice(["oncology", "immunology", ""])
    return request_type, "patient", area, lead, {"reason_for_contact": reason}, "patient_support"


def _person(rng: random.Random, n: int, kind: str) -> dict:
    contact = rng.choice(["email", "phone"] if kind == "clinician" else ["email", "phone", "sms"])
    lead = {
        "given_name": rng.choice(["Alex", "Maria", "Sam", "Dana", "Robin", "Kai"]),
        "family_name": f"Bench{n}",
        "preferred_contact": contact,
        "timezone": rng.choice(["America/New_York", "America/Chicago", "America/Denver"]),
        "country": "US",
    }
    if contact == "email":
        lead["email"] = f"lead{n}@example.net"
    else:
        lead["phone"] = f"+1 312 {200 + n // 10000 % 700:03d} {n % 10000:04d}"
    return lead


BUILDERS = {
    "trial-prescreening": _trial,
    "provider-education": _education,
    "patient-support": _support,
}


def load(count: int, only: str | None) -> None:
    """Runs in a child process: demo programs, referrers and ``count`` routed referrals (of
    the three programs in turn, or all of program ``only``)."""
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    from refdesk.consent.models import ConsentRecord
    from refdesk.core.references import new_referral_reference
    from refdesk.intake.choices import Stage
    from refdesk.intake.models import Referral
    from refdesk.intake.submissions import consent_text_hash
    from refdesk.programs.engine import Facts, decide
    from refdesk.programs.models import Program
    from refdesk.programs.selectors import version_definition
    from refdesk.referrers.models import Source
    from refdesk.routing.choices import DecisionKind
    from refdesk.routing.facts import facts_digest
    from refdesk.routing.models import Queue, RoutingDecision
    from refdesk.testing import apply_demo_programs, make_referrer

    apply_demo_programs(note="benchmark")
    rng = random.Random(4)
    queues = {queue.slug: queue for queue in Queue.objects.all()}
    programs = []
    chosen = Program.objects.select_related("active_version").order_by("slug")
    for program in chosen.filter(slug=only) if only else chosen:
        version = program.active_version
        definition = version_definition(version)
        referrers = [
            make_referrer(program.slug, source.slug, name=f"Bench {source.slug} {i}")
            for source in Source.objects.filter(program=program)
            for i in range(5)
        ]
        text = (
            max(definition.consent.texts, key=lambda t: t.published) if definition.consent else None
        )
        programs.append((program, version, definition, referrers, text))
    now = datetime.now(UTC).replace(microsecond=0)
    # References have 34 random bits: among 100,000 a repeat is likely (~15%), and bulk_create
    # has no retry, so draw until new.
    references: set[str] = set()
    engine_seconds = 0.0
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        referrals, decisions, consents = [], [], []
        for n in range(first, min(first + BATCH, count)):
            program, version, definition, referrers, text = programs[n % len(programs)]
            referrer = rng.choice(referrers)
            request_type, kind, area, lead, answers, purpose = BUILDERS[program.slug](rng, n)
            received_at = now - timedelta(seconds=rng.randint(3600, 365 * 86400))
            granted = purpose is not None and rng.random() < 0.95
            channels = (lead["preferred_contact"],) if granted else ()
            facts = Facts(
                received_at=received_at,
                lead_kind=kind,
                source=referrer.source.slug,
                request_type=request_type,
                therapy_area=area,
                answers=answers,
                consent=("granted" if granted else "not_granted") if purpose else "not_required",
                consent_channels=channels,
                country="US",
                referrer=referrer.code,
                specialty=lead.get("specialty", ""),
                npi=lead.get("npi", ""),
                preferred_contact=lead["preferred_contact"],
            )
            tick = time.perf_counter()
            decision = decide(definition, facts, version=version.number)
            engine_seconds += time.perf_counter() - tick
            route = decision.route
            gated = {"medical_review_required", "extra_validation"} & set(route.flags)
            decided_at = received_at + timedelta(seconds=1)
            reference = new_referral_reference()
            while reference in references:
                reference = new_referral_reference()
            references.add(reference)
            referrals.append(
                Referral(
                    reference=reference,
                    program=program,
                    program_version=version,
                    source=referrer.source,
                    referrer=referrer,
                    submission_method="web",
                    received_at=received_at,
                    request_type=request_type,
                    therapy_area=area,
                    lead_kind=kind,
                    lead=lead,
                    answers=answers,
                    preferred_contact=lead["preferred_contact"],
                    lead_timezone=lead["timezone"],
                    country="US",
                    stage=Stage.AWAITING_REVIEW if gated else Stage.QUEUED,
                    prescreen_outcome=decision.prescreen.outcome if decision.prescreen else "",
                    queue=queues[route.queue],
                    flags=list(route.flags),
                    routed_at=decided_at,
                    first_response_due_at=decision.first_response_due,
                )
            )
            decisions.append(
                RoutingDecision(
                    program_version=version,
                    kind=DecisionKind.INITIAL,
                    rule_id=route.rule_id,
                    rule_position=route.position,
                    default_route=route.default,
                    queue=queues[route.queue],
                    flags=list(route.flags),
                    also_notify=list(route.also_notify),
                    facts_digest=facts_digest(facts),
                    decision=decision.to_dict(),
                    decided_at=decided_at,
                    decided_by="system:bench",
                )
            )
            consents.append(
                ConsentRecord(
                    event="given" if granted else "refused",
                    granted=granted,
                    purposes=[purpose],
                    channels=list(channels),
                    method="attested_by_referrer",
                    text_version=text.version,
                    text_hash=consent_text_hash(definition.consent, text.version),
                    recorded_at=received_at,
                    recorded_by="system:bench",
                )
                if purpose
                else None
            )
        with transaction.atomic():
            Referral.objects.bulk_create(referrals)
            for referral, decision, consent in zip(referrals, decisions, consents, strict=True):
                decision.referral = referral
                if consent is not None:
                    consent.referral = referral
            RoutingDecision.objects.bulk_create(decisions)
            ConsentRecord.objects.bulk_create([c for c in consents if c is not None])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        json.dumps(
            {
                "referrals": Referral.objects.count(),
                "load_seconds": round(time.perf_counter() - started, 1),
                "engine_decisions_per_s": round(count / engine_seconds),
            }
        )
    )


# --- the run ------------------------------------------------------------------------------------


def simulate(env: dict, draft: Path, workers: int | None) -> dict:
    command = [PYTHON, "-m", "refdesk", "program", "simulate", str(draft), "--format", "json"]
    if workers is not None:
        command += ["--workers", str(workers)]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"simulate failed:\n{done.stderr}")
    report = json.loads(done.stdout)
    return {"wall": wall, "cpu": _children_cpu() - cpu_before, **report}


def _children_cpu() -> float:
    # CPU seconds of finished child processes (the command and its workers), user + system:
    # less sensitive than wall time to other work on a shared machine.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument(
        "--program",
        choices=sorted(DRAFTS),
        help="load all referrals into this one program and simulate only it (one command)",
    )
    parser.add_argument("--workers", type=int, help="passed to simulate (default: its choice)")
    parser.add_argument("--load-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_child is not None:
        load(args.load_child, args.program)
        return
    tmp = Path(tempfile.mkdtemp(prefix="refdesk-bench-simulate-"))
    try:
        env = environment(args.database, tmp)
        run = {"env": env, "cwd": ROOT, "check": True}
        subprocess.run([PYTHON, "-m", "refdesk", "migrate", "--no-input", "-v", "0"], **run)
        print(f"loading {args.referrals:,} referrals into {args.database} ...", flush=True)
        loaded = subprocess.run(
            [PYTHON, str(Path(__file__).resolve()), "--load-child", str(args.referrals)]
            + (["--program", args.program] if args.program else []),
            stdout=subprocess.PIPE,
            text=True,
            **run,
        )
        figures = json.loads(loaded.stdout.strip().splitlines()[-1])
        print(
            f"loaded {figures['referrals']:,} in {figures['load_seconds']} s; bare engine "
            f"(while loading): {figures['engine_decisions_per_s']:,} decisions/s"
        )
        total_wall, total_cpu, total_replayed = 0.0, 0.0, 0
        cores = len(os.sched_getaffinity(0))
        for slug, (old, new) in DRAFTS.items():
            if args.program and slug != args.program:
                continue
            text = (ROOT / "programs" / f"{slug}.yaml").read_text()
            assert old in text, f"{slug}: the benchmark's edit no longer applies"
            draft = tmp / f"{slug}.yaml"
            draft.write_text(text.replace(old, new, 1))
            load_before = os.getloadavg()[0]
            report = simulate(env, draft, args.workers)
            total_wall += report["wall"]
            total_cpu += report["cpu"]
            total_replayed += report["replayed"]
            print(
                f"simulate {slug:<20} {report['replayed']:>7,} replayed "
                f"{report['changed']:>7,} changed  {report['wall']:6.2f} s wall "
                f"{report['cpu']:6.2f} s cpu  {report['replayed'] / report['wall']:>8,.0f} "
                f"referrals/s  (load average before: {load_before:.1f} on {cores} cores)"
            )
        print(
            f"simulate total: {total_replayed:,} referrals in {total_wall:.2f} s wall, "
            f"{total_cpu:.2f} s cpu ({total_replayed / total_wall:,.0f} referrals/s; "
            "target: 100,000 in < 10 s)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
