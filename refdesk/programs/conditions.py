"""The condition language: rules written as data, checked against a program, never run as code.

A condition is a mapping. Each key is a fact name (``request_type``, ``answers.age``) whose value
is either a plain value (equality) or an operator mapping (``{gte: 18}``); the keys ``all``,
``any`` and ``not`` combine nested conditions. Every key of one mapping must hold (AND).

``check_condition`` validates a condition against the facts a program defines (fact names,
operators that fit each fact's type, values that are defined); ``evaluate`` is the tiny pure
interpreter the engine uses. Neither touches Django.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from refdesk.programs.issues import Issue, Loc, one_of

FactKind = Literal["choice", "string", "text", "number", "boolean", "date"]
COMBINATORS = ("all", "any", "not")
ANSWER_PREFIX = "answers."

# Which operators make sense for which kind of fact. "text" is free prose: matching it exactly
# is almost always a mistake, so only term search and presence apply.
OPERATORS: dict[FactKind, tuple[str, ...]] = {
    "choice": ("eq", "ne", "in", "not_in", "present"),
    "string": ("eq", "ne", "in", "not_in", "present", "contains_any"),
    "text": ("present", "contains_any"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "present"),
    "boolean": ("eq", "ne", "present"),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "present"),
}
ALL_OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "present", "contains_any")

# Named term lists a ``contains_any`` may point at instead of repeating the words.
TERM_LISTS = ("adverse_event_terms",)

# The facts every program offers, for the reference page; answers.<id> facts come from intake.
FACT_DOCS: dict[str, str] = {
    "request_type": "the referral's request type (a defined request type id)",
    "therapy_area": "the referral's therapy area (a defined therapy area id)",
    "source": "the source the referral came through (a defined source id)",
    "lead_kind": "patient, clinician or organization (one of the program's lead_kinds)",
    "consent": (
        "consent status at decision time: granted, not_granted, withdrawn, expired, not_required"
    ),
    "country": "the lead's country, ISO 3166 alpha-2 (e.g. US)",
    "region": "the lead's region as listed in target.regions (e.g. US-NY)",
    "referrer": "the referral code of the individual referrer",
    "specialty": "the clinician lead's specialty code (e.g. oncology)",
    "target_specialty": "true when the lead's specialty is one of target.specialties",
    "preferred_contact": "the lead's preferred contact channel: phone, email, sms, mail",
    "content_category": "the content category of the referral's request type",
    "npi_check": "valid, invalid or not_given: the clinician NPI after its check-digit test",
    "prescreen_outcome": "eligible, not_eligible, pending, incomplete (programs with prescreen)",
    "answers.<answer-id>": "the answer to intake question <answer-id>, typed as declared",
}


@dataclass(frozen=True)
class FactType:
    kind: FactKind
    noun: str  # how messages name its values: "unknown request type 'x'"
    values: tuple[str, ...] = ()  # the allowed values of a "choice" fact


def check_condition(
    condition: Any, *, facts: Mapping[str, FactType], loc: Loc, term_lists: Mapping[str, Any]
) -> list[Issue]:
    """Every problem in ``condition``, each located at the exact key or list item."""
    if not isinstance(condition, Mapping) or not condition:
        return [
            Issue(
                loc,
                "expected a condition: a mapping of facts to values, e.g. "
                "{request_type: clinical_question}",
            )
        ]
    issues: list[Issue] = []
    for key, value in condition.items():
        here = (*loc, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                issues.append(Issue(here, f"'{key}' takes a non-empty list of conditions"))
                continue
            for i, part in enumerate(value):
                issues += check_condition(part, facts=facts, loc=(*here, i), term_lists=term_lists)
        elif key == "not":
            issues += check_condition(value, facts=facts, loc=here, term_lists=term_lists)
        elif key in facts:
            issues += check_requirement(value, fact=facts[key], loc=here, term_lists=term_lists)
        else:
            issues.append(Issue(here, _unknown_fact(key, facts)))
    return issues


def check_requirement(
    requirement: Any, *, fact: FactType, loc: Loc, term_lists: Mapping[str, Any]
) -> list[Issue]:
    """Check the value side of one fact: a plain value, or an operator mapping like {gte: 18}."""
    if isinstance(requirement, list):
        return [Issue(loc, "a list is not a value; write {in: [...]} to match any of several")]
    if requirement is None:
        return [Issue(loc, "a fact cannot equal nothing; write {present: false} instead")]
    if not isinstance(requirement, Mapping):
        return _check_operand("eq", requirement, fact=fact, loc=loc, term_lists=term_lists)
    if not requirement:
        return [
            Issue(
                loc, "empty operator mapping; give at least one of " + one_of(OPERATORS[fact.kind])
            )
        ]
    issues: list[Issue] = []
    for op, operand in requirement.items():
        here = (*loc, op)
        if op not in ALL_OPERATORS:
            issues.append(Issue(here, f"unknown operator '{op}' (known: {one_of(ALL_OPERATORS)})"))
        elif op not in OPERATORS[fact.kind]:
            issues.append(
                Issue(
                    here,
                    f"operator '{op}' does not fit {_describe(fact)}; "
                    f"use one of {one_of(OPERATORS[fact.kind])}",
                )
            )
        else:
            issues += _check_operand(op, operand, fact=fact, loc=here, term_lists=term_lists)
    return issues


def _check_operand(
    op: str, operand: Any, *, fact: FactType, loc: Loc, term_lists: Mapping[str, Any]
) -> list[Issue]:
    if op == "present":
        ok = isinstance(operand, bool)
        return [] if ok else [Issue(loc, "'present' takes true or false")]
    if op == "contains_any":
        if isinstance(operand, str):
            if operand not in TERM_LISTS:
                return [Issue(loc, f"unknown term list '{operand}' (known: {one_of(TERM_LISTS)})")]
            if not term_lists.get(operand):
                return [
                    Issue(loc, f"term list '{operand}' is empty; list its terms at the top level")
                ]
            return []
        terms_ok = isinstance(operand, list) and operand
        if terms_ok and all(isinstance(t, str) and t.strip() for t in operand):
            return []
        return [
            Issue(
                loc,
                "'contains_any' takes a non-empty list of words or phrases, "
                f"or the name of a term list ({one_of(TERM_LISTS)})",
            )
        ]
    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            return [Issue(loc, f"'{op}' takes a non-empty list of values")]
        issues: list[Issue] = []
        for i, item in enumerate(operand):
            issues += _check_value(item, fact=fact, loc=(*loc, i))
        return issues
    return _check_value(operand, fact=fact, loc=loc)


def _check_value(value: Any, *, fact: FactType, loc: Loc) -> list[Issue]:
    """Is ``value`` something this fact can hold? Choice values must be defined ones."""
    kind = fact.kind
    if kind == "choice":
        if not isinstance(value, str):
            return [
                Issue(loc, f"expected a {fact.noun} (one of {one_of(fact.values)}), got {value!r}")
            ]
        if value not in fact.values:
            return [Issue(loc, f"unknown {fact.noun} '{value}' (defined: {one_of(fact.values)})")]
        return []
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [Issue(loc, f"expected a number for {fact.noun}, got {value!r}")]
    if kind == "boolean":
        ok = isinstance(value, bool)
        return [] if ok else [Issue(loc, f"expected true or false for {fact.noun}, got {value!r}")]
    if kind == "date":
        if isinstance(value, str) and _parse_date(value) is not None:
            return []
        return [Issue(loc, f"expected a date like 2026-01-31 for {fact.noun}, got {value!r}")]
    ok = isinstance(value, str)
    return [] if ok else [Issue(loc, f"expected text for {fact.noun}, got {value!r}")]


def _describe(fact: FactType) -> str:
    kinds = {
        "choice": "a choice of values",
        "string": "short text",
        "text": "free text",
        "number": "a number",
        "boolean": "true/false",
        "date": "a date",
    }
    return f"{fact.noun} ({kinds[fact.kind]})"


def _unknown_fact(key: str, facts: Mapping[str, FactType]) -> str:
    if key.startswith(ANSWER_PREFIX):
        answers = [
            name.removeprefix(ANSWER_PREFIX) for name in facts if name.startswith(ANSWER_PREFIX)
        ]
        name = key.removeprefix(ANSWER_PREFIX)
        return f"unknown answer '{name}' (defined in intake.answers: {one_of(answers)})"
    known = [name for name in facts if not name.startswith(ANSWER_PREFIX)]
    known += ["all", "any", "not", "answers.<answer-id>"]
    return f"unknown fact '{key}' (known: {one_of(known)})"


def _parse_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


# --- evaluation -------------------------------------------------------------------------------


def evaluate(
    condition: Mapping[str, Any],
    facts: Mapping[str, Any],
    *,
    term_lists: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """Does ``condition`` hold for ``facts``? Assumes ``check_condition`` passed.

    ``facts`` maps fact names to values; answers may be given flat (``"answers.age": 54``) or
    nested (``"answers": {"age": 54}``). A fact that is missing or None is *absent*: every
    operator is then false except ``present: false``, ``ne`` and ``not_in``.
    """
    term_lists = term_lists or {}
    for key, requirement in condition.items():
        if key == "all":
            ok = all(evaluate(c, facts, term_lists=term_lists) for c in requirement)
        elif key == "any":
            ok = any(evaluate(c, facts, term_lists=term_lists) for c in requirement)
        elif key == "not":
            ok = not evaluate(requirement, facts, term_lists=term_lists)
        else:
            ok = evaluate_requirement(requirement, fact_value(facts, key), term_lists=term_lists)
        if not ok:
            return False
    return True


def fact_value(facts: Mapping[str, Any], name: str) -> Any:
    if name in facts:
        return facts[name]
    if name.startswith(ANSWER_PREFIX):
        answers = facts.get("answers")
        if isinstance(answers, Mapping):
            return answers.get(name.removeprefix(ANSWER_PREFIX))
    return None


def evaluate_requirement(
    requirement: Any, value: Any, *, term_lists: Mapping[str, Sequence[str]] | None = None
) -> bool:
    """Does one fact value meet a plain value or an operator mapping ({gte: 0, lte: 2})?"""
    if not isinstance(requirement, Mapping):
        requirement = {"eq": requirement}
    return all(_apply(op, operand, value, term_lists or {}) for op, operand in requirement.items())


def _apply(op: str, operand: Any, value: Any, term_lists: Mapping[str, Sequence[str]]) -> bool:
    absent = value is None or (isinstance(value, str) and not value.strip())
    if op == "present":
        return operand is not absent
    if op == "ne":
        return absent or not _equal(value, operand)
    if op == "not_in":
        return absent or not any(_equal(value, item) for item in operand)
    if absent:
        return False
    if op == "eq":
        return _equal(value, operand)
    if op == "in":
        return any(_equal(value, item) for item in operand)
    if op == "contains_any":
        terms = term_lists.get(operand, ()) if isinstance(operand, str) else operand
        text = str(value).casefold()
        return any(term.casefold() in text for term in terms)
    left, right = _comparable(value, operand)
    if left is None or right is None:
        return False  # e.g. an answer still "records_requested": not a number, so not met
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _equal(value: Any, operand: Any) -> bool:
    # True == 1 in Python; a boolean answer must not equal a numeric rule value by accident.
    if isinstance(value, bool) or isinstance(operand, bool):
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    return value == operand


def _comparable(value: Any, operand: Any) -> tuple[Any, Any]:
    if isinstance(operand, str):  # date facts travel as ISO strings
        return _parse_date(value), _parse_date(operand)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return (value if numeric else None), operand
