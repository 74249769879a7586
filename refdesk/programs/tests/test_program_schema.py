"""The program loader: every kind of mistake gives one precise error (path, message, line)."""

from __future__ import annotations

import pytest

from refdesk.programs.conditions import evaluate, evaluate_requirement
from refdesk.programs.loader import (
    ProgramError,
    ProgramInvalid,
    definition_from_dict,
    load_program_file,
    load_program_text,
)

MINIMAL = """\
schema: refdesk/program/v1
id: minimal-program
name: Minimal
goal: clinician_education
description: The smallest useful program, for tests.
owner:
  team: med
  person: Test Owner
governance:
  group: Review Board
  contact: review@example.com
business_hours:
  start: "09:00"
  end: "17:00"
teams:
  med:
    name: Medical
queues:
  med-info:
    name: Medical information
    team: med
  med-triage:
    name: Triage
    team: med
lead_kinds: [clinician]
therapy_areas:
  oncology: {label: Oncology}
request_types:
  education:
    label: Education
    description: Approved materials.
    lead_kind: clinician
  question:
    label: Question
    description: A medical question.
    lead_kind: clinician
sources:
  web-form:
    label: Web form
    description: The public intake link.
    submission_methods: [web]
    request_types: [education, question]
    instructions:
      what_to_submit: Name and email.
      what_happens_next: We reply.
      response_time: within 1 business day
intake:
  lead_fields:
    given_name: {required: true}
    email: {required: true}
  answers:
    detail:
      label: Your question
      type: text
      sensitive: true
      required_when: {request_type: question}
    years:
      label: Years in practice
      type: integer
routes:
  - id: education
    when: {request_type: education}
    then: {queue: med-info}
  - id: triage
    default: true
    then: {queue: med-triage}
sla:
  first_response: {business_days: 1}
templates:
  reply:
    name: Reply
    version: 1
    audience: lead
    channels:
      email:
        subject: Your request
        body: Dear {lead.given_name}, thank you.
    approved_by: Review Board
    approved_on: 2026-01-01
    review_ref: RB-1
followup:
  first_outreach:
    default_template: reply
  retry: {attempts: 2, window_days: 5}
retention:
  days: 365
"""

ROUTES = """\
routes:
  - id: education
    when: {request_type: education}
    then: {queue: med-info}
"""
DEFAULT_FIRST = """\
routes:
  - id: triage
    default: true
    then: {queue: med-triage}
  - id: education
    when: {request_type: education}
    then: {queue: med-info}
"""


def mutate(old: str, new: str) -> str:
    assert old in MINIMAL, f"test setup: {old!r} not in MINIMAL"
    return MINIMAL.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    """The line where the first occurrence of ``needle`` (possibly multi-line) starts."""
    return text.count("\n", 0, text.index(needle)) + 1


def errors_for(text: str) -> list[ProgramError]:
    with pytest.raises(ProgramInvalid) as caught:
        load_program_text(text, filename="programs/bad.yaml")
    return caught.value.errors


