"""Evaluating and describing conditions for the engine.

``holds`` is the condition language's own two-valued ``evaluate`` (routes and alerts), made
total: a stored value the evaluator cannot compare (a datetime against a date rule, say) means
the rule does not hold, never an exception.

``holds3`` is the checklist reading, three-valued: True, False, or None ("unknown") when a fact
the condition reads is absent and the answer depends on it. Absence only decides ``present``
checks; everything else about an absent fact is unknown. Combinators follow Kleene logic.

``describe`` renders a condition in words from the *rule* ("answers.age is at least 18"),
never from the referral's values, so explanations carry no patient data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from refdesk.programs.conditions import evaluate, evaluate_requirement, fact_value

_OPERATOR_WORDS = {
    "eq": "is",
    "ne": "is not",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
}


def is_absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def holds(
    condition: Mapping[str, Any], mapping: Mapping[str, Any], term_lists: Mapping[str, Any]
) -> bool:
    try:
        return bool(evaluate(condition, mapping, term_lists=term_lists))
    except Exception:  # noqa: BLE001 - a value of an unexpected type never matches; see module
        return False


def requirement_holds(requirement: Any, value: Any, term_lists: Mapping[str, Any]) -> bool:
    try:
        return bool(evaluate_requirement(requirement, value, term_lists=term_lists))
    except Exception:  # noqa: BLE001 - as in holds()
        return False


def holds3(
    condition: Any,
    mapping: Mapping[str, Any],
    term_lists: Mapping[str, Any],
    *,
    undecided: Collection[str] = (),
    missing: list[str] | None = None,
) -> bool | None:
    """Three-valued: does ``condition`` hold, not hold, or is it unknown?

    ``undecided`` names facts whose present value may still change (a prescreen that is
    pending): a requirement they meet is met, one they do not meet is unknown. Absent facts
    that made the result unknown are appended to ``missing``.
    """
    if not isinstance(condition, Mapping):
        return False
    result: bool | None = True
    for key, requirement in condition.items():
        if key in ("all", "any"):
            parts = [
                holds3(c, mapping, term_lists, undecided=undecided, missing=missing)
                for c in (requirement if isinstance(requirement, list | tuple) else ())
            ]
            part = _and(parts) if key == "all" else _or(parts)
        elif key == "not":
            inner = holds3(requirement, mapping, term_lists, undecided=undecided, missing=missing)
            part = None if inner is None else not inner
        else:
            part = _leaf3(key, requirement, mapping, term_lists, undecided, missing)
        if part is False:
            return False
        if part is None:
            result = None
    return result


def _leaf3(key, requirement, mapping, term_lists, undecided, missing) -> bool | None:
    try:
        value = fact_value(mapping, key)
    except Exception:  # noqa: BLE001 - an unreadable fact is an absent one
        value = None
    if is_absent(value):
        ops = requirement if isinstance(requirement, Mapping) else {"eq": requirement}
        parts = [
            requirement_holds({op: operand}, None, term_lists) if op == "present" else None
            for op, operand in ops.items()
        ]
        part = _and(parts)
        if part is None and missing is not None and key not in missing:
            missing.append(key)
        return part
    met = requirement_holds(requirement, value, term_lists)
    if key in undecided and not met:
        if missing is not None and key not in missing:
            missing.append(key)
        return None
    return met


def _and(parts: Sequence[bool | None]) -> bool | None:
    if any(p is False for p in parts):
        return False
    return None if any(p is None for p in parts) else True


def _or(parts: Sequence[bool | None]) -> bool | None:
    if any(p is True for p in parts):
        return True
    return None if any(p is None for p in parts) else False


# --- words ------------------------------------------------------------------------------------


def describe(condition: Any) -> str:
    """The condition in words, e.g. "request_type is one of a, b and therapy_area is oncology"."""
    if not isinstance(condition, Mapping) or not condition:
        return "always"
    return " and ".join(_describe_key(key, value) for key, value in condition.items())


def _describe_key(key: str, value: Any) -> str:
    if key in ("all", "any"):
        parts = [describe(c) for c in (value if isinstance(value, list | tuple) else ())]
        joiner = " and " if key == "all" else " or "
        return "(" + joiner.join(parts) + ")"
    if key == "not":
        return f"not ({describe(value)})"
    return describe_requirement(key, value)


def describe_requirement(name: str, requirement: Any) -> str:
    """One fact's requirement in words: "answers.ecog is at least 0 and at most 2"."""
    ops = requirement if isinstance(requirement, Mapping) else {"eq": requirement}
    words = [_describe_op(op, operand) for op, operand in ops.items()]
    if not words:
        return f"{name} (no requirement)"
    first, *rest = words
    rest = [w.removeprefix("is ") if first.startswith("is ") else w for w in rest]
    return f"{name} {' and '.join([first, *rest])}"


def _describe_op(op: str, operand: Any) -> str:
    if op == "present":
        return "is given" if operand else "is not given"
    if op in ("in", "not_in"):
        items = ", ".join(_word(item) for item in (operand if isinstance(operand, list) else ()))
        return f"is {'not ' if op == 'not_in' else ''}one of {items}"
    if op == "contains_any":
        if isinstance(operand, str):
            return f"contains a term from {operand}"
        count = len(operand) if isinstance(operand, list) else 0
        return f"contains one of {count} listed term{'s' if count != 1 else ''}"
    return f"{_OPERATOR_WORDS.get(op, op)} {_word(operand)}"


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
