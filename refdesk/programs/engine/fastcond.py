"""Conditions compiled to closures, once per definition, for the engine's hot path.

Same meaning as ``conditions.evaluate`` (two-valued) and ``rules.holds3`` (three-valued) on the
mappings ``facts.build_mapping`` makes: text facts are strings, derived facts plain values and
answers typed and nested under "answers". The common shapes (equality with a choice value,
``in`` a list of choices, numeric comparisons, term search, presence) get direct closures;
anything else falls back to the reference evaluator, so the two can never disagree on meaning.
Tests compare them on generated facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from refdesk.programs.conditions import ANSWER_PREFIX
from refdesk.programs.engine.rules import is_absent, requirement_holds

Pred = Callable[[Any], bool]  # one fact value -> does the requirement hold
Cond2 = Callable[[Mapping[str, Any]], bool]
Cond3 = Callable[[Mapping[str, Any], Collection[str], list[str]], "bool | None"]
_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def getter(key: str) -> Callable[[Mapping[str, Any]], Any]:
    if key.startswith(ANSWER_PREFIX):
        answer = key.removeprefix(ANSWER_PREFIX)
        return lambda m: m["answers"].get(answer)
    return lambda m: m.get(key)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _op_pred(op: str, operand: Any, term_lists: Mapping[str, Any]) -> Pred:
    if op == "present" and isinstance(operand, bool):
        return (lambda v: not is_absent(v)) if operand else is_absent
    if op == "eq" and isinstance(operand, str) and operand.strip():
        return lambda v: isinstance(v, str) and v == operand
    if op == "eq" and isinstance(operand, bool):
        return lambda v: v is operand
    if (
        op == "in"
        and isinstance(operand, list | tuple)
        and operand
        and all(isinstance(item, str) and item.strip() for item in operand)
    ):
        choices = frozenset(operand)
        return lambda v: isinstance(v, str) and v in choices
    if op in _COMPARE and _is_number(operand):
        compare = _COMPARE[op]
        return lambda v: _is_number(v) and compare(v, operand)
    if op == "contains_any":
        terms = term_lists.get(operand, ()) if isinstance(operand, str) else operand
        if isinstance(terms, list | tuple) and all(isinstance(t, str) for t in terms):
            if not terms:
                return lambda v: False
            pattern = re.compile("|".join(re.escape(t.casefold()) for t in terms))
            return lambda v: not is_absent(v) and pattern.search(str(v).casefold()) is not None
    requirement = {op: operand}
    return lambda v: requirement_holds(requirement, v, term_lists)


def requirement_pred(requirement: Any, term_lists: Mapping[str, Any]) -> Pred:
    """A predicate on one fact value: a plain value or an operator mapping."""
    ops = requirement if isinstance(requirement, Mapping) else {"eq": requirement}
    preds = [_op_pred(op, operand, term_lists) for op, operand in ops.items()]
    if len(preds) == 1:
        return preds[0]
    return lambda v: all(p(v) for p in preds)


def _absent_result(requirement: Any, term_lists: Mapping[str, Any]) -> bool | None:
    """What the requirement says about an absent fact: only presence checks decide it."""
    ops = requirement if isinstance(requirement, Mapping) else {"eq": requirement}
    parts = [
        requirement_holds({op: operand}, None, term_lists) if op == "present" else None
        for op, operand in ops.items()
    ]
    if any(p is False for p in parts):
        return False
    return None if any(p is None for p in parts) else True


def compile2(condition: Any, term_lists: Mapping[str, Any]) -> Cond2:
    """Two-valued, as ``conditions.evaluate``: an absent fact simply fails most operators."""
    if not isinstance(condition, Mapping):
        return lambda m: False
    parts: list[Cond2] = []
    for key, requirement in condition.items():
        if key in ("all", "any"):
            subs = [compile2(c, term_lists) for c in _list(requirement)]
            parts.append(
                (lambda m, s=subs: all(f(m) for f in s))
                if key == "all"
                else (lambda m, s=subs: any(f(m) for f in s))
            )
        elif key == "not":
            inner = compile2(requirement, term_lists)
            parts.append(lambda m, f=inner: not f(m))
        else:
            get, pred = getter(key), requirement_pred(requirement, term_lists)
            parts.append(lambda m, g=get, p=pred: p(g(m)))
    if len(parts) == 1:
        return parts[0]
    return lambda m: all(f(m) for f in parts)


def compile3(condition: Any, term_lists: Mapping[str, Any]) -> Cond3:
    """Three-valued, as ``rules.holds3``; absent facts that left it unknown go to ``missing``."""
    if not isinstance(condition, Mapping):
        return lambda m, undecided, missing: False
    parts: list[Cond3] = []
    for key, requirement in condition.items():
        if key in ("all", "any"):
            subs = [compile3(c, term_lists) for c in _list(requirement)]
            parts.append(_combine3(subs, key == "all"))
        elif key == "not":
            inner = compile3(requirement, term_lists)
            parts.append(_not3(inner))
        else:
            parts.append(_leaf3(key, requirement, term_lists))
    return _combine3(parts, True) if len(parts) != 1 else parts[0]


def _leaf3(key: str, requirement: Any, term_lists: Mapping[str, Any]) -> Cond3:
    get, pred = getter(key), requirement_pred(requirement, term_lists)
    when_absent = _absent_result(requirement, term_lists)

    def leaf(m, undecided, missing):
        value = get(m)
        if is_absent(value):
            if when_absent is None and key not in missing:
                missing.append(key)
            return when_absent
        if pred(value):
            return True
        if key in undecided:
            if key not in missing:
                missing.append(key)
            return None
        return False

    return leaf


def _combine3(subs: list[Cond3], conjunction: bool) -> Cond3:
    decisive, other = (False, True) if conjunction else (True, False)

    def combined(m, undecided, missing):
        result = other
        for f in subs:
            part = f(m, undecided, missing)
            if part is decisive:
                return decisive
            if part is None:
                result = None
        return result

    return combined


def _not3(inner: Cond3) -> Cond3:
    def negated(m, undecided, missing):
        part = inner(m, undecided, missing)
        return None if part is None else not part

    return negated


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