# (case id, old text, new text, expected path, message fragment, text on the expected line)
# The formatter would put each field on its own line; one case per entry reads as a table.
# fmt: off
BAD_INPUTS = [
    ("malformed-yaml", "name: Minimal\n", "name: [Minimal\n", "", "malformed YAML", "goal:"),
    ("duplicate-key", "name: Minimal\n", "name: Minimal\nname: Other\n", "",
     "duplicate key 'name' (first defined on line 3)", "name: Other"),
    ("non-text-key", "  oncology: {label", "  no: {label", "", "key 'no' is read as bool False",
     "  no: {label"),
    ("unknown-top-level-key", "retention:\n", "colour: blue\nretention:\n", "colour",
     "unknown key 'colour' (allowed: adverse_event_terms,", "colour: blue"),
    ("unknown-nested-key", "  person: Test Owner\n", "  person: Test Owner\n  persn: x\n",
     "owner.persn", "unknown key 'persn' (allowed: person, team); did you mean 'person'?",
     "persn: x"),
    ("wrong-type-unquoted-time", '  end: "17:00"', "  end: 17:00", "business_hours.end",
     "expected text, got the number 1020 (quote it", "  end: 17:00"),
    ("wrong-type-not-a-number", "    version: 1\n", "    version: one\n", "templates.reply.version",
     "expected a whole number, got 'one'", "version: one"),
    ("wrong-type-not-a-list", "lead_kinds: [clinician]", "lead_kinds: clinician", "lead_kinds",
     "expected a list, got 'clinician'", "lead_kinds: clinician"),
    ("bad-literal", "goal: clinician_education", "goal: education", "goal",
     "expected 'trial_prescreening', 'clinician_education' or 'patient_support'", "goal:"),
    ("bad-identifier-key", "  web-form:\n", "  Web_Form:\n", "sources.Web_Form",
     "invalid key 'Web_Form': expected a slug", "  Web_Form:"),
    ("missing-required-key", "  person: Test Owner\n", "", "owner.person",
     "required key is missing", "owner:"),
    ("route-request-type-undefined", "when: {request_type: education}",
     "when: {request_type: educaton}", "routes[0].when.request_type",
     "unknown request type 'educaton' (defined: education, question)", "educaton"),
    ("route-to-undefined-queue", "then: {queue: med-info}", "then: {queue: med-inf}",
     "routes[0].then.queue", "unknown queue 'med-inf' (defined: med-info, med-triage)", "med-inf}"),
    ("queue-team-undefined", "    team: med\n  med-triage:", "    team: medd\n  med-triage:",
     "queues.med-info.team", "unknown team 'medd' (defined: med)", "team: medd"),
    ("owner-team-undefined", "  team: med\n  person", "  team: ops\n  person", "owner.team",
     "unknown team 'ops'", "team: ops"),
    ("followup-template-undefined", "default_template: reply", "default_template: replies",
     "followup.first_outreach.default_template", "unknown template 'replies' (defined: reply)",
     "replies"),
    ("source-lists-undefined-request-type", "request_types: [education, question]",
     "request_types: [education, questions]", "sources.web-form.request_types[1]",
     "unknown request type 'questions'", "questions]"),
    ("source-request-types-bad-word", "request_types: [education, question]",
     "request_types: every", "sources.web-form.request_types",
     'expected "all" or a list of request type ids', "request_types: every"),
    ("no-default-route", "  - id: triage\n    default: true\n    then: {queue: med-triage}\n", "",
     "routes", "no default route", "routes:"),
    ("default-route-not-last", ROUTES, DEFAULT_FIRST, "routes[0].default",
     "the default route must be the last route", "default: true"),
    ("two-default-routes", "  - id: education\n    when: {request_type: education}\n",
     "  - id: education\n    default: true\n", "routes[1].default",
     "only one route may be the default", "    default: true\n    then: {queue: med-triage}"),
    ("default-route-with-condition", "    default: true\n",
     "    default: true\n    when: {request_type: education}\n", "routes[1]",
     "the default route applies to everything; remove its 'when'", "id: triage"),
    ("duplicate-route-id", "  - id: triage\n", "  - id: education\n", "routes[1].id",
     "duplicate route id 'education'", "  - id: education\n    default"),
    ("unknown-fact", "when: {request_type: education}", "when: {request_kind: education}",
     "routes[0].when.request_kind", "unknown fact 'request_kind' (known:", "request_kind"),
    ("bad-operator-for-fact", "when: {request_type: education}",
     "when: {request_type: {gt: education}}", "routes[0].when.request_type.gt",
     "operator 'gt' does not fit request type (a choice of values)", "{gt: education}"),
    ("operator-on-free-text", "when: {request_type: education}",
     "when: {answers.detail: {eq: help}}", "routes[0].when.answers.detail.eq",
     "operator 'eq' does not fit answer detail (free text)", "answers.detail"),
    ("wrong-value-type-for-fact", "when: {request_type: education}",
     "when: {answers.years: {gte: ten}}", "routes[0].when.answers.years.gte",
     "expected a number for answer years, got 'ten'", "answers.years"),
    ("answer-not-defined", "when: {request_type: education}", "when: {answers.yeras: {gte: 10}}",
     "routes[0].when.answers.yeras",
     "unknown answer 'yeras' (defined in intake.answers: detail, years)", "answers.yeras"),
    ("undefined-value-inside-in", "when: {request_type: education}",
     "when: {request_type: {in: [education, edu]}}", "routes[0].when.request_type.in[1]",
     "unknown request type 'edu'", "edu]}"),
    ("list-is-not-a-value", "when: {request_type: education}",
     "when: {request_type: [education, question]}", "routes[0].when.request_type",
     "a list is not a value; write {in: [...]}", "when: {request_type: [education"),
    ("condition-in-required-when", "required_when: {request_type: question}",
     "required_when: {request_type: questoin}", "intake.answers.detail.required_when.request_type",
     "unknown request type 'questoin'", "questoin"),
    ("unknown-placeholder", "Dear {lead.given_name}", "Dear {lead.first_name}",
     "templates.reply.channels.email.body", "unknown placeholder {lead.first_name}", "body: Dear"),
    ("sensitive-answer-in-message", "Dear {lead.given_name}", "About {answers.detail}",
     "templates.reply.channels.email.body", "sensitive health data", "body: About"),
    ("email-without-subject", "        subject: Your request\n", "",
     "templates.reply.channels.email", "an email needs a subject", "      email:"),
    ("patient-leads-need-consent", "lead_kinds: [clinician]", "lead_kinds: [clinician, patient]",
     "consent", "patient leads need documented consent", None),
    ("exactly-one-sla-unit", "{business_days: 1}", "{business_days: 1, business_hours: 4}",
     "sla.first_response", "give exactly one of business_days or business_hours", "first_response"),
    ("unknown-time-zone", "    name: Medical\n", "    name: Medical\n    timezone: Mars/Base\n",
     "teams.med.timezone", "unknown time zone 'Mars/Base'", "Mars/Base"),
    ("choice-without-choices", "      type: integer", "      type: choice", "intake.answers.years",
     "a choice question needs choices", "  years:"),
]
# fmt: on
# fmt: on


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment", "line_text"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_it_reports_each_mistake_at_its_path_and_line(old, new, path, fragment, line_text):
    text = mutate(old, new)
    errors = errors_for(text)
    matching = [e for e in errors if e.path == path and fragment in e.message]
    assert matching, f"no error at {path!r} containing {fragment!r}; got:\n" + "\n".join(
        map(str, errors)
    )
    error = matching[0]
    assert error.file == "programs/bad.yaml"
    assert "https://" not in error.message  # no pydantic URLs
    expected_line = line_of(text, line_text) if line_text else None
    assert error.line == expected_line


