"""A curated list of time zones for people to choose from on a page.

From tzdata's own tables (``zone.tab``: one canonical zone per line with its country and a
note; ``iso3166.tab``: country names), so the list has no deprecated aliases (``US/Eastern``),
no ``Etc/GMT+5`` and no ``posix/`` copies. The zones of the countries a page serves come
first, the usual ones in everyday words ("Eastern time (New York)"); every other country's
zones follow, named by country.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

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
def timezone_choices(countries: tuple[str, ...] = ("US",), empty_label: str = "") -> list:
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
