"""Turning ``Facts`` into the mapping the condition language reads, derived facts included.

Facts come from stored referrals, older program versions and partner APIs, so nothing about
their types is trusted: text facts that are not text become absent or plain strings, answers are
coerced to the type the program declares (a stored "58" for an integer answer reads as 58), and
an answer that cannot be read as its type counts as not given. "records_requested" always stays
as it is: it is how a referrer says a marker awaits records.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from refdesk.programs.engine.types import Facts
from refdesk.programs.schema import ProgramDefinition

RECORDS_REQUESTED = "records_requested"
CONSENT_STATES = ("granted", "not_granted", "withdrawn", "expired", "not_required")
TEXT_FACTS = (
    "request_type",
    "therapy_area",
    "source",
    "lead_kind",
    "consent",
    "country",
    "region",
    "referrer",
    "specialty",
    "preferred_contact",
)
DERIVED_FACTS = frozenset({"target_specialty", "content_category", "npi_check"})
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def text_fact(value: Any) -> str:
    """A text fact as text: None and containers become "" (absent), numbers their digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def npi_check(npi: Any) -> str:
    """valid, invalid or not_given: the US NPI check digit (Luhn with the 80840 prefix)."""
    if not npi:
        return "not_given"
    npi = text_fact(npi).strip()
    if not npi:
        return "not_given"
    if len(npi) != 10 or not npi.isascii() or not npi.isdigit():
        return "invalid"
    total = 24  # the constant contribution of the 80840 prefix
    for position, char in enumerate(reversed(npi[:9])):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return "valid" if (10 - total % 10) % 10 == int(npi[9]) else "invalid"


def coerce_answer(kind: str, value: Any) -> Any:
    """``value`` read as an answer of type ``kind``; None when it cannot be (absent)."""
    if value is None or value == RECORDS_REQUESTED:
        return value
    if kind == "integer":
        return _integer(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            return True if word in _TRUE else False if word in _FALSE else None
        return None
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                return None
        return None
    # string, text, choice
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    return None


def clean_answers(answers: Any, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The answers with each declared one coerced to its type; undeclared ones kept as given."""
    if type(answers) is not dict:
        if not isinstance(answers, Mapping):
            return {}
        answers = dict(answers)
    clean: dict[str, Any] = {}
    for key, value in answers.items():
        kind = kinds.get(key)
        # Fast path: values already of their declared type, as intake stores them.
        if kind is None:
            if isinstance(key, str):
                clean[key] = value
        elif type(value) is _FAST_TYPES.get(kind) or value is None:
            clean[key] = value
        else:
            clean[key] = coerce_answer(kind, value)
    return clean


_FAST_TYPES = {"integer": int, "boolean": bool, "string": str, "text": str, "choice": str}


def answer_kinds(definition: ProgramDefinition) -> dict[str, str]:
    return {answer_id: spec.type for answer_id, spec in definition.intake.answers.items()}


def build_mapping(
    facts: Facts,
    *,
    kinds: Mapping[str, str],
    target_specialties: frozenset[str],
    content_categories: Mapping[str, str],
    text_facts: tuple[str, ...] = TEXT_FACTS,
    derived: frozenset[str] = DERIVED_FACTS,
) -> dict[str, Any]:
    """The fact mapping from precomputed program tables (the engine's hot path).

    ``text_facts`` and ``derived`` limit it to the facts a program's conditions read; a fact
    left out reads as absent, exactly as an unknown one.
    """
    mapping: dict[str, Any] = {}
    for name in text_facts:
        value = getattr(facts, name, None)
        mapping[name] = value if type(value) is str else text_fact(value)
    if "target_specialty" in derived:
        specialty = text_fact(getattr(facts, "specialty", None)).strip().lower()
        mapping["target_specialty"] = (specialty in target_specialties) if specialty else None
    if "content_category" in derived:
        mapping["content_category"] = content_categories.get(mapping["request_type"])
    if "npi_check" in derived:
        mapping["npi_check"] = npi_check(getattr(facts, "npi", None))
    mapping["prescreen_outcome"] = None
    mapping["answers"] = clean_answers(getattr(facts, "answers", None), kinds)
    return mapping


def fact_mapping(
    definition: ProgramDefinition, facts: Facts, *, prescreen_outcome: str | None = None
) -> dict[str, Any]:
    """What conditions of ``definition`` read for ``facts``.

    Keys: the text facts (request_type, therapy_area, source, lead_kind, consent, country,
    region, referrer, specialty, preferred_contact), the derived facts target_specialty (None
    when no specialty is given), content_category (of the request type), npi_check (valid,
    invalid, not_given) and prescreen_outcome, and ``answers`` (typed as declared).
    """
    categories = {
        type_id: request_type.content_category
        for type_id, request_type in definition.request_types.items()
        if request_type.content_category
    }
    mapping = build_mapping(
        facts,
        kinds=answer_kinds(definition),
        target_specialties=frozenset(definition.target.specialties),
        content_categories=categories,
    )
    mapping["prescreen_outcome"] = prescreen_outcome
    return mapping