def test_the_minimal_program_is_valid():
    program = load_program_text(MINIMAL, filename="programs/minimal.yaml")
    assert program.definition.id == "minimal-program"
    assert program.path == "programs/minimal.yaml"
    # Defaults are filled in, so the canonical form is explicit.
    assert program.canonical_dict()["teams"]["med"]["timezone"] == "America/New_York"
    assert program.definition.business_timezone() == "America/New_York"


def test_a_missing_top_level_key_has_no_line():
    errors = errors_for(mutate("name: Minimal\n", ""))
    assert [(e.path, e.message, e.line) for e in errors] == [
        ("name", "required key is missing", None)
    ]


def test_it_reports_every_reference_problem_at_once():
    text = mutate("then: {queue: med-info}", "then: {queue: nowhere}").replace(
        "default_template: reply", "default_template: nothing"
    )
    errors = errors_for(text)
    assert {e.path for e in errors} == {
        "routes[0].then.queue",
        "followup.first_outreach.default_template",
    }


def test_error_text_names_file_line_path_and_problem():
    error = ProgramError("programs/x.yaml", "routes[2].when.request_type", "unknown thing", 14)
    assert str(error) == "programs/x.yaml:14: routes[2].when.request_type: unknown thing"
    assert str(ProgramError("programs/x.yaml", "", "the file is empty")) == (
        "programs/x.yaml: the file is empty"
    )
    invalid = ProgramInvalid([error, ProgramError("programs/y.yaml", "id", "bad", None)])
    assert str(invalid).splitlines() == [str(error), "programs/y.yaml: id: bad"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("just words\n", "the top level must be a mapping"),
        (MINIMAL + "---\nid: second\n", "only one YAML document is allowed per file"),
        ("a: b\n\tc: d\n", "malformed YAML"),
        ("published: 2026-13-01\n", "'2026-13-01' is not a valid date"),
        ("a: &a [*a]\n", "a YAML alias refers to a value that contains it"),
        ("a: !!python/object:os.system {}\n", "could not determine a constructor"),
    ],
)
def test_it_rejects_files_that_are_not_one_mapping(text, fragment):
    [error] = errors_for(text)
    assert error.path == ""
    assert fragment in error.message


