"""Curated lists of time zones for people to choose from (staff preferences, intake forms).

``zoneinfo.available_timezones()`` holds ~600 names, many of them deprecated aliases
(``US/Eastern``, ``Etc/GMT+5``, ``EST5EDT``) that confuse more than they help. People pick from
canonical ``Area/City`` names only, the ones the programs' countries use first.

Two lists: ``timezone_choices`` (staff preferences: common zones, then every canonical zone) and
``country_timezone_choices`` (intake forms: from tzdata's own tables, ``zone.tab`` for the
zones of each country with tzdata's note, ``iso3166.tab`` for country names; the zones of the
countries a page serves first, the usual ones in everyday words such as "Eastern time (New
York)", then every other country's zones by country).
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from importlib import resources

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


# --- by country, for the intake forms ------------------------------------------------------

# The zones people in these countries name first, in their words; the rest of the country's
# zones follow them. A country not listed here shows all its zones first, by city.
COMMON_ZONES: dict[str, tuple[tuple[str, str], ...]] = {
    "US": (
        ("America/New_York", "Eastern time (New York)"),
        ("America/Chicago", "Central time (Chicago)"),
        ("America/Denver", "Mountain time (Denver)"),
        ("America/Phoenix", "Mountain time without daylight saving (Arizona)"),
        ("America/Los_Angeles", "Pacific time (Los Angeles)"),
        ("America/Anchorage", "Alaska time (Anchorage)"),
        ("Pacific/Honolulu", "Hawaii time (Honolulu)"),
        ("America/Puerto_Rico", "Atlantic time (Puerto Rico)"),
    ),
}


def _table(name: str) -> list[list[str]]:
    text = resources.files("tzdata").joinpath(f"zoneinfo/{name}").read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def country_names() -> dict[str, str]:
    return {row[0]: row[1] for row in _table("iso3166.tab")}


@cache
def zones_by_country() -> dict[str, list[tuple[str, str]]]:
    """Country code -> [(zone, tzdata's note such as "Eastern - MI (most areas)")]."""
    zones: dict[str, list[tuple[str, str]]] = {}
    for row in _table("zone.tab"):
        zones.setdefault(row[0], []).append((row[2], row[3] if len(row) > 3 else ""))
    return zones


def _city(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def _zone_label(zone: str, note: str) -> str:
    return f"{_city(zone)} – {note}" if note else _city(zone)


@cache
def country_timezone_choices(countries: tuple[str, ...] = ("US",), empty_label: str = "") -> list:
    """Grouped ``(value, label)`` choices for a ``<select>``: the countries' usual zones, their
    other zones, then the rest of the world by country. ``empty_label`` heads the list."""
    names, by_country = country_names(), zones_by_country()
    groups: list = [("", empty_label)] if empty_label else []
    listed: set[str] = set()
    for country in countries:
        name = names.get(country, country)
        common = [(zone, label) for zone, label in COMMON_ZONES.get(country, ())]
        others = [
            (zone, _zone_label(zone, note))
            for zone, note in by_country.get(country, [])
            if zone not in dict(common)
        ]
        if common:
            groups.append((name, common))
            if others:
                groups.append((f"More {name} time zones", sorted(others, key=lambda c: c[1])))
        elif others:
            groups.append((name, sorted(others, key=lambda c: c[1])))
        listed |= {zone for zone, _ in common + others}
    rest = []
    for country, zones in by_country.items():
        if country in countries:
            continue
        name = names.get(country, country)
        for zone, _note in zones:
            if zone not in listed:
                label = name if len(zones) == 1 else f"{name} – {_city(zone)}"
                rest.append((zone, label))
    groups.append(("Other countries", sorted(rest, key=lambda c: c[1])))
    return groups


def choice_values(choices: list) -> set[str]:
    values = set()
    for value, label in choices:
        if isinstance(label, list | tuple):
            values |= {inner for inner, _ in label}
        elif value:
            values.add(value)
    return values
