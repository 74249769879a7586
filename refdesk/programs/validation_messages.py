"""Turning pydantic's validation errors into issues a program author can act on.

Pydantic's messages name Python types and link to its website; authors write YAML, so messages
here speak of keys, lists and mappings, name the keys that are allowed, and explain the YAML
pitfalls (unquoted times and yes/no) that cause most type errors.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from refdesk.programs.issues import Issue, Loc, one_of
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_base import PATTERN_HINTS

_KEY_MARK = "[key]"  # pydantic's loc suffix when a mapping *key* (not its value) is invalid
_YAML_HINT = (
    " (quote it: YAML reads unquoted values such as 17:00, 1.0, yes, no, on and off as "
    "numbers or true/false)"
)
_SIMPLE = {
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "string_type": "expected text",
    "bool_type": "expected true or false",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "date_type": "expected a date like 2026-01-31",
    "date_parsing": "expected a date like 2026-01-31",
    "date_from_datetime_parsing": "expected a date like 2026-01-31",
    "date_from_datetime_inexact": "expected a date like 2026-01-31, without a time",
}


def issues_from_validation_error(exc: ValidationError) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[Loc] = set()
    for error in exc.errors(include_url=False):
        raw_loc = tuple(error["loc"])
        is_key = bool(raw_loc) and raw_loc[-1] == _KEY_MARK
        loc = _clean_loc(raw_loc)
        if loc in seen:  # a union reports once per alternative; the first one says enough
            continue
        seen.add(loc)
        issues.append(Issue(loc, _message(error, loc, is_key)))
    return issues


def _clean_loc(loc: tuple) -> Loc:
    # Union alternatives appear in locs as type tags ("literal['all']", "tuple[str, ...]");
    # they are not keys of the file, so they are dropped.
    return tuple(
        part
        for part in loc
        if part != _KEY_MARK and not (isinstance(part, str) and ("[" in part or "(" in part))
    )


def _message(error: dict, loc: Loc, is_key: bool) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        tail = f" (allowed: {one_of(allowed)})" if allowed else ""
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{loc[-1]}'{tail}{hint}"
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(ctx.get("pattern"), f"text matching {ctx.get('pattern')}")
        expected = f"expected {hint}"
    elif kind == "literal_error":
        expected = f"expected {ctx.get('expected')}"
    elif kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
    elif kind in _SIMPLE:
        expected = _SIMPLE[kind]
    else:
        expected = error["msg"].replace("Input should be", "expected", 1)
        expected = expected[0].lower() + expected[1:]
    if is_key:
        return f"invalid key {_describe(value)}: {expected}"
    message = f"{expected}, got {_describe(value)}"
    if kind == "string_type" and isinstance(value, bool | int | float):
        message += _YAML_HINT
    return message


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys the model at ``loc`` accepts, or [] when the path cannot be followed."""
    annotation: Any = ProgramDefinition
    for part in loc:
        annotation = _unwrap(annotation)
        if _is_model(annotation):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            if part not in fields:
                return []
            annotation = fields[part].annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is tuple:
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if not _is_model(annotation):
        return []
    return [f.alias or name for name, f in annotation.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional so the model or container underneath shows."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            arms = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in arms if _is_model(_unwrap(a)) or get_origin(_unwrap(a))]
            if not models:
                return annotation
            annotation = models[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
