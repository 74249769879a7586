"""Trial prescreen outcomes from the RDX-301 eligibility markers, and what follows from them.

Order (the Prescreen model): any marker failed -> not_eligible; else any unanswered ->
incomplete; else any "records requested" -> pending; else eligible.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pytest

from refdesk.programs.engine import Facts, decide
from refdesk.programs.loader import definition_from_dict, load_program_file

ROOT = Path(__file__).resolve().parents[3]
RECEIVED = dt.datetime(2026, 2, 10, 15, 0, tzinfo=dt.UTC)
MARKERS = ("age", "diagnosis_confirmed", "ecog", "prior_therapy_lines", "active_brain_metastases")
ELIGIBLE = {
    "study_id": "RDX-301",
    "age": 58,
    "diagnosis_confirmed": True,
    "ecog": 1,
    "prior_therapy_lines": 2,
    "active_brain_metastases": False,
}
FAILING = {
    "age": 17,
    "diagnosis_confirmed": False,
    "ecog": 3,
    "prior_therapy_lines": 3,
    "active_brain_metastases": True,
}


@cache
def trial():
    return load_program_file(ROOT / "programs" / "trial-prescreening.yaml")


def decide_answers(answers: dict, *, consent: str = "granted", definition=None):
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="patient",
        source="study-coordinator",
        request_type="trial_prescreen",
        therapy_area="oncology",
        consent=consent,
        answers=answers,
    )
    return decide(definition or trial().definition, facts, version=1)


def with_answers(**changes) -> dict:
    answers = dict(ELIGIBLE)
    for key, value in changes.items():
        if value is ...:
            answers.pop(key)
        else:
            answers[key] = value
    return answers


def test_all_markers_met_is_eligible():
    prescreen = decide_answers(ELIGIBLE).prescreen
    assert prescreen.outcome == "eligible"
    assert prescreen.reasons == ()
    assert [m.id for m in prescreen.markers] == list(MARKERS)
    assert {m.status for m in prescreen.markers} == {"met"}


@pytest.mark.parametrize("marker", MARKERS)
def test_each_failing_marker_makes_the_candidate_not_eligible(marker):
    decision = decide_answers(with_answers(**{marker: FAILING[marker]}))
    assert decision.prescreen.outcome == "not_eligible"
    assert decision.prescreen.reasons == (marker,)
    statuses = {m.id: m.status for m in decision.prescreen.markers}
    assert statuses[marker] == "not_met"
    assert f"failed markers {marker}" in " ".join(decision.explanation)


def test_the_boundaries_of_the_markers_are_met():
    answers = with_answers(age=18, ecog=0, prior_therapy_lines=0)
    assert decide_answers(answers).prescreen.outcome == "eligible"
    answers = with_answers(ecog=2, prior_therapy_lines=2)
    assert decide_answers(answers).prescreen.outcome == "eligible"


def test_every_failing_marker_is_a_reason():
    decision = decide_answers({"study_id": "RDX-301", **FAILING})
    assert decision.prescreen.reasons == MARKERS


@pytest.mark.parametrize("missing", [("ecog",), ("age", "active_brain_metastases"), MARKERS])
def test_unanswered_markers_make_the_prescreen_incomplete(missing):
    decision = decide_answers(with_answers(**dict.fromkeys(missing, ...)))
    assert decision.prescreen.outcome == "incomplete"
    assert decision.prescreen.reasons == missing
    assert {m.id: m.status for m in decision.prescreen.markers}[missing[0]] == "unknown"


def test_an_empty_answer_counts_as_unanswered():
    decision = decide_answers(with_answers(ecog="", age=None))
    assert decision.prescreen.outcome == "incomplete"
    assert decision.prescreen.reasons == ("age", "ecog")


@pytest.mark.parametrize(
    "pending",
    [("diagnosis_confirmed",), ("ecog", "prior_therapy_lines", "active_brain_metastases")],
)
def test_markers_awaiting_records_make_the_prescreen_pending(pending):
    decision = decide_answers(with_answers(**dict.fromkeys(pending, "records_requested")))
    assert decision.prescreen.outcome == "pending"
    assert decision.prescreen.reasons == pending
    marker = {m.id: m for m in decision.prescreen.markers}[pending[0]]
    assert marker.status == "unknown"
    assert "records requested" in marker.reason


def test_a_failed_marker_outweighs_missing_and_pending_ones():
    answers = with_answers(age=16, ecog=..., diagnosis_confirmed="records_requested")
    assert decide_answers(answers).prescreen.outcome == "not_eligible"


def test_a_missing_marker_outweighs_a_pending_one():
    answers = with_answers(ecog=..., diagnosis_confirmed="records_requested")
    decision = decide_answers(answers)
    assert decision.prescreen.outcome == "incomplete"
    assert decision.prescreen.reasons == ("ecog",)


def test_answers_stored_as_text_are_read_as_their_declared_type():
    answers = with_answers(age="58", ecog="1", diagnosis_confirmed="true")
    assert decide_answers(answers).prescreen.outcome == "eligible"


def test_an_answer_that_is_not_of_its_type_counts_as_unanswered_not_as_failed():
    answers = with_answers(age="fifty-eight", ecog={"value": 1}, diagnosis_confirmed=[True])
    decision = decide_answers(answers)
    assert decision.prescreen.outcome == "incomplete"
    assert decision.prescreen.reasons == ("age", "diagnosis_confirmed", "ecog")


@pytest.mark.parametrize(
    ("answers", "consent", "qualified"),
    [
        (ELIGIBLE, "granted", True),
        (ELIGIBLE, "withdrawn", False),
        (with_answers(age=12), "granted", False),
        (with_answers(ecog="records_requested"), "granted", None),
        (with_answers(ecog=...), "granted", None),
        (with_answers(ecog=...), "not_granted", False),
    ],
)
def test_a_trial_lead_is_qualified_when_eligible_and_consented(answers, consent, qualified):
    decision = decide_answers(answers, consent=consent)
    assert decision.qualified is qualified


def test_a_pending_prescreen_leaves_the_eligibility_item_unknown_with_its_reason():
    decision = decide_answers(with_answers(ecog="records_requested"))
    item = {c.id: c for c in decision.checklist}["prescreen_eligible"]
    assert item.status == "unknown"
    assert "prescreen_outcome" in item.reason


def test_routes_can_use_the_prescreen_outcome():
    def add_route(data):
        data["queues"]["clinical-ops-closeout"] = {"name": "Close-out", "team": "clinical-ops"}
        data["routes"].insert(
            0,
            {
                "id": "not-eligible",
                "when": {"prescreen_outcome": "not_eligible"},
                "then": {"queue": "clinical-ops-closeout"},
            },
        )

    data = trial().canonical_dict()
    add_route(data)
    definition = definition_from_dict(data)
    failed = decide_answers(with_answers(age=15), definition=definition)
    passed = decide_answers(ELIGIBLE, definition=definition)
    assert failed.route.queue == "clinical-ops-closeout"
    assert failed.route.why.endswith("prescreen_outcome is not_eligible")
    assert passed.route.queue == "clinical-ops-prescreening"


def test_programs_without_prescreen_have_no_prescreen_result():
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="patient",
        source="patient-org",
        request_type="helpline_callback",
        answers={"reason_for_contact": "Call back please."},
    )
    definition = load_program_file(ROOT / "programs" / "patient-support.yaml").definition
    assert decide(definition, facts, version=1).prescreen is None
