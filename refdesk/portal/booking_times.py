"""How the lead's booking page shows times (``views_booking``): every time in the lead's zone
with the zone named, and the team's time beside it, so nobody has to convert in their head —
a lead in Denver reads "08:00 MST (America/Denver)" next to "10:00 EST team time, New York".

Pure presentation: no database, no request. Slots arrive as UTC instants (``Slot``) and leave
as strings and ISO 8601 values with an offset (what the form posts back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from refdesk.scheduling.availability import Slot


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_named(name: str) -> ZoneInfo | None:
    """The zone of an IANA name from the page, or None for anything else (never raises)."""
    if name not in known_zones():
        return None
    return ZoneInfo(name)


def zone_words(zone: ZoneInfo) -> str:
    return zone.key.replace("_", " ")


def _abbreviation(local: datetime) -> str:
    # Zones without a letter abbreviation name their offset ("-03"): say it is one.
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def _city(zone: ZoneInfo) -> str:
    return zone.key.rsplit("/", 1)[-1].replace("_", " ")


def clock(moment: datetime, zone: ZoneInfo) -> str:
    """``08:00 MST (America/Denver)``: the time in the zone, with the zone named."""
    local = moment.astimezone(zone)
    short = _abbreviation(local)
    named = f" ({zone_words(zone)})" if zone.key != short else ""
    return f"{local:%H:%M} {short}{named}"


def team_clock(moment: datetime, team_zone: ZoneInfo, lead_zone: ZoneInfo) -> str:
    """``10:00 EST team time, New York``; with the team's day when it is another day there."""
    local = moment.astimezone(team_zone)
    text = f"{local:%H:%M} {_abbreviation(local)} team time, {_city(team_zone)}"
    if local.date() != moment.astimezone(lead_zone).date():
        text += f" ({local:%a %-d %b})"
    return text


def day_words(day: date) -> str:
    return f"{day:%A %-d %B %Y}"


def full_time(moment: datetime, zone: ZoneInfo) -> str:
    """``Tuesday 8 December 2026, 08:00 MST (America/Denver)``."""
    return f"{day_words(moment.astimezone(zone).date())}, {clock(moment, zone)}"


@dataclass(frozen=True)
class SlotChoice:
    """One radio button: the value posted back and what the lead reads."""

    id: str
    value: str  # ISO 8601 with the lead's offset
    label: str
    team_label: str


@dataclass
class Day:
    day: date
    heading: str
    slots: list[SlotChoice] = field(default_factory=list)


@dataclass
class SlotPage:
    """The days shown, and where the previous and next pages of days start."""

    days: list[Day]
    later_from: date | None  # the first day after those shown that has a slot
    earlier: bool  # days with slots were skipped before those shown


def slot_page(
    slots: list[Slot],
    *,
    zone: ZoneInfo,
    team_zone: ZoneInfo,
    start: date | None,
    days: int,
) -> SlotPage:
    """Group the slots by the lead's day and show ``days`` of them from ``start`` (the lead's
    date; None: from the first)."""
    by_day: dict[date, list[datetime]] = {}
    for slot in slots:
        local = slot.starts_at.astimezone(zone)
        by_day.setdefault(local.date(), []).append(local)
    ordered = sorted(by_day)
    first = 0
    if start is not None:
        first = next((i for i, day in enumerate(ordered) if day >= start), len(ordered))
    shown = []
    for day in ordered[first : first + days]:
        choices = [
            SlotChoice(
                id=f"slot-{int(local.timestamp())}",
                value=local.isoformat(),
                label=clock(local, zone),
                team_label=team_clock(local, team_zone, zone),
            )
            for local in by_day[day]
        ]
        shown.append(Day(day, day_words(day), choices))
    rest = ordered[first + days :]
    return SlotPage(days=shown, later_from=rest[0] if rest else None, earlier=first > 0)
