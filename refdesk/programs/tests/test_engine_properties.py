"""Properties of the engine: total (any facts give a decision), deterministic, and its compiled
conditions mean exactly what the condition language's reference evaluator says."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refdesk.programs.conditions import evaluate
from refdesk.programs.engine import Decision, Facts, decide
from refdesk.programs.engine.compiled import compiled
from refdesk.programs.engine.facts import fact_mapping
from refdesk.programs.engine.fastcond import compile2, compile3
from refdesk.programs.engine.rules import holds3
from refdesk.programs.loader import load_program_file

ROOT = Path(__file__).resolve().parents[3]
PROGRAMS = ("trial-prescreening", "provider-education", "patient-support")


@cache
def definitions():
    return [load_program_file(ROOT / "programs" / f"{p}.yaml").definition for p in PROGRAMS]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
anything = json_values | st.dates() | st.datetimes()


def near(values):
    """Program-defined values, close misses, and anything at all."""
    return st.sampled_from(values) | st.text(max_size=15) | anything


ANSWER_IDS = (
    "study_id",
    "age",
    "diagnosis_confirmed",
    "ecog",
    "prior_therapy_lines",
    "active_brain_metastases",
    "question",
    "preferred_format",
    "reason_for_contact",
)
answer_values = (
    st.sampled_from(["records_requested", "RDX-301", "a rash", "58", "true", "", " "])
    | st.integers(-5, 130)
    | json_values
)

facts_strategy = st.builds(
    Facts,
    received_at=st.datetimes(timezones=st.none() | st.timezones())
    # naive and aware extremes on purpose: the engine must be total
    | st.sampled_from([dt.datetime.min, dt.datetime.max.replace(tzinfo=dt.UTC)]),  # noqa: DTZ901
    lead_kind=near(["patient", "clinician", "organization", ""]),
    source=near(["study-coordinator", "hcp-referral", "patient-org", "event-partner"]),
    request_type=near(
        ["trial_prescreen", "clinical_question", "meeting_request", "financial_assistance"]
    ),
    therapy_area=near(["oncology", "immunology", ""]),
    answers=st.dictionaries(st.sampled_from(ANSWER_IDS) | st.text(max_size=6), answer_values)
    | anything,
    consent=near(["granted", "not_granted", "withdrawn", "not_required"]),
    consent_channels=st.tuples() | st.tuples(st.sampled_from(["phone", "email"])),
    country=near(["US", ""]),
    region=near(["US-NY"]),
    referrer=near(["R0001"]),
    specialty=near(["oncology", "cardiology", " Hematology "]),
    npi=near(["1234567893", "1234567890", ""]),
    preferred_contact=near(["phone", "email", "sms"]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, which=st.integers(0, 2), version=st.integers(1, 10_000))
def test_any_facts_give_a_decision(facts, which, version):
    definition = definitions()[which]
    decision = decide(definition, facts, version=version)
    assert isinstance(decision, Decision)
    assert decision.route.queue in definition.queues
    assert decision.first_response_due.tzinfo is not None
    assert decision.qualified in (True, False, None)
    assert all(isinstance(sentence, str) and sentence for sentence in decision.explanation)
    assert decision.to_dict()["program"] == definition.id


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, which=st.integers(0, 2))
def test_the_same_facts_always_give_the_same_decision(facts, which):
    definition = definitions()[which]
    first = decide(definition, facts, version=7)
    compiled(definition).memo.clear()  # a cold engine decides the same as a warm one
    second = decide(definition, facts, version=7)
    assert first == second
    assert first.to_dict() == second.to_dict()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, which=st.integers(0, 2), prescreen=near(["eligible", "pending"]))
def test_compiled_conditions_agree_with_the_reference_evaluator(facts, which, prescreen):
    definition = definitions()[which]
    mapping = fact_mapping(
        definition, facts, prescreen_outcome=prescreen if isinstance(prescreen, str) else None
    )
    terms = {"adverse_event_terms": list(definition.adverse_event_terms)}
    conditions = [r.when for r in definition.routes if r.when]
    conditions += [a.when for a in definition.alerts]
    checklists = [item.when for items in definition.qualification.values() for item in items]
    checklists += [item.when for r in definition.routes for item in r.then.checks]
    for condition in conditions + checklists:
        assert compile2(condition, terms)(mapping) == evaluate(condition, mapping, term_lists=terms)
    undecided = frozenset({"prescreen_outcome"}) if prescreen == "pending" else frozenset()
    for condition in conditions + checklists:
        fast = compile3(condition, terms)(mapping, undecided, [])
        assert fast == holds3(condition, mapping, terms, undecided=undecided)


def test_an_empty_referral_is_decided_and_not_eligible():
    for definition in definitions():
        facts = Facts(
            received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
            lead_kind="",
            source="",
            request_type="",
        )
        decision = decide(definition, facts, version=1)
        assert not decision.eligible
        assert decision.route.default
        assert decision.route.rule_id == definition.routes[-1].id


def test_facts_of_the_wrong_types_are_decided():
    weird = Facts(
        received_at="yesterday",  # type: ignore[arg-type]
        lead_kind=None,  # type: ignore[arg-type]
        source=42,  # type: ignore[arg-type]
        request_type={"x": 1},  # type: ignore[arg-type]
        answers=["not", "a", "mapping"],  # type: ignore[arg-type]
        specialty=3.5,  # type: ignore[arg-type]
        npi=1234567893,  # type: ignore[arg-type]
    )
    for definition in definitions():
        decision = decide(definition, weird, version=1)
        assert not decision.eligible
        assert "time of receipt is unknown" in decision.explanation[-1]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(facts=facts_strategy, which=st.integers(0, 2))
def test_plain_converts_decisions_and_facts_exactly_as_asdict(facts, which):
    from dataclasses import asdict

    from refdesk.programs.engine.types import plain

    decision = decide(definitions()[which], facts, version=3)
    assert plain(decision) == asdict(decision)
    assert plain(facts) == asdict(facts)
    # The same container types (tuples stay tuples), not only equal values.
    assert type(plain(decision)["route"]["flags"]) is type(decision.route.flags)
