"""The three demo programs are the acceptance scenarios: they load, and they say what
PRODUCT.md says, identifier for identifier."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from refdesk.programs.conditions import evaluate, evaluate_requirement
from refdesk.programs.loader import (
    LoadedProgram,
    ProgramInvalid,
    load_program_file,
    load_program_files,
    load_program_text,
)

PROGRAMS_DIR = Path(__file__).resolve().parents[3] / "programs"
DEMO_FILES = ["trial-prescreening.yaml", "provider-education.yaml", "patient-support.yaml"]


def load(name: str) -> LoadedProgram:
    return load_program_file(PROGRAMS_DIR / name)


def route(program: LoadedProgram, **facts) -> tuple[str, str, set[str], set[str]]:
    """(rule id, queue, flags, notified queues): first matching route plus every alert."""
    d = program.definition
    terms = {"adverse_event_terms": list(d.adverse_event_terms)}
    chosen = next(r for r in d.routes if r.default or evaluate(r.when, facts, term_lists=terms))
    flags, notify = set(chosen.then.flags), set(chosen.then.also_notify)
    for alert in d.alerts:
        if evaluate(alert.when, facts, term_lists=terms):
            flags |= set(alert.flags)
            notify |= set(alert.also_notify)
    return chosen.id, chosen.then.queue, flags, notify


@pytest.mark.parametrize("name", DEMO_FILES)
def test_each_demo_program_loads_and_is_named_after_its_file(name):
    program = load(name)
    assert program.definition.id == name.removesuffix(".yaml")
    assert len(program.content_hash) == 64


def test_all_demo_programs_load_together_and_share_identical_team_and_queue_definitions():
    programs = load_program_files(PROGRAMS_DIR / name for name in DEMO_FILES)
    seen: dict[tuple[str, str], dict] = {}
    for program in programs:
        data = program.canonical_dict()
        for section in ("teams", "queues"):
            for key, value in data[section].items():
                assert seen.setdefault((section, key), value) == value, (section, key)
    assert seen[("queues", "drug-safety")]["team"] == "drug-safety"


def test_trial_prescreening_matches_the_product_definition():
    program = load("trial-prescreening.yaml")
    d = program.definition
    assert (d.goal, d.owner.team) == ("trial_prescreening", "clinical-ops")
    assert set(d.sources) == {"study-coordinator", "site-investigator", "patient-navigator"}
    assert all(set(s.submission_methods) == {"web", "api"} for s in d.sources.values())
    assert list(d.request_types) == ["trial_prescreen"]
    assert d.lead_kinds == ("patient",)
    assert list(d.therapy_areas) == ["oncology"]
    assert set(d.intake.answers) == {
        "study_id",
        "age",
        "diagnosis_confirmed",
        "ecog",
        "prior_therapy_lines",
        "active_brain_metastases",
    }
    assert d.intake.answers["study_id"].required
    assert [c.value for c in d.intake.answers["study_id"].choices] == ["RDX-301"]
    assert d.consent.required_at_intake
    assert list(d.consent.purposes) == ["trial_contact"]
    assert set(d.consent.channels) == {"phone", "email", "sms"}
    assert route(program, request_type="trial_prescreen")[1] == "clinical-ops-prescreening"
    assert d.routes[-1].default and d.routes[-1].then.queue == "clinical-ops-prescreening"
    assert d.sla.first_response.business_days == 2
    assert d.followup.first_outreach.by_request_type == {"trial_prescreen": "trial-prescreen-intro"}
    assert d.followup.acknowledge_referrer is not None
    assert (d.followup.retry.attempts, d.followup.retry.window_days) == (3, 7)
    assert d.followup.retry.then_outcome == "unreachable"
    assert d.scheduling is not None and d.scheduling.enabled


def test_trial_prescreen_markers_encode_the_eligibility_criteria():
    markers = {m.id: m for m in load("trial-prescreening.yaml").definition.prescreen.markers}
    assert set(markers) == {
        "age",
        "diagnosis_confirmed",
        "ecog",
        "prior_therapy_lines",
        "active_brain_metastases",
    }
    eligible = {
        "age": 18,
        "diagnosis_confirmed": True,
        "ecog": 2,
        "prior_therapy_lines": 2,
        "active_brain_metastases": False,
    }
    failing = {
        "age": 17,
        "diagnosis_confirmed": False,
        "ecog": 3,
        "prior_therapy_lines": 3,
        "active_brain_metastases": True,
    }
    for marker_id, marker in markers.items():
        assert marker.answer == marker_id
        assert evaluate_requirement(marker.require, eligible[marker_id]), marker_id
        assert not evaluate_requirement(marker.require, failing[marker_id]), marker_id


def test_provider_education_matches_the_product_definition():
    d = load("provider-education.yaml").definition
    assert (d.goal, d.owner.team) == ("clinician_education", "medical-affairs")
    assert set(d.sources) == {
        "hcp-referral",
        "practice-coordinator",
        "event-partner",
        "partner-lab",
    }
    assert all(s.request_types == "all" for s in d.sources.values())
    assert set(d.request_types) == {
        "treatment_education",
        "guideline_update",
        "patient_management_resources",
        "clinical_question",
        "meeting_request",
        "product_discussion",
    }
    assert d.lead_kinds == ("clinician",)
    assert set(d.target.specialties) == {
        "oncology",
        "hematology",
        "pulmonology",
        "rheumatology",
        "dermatology",
        "gastroenterology",
    }
    assert set(d.therapy_areas) == {"oncology", "immunology"}
    assert d.intake.answers["question"].required_when == {"request_type": "clinical_question"}
    assert {c.value for c in d.intake.answers["preferred_format"].choices} == {
        "email",
        "call",
        "meeting",
    }
    assert not d.intake.answers["preferred_format"].required
    fields = d.intake.lead_fields
    assert fields["specialty"].required and not fields["npi"].required
    assert d.sla.first_response.business_days == 1


@pytest.mark.parametrize(
    ("facts", "queue", "flags"),
    [
        (
            {"request_type": "clinical_question", "therapy_area": "oncology"},
            "medical-review",
            {"medical_review_required"},
        ),
        ({"request_type": "meeting_request"}, "msl-field-team", {"extra_validation"}),
        ({"request_type": "product_discussion"}, "commercial", set()),
        (
            {"request_type": "treatment_education", "therapy_area": "oncology"},
            "medical-info-oncology",
            set(),
        ),
        (
            {"request_type": "guideline_update", "therapy_area": "immunology"},
            "medical-info-immunology",
            set(),
        ),
        (
            {"request_type": "patient_management_resources", "therapy_area": "oncology"},
            "medical-info-oncology",
            set(),
        ),
        ({"request_type": "treatment_education"}, "medical-info-triage", set()),
    ],
)
def test_provider_education_routes_each_request_to_the_right_team(facts, queue, flags):
    _, routed_to, routed_flags, _ = route(load("provider-education.yaml"), **facts)
    assert (routed_to, routed_flags) == (queue, flags)


def test_provider_education_meeting_requests_are_validated_on_specialty_and_npi():
    d = load("provider-education.yaml").definition
    meeting = next(r for r in d.routes if r.id == "meeting-request")
    assert [c.when for c in meeting.then.checks] == [
        {"target_specialty": True},
        {"npi_check": "valid"},
    ]
    assert d.request_types["clinical_question"].requires_medical_review


def test_patient_support_matches_the_product_definition():
    d = load("patient-support.yaml").definition
    assert (d.goal, d.owner.team) == ("patient_support", "patient-services")
    assert set(d.sources) == {"patient-org", "hcp-office", "digital-health-partner"}
    assert d.sources["digital-health-partner"].submission_methods == ("api",)
    assert all(s.request_types == "all" for s in d.sources.values())
    assert set(d.request_types) == {
        "helpline_callback",
        "financial_assistance",
        "adherence_support",
    }
    assert set(d.therapy_areas) == {"oncology", "immunology"}
    assert d.intake.answers["reason_for_contact"].required
    assert d.intake.answers["reason_for_contact"].type == "text"
    assert list(d.consent.purposes) == ["patient_support"]
    assert d.sla.first_response.business_days == 1
    assert d.scheduling.reminders_hours_before == (24, 1)
    assert d.scheduling.no_show.offer_reschedule and d.scheduling.no_show.manual_check
    assert {"side effect", "rash", "adverse event"} <= set(d.adverse_event_terms)


@pytest.mark.parametrize(
    ("request_type", "reason", "queue", "drug_safety"),
    [
        ("financial_assistance", "Help with my co-pay card", "patient-access", False),
        ("helpline_callback", "Questions about my next refill", "patient-services", False),
        ("adherence_support", "Needs injection training", "patient-services", False),
        # A possible adverse event keeps its normal queue and also reaches drug safety.
        (
            "financial_assistance",
            "Cannot afford it, and got a Rash last week",
            "patient-access",
            True,
        ),
        ("helpline_callback", "I think I have a side effect", "patient-services", True),
    ],
)
def test_patient_support_routes_and_flags_possible_adverse_events(
    request_type, reason, queue, drug_safety
):
    _, routed_to, flags, notify = route(
        load("patient-support.yaml"),
        request_type=request_type,
        **{"answers.reason_for_contact": reason},
    )
    assert routed_to == queue
    assert ("possible_adverse_event" in flags) is drug_safety
    assert ("drug-safety" in notify) is drug_safety


# --- content hash ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEMO_FILES)
def test_the_content_hash_ignores_comments_whitespace_and_key_order(name):
    original = load(name)
    commented = "# a new comment\n\n" + original.source_text.replace("\n", "   \n", 5)
    data = yaml.safe_load(original.source_text)
    reordered = yaml.safe_dump(dict(reversed(list(data.items()))), sort_keys=False)
    normalized = original.normalized_yaml()
    for variant in (commented, reordered, normalized):
        reloaded = load_program_text(variant, filename=name)
        assert reloaded.content_hash == original.content_hash


def test_the_content_hash_changes_when_a_value_changes():
    original = load("provider-education.yaml")
    changed = original.source_text.replace(
        "first_response: {business_days: 1}", "first_response: {business_days: 2}"
    )
    assert changed != original.source_text
    assert load_program_text(changed, filename="x").content_hash != original.content_hash


# --- loading several files ------------------------------------------------------------------


def copy_demos(tmp_path: Path) -> list[Path]:
    return [Path(shutil.copy(PROGRAMS_DIR / name, tmp_path / name)) for name in DEMO_FILES]


def test_one_bad_file_among_good_ones_fails_the_batch_naming_only_that_file(tmp_path):
    paths = copy_demos(tmp_path)
    bad = paths[1]
    bad.write_text(bad.read_text().replace("then: {queue: commercial}", "then: {queue: comercial}"))
    with pytest.raises(ProgramInvalid) as caught:
        load_program_files(paths)
    errors = caught.value.errors
    assert errors and {e.file for e in errors} == {str(bad)}
    assert errors[0].path == "routes[2].then.queue"
    assert str(bad) in str(caught.value)


def test_errors_from_every_bad_file_are_reported_together(tmp_path):
    paths = copy_demos(tmp_path)
    paths[0].write_text(paths[0].read_text().replace("goal: trial_prescreening", "goal: trials"))
    paths[2].write_text("id: [unclosed\n")
    with pytest.raises(ProgramInvalid) as caught:
        load_program_files(paths)
    assert {e.file for e in caught.value.errors} == {str(paths[0]), str(paths[2])}


def test_two_files_defining_the_same_program_id_is_an_error(tmp_path):
    paths = copy_demos(tmp_path)
    twin = tmp_path / "provider-education-copy.yaml"
    twin.write_text(paths[1].read_text())
    with pytest.raises(ProgramInvalid) as caught:
        load_program_files([*paths, twin])
    [error] = caught.value.errors
    assert (error.file, error.path) == (str(twin), "id")
    assert error.message == f"program id 'provider-education' is also defined in {paths[1]}"
    assert error.line is not None