def test_unreadable_and_non_utf8_files_are_errors_not_tracebacks(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ProgramInvalid) as caught:
        load_program_file(missing)
    [error] = caught.value.errors
    assert error.file == str(missing)
    assert "cannot read the file" in error.message

    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("name: Caf\xe9\n".encode("latin-1"))
    with pytest.raises(ProgramInvalid) as caught:
        load_program_file(latin1)
    assert "not UTF-8 text (byte 0xe9" in caught.value.errors[0].message


def test_a_stored_snapshot_reloads_to_the_same_definition():
    program = load_program_text(MINIMAL, filename="programs/minimal.yaml")
    assert definition_from_dict(program.canonical_dict()) == program.definition


def test_a_stored_snapshot_is_still_validated():
    data = load_program_text(MINIMAL, filename="m.yaml").canonical_dict()
    data["routes"][0]["then"]["queue"] = "gone"
    with pytest.raises(ProgramInvalid) as caught:
        definition_from_dict(data)
    [error] = caught.value.errors
    assert (error.file, error.path, error.line) == (
        "<stored definition>",
        "routes[0].then.queue",
        None,
    )


# --- the condition interpreter ----------------------------------------------------------------


def test_conditions_and_every_key_and_combine_with_all_any_not():
    condition = {
        "request_type": {"in": ["education", "question"]},
        "any": [{"therapy_area": "oncology"}, {"answers.years": {"gte": 10}}],
        "not": {"consent": "withdrawn"},
    }
    facts = {"request_type": "education", "therapy_area": "immunology", "answers": {"years": 12}}
    assert evaluate(condition, facts)
    assert not evaluate(condition, {**facts, "answers": {"years": 3}})
    assert not evaluate(condition, {**facts, "consent": "withdrawn"})
    assert evaluate({"all": [{"answers.years": 12}, {"request_type": "education"}]}, facts)


def test_an_absent_fact_meets_only_present_false_ne_and_not_in():
    assert evaluate_requirement({"present": False}, None)
    assert evaluate_requirement({"ne": "x"}, None)
    assert evaluate_requirement({"not_in": ["x"]}, "")
    for requirement in ("x", {"in": ["x"]}, {"gte": 0}, {"present": True}, {"contains_any": ["x"]}):
        assert not evaluate_requirement(requirement, None)


def test_contains_any_matches_words_case_insensitively_and_uses_term_lists():
    terms = {"adverse_event_terms": ["side effect", "rash"]}
    requirement = {"contains_any": "adverse_event_terms"}
    assert evaluate_requirement(requirement, "Got a RASH after the dose", term_lists=terms)
    assert not evaluate_requirement(requirement, "Help with co-pay", term_lists=terms)


def test_a_boolean_answer_never_equals_a_number():
    assert not evaluate_requirement(1, True)
    assert not evaluate_requirement(False, 0)
    assert evaluate_requirement(False, False)
    assert not evaluate_requirement({"lte": 2}, "records_requested")
