"""Generate docs/program-schema.md from the schema models, so the reference cannot drift.

    .venv/bin/python -m refdesk.programs.docgen > docs/program-schema.md

The field tables come from the pydantic models (names, types, required or default, and each
field's description); the guide sections come from INTRO and the vocabularies the validator
itself uses (facts, operators, placeholders), so what the page says is what the loader checks.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import sys
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from refdesk.programs.conditions import FACT_DOCS, OPERATORS, TERM_LISTS
from refdesk.programs.docgen_intro import INTRO
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_base import Channel, DocName, LeadKind
from refdesk.programs.schema_intake import LEAD_FIELD_DOCS, LeadField
from refdesk.programs.schema_outreach import PLACEHOLDERS

_LITERAL_KEYS = {LeadField: "lead-field", LeadKind: "lead-kind", Channel: "channel"}
_SCALARS = {str: "text", bool: "true/false", int: "integer", float: "number", dt.date: "date"}


def render() -> str:
    """The whole reference page as Markdown."""
    models = documented_models()
    out = [INTRO.strip(), ""]
    out += _vocabularies()
    out += ["## Top-level keys", "", _doc(ProgramDefinition), ""]
    out += _field_table(ProgramDefinition)
    for model, path in models[1:]:
        out += ["", f"### {model.__name__}", "", f"At `{path}`.", "", _doc(model), ""]
        out += _field_table(model)
    return "\n".join(out).rstrip() + "\n"


def _vocabularies() -> list[str]:
    out = ["## Facts", "", "| fact | value |", "| --- | --- |"]
    out += [f"| `{name}` | {_cell(text)} |" for name, text in FACT_DOCS.items()]
    out += ["", "## Operators by kind of fact", "", "| kind | operators |", "| --- | --- |"]
    out += [f"| {kind} | {', '.join(f'`{op}`' for op in ops)} |" for kind, ops in OPERATORS.items()]
    lists = ", ".join(f"`{name}`" for name in TERM_LISTS)
    out += ["", f"Named term lists for `contains_any`: {lists}.", ""]
    out += ["## Template placeholders", "", "| placeholder | filled with |", "| --- | --- |"]
    out += [f"| `{{{name}}}` | {text} |" for name, text in PLACEHOLDERS.items()]
    out += ["| `{answers.<answer-id>}` | the answer, unless the question is `sensitive` |", ""]
    out += ["## Built-in lead fields", "", "| field | format |", "| --- | --- |"]
    out += [f"| `{name}` | {text} |" for name, text in LEAD_FIELD_DOCS.items()]
    return [*out, ""]


def documented_models() -> list[tuple[type[BaseModel], str]]:
    """Every model reachable from ProgramDefinition, depth-first in field order, with the
    first path where it appears."""
    found: list[tuple[type[BaseModel], str]] = []
    seen: set[type] = set()

    def visit(model: type[BaseModel], path: str) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((model, path))
        for name, field in model.model_fields.items():
            key = field.alias or name
            for inner, suffix in _nested_models(field.annotation):
                visit(inner, f"{path}.{key}{suffix}" if path else f"{key}{suffix}")

    visit(ProgramDefinition, "")
    return found


def _nested_models(annotation: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    origin, args = get_origin(annotation), get_args(annotation)
    if _is_model(annotation):
        return [(annotation, suffix)]
    if origin is Annotated:
        return _nested_models(args[0], suffix)
    if origin in (Union, types.UnionType):
        return [m for arm in args for m in _nested_models(arm, suffix)]
    if origin is tuple:
        return _nested_models(args[0], f"{suffix}[]")
    if origin is dict:
        return _nested_models(args[1], f"{suffix}.<{_key_name(args[0])}>")
    return []


def _field_table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | required | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        key = field.alias or name
        type_text = _type_text(field.annotation, field.metadata)
        rows.append(
            f"| `{key}` | {type_text} | {_required_text(field)} | "
            f"{_cell(field.description or '')} |"
        )
    return rows


def _required_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    default = field.get_default()
    if default is None:
        return "optional"
    if isinstance(default, BaseModel):
        return "optional (defaults in its section)"
    if isinstance(default, tuple | dict) and not default:
        return "optional, default empty"
    return f"optional, default `{json.dumps(_jsonable(default))}`"


def _type_text(annotation: Any, metadata: list | tuple = ()) -> str:
    for item in metadata:
        if isinstance(item, DocName):
            return f"[{item.name}](#{item.anchor})" if item.anchor else item.name
    text = _base_type_text(annotation)
    constraints = _constraints(metadata)
    if "ge" in constraints:
        text += f" ≥ {constraints['ge']}"
    if constraints.get("min_length"):
        text += " (not empty)"
    return text


def _constraints(metadata: list | tuple) -> dict[str, Any]:
    """ge/min_length from annotated-types markers, also when wrapped in a nested Field()."""
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(_constraints(item.metadata))
        elif isinstance(item, Ge):
            found["ge"] = item.ge
        elif isinstance(item, MinLen):
            found["min_length"] = item.min_length
    return found


def _base_type_text(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_text(args[0], args[1:])
    if origin in (Union, types.UnionType):
        arms = [_type_text(a) for a in args if a is not type(None)]
        return " or ".join(arms)
    if origin is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in args) if len(args) > 1 else f"`{args[0]}`"
    if origin is tuple:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"mapping of {_type_text(args[0])} to {_type_text(args[1])}"
    if _is_model(annotation):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is Any:
        return "any value"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _key_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        for item in args[1:]:
            if isinstance(item, DocName):
                return item.name.replace(" ", "-")
    return _LITERAL_KEYS.get(annotation, "key")


def _doc(model: type[BaseModel]) -> str:
    return " ".join(inspect.getdoc(model).split())


def _cell(text: str) -> str:
    # Outside code spans "<id>" would be read as an HTML tag and vanish.
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
