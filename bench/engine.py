"""Bare program-engine benchmark: decisions per second, no database, no Django.

    .venv/bin/python bench/engine.py [--count 100000] [--seed 7] [--repeat 3]

1. Load the three demo programs from programs/*.yaml.
2. Build ``--count`` varied ``Facts`` in memory (a third per program): every request type,
   therapy area, source and consent state, unknown sources and request types, answers that
   pass, fail, are missing or await records, adverse-event wording, valid and invalid NPIs,
   receipt times spread over 2026 (nights, weekends, holidays, both DST changes).
3. Decide them all ``--repeat`` times and print the best decisions/s (wall clock, and per CPU
   second of this process, which a shared machine disturbs less), with a ceiling measured in
   the same run: building one ``Facts``-sized frozen dataclass per referral, the least any
   engine returning a dataclass must do.
Bounded: the work is fixed, no server, no files written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refdesk.programs.engine import Facts, decide  # noqa: E402
from refdesk.programs.loader import load_program_file  # noqa: E402

PROGRAMS = ("trial-prescreening", "provider-education", "patient-support")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CONSENT = ("granted", "not_granted", "withdrawn", "not_required")
REASONS = (
    "Would like help understanding the co-pay card.",
    "Asked for a reminder routine for injections.",
    "Mentioned a rash and some nausea since the last dose.",
    "Needs help with insurance coverage.",
    "",
)
QUESTIONS = (
    "What data exist on dose adjustment in moderate hepatic impairment?",
    "A patient reported dizziness after the second cycle; is this expected?",
    "",
)
SPECIALTIES = ("oncology", "hematology", "cardiology", "dermatology", "", "family_medicine")
NPIS = ("1234567893", "1234567890", "", "")


def _marker(rng: random.Random, good, bad, pending: bool):
    roll = rng.random()
    if roll < 0.7:
        return good
    if roll < 0.8:
        return bad
    if roll < 0.9 and pending:
        return "records_requested"
    return None


def make_facts(definitions, count: int, seed: int) -> list[tuple[object, Facts]]:
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        program = PROGRAMS[i % 3]
        d = definitions[program]
        received = START + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
        sources = [*d.sources, "unknown-source"] if rng.random() < 0.02 else list(d.sources)
        types = [*d.request_types, "unknown_type"] if rng.random() < 0.02 else list(d.request_types)
        common = dict(
            received_at=received,
            source=rng.choice(sources),
            request_type=rng.choice(types),
            therapy_area=rng.choice([*d.therapy_areas, ""]),
            consent=rng.choice(CONSENT),
            country="US",
            referrer=f"R{rng.randrange(1000):04d}",
        )
        if program == "trial-prescreening":
            answers = {
                "study_id": "RDX-301",
                "age": _marker(rng, rng.randrange(18, 90), rng.randrange(0, 18), False),
                "diagnosis_confirmed": _marker(rng, True, False, True),
                "ecog": _marker(rng, rng.randrange(0, 3), rng.randrange(3, 6), True),
                "prior_therapy_lines": _marker(rng, rng.randrange(0, 3), 5, True),
                "active_brain_metastases": _marker(rng, False, True, True),
            }
            facts = Facts(lead_kind="patient", answers=answers, **common)
        elif program == "provider-education":
            answers = {"question": rng.choice(QUESTIONS), "preferred_format": "email"}
            facts = Facts(
                lead_kind="clinician",
                answers=answers,
                specialty=rng.choice(SPECIALTIES),
                npi=rng.choice(NPIS),
                **common,
            )
        else:
            facts = Facts(
                lead_kind="patient", answers={"reason_for_contact": rng.choice(REASONS)}, **common
            )
        cases.append((d, facts))
    return cases


def ceiling(cases) -> float:
    start = time.perf_counter()
    for _, facts in cases:
        Facts(
            received_at=facts.received_at,
            lead_kind=facts.lead_kind,
            source=facts.source,
            request_type=facts.request_type,
            answers=facts.answers,
        )
    return len(cases) / (time.perf_counter() - start)


def run(cases) -> tuple[float, float, Counter]:
    """(decisions/s by the wall clock, decisions/s of process CPU time, queue counts)."""
    queues: Counter = Counter()
    wall, cpu = time.perf_counter(), time.process_time()
    for definition, facts in cases:
        queues[decide(definition, facts, version=1).route.queue] += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(cases) / wall, len(cases) / cpu, queues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    definitions = {
        p: load_program_file(ROOT / "programs" / f"{p}.yaml").definition for p in PROGRAMS
    }
    built = time.perf_counter()
    cases = make_facts(definitions, args.count, args.seed)
    print(f"built {len(cases):,} facts in {time.perf_counter() - built:.2f} s")
    best = best_cpu = 0.0
    queues: Counter = Counter()
    for _ in range(args.repeat):
        rate, cpu_rate, queues = run(cases)
        best, best_cpu = max(best, rate), max(best_cpu, cpu_rate)
    roof = max(ceiling(cases) for _ in range(args.repeat))
    print(f"engine:  {best:,.0f} decisions/s ({args.count / best:.2f} s per {args.count:,})")
    print(f"         {best_cpu:,.0f} decisions per CPU second (less sensitive to a busy machine)")
    print(f"ceiling: {roof:,.0f} Facts constructions/s (engine/ceiling {best / roof:.2f})")
    print("queues:", ", ".join(f"{q} {n}" for q, n in sorted(queues.items())))


if __name__ == "__main__":
    main()
