"""Every route of the three demo programs, as PRODUCT.md describes them, decided by the engine.

No database: the demo YAML files are loaded with the program loader and decided in memory.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import cache
from pathlib import Path

import pytest

from refdesk.programs.engine import Facts, add_business_time, decide
from refdesk.programs.engine.compiled import compiled
from refdesk.programs.loader import definition_from_dict, load_program_file

ROOT = Path(__file__).resolve().parents[3]
RECEIVED = dt.datetime(2026, 3, 6, 21, 0, tzinfo=dt.UTC)  # Friday 16:00 EST, before DST starts
CONSENT_STATES = ("granted", "not_granted", "withdrawn", "not_required")
EDUCATION = ("treatment_education", "guideline_update", "patient_management_resources")


@cache
def demo(program: str):
    return load_program_file(ROOT / "programs" / f"{program}.yaml")


def definition(program: str):
    return demo(program).definition


def variant(program: str, change) -> object:
    """The demo program with ``change(data)`` applied to its canonical dict, re-validated."""
    data = demo(program).canonical_dict()
    change(data)
    return definition_from_dict(data)


def clinician(request_type: str, **kw) -> Facts:
    kw.setdefault("specialty", "oncology")
    kw.setdefault("source", "hcp-referral")
    return Facts(received_at=RECEIVED, lead_kind="clinician", request_type=request_type, **kw)


def patient(request_type: str, **kw) -> Facts:
    kw.setdefault("source", "patient-org")
    kw.setdefault("consent", "granted")
    kw.setdefault("answers", {"reason_for_contact": "Would like a call about the co-pay card."})
    return Facts(received_at=RECEIVED, lead_kind="patient", request_type=request_type, **kw)


# --- provider-education -----------------------------------------------------------------------

PROVIDER_ROUTES = [
    *[(rt, "oncology", "medical-info-oncology", "education-oncology", ()) for rt in EDUCATION],
    *[
        (rt, "immunology", "medical-info-immunology", "education-immunology", ())
        for rt in EDUCATION
    ],
    *[(rt, "", "medical-info-triage", "triage", ()) for rt in EDUCATION],
    *[
        (rt, area, queue, rule, flags)
        for area in ("oncology", "immunology", "")
        for rt, queue, rule, flags in (
            (
                "clinical_question",
                "medical-review",
                "clinical-question",
                ("medical_review_required",),
            ),
            ("meeting_request", "msl-field-team", "meeting-request", ("extra_validation",)),
            ("product_discussion", "commercial", "product-discussion", ()),
        )
    ],
]


@pytest.mark.parametrize("consent", CONSENT_STATES)
@pytest.mark.parametrize(("request_type", "area", "queue", "rule", "flags"), PROVIDER_ROUTES)
def test_provider_education_routes_each_request_type_and_therapy_area(
    request_type, area, queue, rule, flags, consent
):
    answers = {"question": "Dose adjustment in hepatic impairment?"}
    facts = clinician(request_type, therapy_area=area, consent=consent, answers=answers)
    decision = decide(definition("provider-education"), facts, version=3)
    assert decision.route.queue == queue
    assert decision.route.rule_id == rule
    assert decision.route.flags == flags
    assert decision.route.also_notify == ()
    assert decision.eligible


def test_every_source_may_send_every_provider_education_request_type():
    d = definition("provider-education")
    for source, request_type in itertools.product(d.sources, d.request_types):
        facts = clinician(request_type, source=source, therapy_area="oncology")
        assert decide(d, facts, version=1).eligible, (source, request_type)


def test_a_clinical_question_requires_medical_review_and_says_why():
    facts = clinician("clinical_question", therapy_area="oncology")
    decision = decide(definition("provider-education"), facts, version=3)
    assert decision.route.why == (
        "routed by rule clinical-question (1 of 6) of version 3: request_type is clinical_question"
    )
    assert decision.route.position == 1 and not decision.route.default
    assert "medical_review_required" in decision.route.flags
    assert any("requires medical review" in s for s in decision.explanation)


def test_a_request_type_that_requires_medical_review_is_flagged_on_any_route():
    def reroute_clinical_questions(data):
        data["routes"] = [r for r in data["routes"] if r["id"] != "clinical-question"]

    d = variant("provider-education", reroute_clinical_questions)
    decision = decide(d, clinician("clinical_question", therapy_area="oncology"), version=4)
    assert decision.route.queue == "medical-info-triage"
    assert decision.route.flags == ("medical_review_required",)


@pytest.mark.parametrize(
    ("specialty", "npi", "statuses"),
    [
        ("oncology", "1234567893", ("met", "met")),
        ("cardiology", "1234567890", ("not_met", "not_met")),
        ("dermatology", "", ("met", "not_met")),
        ("", "1234567893", ("unknown", "met")),
    ],
)
def test_a_meeting_request_gets_extra_validation_with_its_checks(specialty, npi, statuses):
    facts = clinician("meeting_request", specialty=specialty, npi=npi)
    route = decide(definition("provider-education"), facts, version=1).route
    assert route.queue == "msl-field-team"
    assert route.flags == ("extra_validation",)
    assert [c.id for c in route.checks] == ["specialty_in_target", "npi_valid"]
    assert tuple(c.status for c in route.checks) == statuses


def test_a_clinical_question_mentioning_a_side_effect_also_goes_to_drug_safety():
    answers = {"question": "A patient developed a RASH after the second dose; expected?"}
    facts = clinician("clinical_question", therapy_area="oncology", answers=answers)
    route = decide(definition("provider-education"), facts, version=1).route
    assert route.queue == "medical-review"
    assert route.flags == ("medical_review_required", "possible_adverse_event")
    assert route.also_notify == ("drug-safety",)
    assert route.alerts == ("possible-adverse-event",)


@pytest.mark.parametrize(
    ("specialty", "request_type", "qualified", "statuses"),
    [
        ("oncology", "treatment_education", True, ("met", "met")),
        ("Hematology ", "guideline_update", True, ("met", "met")),
        ("cardiology", "treatment_education", False, ("not_met", "met")),
        # product_discussion maps to product_information (PRODUCT.md), so it can qualify.
        ("oncology", "product_discussion", True, ("met", "met")),
        ("", "treatment_education", None, ("unknown", "met")),
    ],
)
def test_clinician_qualification_needs_a_target_specialty_and_a_content_category(
    specialty, request_type, qualified, statuses
):
    facts = clinician(request_type, specialty=specialty, therapy_area="oncology")
    decision = decide(definition("provider-education"), facts, version=1)
    assert decision.qualified is qualified
    assert tuple(c.status for c in decision.checklist) == statuses


# --- patient-support --------------------------------------------------------------------------

SUPPORT_ROUTES = [
    ("financial_assistance", "patient-access", "financial-assistance"),
    ("helpline_callback", "patient-services", "support-services"),
    ("adherence_support", "patient-services", "support-services"),
]


@pytest.mark.parametrize("source", ("patient-org", "hcp-office", "digital-health-partner"))
@pytest.mark.parametrize("consent", CONSENT_STATES)
@pytest.mark.parametrize("area", ("oncology", "immunology", ""))
@pytest.mark.parametrize(("request_type", "queue", "rule"), SUPPORT_ROUTES)
def test_patient_support_routes_each_request_type(request_type, queue, rule, area, consent, source):
    facts = patient(request_type, therapy_area=area, consent=consent, source=source)
    decision = decide(definition("patient-support"), facts, version=2)
    assert (decision.route.queue, decision.route.rule_id) == (queue, rule)
    assert decision.route.flags == ()
    assert decision.route.also_notify == ()
    assert decision.eligible


@pytest.mark.parametrize(("request_type", "queue", "rule"), SUPPORT_ROUTES)
def test_a_possible_adverse_event_adds_drug_safety_and_keeps_the_queue(request_type, queue, rule):
    answers = {"reason_for_contact": "Felt dizzy and had some nausea since starting."}
    decision = decide(
        definition("patient-support"), patient(request_type, answers=answers), version=2
    )
    assert decision.route.queue == queue
    assert decision.route.flags == ("possible_adverse_event",)
    assert decision.route.also_notify == ("drug-safety",)
    assert any(s.startswith("Alert possible-adverse-event raised") for s in decision.explanation)


@pytest.mark.parametrize(
    ("consent", "answers", "qualified"),
    [
        ("granted", {"reason_for_contact": "Help with the co-pay card."}, True),
        ("withdrawn", {"reason_for_contact": "Help with the co-pay card."}, False),
        ("granted", {"reason_for_contact": "   "}, False),
        ("not_granted", {}, False),
    ],
)
def test_patient_support_qualification_needs_consent_and_a_reason(consent, answers, qualified):
    facts = patient("helpline_callback", consent=consent, answers=answers)
    assert decide(definition("patient-support"), facts, version=1).qualified is qualified


# --- trial-prescreening -----------------------------------------------------------------------


@pytest.mark.parametrize("consent", CONSENT_STATES)
@pytest.mark.parametrize("source", ("study-coordinator", "site-investigator", "patient-navigator"))
def test_trial_prescreen_referrals_go_to_clinical_ops_prescreening(source, consent):
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="patient",
        source=source,
        request_type="trial_prescreen",
        therapy_area="oncology",
        consent=consent,
        answers={"study_id": "RDX-301"},
    )
    decision = decide(definition("trial-prescreening"), facts, version=1)
    assert decision.route.queue == "clinical-ops-prescreening"
    assert decision.route.rule_id == "rdx-301-prescreen"
    assert decision.eligible


# --- eligibility and fall-through -------------------------------------------------------------


def test_an_unknown_request_type_falls_to_the_default_route_and_is_not_eligible():
    facts = clinician("free_samples", therapy_area="oncology")
    decision = decide(definition("provider-education"), facts, version=1)
    assert decision.route.rule_id == "triage"
    assert decision.route.default
    assert not decision.eligible
    assert "free_samples" not in " ".join(decision.explanation)
    assert "the request type is not defined" in decision.route.why


def test_an_unknown_source_falls_to_the_default_route_and_is_not_eligible():
    facts = patient("financial_assistance", source="somebody-else")
    decision = decide(definition("patient-support"), facts, version=1)
    assert decision.route.queue == "patient-services"
    assert decision.route.default
    assert not decision.eligible
    assert [c.status for c in decision.eligibility] == ["not_met", "unknown", "unknown"]


def test_a_source_may_send_only_its_request_types_and_lead_kinds():
    def restrict(data):
        data["sources"]["event-partner"]["request_types"] = ["treatment_education"]

    d = variant("provider-education", restrict)
    allowed = decide(d, clinician("treatment_education", source="event-partner"), version=2)
    refused = decide(d, clinician("product_discussion", source="event-partner"), version=2)
    assert allowed.eligible
    assert not refused.eligible
    check = {c.id: c for c in refused.eligibility}["request_type_allowed"]
    assert check.status == "not_met"
    assert "may not send request type product_discussion" in check.reason


def test_a_lead_kind_that_does_not_fit_the_request_type_is_not_eligible():
    facts = patient("treatment_education", source="hcp-referral")
    decision = decide(definition("provider-education"), facts, version=1)
    assert not decision.eligible
    assert {c.id: c.status for c in decision.eligibility}["lead_kind_fits"] == "not_met"


# --- the decision as a whole ------------------------------------------------------------------


def test_the_first_response_is_due_in_business_time_of_the_program():
    d = definition("trial-prescreening")
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="patient",
        source="study-coordinator",
        request_type="trial_prescreen",
    )
    decision = decide(d, facts, version=1)
    # 2 business days from Friday 16:00 EST: Tuesday 16:00 EDT, across the spring DST change.
    assert decision.first_response_due == dt.datetime(2026, 3, 10, 20, 0, tzinfo=dt.UTC)
    assert decision.first_response_due == add_business_time(
        RECEIVED, days=2, calendar=compiled(d).calendar
    )


def test_explanations_never_contain_lead_details_or_answer_values():
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="clinician",
        source="hcp-referral",
        request_type="clinical_question",
        therapy_area="oncology",
        answers={"question": "Zyxwq interaction with warfarin, patient had a rash?"},
        specialty="cardiology",
        npi="1234567893",
        referrer="REF-SECRET-42",
        country="US",
        region="US-NY",
    )
    decision = decide(definition("provider-education"), facts, version=1)
    text = " ".join(
        [
            *decision.explanation,
            decision.route.why,
            *(c.reason for c in decision.eligibility + decision.checklist + decision.route.checks),
        ]
    )
    for secret in ("Zyxwq", "warfarin", "cardiology", "1234567893", "REF-SECRET-42", "US-NY"):
        assert secret not in text


def test_every_part_of_the_decision_is_explained():
    answers = {
        "study_id": "RDX-301",
        "age": 61,
        "diagnosis_confirmed": True,
        "ecog": 1,
        "prior_therapy_lines": 1,
        "active_brain_metastases": False,
    }
    facts = Facts(
        received_at=RECEIVED,
        lead_kind="patient",
        source="study-coordinator",
        request_type="trial_prescreen",
        consent="granted",
        answers=answers,
    )
    decision = decide(definition("trial-prescreening"), facts, version=5)
    assert decision.explanation == (
        "Eligible: source study-coordinator may send request type trial_prescreen "
        "for a patient lead.",
        "Prescreen eligible: all 5 markers met.",
        "Qualified: all 2 items of the patient checklist are met.",
        "Routed to queue clinical-ops-prescreening: routed by rule rdx-301-prescreen (1 of 2) "
        "of version 5: request_type is trial_prescreen.",
        "First response due 2026-03-10 16:00 local time: 2 business days in business hours "
        "(mon-fri 09:00-17:00 America/New_York, 6 holidays), counted from receipt.",
    )
    assert decision.to_dict()["first_response_due"] == "2026-03-10T20:00:00+00:00"
