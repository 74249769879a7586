"""docs/program-schema.md is generated from the schema and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from refdesk.programs.conditions import FACT_DOCS
from refdesk.programs.docgen import documented_models, render
from refdesk.programs.loader import load_program_file
from refdesk.programs.references import program_facts
from refdesk.programs.schema import ProgramDefinition

DOC = Path(__file__).resolve().parents[3] / "docs" / "program-schema.md"
REGENERATE = "regenerate it: .venv/bin/python -m refdesk.programs.docgen > docs/program-schema.md"


def test_the_reference_page_is_the_generators_current_output():
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/program-schema.md is stale; {REGENERATE}"
    )


def test_the_reference_page_documents_every_top_level_key():
    text = DOC.read_text(encoding="utf-8")
    keys = [field.alias or name for name, field in ProgramDefinition.model_fields.items()]
    assert "schema" in keys and "schema_" not in keys
    missing = [key for key in keys if f"| `{key}` |" not in text]
    assert missing == []


def test_every_schema_field_has_a_description_and_every_model_a_section():
    text = render()
    models: list[type[BaseModel]] = [model for model, _ in documented_models()]
    assert len(models) > 30
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []
    for model in models[1:]:
        assert f"### {model.__name__}" in text


def test_the_guide_explains_conditions_and_references_with_examples():
    text = render()
    for heading in (
        "## Condition language",
        "## References",
        "## Routing and alerts",
        "## Facts",
        "## Template placeholders",
    ):
        assert heading in text
    assert "{contains_any: adverse_event_terms}" in text
    assert "`answers.<answer-id>`" in text


def test_the_documented_facts_are_exactly_the_facts_the_validator_accepts():
    trial = load_program_file(DOC.parents[1] / "programs" / "trial-prescreening.yaml")
    accepted = {name for name in program_facts(trial.definition) if "." not in name}
    assert accepted | {"answers.<answer-id>"} == set(FACT_DOCS)
