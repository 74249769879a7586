"""One problem found in a program definition, located by a path of keys and list indexes.

Kept as a tuple (not a dotted string) until the very end because condition keys such as
``answers.age`` contain dots themselves: the YAML line lookup needs the real segments.
"""

from __future__ import annotations

from dataclasses import dataclass

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    loc: Loc
    message: str


def format_loc(loc: Loc) -> str:
    """``("routes", 2, "when", "request_type")`` -> ``routes[2].when.request_type``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def one_of(values) -> str:
    """The "(defined: a, b)" tail of reference errors, sorted so messages are stable."""
    values = sorted(str(v) for v in values)
    return ", ".join(values) if values else "none"
