"""A curated list of time zones for people to choose from (staff preferences, intake forms).

``zoneinfo.available_timezones()`` holds ~600 names, many of them deprecated aliases
(``US/Eastern``, ``Etc/GMT+5``, ``EST5EDT``) that confuse more than they help. People pick from
canonical ``Area/City`` names only, the ones the programs' countries use first.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

# The zones the demo programs' countries use, in the order people look for them.
COMMON = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/Toronto",
    "America/Vancouver",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Zurich",
)
_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def canonical_timezones() -> tuple[str, ...]:
    """Every canonical Area/City zone (no aliases such as US/*, Etc/*, or legacy names)."""
    names = set()
    for name in zoneinfo.available_timezones():
        area, _, city = name.partition("/")
        if area in _AREAS and city:
            names.add(name)
    return tuple(sorted(names))


def timezone_label(name: str) -> str:
    """ "America/New_York" -> "New York (America)"."""
    area, _, city = name.partition("/")
    return f"{city.replace('_', ' ').replace('/', ' / ')} ({area})" if city else name


@cache
def timezone_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices: the common zones first, then every other canonical zone."""
    common = [(name, timezone_label(name)) for name in COMMON]
    others = [(name, timezone_label(name)) for name in canonical_timezones() if name not in COMMON]
    return [("Common", common), ("All time zones", others)]


def is_choosable(name: str) -> bool:
    return name in canonical_timezones()
