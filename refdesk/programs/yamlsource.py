"""Reading program YAML strictly, and finding the line of any path in it.

PyYAML silently keeps the last of two identical keys, and turns unquoted ``no`` into false or
``17:00`` into 1020; in a rules file those are bugs waiting to happen, so this loader rejects
duplicate and non-text keys, and the loader keeps the node tree to point errors at lines.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from refdesk.programs.issues import Loc

MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keys that are not text."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raw = key_node.value if isinstance(key_node, ScalarNode) else "?"
                    raise ConstructorError(
                        None,
                        None,
                        f"key {raw!r} is read as {type(key).__name__} {key!r}, but keys must be "
                        "text; put it in quotes",
                        key_node.start_mark,
                    )
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ConstructorError(
                        None,
                        None,
                        f"duplicate key '{key}' (first defined on line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        # PyYAML raises a bare ValueError for impossible dates such as 2026-13-01.
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise ConstructorError(
                None, None, f"'{node.value}' is not a valid date ({exc})", node.start_mark
            ) from exc


StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_yaml_timestamp)


class YamlProblem(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message = message
        self.line = line


def parse_yaml(text: str) -> tuple[Any, Node | None]:
    """Parse one YAML document into (data, node tree). Raises YamlProblem with a line."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        if isinstance(exc, ConstructorError) and exc.context is None:
            raise YamlProblem(str(exc.problem), line) from exc  # our own strict-key errors
        if exc.problem and "another document" in exc.problem:
            raise YamlProblem("only one YAML document is allowed per file", line) from exc
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise YamlProblem(f"malformed YAML: {problem}", line) from exc
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        raise YamlProblem(f"malformed YAML: {exc}", None) from exc
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # Anything else a constructor may raise; a bad file must never become a traceback.
        raise YamlProblem(f"malformed YAML: {exc}", None) from exc
    finally:
        loader.dispose()
    return data, node


MAX_VALUES = 200_000  # far beyond any real program; stops alias bombs ("billion laughs")


def to_json_data(value: Any) -> Any:
    """Turn YAML scalars JSON cannot hold (dates) into their ISO text, so a definition loaded
    from YAML and one re-loaded from its stored JSON snapshot are validated identically.

    Aliases are expanded into copies; an alias that contains itself, or one that expands into
    an absurd amount of data, is an error rather than a hang or a crash."""
    budget = [MAX_VALUES]
    return _to_json(value, budget, ())


def _to_json(value: Any, budget: list[int], stack: tuple[int, ...]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem("the file expands to too much data (check its YAML aliases)", None)
    if isinstance(value, dict | list):
        if id(value) in stack:
            raise YamlProblem("a YAML alias refers to a value that contains it", None)
        stack = (*stack, id(value))
        if isinstance(value, dict):
            return {k: _to_json(v, budget, stack) for k, v in value.items()}
        return [_to_json(v, budget, stack) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise YamlProblem(f"{value} is not an allowed number", None)
    if isinstance(value, bytes | set):
        raise YamlProblem(f"{type(value).__name__} values are not allowed", None)
    return value


def line_of(root: Node | None, loc: Loc) -> int | None:
    """1-based line where ``loc`` is written; for a missing key, the line of its parent key.

    None when not even the first step of the path exists (e.g. a missing top-level key).
    """
    node, line = root, None
    for part in loc:
        if isinstance(node, MappingNode) and isinstance(part, str):
            match = next(
                ((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == part),
                None,
            )
            if match is None:
                return line
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
